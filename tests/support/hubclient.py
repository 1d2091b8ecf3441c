"""A JupyterHub user as a browser is one: log in through the form, then use the REST API with a
token of their own (created through that login), as a user's scripts would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx


class HubUser:
    def __init__(self, base_url: str, name: str, password: str) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.web = httpx.Client(base_url=self.base_url, timeout=30, follow_redirects=False)
        self._login(password)
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

    def _new_token(self) -> str:
        answer = self.web.post(
            f"/hub/api/users/{self.name}/tokens",
            json={"note": "tests", "expires_in": 3600},
            headers={"X-XSRFToken": self.web.cookies.get("_xsrf") or ""},
        )
        answer.raise_for_status()
        return str(answer.json()["token"])

    def model(self) -> dict[str, Any]:
        answer = self.api.get(f"/users/{self.name}")
        answer.raise_for_status()
        return dict(answer.json())

    def start(self, profile: str | None = None, server: str = "") -> httpx.Response:
        path = f"/users/{self.name}/servers/{server}" if server else f"/users/{self.name}/server"
        return self.api.post(path, json={"profile": profile} if profile else {})

    def stop(self, server: str = "") -> httpx.Response:
        path = f"/users/{self.name}/servers/{server}" if server else f"/users/{self.name}/server"
        return self.api.delete(path)

    def progress(self, server: str = "", timeout: float = 300) -> Iterator[dict[str, Any]]:
        """The spawn's progress events (JupyterHub's event stream), until it ends."""
        path = (
            f"/users/{self.name}/servers/{server}/progress"
            if server
            else f"/users/{self.name}/server/progress"
        )
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
            f"/user/{self.name}/{path.lstrip('/')}",
            headers={"Authorization": f"token {self.token}"},
            **kwargs,
        )
