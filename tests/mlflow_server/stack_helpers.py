"""The MLflow area's shared objects: the stack (a hub + podlab's MLflow server, and the
users' tokens), the migrated template database, and MLflow clients as a pod would make them.
The fixtures that build them are in conftest.py."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from podlab.localstack.jupyterhub import JupyterHubServer
from podlab.localstack.postgres import PostgresServer
from tests.support.podlab_mlflow import PodlabMlflowServer, clone_database


@dataclass
class Stack:
    hub: JupyterHubServer
    server: PodlabMlflowServer
    tokens: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def raw(
        self,
        method: str,
        target: str,
        user: str,
        body: bytes | None = b"payload",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """Send `target` and `body` byte for byte (http.client does not normalise `..` or
        re-encode JSON as requests does)."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        try:
            conn.request(
                method,
                target,
                body=body if method != "GET" else None,
                headers={
                    "Authorization": f"Bearer {self.tokens.get(user, user)}",
                    **(headers or {}),
                },
            )
            reply = conn.getresponse()
            return reply.status, reply.read().decode(errors="replace")
        finally:
            conn.close()

    def json(self, method: str, path: str, user: str, raw_body: bytes) -> tuple[int, Any]:
        """POST/PATCH/DELETE exactly these JSON bytes; the reply parsed when it is JSON."""
        status, text = self.raw(method, path, user, raw_body, {"Content-Type": "application/json"})
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def call(
        self, method: str, endpoint: str, user: str | None, body: Any = None, **kw: Any
    ) -> requests.Response:
        """Call the REST API as `user` (None: no credentials)."""
        headers = dict(kw.pop("headers", {}))
        if user is not None:
            headers["Authorization"] = f"Bearer {self.tokens.get(user, user)}"
        url = endpoint if endpoint.startswith("http") else f"{self.url}{endpoint}"
        if method == "GET":
            return requests.get(url, params=body, headers=headers, timeout=30, **kw)
        return requests.request(method, url, json=body, headers=headers, timeout=30, **kw)


@dataclass
class Template:
    """A database migrated once from empty by `podlab-mlflow migrate`; tests clone it."""

    name: str
    first_migrate: Any  # the CompletedProcess of that first migration
    postgres: PostgresServer

    def clone(self, name: str) -> str:
        return clone_database(self.postgres, self.name, name)


@contextlib.contextmanager
def client_at(url: str, token: str | None, env: dict[str, str] | None = None) -> Iterator[Any]:
    """An MlflowClient (and MLflow's fluent API) talking to `url` with `token`, as in a pod.

    The tracking URI is set both in the environment and in MLflow's process-wide state, and
    both are restored afterwards, so tests against different servers cannot leak into each
    other. `env` adds client settings (e.g. MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD).
    """
    import mlflow
    from mlflow import MlflowClient

    # set_experiment() and set_registry_uri() export MLFLOW_EXPERIMENT_ID and MLFLOW_REGISTRY_URI
    # for child processes: restored too, or a later test's subprocess asks this server.
    keys = {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_TOKEN",
            "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", *(env or {})}  # fmt: skip
    saved = {k: os.environ.get(k) for k in keys}
    os.environ["MLFLOW_TRACKING_URI"] = url
    if token is None:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    else:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    os.environ.update(env or {})
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    try:
        yield MlflowClient(tracking_uri=url, registry_uri=url)
    finally:
        # First MLflow's process state (set_tracking_uri(None) also unsets the variable), then
        # the environment as it was.
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        import mlflow.tracking.fluent as fluent

        fluent._active_experiment_id = None  # set_experiment() must not follow to another server
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def client_as(stack: Stack, user: str, env: dict[str, str] | None = None) -> Iterator[Any]:
    """An MlflowClient authenticating as `user` (MLFLOW_TRACKING_TOKEN, as in a pod)."""
    with client_at(stack.url, stack.tokens.get(user, user), env) as client:
        yield client
