"""envlogger fixtures: hermetic git configuration and a real MLflow server (Postgres + S3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from podlab.localstack.postgres import PostgresServer
from podlab.localstack.s3 import S3Server
from tests.support.mlflow import MlflowServer


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No user/system git config leaks in (a global `safe.directory=*` would hide a test)."""
    home = tmp_path_factory.mktemp("githome")
    (home / ".gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "SUDO_UID", "ENVLOGGER_DISABLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def mlflow_server(
    postgres: PostgresServer, s3_server: S3Server, component_log_dir: Path
) -> Iterator[MlflowServer]:
    """The stock MLflow server on a Postgres database, artifacts proxied to an S3 bucket."""
    backend = postgres.create_database("envlogger_mlflow")
    bucket = s3_server.create_bucket("envlogger-artifacts")
    server = MlflowServer(
        backend_store_uri=backend,
        artifacts_destination=f"s3://{bucket}/mlflow",
        log_dir=component_log_dir,
        env=s3_server.env,
    ).start()
    yield server
    server.stop()


@pytest.fixture
def tracking(
    mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MlflowServer]:
    """The server exported as MLFLOW_TRACKING_URI for this process and its children."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    mlflow.set_tracking_uri(mlflow_server.url)
    yield mlflow_server
    # None (accepted at runtime, not in the annotation): back to "read the environment".
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
