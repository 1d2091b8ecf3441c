"""A real MLflow tracking server for tests: PostgreSQL backend, artifacts proxied to S3.

It is the stock `mlflow server` by default; `argv_prefix` lets a caller start another
launcher with the same flags (podlab's own server). The server runs with
`MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false` (the job runner would fork many processes, ≈2 GiB)
and `--allowed-hosts` listing the loopback names, without which MLflow 3 answers
`Invalid Host header`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from podlab.localstack.process import ManagedProcess, free_port, start_http_server

COMPONENT = "mlflow server"
INSTALL_HINT = (
    "install MLflow into .venv (`make setup`); the server log below says why it stopped "
    "(a bad --backend-store-uri or a missing psycopg2 makes it exit at once)"
)


class MlflowServer:
    def __init__(
        self,
        *,
        backend_store_uri: str,
        artifacts_destination: str,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        argv_prefix: Sequence[str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.backend_store_uri = backend_store_uri
        self.artifacts_destination = artifacts_destination
        self.log_path = log_dir / "mlflow-server.log"
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.argv_prefix = list(argv_prefix or [sys.executable, "-m", "mlflow", "server"])
        self.extra_args = list(extra_args)
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def argv(self) -> list[str]:
        return [
            *self.argv_prefix,
            "--backend-store-uri", self.backend_store_uri,
            "--artifacts-destination", self.artifacts_destination,
            "--serve-artifacts",
            "--host", self.host,
            "--port", str(self.port),
            "--workers", "1",
            "--allowed-hosts", ",".join(self.allowed_hosts()),
            *self.extra_args,
        ]  # fmt: skip

    def allowed_hosts(self) -> list[str]:
        return [f"{self.host}:{self.port}", f"localhost:{self.port}", self.host, "localhost"]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        return env

    def start(self, start_timeout: float = 120.0) -> MlflowServer:
        self._process = start_http_server(
            COMPONENT,
            self.argv(),
            health_url=f"{self.url}/health",
            log_path=self.log_path,
            port=self.port,
            env=self.env(),
            start_timeout=start_timeout,
            hint=INSTALL_HINT,
        )
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def client_env(self) -> dict[str, str]:
        """What a client process needs: the tracking URI (artifacts go through the server)."""
        return {"MLFLOW_TRACKING_URI": self.url}
