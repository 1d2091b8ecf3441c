"""An S3-compatible server for tests: moto's standalone server (in memory), on loopback.

Clients find it the standard way, through `AWS_ENDPOINT_URL_S3` and the usual credential
variables, so code under test needs no test-only switches: boto3, the AWS CLI, MLflow's
artifact store and pyspark's s3a all read those.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from podlab.localstack.process import ManagedProcess, http_ok, require_port_free

COMPONENT = "s3 (moto server)"
INSTALL_HINT = (
    "install moto's server extra into .venv: `make setup` (requirements-dev.lock has moto[server])"
)
REGION = "us-east-1"


class S3Server:
    def __init__(self, log_dir: Path, port: int, pid_file: Path | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.log_path = log_dir / "s3.log"
        self.pid_file = pid_file
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
            from podlab.localstack.process import ComponentError

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
            pid_file=self.pid_file,
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

    # -- durability for `make up`: moto keeps objects only in memory ----------------------------
    def snapshot(self, dest: Path) -> int:
        """Copy every bucket and object into `dest` (replaced atomically); returns the count.

        Keys are stored by index with a JSON manifest, so any key (spaces, `..`, a trailing
        slash) round-trips without being interpreted as a path.
        """
        client = self.client()
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        count = 0
        for bucket in client.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            (tmp / name / "objects").mkdir(parents=True)
            keys: list[str] = []
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                for obj in page.get("Contents", []):
                    body = client.get_object(Bucket=name, Key=obj["Key"])["Body"].read()
                    (tmp / name / "objects" / str(len(keys))).write_bytes(body)
                    keys.append(obj["Key"])
            (tmp / name / "manifest.json").write_text(json.dumps({"keys": keys}))
            count += len(keys)
        old = dest.with_name(dest.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
        return count

    def restore(self, src: Path) -> int:
        """Recreate the buckets and objects of a snapshot; returns the number of objects."""
        if not src.is_dir():
            return 0
        client = self.client()
        count = 0
        for bucket_dir in sorted(p for p in src.iterdir() if p.is_dir()):
            self.create_bucket(bucket_dir.name)
            keys = json.loads((bucket_dir / "manifest.json").read_text())["keys"]
            for index, key in enumerate(keys):
                body = (bucket_dir / "objects" / str(index)).read_bytes()
                client.put_object(Bucket=bucket_dir.name, Key=key, Body=body)
                count += 1
        return count
