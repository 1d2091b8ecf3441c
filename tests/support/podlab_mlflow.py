"""podlab's MLflow server (`podlab-mlflow serve`) for tests, wired to a real hub, Postgres and S3.

Tests of other areas (hub, e2e) start "podlab's MLflow + a hub" with `start_with_hub`; tests
that need a special hub or database use `PodlabMlflowServer` directly. The server registers
with the hub as the service `mlflow` (the config snippet comes from `hub_service_config`, to
pass as the hub's `extra_config`), so browser OAuth through the proxy works as in the chart.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from podlab.localstack.jupyterhub import JupyterHubServer
from podlab.localstack.mlflow import MlflowServer, hub_config
from podlab.localstack.postgres import PostgresServer
from podlab.localstack.process import free_port
from podlab.localstack.s3 import S3Server
from podlab.mlflow_service import SERVICE_NAME

__all__ = [
    "SERVICE_NAME",
    "PodlabMlflowServer",
    "clone_database",
    "hub_service_config",
    "start_with_hub",
]


def hub_service_config(port: int, api_token: str, host: str = "127.0.0.1") -> str:
    """jupyterhub_config.py lines registering the MLflow service (as `make up` does).

    Users get `access:services!service=mlflow` (their tokens may use the server), the hub's
    admin users the `mlflow-admin` role (podlab.mlflow_service).
    """
    return hub_config(f"http://{host}:{port}", api_token)


class PodlabMlflowServer(MlflowServer):
    """`make up`'s MLflow server, wired to a test hub and S3 server, with test defaults:
    one worker, a short token cache (revocation tests), a log file per port.

    `artifacts_directory`: keep artifacts in that directory (the chart's volume default)
    instead of the S3 bucket."""

    def __init__(
        self,
        *,
        hub: JupyterHubServer,
        database_url: str,
        s3: S3Server,
        bucket: str,
        log_dir: Path,
        prefix: str = "mlflow",
        port: int | None = None,
        service_token: str | None = None,
        workers: int | None = 1,
        token_cache_ttl: float = 2.0,
        extra_env: Mapping[str, str] | None = None,
        artifacts_directory: Path | None = None,
    ) -> None:
        port = port or free_port()
        super().__init__(
            database_url=database_url,
            artifacts_destination=(
                str(artifacts_directory) if artifacts_directory else f"s3://{bucket}/{prefix}"
            ),
            s3_env=s3.env,
            hub_api_url=hub.hub_api_url,
            service_token=service_token or secrets.token_hex(32),
            log_path=log_dir / f"podlab-mlflow-{port}.log",
            port=port,
            workers=workers,
            extra_env={"PODLAB_MLFLOW_TOKEN_CACHE_TTL": str(token_cache_ttl), **(extra_env or {})},
        )
        self.hub = hub
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.token_cache_ttl = token_cache_ttl

    def start(self, start_timeout: float = 120) -> PodlabMlflowServer:
        self.s3.create_bucket(self.bucket)
        super().start(start_timeout)
        return self

    def env_for(self, token: str) -> dict[str, str]:
        """What a client (a user pod) needs: the tracking URI and its hub token, nothing else."""
        return {"MLFLOW_TRACKING_URI": self.url, "MLFLOW_TRACKING_TOKEN": token}


def start_with_hub(
    make_jupyterhub: Callable[..., JupyterHubServer],
    postgres: PostgresServer,
    s3_server: S3Server,
    log_dir: Path,
    name: str = "mlflow",
    *,
    hub_options: Mapping[str, Any] | None = None,
    database_url: str | None = None,
    **server_options: Any,
) -> tuple[JupyterHubServer, PodlabMlflowServer]:
    """A hub with the `mlflow` service registered and podlab's server, migrated and running.

    `database_url`: an already migrated database (e.g. a clone of a template); by default a
    database `mlflow_<name>` is created and `podlab-mlflow migrate` runs on it.
    """
    port = free_port()
    token = secrets.token_hex(32)
    options = dict(hub_options or {})
    options["extra_config"] = (
        options.get("extra_config", "") + "\n" + hub_service_config(port, token)
    )
    hub = make_jupyterhub(name, **options)
    migrated = database_url is not None
    if database_url is None:
        database_url = postgres.create_database(f"mlflow_{name}".replace("-", "_"))
    server = PodlabMlflowServer(
        hub=hub,
        database_url=database_url,
        s3=s3_server,
        bucket=f"podlab-{name}".replace("_", "-"),
        log_dir=log_dir,
        port=port,
        service_token=token,
        **server_options,
    )
    if not migrated:
        server.migrate()
    return hub, server.start()


def clone_database(postgres: PostgresServer, template: str, name: str) -> str:
    """A new database copied from a migrated `template` (milliseconds instead of a migration)."""
    postgres.drop_database(name)
    postgres.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return postgres.url(name)
