"""One hub + podlab MLflow server for the whole area; fault tests start private ones."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.jupyterhub import JupyterHubServer
from tests.support.podlab_mlflow import PodlabMlflowServer, clone_database, start_with_hub
from tests.support.postgres import PostgresServer
from tests.support.s3 import S3Server


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


TEMPLATE = "mlflow_template"


@dataclass
class Template:
    """A database migrated once from empty by `podlab-mlflow migrate`; tests clone it."""

    name: str
    first_migrate: Any  # the CompletedProcess of that first migration
    postgres: PostgresServer

    def clone(self, name: str) -> str:
        return clone_database(self.postgres, self.name, name)


@pytest.fixture(scope="session")
def mlflow_template(postgres: PostgresServer, s3_server: S3Server, work_root: Path) -> Template:
    postgres.drop_database(TEMPLATE)
    url = postgres.create_database(TEMPLATE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODLAB_", "MLFLOW_"))}
    env["PODLAB_MLFLOW_DATABASE_URL"] = url
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "podlab_mlflow", "migrate"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return Template(TEMPLATE, result, postgres)


@pytest.fixture(scope="session")
def mlflow_stack(
    make_jupyterhub: Callable[..., JupyterHubServer],
    postgres: PostgresServer,
    s3_server: S3Server,
    component_log_dir: Path,
    mlflow_template: Template,
) -> Iterator[Stack]:
    hub, server = start_with_hub(
        make_jupyterhub, postgres, s3_server, component_log_dir, "mlflowsrv",
        database_url=mlflow_template.clone("mlflow_stack"),
        extra_env={"PODLAB_MLFLOW_ALLOWED_HOSTS": "mlflow,mlflow.podlab.svc.cluster.local"},
    )  # fmt: skip
    hub.create_user("admin", admin=True)
    tokens = {name: hub.user_token(name)[0] for name in ("alice", "bob", "carol", "admin")}
    yield Stack(hub, server, tokens)
    server.stop()


@pytest.fixture(scope="session")
def volume_stack(
    mlflow_stack: Stack, mlflow_template: Template, component_log_dir: Path, tmp_path_factory: Any
) -> Iterator[Stack]:
    """A second server on the same hub, its artifacts in a directory (the chart's volume)."""
    directory = tmp_path_factory.mktemp("artifact-volume")
    server = PodlabMlflowServer(
        hub=mlflow_stack.hub,
        database_url=mlflow_template.clone("mlflow_volume"),
        s3=mlflow_stack.server.s3,
        bucket="unused",
        log_dir=component_log_dir,
        service_token=mlflow_stack.server.service_token,
        artifacts_directory=directory,
    )
    server.start()
    try:
        yield Stack(mlflow_stack.hub, server, mlflow_stack.tokens)
    finally:
        server.stop()


@pytest.fixture(scope="session", params=["s3", "volume"])
def any_stack(request: pytest.FixtureRequest) -> Stack:
    """Each artifact destination in turn: the S3 bucket and the mounted directory."""
    name = "mlflow_stack" if request.param == "s3" else "volume_stack"
    stack: Stack = request.getfixturevalue(name)
    return stack


@contextlib.contextmanager
def client_at(url: str, token: str | None, env: dict[str, str] | None = None) -> Iterator[Any]:
    """An MlflowClient (and MLflow's fluent API) talking to `url` with `token`, as in a pod.

    The tracking URI is set both in the environment and in MLflow's process-wide state, and
    both are restored afterwards, so tests against different servers cannot leak into each
    other. `env` adds client settings (e.g. MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD).
    """
    import mlflow
    from mlflow import MlflowClient

    keys = {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", *(env or {})}
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
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        import mlflow.tracking.fluent as fluent

        fluent._active_experiment_id = None  # set_experiment() must not follow to another server


@contextlib.contextmanager
def client_as(stack: Stack, user: str, env: dict[str, str] | None = None) -> Iterator[Any]:
    """An MlflowClient authenticating as `user` (MLFLOW_TRACKING_TOKEN, as in a pod)."""
    with client_at(stack.url, stack.tokens.get(user, user), env) as client:
        yield client
