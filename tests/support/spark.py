"""A Spark standalone cluster (one master, one worker) from pyspark's own `spark-class`.

pyspark's wheel carries the Spark jars and launch scripts, so no separate Spark download is
needed; Java 17 comes from the machine (`make setup` installs it with apt when missing).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

from podlab.localstack.process import (
    ComponentError,
    ManagedProcess,
    free_port,
    http_ok,
    require_executable,
    require_port_free,
)

COMPONENT = "spark standalone"
INSTALL_HINT = (
    "pyspark comes from .venv (`make setup`) and needs Java 17: "
    "`apt-get install -y openjdk-17-jre-headless` as root"
)


def spark_home() -> Path:
    """SPARK_HOME is the pyspark package folder: it holds bin/, jars/ and sbin/."""
    try:
        import pyspark
    except ImportError as err:
        raise ComponentError(COMPONENT, f"cannot import pyspark ({err})", INSTALL_HINT) from err
    return Path(pyspark.__file__).parent


class SparkCluster:
    def __init__(
        self, base_dir: Path, log_dir: Path, *, cores: int = 2, memory: str = "2g"
    ) -> None:
        self.base_dir = base_dir
        self.log_dir = log_dir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.web_port = free_port()
        self.worker_web_port = free_port()
        self.cores = cores
        self.memory = memory
        self.home = spark_home()
        self._master: ManagedProcess | None = None
        self._worker: ManagedProcess | None = None

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for the cluster processes and for a driver that talks to it."""
        env = dict(os.environ)
        env.update(
            {
                "SPARK_HOME": str(self.home),
                "SPARK_LOCAL_IP": self.host,
                "SPARK_LOG_DIR": str(self.log_dir / "spark"),
                "SPARK_WORKER_DIR": str(self.base_dir / "work"),
                "SPARK_LOCAL_DIRS": str(self.base_dir / "local"),
                "SPARK_NO_DAEMONIZE": "1",
            }
        )
        return env

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(
                f"http://{self.host}:{self.web_port}/json/", timeout=2
            ) as response:
                return int(json.load(response).get("aliveworkers", 0))
        except (OSError, ValueError):
            return 0

    def start(self) -> SparkCluster:
        require_executable(COMPONENT, "java", INSTALL_HINT)
        spark_class = self.home / "bin" / "spark-class"
        if not spark_class.exists():
            raise ComponentError(COMPONENT, f"{spark_class} is missing", INSTALL_HINT)
        spark_class.chmod(spark_class.stat().st_mode | 0o111)
        for port in (self.port, self.web_port, self.worker_web_port):
            require_port_free(COMPONENT, port, self.host)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._master = ManagedProcess(
            f"{COMPONENT} master",
            [
                str(spark_class),
                "org.apache.spark.deploy.master.Master",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--webui-port",
                str(self.web_port),
            ],
            log_path=self.log_dir / "spark-master.log",
            ready=lambda: http_ok(f"http://{self.host}:{self.web_port}/json/"),
            env=self.env,
            cwd=self.base_dir,
            start_timeout=120,
            hint=INSTALL_HINT,
        ).start()
        self._worker = ManagedProcess(
            f"{COMPONENT} worker",
            [
                str(spark_class),
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                self.host,
                "--webui-port",
                str(self.worker_web_port),
                "--cores",
                str(self.cores),
                "--memory",
                self.memory,
                "--work-dir",
                str(self.base_dir / "work"),
                self.master_url,
            ],
            log_path=self.log_dir / "spark-worker.log",
            ready=lambda: self.alive_workers() >= 1,
            env=self.env,
            cwd=self.base_dir,
            start_timeout=120,
            hint=INSTALL_HINT,
        ).start()
        return self

    def stop(self) -> None:
        for process in (self._worker, self._master):
            if process is not None:
                process.stop()
        self._worker = self._master = None
        shutil.rmtree(self.base_dir / "work", ignore_errors=True)
