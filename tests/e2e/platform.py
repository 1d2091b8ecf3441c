"""The real `make up` launcher, run against a temp data dir and free ports, for e2e tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from podlab.localstack.process import free_port

ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CHROMIUM = "/usr/bin/chromium"


def e2e_config(mlflow_port: int, s3_port: int) -> dict[str, Any]:
    """podlab.yaml for the journey: the repo's profiles plus a 30 s idle-timeout profile."""
    return {
        "podlab": {
            "admin_users": ["admin"],
            "profiles": [
                {
                    "slug": "cpu-small",
                    "display_name": "CPU small — 2 cores, 4 GiB",
                    "description": "Everyday notebooks",
                    "default": True,
                    "cpu": {"guarantee": 0.5, "limit": 2},
                    "memory": {"guarantee": "1Gi", "limit": "4Gi"},
                    "idle_timeout": "8h",
                },
                {
                    "slug": "cpu-large",
                    "display_name": "CPU large — 2 cores, 8 GiB",
                    "description": "Bigger in-memory data",
                    "cpu": {"guarantee": 1, "limit": 2},
                    "memory": {"guarantee": "2Gi", "limit": "8Gi"},
                    "idle_timeout": "8h",
                },
                {
                    "slug": "quick-cull",
                    "display_name": "Quick cull — idle for 30 s",
                    "description": "Culled after 30 seconds without activity",
                    "cpu": {"guarantee": 0.5, "limit": 1},
                    "memory": {"guarantee": "1Gi", "limit": "2Gi"},
                    "idle_timeout": "30s",
                },
                {
                    "slug": "gpu-1",
                    "display_name": "1 NVIDIA GPU",
                    "description": "Needs a GPU",
                    "cpu": {"guarantee": 4, "limit": 8},
                    "memory": {"guarantee": "8Gi", "limit": "16Gi"},
                    "gpu": {"count": 1},
                    "idle_timeout": "30m",
                },
            ],
            "culling": {"enabled": True, "default_idle_timeout": "1h", "check_every": "10s"},
            "integrations": {
                "mlflow": {"url": f"http://127.0.0.1:{mlflow_port}"},
                "s3": {
                    "region": "us-east-1",
                    "shared_bucket": "podlab-shared",
                    "endpoint_url": f"http://127.0.0.1:{s3_port}",
                },
            },
        }
    }


@dataclass
class LocalPlatformUnderTest:
    root: Path
    hub_port: int
    pg_port: int
    mlflow_port: int
    s3_port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def config_path(self) -> Path:
        return self.root / "podlab.yaml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def password(self) -> str:
        return str(json.loads((self.data_dir / "secrets.json").read_text())["password"])

    @property
    def admin_token(self) -> str:
        return str(json.loads((self.data_dir / "secrets.json").read_text())["admin_token"])

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "PODLAB_CONFIG": str(self.config_path),
                "PODLAB_DATA_DIR": str(self.data_dir),
                "PODLAB_HUB_PORT": str(self.hub_port),
                "PODLAB_PG_PORT": str(self.pg_port),
                # Report activity every few seconds so a 30 s idle timeout can be tested.
                "PODLAB_ACTIVITY_INTERVAL": "5",
                "JUPYTERHUB_ACTIVITY_INTERVAL": "5",
            }
        )
        return env

    def podlab(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run `podlab COMMAND` (as `python -m podlab`) — what `make up`/`make down` run."""
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "podlab", command],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result.elapsed = time.monotonic() - started  # type: ignore[attr-defined]
        return result

    @classmethod
    def create(cls, root: Path) -> LocalPlatformUnderTest:
        platform = cls(root, free_port(), free_port(), free_port(), free_port())
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        config = e2e_config(platform.mlflow_port, platform.s3_port)
        platform.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return platform
