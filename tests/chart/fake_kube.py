"""A tiny Kubernetes API server, enough for `helm template --dry-run=server` and `lookup`.

Helm has no offline way to feed `lookup` data, so the tests give helm a real HTTP API to
talk to: discovery (so helm can map kinds to resources), and GET of the objects a test
stores (the release's Secrets, as a previous install left them). Everything else is 404,
as for a fresh namespace. Every request is recorded, so a test can prove which lookups ran.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

# (group, version, [(resource, kind, namespaced)]) for every kind the chart renders.
RESOURCES: list[tuple[str, str, list[tuple[str, str, bool]]]] = [
    (
        "",
        "v1",
        [
            ("namespaces", "Namespace", False),
            ("secrets", "Secret", True),
            ("configmaps", "ConfigMap", True),
            ("services", "Service", True),
            ("serviceaccounts", "ServiceAccount", True),
            ("pods", "Pod", True),
            ("persistentvolumeclaims", "PersistentVolumeClaim", True),
        ],
    ),
    ("apps", "v1", [("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True)]),
    ("batch", "v1", [("jobs", "Job", True)]),
    (
        "networking.k8s.io",
        "v1",
        [("networkpolicies", "NetworkPolicy", True), ("ingresses", "Ingress", True)],
    ),
    ("policy", "v1", [("poddisruptionbudgets", "PodDisruptionBudget", True)]),
    (
        "rbac.authorization.k8s.io",
        "v1",
        [
            ("clusterroles", "ClusterRole", False),
            ("clusterrolebindings", "ClusterRoleBinding", False),
            ("roles", "Role", True),
            ("rolebindings", "RoleBinding", True),
        ],
    ),
]


class FakeKubernetes:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def store(self, obj: dict[str, Any]) -> None:
        """Keep an object as the API server would return it (core group only)."""
        meta = obj["metadata"]
        plural = {"Secret": "secrets", "ConfigMap": "configmaps"}[obj["kind"]]
        self.objects[f"/api/v1/namespaces/{meta['namespace']}/{plural}/{meta['name']}"] = obj

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "fake", "user": {"token": "fake"}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                    "current-context": "fake",
                }
            )
        )
        path.chmod(0o600)
        return path

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]] | None = None
    ) -> tuple[int, Any]:
        self.requests.append((method, path))
        if method != "GET":
            return 405, _status(405, "MethodNotAllowed")
        if path == "/version":
            return 200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0"}
        if path == "/api":
            return 200, {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
                ],
            }
        if path == "/apis":
            return 200, {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": group,
                        "versions": [{"groupVersion": f"{group}/{version}", "version": version}],
                        "preferredVersion": {
                            "groupVersion": f"{group}/{version}",
                            "version": version,
                        },
                    }
                    for group, version, _ in RESOURCES
                    if group
                ],
            }
        for group, version, resources in RESOURCES:
            prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
            if path == prefix:
                return 200, {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version,
                    "resources": [
                        {
                            "name": name,
                            "singularName": "",
                            "namespaced": namespaced,
                            "kind": kind,
                            "verbs": ["get", "list", "create", "update", "patch", "delete"],
                        }
                        for name, kind, namespaced in resources
                    ],
                }
        if path in self.objects:
            return 200, self.objects[path]
        if path.startswith("/api/v1/namespaces/") and path.endswith("/secrets"):
            return 200, self._list(path, "SecretList", (query or {}).get("labelSelector", [""])[0])
        return 404, _status(404, "NotFound")

    def _list(self, collection: str, kind: str, selector: str) -> dict[str, Any]:
        """A namespace's stored objects, filtered by an equality label selector (Helm's
        release storage asks with owner=helm,...: none of the stored Secrets match)."""
        wanted = dict(term.split("=", 1) for term in selector.split(",") if "=" in term)
        items = [
            obj
            for path, obj in sorted(self.objects.items())
            if path.rsplit("/", 1)[0] == collection
            and all(obj["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]
        return {
            "kind": kind,
            "apiVersion": "v1",
            "metadata": {"resourceVersion": "1"},
            "items": items,
        }

    @contextmanager
    def running(self) -> Iterator[FakeKubernetes]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path, _, query = self.path.partition("?")
                code, body = fake._answer(self.command, path, parse_qs(query))
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _reply

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)


def _status(code: int, reason: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "code": code,
    }
