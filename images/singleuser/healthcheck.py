#!/usr/bin/env python3
"""HEALTHCHECK of the single-user images: does jupyterhub-singleuser answer on its API?

The server listens where JupyterHub told it to (JUPYTERHUB_SERVICE_URL, for instance
http://0.0.0.0:8888/user/alice/); run outside JupyterHub it is http://127.0.0.1:8888/.
`{url}api` answers without authentication. Kubernetes ignores HEALTHCHECK: there the hub
itself polls the server it spawned, so this only serves `docker run` and engines that honour it.
Standard library only; exit status 0 healthy, 1 not.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "http://127.0.0.1:8888/"


def api_url(env: Mapping[str, str]) -> str:
    url = env.get("JUPYTERHUB_SERVICE_URL") or DEFAULT_URL
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a bind-all address, reached via loopback)
        host = "127.0.0.1"
    netloc = f"{host}:{parts.port}" if parts.port else host
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme or "http", netloc, path + "api", "", ""))


def main() -> int:
    url = api_url(os.environ)
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http only)
            body = json.loads(response.read() or b"{}")
    except (OSError, ValueError) as err:
        print(f"unhealthy: {url}: {err}", file=sys.stderr)
        return 1
    if not isinstance(body, dict) or "version" not in body:
        print(f"unhealthy: {url} answered {body!r}", file=sys.stderr)
        return 1
    print(f"healthy: {url} (Jupyter Server {body['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
