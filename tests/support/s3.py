"""An S3-compatible server for tests: moto's standalone server (in memory), on loopback.

Clients find it the standard way, through `AWS_ENDPOINT_URL_S3` and the usual credential
variables, so code under test needs no test-only switches: boto3, the AWS CLI, MLflow's
artifact store and pyspark's s3a all read those.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.support.process import ManagedProcess, http_ok, require_port_free

COMPONENT = "s3 (moto server)"
INSTALL_HINT = (
    "install moto's server extra into .venv: `make setup` (requirements-dev.lock has moto[server])"
)
REGION = "us-east-1"


class S3Server:
    def __init__(self, log_dir: Path, port: int) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.log_path = log_dir / "s3.log"
        self._process: ManagedProcess | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment any AWS client needs to use this server instead of AWS."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "podlab-test",
            "AWS_SECRET_ACCESS_KEY": "podlab-test-secret",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # MLflow's S3 artifact repository reads its own variable.
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url,
        }

    def start(self) -> S3Server:
        require_port_free(COMPONENT, self.port, self.host)
        try:
            import moto.server  # noqa: F401  (fail early with the hint, not in the child)
        except ImportError as err:
            from tests.support.process import ComponentError

            raise ComponentError(
                COMPONENT, f"cannot import moto.server ({err})", INSTALL_HINT
            ) from err
        self._process = ManagedProcess(
            COMPONENT,
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            log_path=self.log_path,
            ready=lambda: http_ok(f"{self.endpoint_url}/moto-api/"),
            start_timeout=60,
            hint=INSTALL_HINT,
        ).start()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def client(self) -> Any:
        import boto3

        env = self.env
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        )

    def create_bucket(self, name: str) -> str:
        """Create `name` if absent and return it."""
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if name not in existing:
            client.create_bucket(Bucket=name)
        return name
