"""A small JSON client for the Kubernetes API (dicts in, dicts out), for the pod runner.

The runner reads and writes raw objects (pod status, kwok's custom resources, volumes) and
keeps local caches filled by list+watch; the generated `kubernetes` models would only stand in
the way. Authentication is the client certificate of a kubeconfig, as kubectl does it.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import yaml

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"


def _params(query: dict[str, Any]) -> dict[str, Any]:
    """snake_case keyword arguments as the API's camelCase query parameters."""
    out = {}
    for key, value in query.items():
        if value is not None:
            head, *rest = key.split("_")
            out[head + "".join(word.title() for word in rest)] = value
    return out


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def _file(entry: dict[str, Any], key: str, scratch: Path) -> str | None:
    """A kubeconfig credential as a file path (inline `-data` values are written out)."""
    if entry.get(key):
        return str(entry[key])
    data = entry.get(f"{key}-data")
    if not data:
        return None
    path = scratch / key
    path.write_bytes(base64.b64decode(data))
    return str(path)


class KubeApi:
    def __init__(self, kubeconfig: Path, timeout: float = 30.0) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        context_name = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        scratch = Path(tempfile.mkdtemp(prefix="podlab-kubeapi-"))
        ca = _file(cluster, "certificate-authority", scratch)
        cert, key = _file(user, "client-certificate", scratch), _file(user, "client-key", scratch)
        headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
        self.server = cluster["server"].rstrip("/")
        context = ssl.create_default_context(cafile=ca)
        if cert and key:
            context.load_cert_chain(cert, key)
        self._client = httpx.Client(
            base_url=self.server, verify=context, headers=headers, timeout=timeout
        )
        self._local = threading.local()

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str | None = None,
        **query: Any,
    ) -> Obj:
        headers = {"Content-Type": content_type or "application/json"} if body is not None else {}
        params = _params(query)
        response = self._client.request(
            method,
            path,
            params=params,
            headers=headers,
            content=json.dumps(body) if body is not None else None,
        )
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise ApiError(response.status_code, message)
        return dict(response.json()) if response.content else {}

    def get(self, path: str, **query: Any) -> Obj:
        return self.request("GET", path, **query)

    def get_or_none(self, path: str) -> Obj | None:
        try:
            return self.get(path)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def create(self, path: str, body: Obj) -> Obj:
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: Obj) -> Obj:
        return self.request("PATCH", path, body, MERGE)

    def delete(self, path: str, body: Obj | None = None) -> Obj:
        try:
            return self.request("DELETE", path, body)
        except ApiError as err:
            if err.status == 404:
                return {}
            raise

    def watch(self, path: str, resource_version: str, **query: Any) -> Iterator[Obj]:
        """The events of one watch request (ends when the server closes it)."""
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "300",
            **_params(query),
        }
        url = f"{path}?{urlencode(params)}"
        with self._client.stream("GET", url, timeout=httpx.Timeout(30.0, read=330.0)) as response:
            if response.status_code >= 400:
                raise ApiError(response.status_code, response.read().decode(errors="replace"))
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)


class Reflector:
    """list + watch of one collection into a dict keyed by `namespace/name`; calls `changed`
    after every update. Restarts from a fresh list when the watch expires (410) or fails."""

    def __init__(self, api: KubeApi, path: str, changed: Callable[[], None], **query: Any) -> None:
        self.api, self.path, self.changed, self.query = api, path, changed, query
        self.items: dict[str, Obj] = {}
        self.synced = threading.Event()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"reflector {path}", daemon=True)

    def start(self) -> Reflector:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def snapshot(self) -> list[Obj]:
        with self.lock:
            return list(self.items.values())

    @staticmethod
    def key(obj: Obj) -> str:
        meta = obj["metadata"]
        return f"{meta.get('namespace', '')}/{meta['name']}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                listed = self.api.get(self.path, **self.query)
                with self.lock:
                    self.items = {self.key(o): o for o in listed.get("items", [])}
                version = listed["metadata"]["resourceVersion"]
                self.synced.set()
                self.changed()
                while not self._stop.is_set():
                    for event in self.api.watch(self.path, version, **self.query):
                        kind, obj = event["type"], event["object"]
                        if kind == "ERROR":
                            raise ApiError(int(obj.get("code", 500)), obj.get("message", ""))
                        version = obj["metadata"]["resourceVersion"]
                        if kind == "BOOKMARK":
                            continue
                        with self.lock:
                            if kind == "DELETED":
                                self.items.pop(self.key(obj), None)
                            else:
                                self.items[self.key(obj)] = obj
                        self.changed()
            except (ApiError, httpx.HTTPError, ValueError, KeyError):
                self._stop.wait(1.0)  # relist: the watch expired or the server went away
