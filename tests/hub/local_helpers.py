"""Helpers for the local-spawner, culling and activity tests: a podlab config file, spawning a
server through the hub's REST API, and running code in a real kernel of that server.

Code runs in the kernel over the kernel's websocket channel, through the proxy, with the
user's own hub token: exactly the path a browser takes, so what a test reads back (the
environment, a Spark job's result) is what a user would see in a notebook.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import websocket
import yaml

from podlab.localstack.jupyterhub import JupyterHubServer

CPU = {
    "slug": "cpu-small",
    "display_name": "CPU small",
    "description": "2 cores, 2 GiB: notebooks and light Spark",
    "default": True,
    "cpu": {"guarantee": 0.5, "limit": 2},
    "memory": {"guarantee": "512Mi", "limit": "2Gi"},
}
GPU = {
    "slug": "gpu-1",
    "display_name": "One GPU",
    "description": "training",
    "cpu": {"guarantee": 1, "limit": 2},
    "memory": {"guarantee": "1Gi", "limit": "3Gi"},
    "gpu": {"count": 1},
}


def write_config(path: Path, profiles: list[dict[str, Any]], **sections: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"podlab": {"profiles": profiles, **sections}}))
    return path


def spawner_config(config_path: Path, data_dir: Path, activity_interval: float = 0) -> str:
    """jupyterhub_config.py lines selecting PodlabLocalSpawner."""
    return f"""
c.JupyterHub.spawner_class = "podlab.localspawner.PodlabLocalSpawner"
c.PodlabLocalSpawner.config_path = {str(config_path)!r}
c.PodlabLocalSpawner.data_dir = {str(data_dir)!r}
c.PodlabLocalSpawner.activity_interval = {activity_interval!r}
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
"""


def spawn(
    hub: JupyterHubServer, user: str, options: dict[str, Any] | None, timeout: float = 90
) -> dict[str, Any]:
    """Start `user`'s server with `options` (None: no body) and wait until it is ready."""
    hub.create_user(user)
    status, body = hub.api("POST", f"/users/{user}/server", body=options, timeout=60)
    assert status in (201, 202), f"spawn {user} with {options} gave {status}: {body}"
    return wait_ready(hub, user, timeout)


def wait_ready(hub: JupyterHubServer, user: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        _, model = hub.api("GET", f"/users/{user}")
        server = model["servers"].get("")
        if server and server.get("ready"):
            return dict(server)
        if server is None:
            raise AssertionError(f"{user}'s server is not starting: {model}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{user}'s server not ready after {timeout}s: {model}")
        time.sleep(0.3)


def stop(hub: JupyterHubServer, user: str, timeout: float = 60) -> None:
    status, body = hub.api("DELETE", f"/users/{user}/server")
    assert status in (202, 204, 400), (status, body)
    wait_stopped(hub, user, timeout)


def wait_stopped(hub: JupyterHubServer, user: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, model = hub.api("GET", f"/users/{user}")
        if "" not in model["servers"]:
            return
        time.sleep(0.3)
    raise AssertionError(f"{user}'s server did not stop in {timeout}s")


class Kernel:
    """A kernel in a user's server, driven over its websocket channel through the proxy."""

    def __init__(self, hub: JupyterHubServer, user: str, token: str) -> None:
        self.hub, self.user, self.token = hub, user, token
        base = f"/user/{user}/api/kernels"
        status, body = self._rest("POST", base, {"name": "python3"})
        assert status == 201, (status, body)
        self.id = body["id"]
        ws_url = hub.url.replace("http://", "ws://") + f"{base}/{self.id}/channels"
        self.ws = websocket.create_connection(
            ws_url, header=[f"Authorization: token {token}"], timeout=120
        )
        self.session = uuid.uuid4().hex

    def _rest(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.hub.url}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")

    def send(self, code: str) -> str:
        msg_id = uuid.uuid4().hex
        self.ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "username": self.user,
                        "session": self.session,
                        "msg_type": "execute_request",
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False, "store_history": False},
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        return msg_id

    def run(self, code: str, timeout: float = 120) -> str:
        """Execute `code` and return its stdout; raise with the traceback on an error."""
        msg_id = self.send(code)
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                out.append(content["text"])
            elif kind == "error":
                raise AssertionError("kernel error:\n" + "\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
        raise AssertionError(f"no result after {timeout}s; output so far: {''.join(out)}")

    def env(self) -> dict[str, str]:
        text = self.run("import json, os; print(json.dumps(dict(os.environ)))")
        return dict(json.loads(text))

    def close(self) -> None:
        self.ws.close()
