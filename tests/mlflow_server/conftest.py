"""One hub + podlab MLflow server for the whole area; fault tests start private ones."""

from __future__ import annotations

import contextlib
import http.client
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

    def raw(self, method: str, target: str, user: str) -> tuple[int, str]:
        """Send `target` byte for byte (http.client does not normalise `..` as requests does)."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        try:
            conn.request(
                method,
                target,
                body=b"payload" if method != "GET" else None,
                headers={"Authorization": f"Bearer {self.tokens[user]}"},
            )
            reply = conn.getresponse()
            return reply.status, reply.read().decode()
        finally:
            conn.close()

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
    tokens = {name: hub.user_token(name)[0] for name in ("alice", "bob", "admin")}
    yield Stack(hub, server, tokens)
    server.stop()


@contextlib.contextmanager
def client_as(stack: Stack, user: str) -> Iterator[Any]:
    """An MlflowClient authenticating as `user` (MLFLOW_TRACKING_TOKEN, as in a pod)."""
    from mlflow import MlflowClient

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN")}
    os.environ.update(stack.server.env_for(stack.tokens[user]))
    try:
        yield MlflowClient(tracking_uri=stack.url, registry_uri=stack.url)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
