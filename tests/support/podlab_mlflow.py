"""podlab's MLflow server (`podlab-mlflow serve`) for tests, wired to a real hub, Postgres and S3.

Tests of other areas (hub, e2e) start "podlab's MLflow + a hub" with `start_with_hub`; tests
that need a special hub or database use `PodlabMlflowServer` directly. The server registers
with the hub as the service `mlflow` (the config snippet comes from `hub_service_config`, to
pass as the hub's `extra_config`), so browser OAuth through the proxy works as in the chart.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.support.jupyterhub import JupyterHubServer
from tests.support.postgres import PostgresServer
from tests.support.process import ComponentError, ManagedProcess, free_port, start_http_server
from tests.support.s3 import S3Server

COMPONENT = "podlab-mlflow serve"
SERVICE_NAME = "mlflow"
HINT = (
    "install the server into .venv: `.venv/bin/pip install --no-deps --no-build-isolation "
    "-e ./mlflow-server` (or `make setup`); the log below says why it stopped"
)


def hub_service_config(port: int, api_token: str, host: str = "127.0.0.1") -> str:
    """jupyterhub_config.py lines registering the MLflow service.

    The service itself needs no scopes (tokens are checked with the token itself); users need
    `access:services!service=mlflow` to complete the browser OAuth login.
    """
    service = {
        "name": SERVICE_NAME,
        "api_token": api_token,
        "url": f"http://{host}:{port}",
        "oauth_no_confirm": True,
    }
    user_role = {"name": "user", "scopes": ["self", f"access:services!service={SERVICE_NAME}"]}
    return (
        f"c.JupyterHub.services.append({service!r})\n"
        f"c.JupyterHub.load_roles.append({user_role!r})\n"
    )


class PodlabMlflowServer:
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
    ) -> None:
        self.hub = hub
        self.database_url = database_url
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.service_token = service_token or secrets.token_hex(32)
        self.workers = workers
        self.token_cache_ttl = token_cache_ttl
        self.extra_env = dict(extra_env or {})
        self.log_path = log_dir / f"podlab-mlflow-{self.port}.log"
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def artifacts_destination(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN"):
            env.pop(key, None)
        env.update(self.s3.env)
        env.update(
            {
                "PODLAB_MLFLOW_DATABASE_URL": self.database_url,
                "PODLAB_MLFLOW_ARTIFACTS_DESTINATION": self.artifacts_destination,
                "PODLAB_MLFLOW_HOST": self.host,
                "PODLAB_MLFLOW_PORT": str(self.port),
                "PODLAB_MLFLOW_TOKEN_CACHE_TTL": str(self.token_cache_ttl),
                "JUPYTERHUB_API_URL": self.hub.hub_api_url,
                "JUPYTERHUB_API_TOKEN": self.service_token,
                "JUPYTERHUB_SERVICE_PREFIX": f"/services/{SERVICE_NAME}/",
                "JUPYTERHUB_BASE_URL": "/",
            }
        )
        if self.workers is not None:  # None: the server's default, derived from CPUs
            env["PODLAB_MLFLOW_WORKERS"] = str(self.workers)
        env.update(self.extra_env)
        return env

    def run_cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """`podlab-mlflow ARGS` with this server's environment (e.g. `migrate`)."""
        return subprocess.run(
            [sys.executable, "-m", "podlab_mlflow", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def migrate(self) -> None:
        result = self.run_cli("migrate")
        if result.returncode != 0:
            raise ComponentError(
                COMPONENT, f"podlab-mlflow migrate failed:\n{result.stderr[-3000:]}", HINT
            )

    def start(self, start_timeout: float = 120) -> PodlabMlflowServer:
        self.s3.create_bucket(self.bucket)
        self._process = start_http_server(
            COMPONENT,
            [sys.executable, "-m", "podlab_mlflow", "serve"],
            health_url=f"{self.url}/health",
            log_path=self.log_path,
            port=self.port,
            env=self.env(),
            start_timeout=start_timeout,
            hint=HINT,
        )
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop(timeout=30)
            self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

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
