"""One hub + podlab MLflow server for the whole area; fault tests start private ones."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from podlab.localstack.jupyterhub import JupyterHubServer
from podlab.localstack.postgres import PostgresServer
from podlab.localstack.s3 import S3Server
from tests.mlflow_server.stack_helpers import Stack, Template
from tests.support.podlab_mlflow import PodlabMlflowServer, start_with_hub

TEMPLATE = "mlflow_template"


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
