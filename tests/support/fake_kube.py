"""A small fake Kubernetes API server for the hub's ensure step and for Helm's lookups.

No cluster can run here, so tests that must see what a client really sends talk to this:

- discovery (`/version`, `/api`, `/apis`, each group's resource list), enough for helm to map
  kinds to resources, and a kubeconfig pointing at the server;
- GET of stored objects (`store`) and lists of a namespace's Secrets filtered by an equality
  label selector (Helm's lookups and its release storage); pod and event lists that are
  empty, and watches that end quietly, so KubeSpawner's reflectors can run against it;
- PATCH with `application/apply-patch+yaml` answered like server-side apply: the object back
  with uid, resourceVersion and managedFields, 201 when created and 200 after, the same
  resourceVersion when an apply changes nothing, 422 without a field manager;
- chosen paths failing with a Status object (`failures`).

Everything else is 404, as for a fresh namespace. Every request is recorded.

What still uses it, and why not the real API server of the test bed (tests/support/kube.py):
the exact requests on the wire and their order (the real server does not record them), faults
the real server will not produce on demand (a 403 or 500 on one chosen object, a namespace that
cannot be read, an API server that goes away mid-spawn), and `helm template`'s lookups of
Secrets (tests/chart/test_secrets.py, test_notes.py: rendering, no release). Idempotency,
convergence, ownership, admission, RBAC and spawns run on the real server.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

APPLY = "application/apply-patch+yaml"
GLOBAL_LISTS = {"/api/v1/pods": "PodList", "/api/v1/events": "EventList"}
"""What KubeSpawner's reflectors list and watch (all namespaces, with user namespaces)."""

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
    """path -> the object a GET returns (stored, or the result of the last apply)."""
    applied: dict[str, Any] = field(default_factory=dict)
    """path -> the body of the last server-side apply."""
    failures: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    """path -> (status code, reason, message) to answer instead."""
    nodes: list[dict[str, Any]] | None = None
    """The node list; None answers 403, as a cluster whose RBAC forbids the hub to list nodes
    (the hub then offers every profile without capacity notes: tests/hub/test_capacity*.py
    cover the notes on a real API server)."""

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
                    code, reply = fake.answer(request)
                data = json.dumps(reply).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- running it ------------------------------------------------------------------------
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
        self._thread.join(timeout=5)

    @contextmanager
    def running(self) -> Iterator[FakeKubeAPI]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def kubeconfig(self, directory: Path) -> Path:
        """A kubeconfig (token auth) for helm or kubectl pointing at this server."""
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

    # -- what tests look at ----------------------------------------------------------------
    def store(self, obj: dict[str, Any]) -> None:
        """Keep a core-group object as the API server would return it (Secret, ConfigMap, or
        a Namespace someone else created)."""
        meta = obj["metadata"]
        if obj["kind"] == "Namespace":
            self.objects[f"/api/v1/namespaces/{meta['name']}"] = obj
            return
        plural = {"Secret": "secrets", "ConfigMap": "configmaps"}[obj["kind"]]
        self.objects[f"/api/v1/namespaces/{meta['namespace']}/{plural}/{meta['name']}"] = obj

    def saw(self, method: str, path: str) -> bool:
        with self._lock:
            return any(r.method == method and r.path == path for r in self.requests)

    def changes(self) -> list[Request]:
        """Every request except reads (the reflectors list and watch continuously)."""
        with self._lock:
            return [r for r in self.requests if r.method != "GET"]

    # -- answers ---------------------------------------------------------------------------
    def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        if request.path in self.failures:
            code, reason, message = self.failures[request.path]
            return code, status(code, reason, message)
        if request.method == "GET":
            return self._read(request)
        if request.method == "PATCH":
            return self._apply(request)
        return 404, status(404, "NotFound", f"{request.method} {request.path} not served")

    def _read(self, request: Request) -> tuple[int, dict[str, Any]]:
        path = request.path
        discovery = _discovery(path)
        if discovery is not None:
            return 200, discovery
        if path in self.objects:
            return 200, self.objects[path]
        if path == "/api/v1/nodes":
            if self.nodes is None:
                message = 'nodes is forbidden: cannot list resource "nodes" at the cluster scope'
                return 403, status(403, "Forbidden", message)
            return 200, _list("NodeList", self.nodes)
        if path in GLOBAL_LISTS:
            if (request.query.get("watch") or [""])[0].lower() in ("true", "1"):
                time.sleep(0.5)  # an idle watch that ends; the client starts another
                return 200, {}
            return 200, _list(GLOBAL_LISTS[path], [])
        if path.startswith("/api/v1/namespaces/") and path.endswith("/secrets"):
            selector = (request.query.get("labelSelector") or [""])[0]
            wanted = dict(term.split("=", 1) for term in selector.split(",") if "=" in term)
            items = [
                obj
                for stored, obj in sorted(self.objects.items())
                if stored.rsplit("/", 1)[0] == path
                and all(obj["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
            ]
            return 200, _list("SecretList", items)
        return 404, status(404, "NotFound", f"GET {path} not found")

    def _apply(self, request: Request) -> tuple[int, dict[str, Any]]:
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
        if previous is not None and self.applied.get(request.path) == body:
            return 200, previous
        meta = dict(body["metadata"])
        meta["uid"] = previous["metadata"]["uid"] if previous else str(uuid.uuid4())
        version = int(previous["metadata"]["resourceVersion"]) + 1 if previous else 1
        meta["resourceVersion"] = str(version)
        meta["managedFields"] = [{"manager": manager, "operation": "Apply"}]
        obj = {**body, "metadata": meta}
        self.objects[request.path] = obj
        self.applied[request.path] = body
        return (200 if previous else 201), obj


def _list(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}


def _discovery(path: str) -> dict[str, Any] | None:
    if path == "/version":
        return {"major": "1", "minor": "33", "gitVersion": "v1.33.0"}
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
            ],
        }
    if path == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": group,
                    "versions": [{"groupVersion": f"{group}/{version}", "version": version}],
                    "preferredVersion": {"groupVersion": f"{group}/{version}", "version": version},
                }
                for group, version, _ in RESOURCES
                if group
            ],
        }
    for group, version, resources in RESOURCES:
        if path == (f"/apis/{group}/{version}" if group else f"/api/{version}"):
            return {
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
    return None


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
