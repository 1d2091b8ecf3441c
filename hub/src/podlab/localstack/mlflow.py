"""podlab's MLflow server (`podlab-mlflow migrate` + `serve`) as a local process.

It is configured exactly as the chart configures the Deployment: environment variables only,
registered with the hub as the service `mlflow`, so `make up` exercises the same settings
path as EKS.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from podlab.localstack.process import (
    ComponentError,
    ManagedProcess,
    http_ok,
    require_port_free,
)
from podlab.mlflow_service import SERVICE_NAME

COMPONENT = "mlflow"
HINT = (
    "the server comes from mlflow-server/ (installed into .venv by `make setup`); "
    "the log below says why it stopped"
)


def hub_config(url: str, api_token: str, admin_users: str = "c.Authenticator.admin_users") -> str:
    """jupyterhub_config.py lines registering the server with the hub, as the chart does.

    `admin_users` is a Python expression evaluated in the config file (by default the hub's
    own admin users); the roles and scopes come from podlab.mlflow_service.
    """
    return (
        "from podlab.mlflow_service import configure as _configure_mlflow\n"
        f"_configure_mlflow(c, url={url!r}, api_token={api_token!r}, "
        f"admin_users={admin_users})\n"
    )


class MlflowServer:
    def __init__(
        self,
        *,
        database_url: str,
        artifacts_destination: str,
        s3_env: Mapping[str, str],
        hub_api_url: str,
        service_token: str,
        log_path: Path,
        port: int,
        host: str = "127.0.0.1",
        workers: int | None = 1,
        pid_file: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.artifacts_destination = artifacts_destination
        self.s3_env = dict(s3_env)
        self.hub_api_url = hub_api_url
        self.service_token = service_token
        self.log_path = log_path
        self.port = port
        self.host = host
        self.workers = workers
        self.pid_file = pid_file
        self.extra_env = dict(extra_env or {})
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN"):
            env.pop(key, None)  # the server must not act as a client of itself
        env.update(self.s3_env)
        env.update(
            {
                "PODLAB_MLFLOW_DATABASE_URL": self.database_url,
                "PODLAB_MLFLOW_ARTIFACTS_DESTINATION": self.artifacts_destination,
                "PODLAB_MLFLOW_HOST": self.host,
                "PODLAB_MLFLOW_PORT": str(self.port),
                "JUPYTERHUB_API_URL": self.hub_api_url,
                "JUPYTERHUB_API_TOKEN": self.service_token,
                "JUPYTERHUB_SERVICE_PREFIX": f"/services/{SERVICE_NAME}/",
                "JUPYTERHUB_BASE_URL": "/",
            }
        )
        if self.workers is not None:  # None: the server's default, derived from CPUs
            env["PODLAB_MLFLOW_WORKERS"] = str(self.workers)
        env.update(self.extra_env)
        return env

    def run_cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`podlab-mlflow ARGS` with this server's environment."""
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
                COMPONENT, f"`podlab-mlflow migrate` failed:\n{result.stderr[-3000:]}", HINT
            )

    def start(self, start_timeout: float = 120) -> MlflowServer:
        require_port_free(COMPONENT, self.port, self.host)
        self._process = ManagedProcess(
            COMPONENT,
            [sys.executable, "-m", "podlab_mlflow", "serve"],
            log_path=self.log_path,
            ready=lambda: http_ok(f"{self.url}/health"),
            env=self.env(),
            start_timeout=start_timeout,
            hint=HINT,
            pid_file=self.pid_file,
        ).start()
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
