"""A small fake Kubernetes API server: enough of server-side apply to test the ensure step.

It records every request (method, path, query, content type, body) and answers PATCH with
`application/apply-patch+yaml` like the API server does: the object back with uid,
resourceVersion and managedFields, 201 when created and 200 after, the same resourceVersion
when an apply changes nothing. Apply without a field manager is rejected (422) as the real
server does. Chosen paths can be made to fail with a Status object. Pod and event lists are
empty and watches end quietly, so a hub's KubeSpawner reflectors can run against it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

APPLY = "application/apply-patch+yaml"
LISTS = {"/api/v1/pods": "PodList", "/api/v1/events": "EventList"}
"""What KubeSpawner's reflectors list and watch (all namespaces, with user namespaces)."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    authorization: str | None
    body: Any


@dataclass
class FakeKubeAPI:
    requests: list[Request] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    """path -> (status code, reason, message) to answer instead of applying."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    self.headers.get("Content-Type"),
                    self.headers.get("Authorization"),
                    json.loads(raw) if raw else None,
                )
                with fake._lock:
                    fake.requests.append(request)
                    status, reply = fake.answer(request)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def changes(self) -> list[Request]:
        """Every request except reads (the reflectors list and watch continuously)."""
        with self._lock:
            return [r for r in self.requests if r.method != "GET"]

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> FakeKubeAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        if request.path in self.failures:
            code, reason, message = self.failures[request.path]
            return code, status(code, reason, message)
        if request.method == "GET" and request.path in LISTS:
            if (request.query.get("watch") or [""])[0].lower() in ("true", "1"):
                time.sleep(0.5)  # an idle watch that ends; the client starts another
                return 200, {}
            return 200, {
                "kind": LISTS[request.path],
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": [],
            }
        if request.method != "PATCH":
            return 404, status(404, "NotFound", f"{request.method} {request.path} not served")
        if request.content_type != APPLY:
            return 415, status(415, "UnsupportedMediaType", f"{request.content_type}")
        manager = (request.query.get("fieldManager") or [""])[0]
        if not manager:
            return 422, status(
                422,
                "Invalid",
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                "is required for apply patch",
            )
        body = request.body
        previous = self.objects.get(request.path)
        if previous is not None and previous["applied"] == body:
            return 200, previous["object"]
        meta = dict(body["metadata"])
        meta["uid"] = previous["object"]["metadata"]["uid"] if previous else str(uuid.uuid4())
        version = int(previous["object"]["metadata"]["resourceVersion"]) + 1 if previous else 1
        meta["resourceVersion"] = str(version)
        meta["managedFields"] = [{"manager": manager, "operation": "Apply"}]
        obj = {**body, "metadata": meta}
        self.objects[request.path] = {"applied": body, "object": obj}
        return (200 if previous else 201), obj


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
