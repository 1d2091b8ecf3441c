"""A JupyterHub user as a browser is one: log in through the form, then use the REST API with a
token of their own (created through that login), as a user's scripts would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx


class HubUser:
    def __init__(self, base_url: str, name: str, password: str) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.web = httpx.Client(base_url=self.base_url, timeout=30, follow_redirects=False)
        self._login(password)
        # The hub may normalise the name (lower case): from here on, the name it uses.
        self.name = str(self.web.get("/hub/api/user").json()["name"])
        self.token = self._new_token()
        self.api = httpx.Client(
            base_url=f"{self.base_url}/hub/api",
            headers={"Authorization": f"token {self.token}"},
            timeout=60,
        )

    def _login(self, password: str) -> None:
        self.web.get("/hub/login")
        xsrf = self.web.cookies.get("_xsrf") or ""
        answer = self.web.post(
            "/hub/login",
            data={"username": self.name, "password": password, "_xsrf": xsrf},
        )
        if answer.status_code != 302 or "login" in answer.headers.get("location", ""):
            raise AssertionError(
                f"{self.name} could not log in: {answer.status_code} {answer.text[:500]}"
            )

    @property
    def quoted(self) -> str:
        """The name as a path segment, escaped as JupyterHub escapes it in its URLs and proxy
        routes (e-mail shaped and unicode names)."""
        return quote(self.name, safe="@~")

    def _new_token(self) -> str:
        answer = self.web.post(
            f"/hub/api/users/{self.quoted}/tokens",
            json={"note": "tests", "expires_in": 3600},
            headers={"X-XSRFToken": self.web.cookies.get("_xsrf") or ""},
        )
        answer.raise_for_status()
        return str(answer.json()["token"])

    def model(self) -> dict[str, Any]:
        answer = self.api.get(f"/users/{self.quoted}")
        answer.raise_for_status()
        return dict(answer.json())

    def start(self, profile: str | None = None, server: str = "") -> httpx.Response:
        path = (
            f"/users/{self.quoted}/servers/{server}" if server else f"/users/{self.quoted}/server"
        )
        return self.api.post(path, json={"profile": profile} if profile else {})

    def stop(self, server: str = "") -> httpx.Response:
        path = (
            f"/users/{self.quoted}/servers/{server}" if server else f"/users/{self.quoted}/server"
        )
        return self.api.delete(path)

    def progress(self, server: str = "", timeout: float = 300) -> Iterator[dict[str, Any]]:
        """The spawn's progress events (JupyterHub's event stream), until it ends."""
        server_path = f"servers/{server}" if server else "server"
        path = f"/users/{self.quoted}/{server_path}/progress"
        with self.api.stream("GET", path, timeout=httpx.Timeout(30, read=timeout)) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    yield event
                    if event.get("ready") or event.get("failed"):
                        return

    def wait_ready(self, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.model().get("servers", {}).get("", {})
            if server.get("ready"):
                return dict(server)
            if not server.get("pending") and not server:
                raise AssertionError(f"{self.name}'s server is neither pending nor ready")
            time.sleep(1)
        raise AssertionError(f"{self.name}'s server was not ready after {timeout:.0f}s")

    def wait_stopped(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.model().get("servers"):
                return
            time.sleep(1)
        raise AssertionError(f"{self.name}'s server did not stop within {timeout:.0f}s")

    def server_api(self, path: str, **kwargs: Any) -> httpx.Response:
        """A request to the user's own Jupyter server through the proxy, with their token."""
        return self.web.request(
            kwargs.pop("method", "GET"),
            f"/user/{self.quoted}/{path.lstrip('/')}",
            headers={"Authorization": f"token {self.token}"},
            **kwargs,
        )


def start_silent_cell(server_url: str, token: str, seconds: int) -> None:
    """Start a kernel on a user's server and run `time.sleep(seconds)` in it (a busy kernel
    that prints nothing); returns once the cell runs."""
    script = textwrap.dedent(
        f"""
        import json, sys, time, uuid, urllib.request
        import websocket
        base, token = sys.argv[1], sys.argv[2]
        req = urllib.request.Request(base + "/api/kernels", data=b"{{}}", method="POST",
            headers={{"Authorization": "token " + token, "Content-Type": "application/json"}})
        kernel = json.load(urllib.request.urlopen(req))
        ws = websocket.create_connection(
            base.replace("http", "ws") + "/api/kernels/" + kernel["id"] + "/channels",
            header=["Authorization: token " + token])
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({{"header": {{"msg_id": msg_id, "msg_type": "execute_request",
            "username": "e2e", "session": uuid.uuid4().hex, "version": "5.3"}},
            "parent_header": {{}}, "metadata": {{}}, "channel": "shell",
            "content": {{"code": "import time; time.sleep({seconds})", "silent": False}}}}))
        print("started", kernel["id"], flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, server_url, token],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
