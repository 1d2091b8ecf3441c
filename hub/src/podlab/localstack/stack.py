"""`podlab up|down|status` (what `make up|down|status` run): the platform as local processes.

Same profiles file, same hub code (PodlabLocalSpawner, the culler policy), same MLflow server
and envlogger as on EKS; PostgreSQL, an S3-compatible server and the proxy stand in for RDS,
S3 and the load balancer. Everything durable lives in the data dir (`.podlab/` by default):
the database cluster, home directories, an S3 snapshot (the S3 server keeps objects in memory,
so `down` snapshots them and `up` restores them), generated secrets, PID files and logs.

`up` checks everything it can before starting anything (config, stale or live PID files,
ports), and stops what it started if a later component fails: never a half-started platform.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse

from podlab.config import ConfigError, PodlabConfig, load_config
from podlab.localstack.jupyterhub import JupyterHubServer
from podlab.localstack.mlflow import MlflowServer
from podlab.localstack.mlflow import hub_config as mlflow_hub_config
from podlab.localstack.paths import REPO_ROOT
from podlab.localstack.postgres import PostgresServer
from podlab.localstack.process import (
    ComponentError,
    http_ok,
    pid_alive,
    read_pid_file,
    require_port_free,
    stop_process_group,
)
from podlab.localstack.s3 import S3Server

HOST = "127.0.0.1"
DEFAULT_HUB_PORT = 8000
DEFAULT_PG_PORT = 5433
ARTIFACTS_BUCKET = "podlab-artifacts"
# Start order; `down` goes backwards.
COMPONENTS = ("postgresql", "s3", "mlflow", "jupyterhub")


class StackError(RuntimeError):
    """`up`/`down` cannot proceed; the message says what to do."""


@dataclass(frozen=True)
class LocalSettings:
    """Where things are and which ports they use; ports of S3 and MLflow come from the config's
    integration URLs, so podlab.yaml stays the one place that names them."""

    config_path: Path
    data_dir: Path
    hub_port: int = DEFAULT_HUB_PORT
    pg_port: int = DEFAULT_PG_PORT

    @classmethod
    def from_env(cls, config: str | None = None, data_dir: str | None = None) -> LocalSettings:
        env = os.environ
        return cls(
            config_path=Path(config or env.get("PODLAB_CONFIG") or REPO_ROOT / "podlab.yaml"),
            data_dir=Path(data_dir or env.get("PODLAB_DATA_DIR") or REPO_ROOT / ".podlab"),
            hub_port=int(env.get("PODLAB_HUB_PORT", DEFAULT_HUB_PORT)),
            pg_port=int(env.get("PODLAB_PG_PORT", DEFAULT_PG_PORT)),
        )

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"


@dataclass
class LocalPlatform:
    """The running (or to-be-started) local platform."""

    settings: LocalSettings
    out: TextIO = sys.stdout
    config: PodlabConfig = field(init=False)
    _started: ExitStack = field(default_factory=ExitStack, init=False)
    """How to stop what `up` started, last started first; closed when a later step fails."""

    # -- paths and secrets ---------------------------------------------------------------------
    def _load_config(self) -> PodlabConfig:
        try:
            return load_config(self.settings.config_path)
        except ConfigError as err:
            raise StackError(
                f"{err}\nFix {self.settings.config_path} and run `make up` again."
            ) from None

    def _secrets(self) -> dict[str, str]:
        """Generated once, kept in the data dir (0600): the login password and service tokens."""
        path = self.settings.data_dir / "secrets.json"
        values: dict[str, str] = {}
        if path.exists():
            values = json.loads(path.read_text())
        changed = False
        for key in ("password", "mlflow_service_token", "admin_token"):
            if not values.get(key):
                values[key] = secrets.token_urlsafe(24 if key != "password" else 12)
                changed = True
        if changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps(values, indent=2))
        return values

    def _port_of(self, url: str | None, what: str) -> int:
        parsed = urlparse(url or "")
        if parsed.hostname not in ("127.0.0.1", "localhost") or not parsed.port:
            raise StackError(
                f"{self.settings.config_path}: integrations.{what} must be a local URL such as "
                f"http://127.0.0.1:PORT for `make up` (got {url!r})"
            )
        return parsed.port

    # -- up --------------------------------------------------------------------------------------
    def up(self) -> None:
        started_at = time.monotonic()
        self.config = self._load_config()
        ports = self._plan_ports()
        self._clear_stale_pid_files()
        for component, port in ports.items():
            require_port_free(component, port, HOST)
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.data_dir.chmod(0o755)  # PostgreSQL runs as `postgres` when we are root
        secret = self._secrets()
        try:
            pg = self._step(
                "postgresql",
                f"{HOST}:{ports['postgresql']}",
                lambda: (
                    PostgresServer(
                        settings.data_dir / "postgres",
                        settings.log_dir,
                        ports["postgresql"],
                        pid_file=settings.pid_file("postgresql"),
                    )
                    .init()
                    .start()
                ),
            )
            self._started.callback(pg.stop)
            hub_db = pg.create_database("jupyterhub")
            mlflow_db = pg.create_database("mlflow")

            s3 = S3Server(settings.log_dir, ports["s3"], pid_file=settings.pid_file("s3"))
            self._step("s3", s3.endpoint_url, s3.start)
            self._started.callback(self._stop_s3, s3)
            restored = s3.restore(settings.data_dir / "s3-snapshot")
            s3.create_bucket(ARTIFACTS_BUCKET)
            if self.config.integrations.s3.shared_bucket:
                s3.create_bucket(self.config.integrations.s3.shared_bucket)
            self._say(f"  restored {restored} S3 objects from the last `make down`")

            hub = JupyterHubServer(
                settings.data_dir / "hub",
                settings.log_dir,
                port=ports["jupyterhub"],
                db_url=hub_db,
                spawner_class="podlab.localspawner.PodlabLocalSpawner",
                admin_users=tuple(self.config.admin_users),
                password=secret["password"],
                admin_token=secret["admin_token"],
                extra_config=self._hub_config(ports["mlflow"], secret["mlflow_service_token"]),
                env=self._hub_env(s3),
                pid_file=settings.pid_file("jupyterhub"),
                start_timeout=120,
            )
            mlflow = MlflowServer(
                database_url=mlflow_db,
                artifacts_destination=f"s3://{ARTIFACTS_BUCKET}/mlflow",
                s3_env=s3.env,
                hub_api_url=hub.hub_api_url,
                service_token=secret["mlflow_service_token"],
                log_path=settings.log_dir / "mlflow.log",
                port=ports["mlflow"],
                pid_file=settings.pid_file("mlflow"),
            )
            # MLflow (migrate, then serve) and the hub do not need each other to start:
            # start them side by side, the slowest part of a cold start.
            with ThreadPoolExecutor(max_workers=1) as pool:
                mlflow_ready = pool.submit(self._start_mlflow, mlflow)
                try:
                    self._step("jupyterhub", hub.url, hub.start)
                    self._started.callback(hub.stop)
                finally:
                    mlflow_ready.result()
        except (ComponentError, StackError, OSError) as err:
            self._say(f"\nstarting failed: {err}\nstopping what was started ...")
            self._started.close()
            raise StackError(str(err)) from None
        self._write_state(ports, hub)
        admins = ", ".join(self.config.admin_users) or "(none configured)"
        self._say(
            f"\npodlab is up in {time.monotonic() - started_at:.1f}s: open {hub.url}\n"
            f"  log in with any username and the password: {secret['password']}\n"
            f"  admin users: {admins}\n"
            f"  data: {settings.data_dir}   logs: {settings.log_dir}\n"
            "  stop with `make down`; `make status` shows each component"
        )

    def _start_mlflow(self, mlflow: MlflowServer) -> None:
        self._step("mlflow migrate", "schema", mlflow.migrate)
        self._step("mlflow", mlflow.url, mlflow.start)
        self._started.callback(mlflow.stop)

    def _plan_ports(self) -> dict[str, int]:
        integ = self.config.integrations
        return {
            "postgresql": self.settings.pg_port,
            "s3": self._port_of(integ.s3.endpoint_url, "s3.endpoint_url"),
            "mlflow": self._port_of(integ.mlflow.url, "mlflow.url"),
            "jupyterhub": self.settings.hub_port,
        }

    def _clear_stale_pid_files(self) -> None:
        for component in COMPONENTS:
            pid_file = self.settings.pid_file(component)
            if not pid_file.exists():
                continue
            pid = read_pid_file(pid_file)
            if pid is not None and pid_alive(pid):
                raise StackError(
                    f"podlab is already running: {component} has pid {pid} ({pid_file}). "
                    "Run `make down` first, or `make status` to see what runs."
                )
            pid_file.unlink()
            self._say(f"removed stale PID file {pid_file} (pid {pid} is not running)")

    def _hub_config(self, mlflow_port: int, mlflow_token: str) -> str:
        settings = self.settings
        podlab = f"""
# The same hub code as on Kubernetes, with the local spawner.
from podlab.config import load_config as _load_config
from podlab.culling import configure_culling as _configure_culling
_podlab_config_path = {str(settings.config_path.absolute())!r}
c.PodlabLocalSpawner.config_path = _podlab_config_path
c.PodlabLocalSpawner.data_dir = {str(settings.data_dir.absolute())!r}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90
_configure_culling(c, _load_config(_podlab_config_path), _podlab_config_path)
"""
        return podlab + mlflow_hub_config(f"http://{HOST}:{mlflow_port}", mlflow_token)

    def _hub_env(self, s3: S3Server) -> dict[str, str]:
        """The hub passes these to user servers (local stand-ins for EKS pod identity)."""
        env = dict(os.environ)
        env.update(
            {
                "AWS_ACCESS_KEY_ID": s3.env["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": s3.env["AWS_SECRET_ACCESS_KEY"],
                "PODLAB_CONFIG": str(self.settings.config_path.absolute()),
                "PODLAB_DATA_DIR": str(self.settings.data_dir.absolute()),
            }
        )
        return env

    def _step(self, name: str, where: str, start: Callable[[], Any]) -> Any:
        """Run one start-up step and print one line when it is done (steps may overlap)."""
        began = time.monotonic()
        result = start()
        self._say(f"  {name:<15} {where:<28} ready in {time.monotonic() - began:.1f}s")
        return result

    def _stop_s3(self, s3: S3Server) -> None:
        s3.snapshot(self.settings.data_dir / "s3-snapshot")
        s3.stop()

    def _write_state(self, ports: dict[str, int], hub: JupyterHubServer) -> None:
        state = {
            "ports": ports,
            "urls": {
                "jupyterhub": hub.url,
                "mlflow": f"http://{HOST}:{ports['mlflow']}",
                "s3": f"http://{HOST}:{ports['s3']}",
                "postgresql": f"postgresql://postgres@{HOST}:{ports['postgresql']}/",
            },
        }
        (self.settings.run_dir / "state.json").write_text(json.dumps(state, indent=2))

    def _read_state(self) -> dict[str, Any]:
        path = self.settings.run_dir / "state.json"
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return {"ports": {}, "urls": {}}

    def _say(self, text: str, end: str = "\n") -> None:
        self.out.write(text + end)
        self.out.flush()

    # -- down ------------------------------------------------------------------------------------
    def down(self, timeout: float = 15.0) -> None:
        began = time.monotonic()
        state = self._read_state()
        running = {
            c: pid
            for c in COMPONENTS
            if (pid := read_pid_file(self.settings.pid_file(c))) is not None and pid_alive(pid)
        }
        if not running:
            self._say("podlab is not running")
        if "s3" in running:
            # Snapshot first: MLflow is still up, but nothing writes while we stop the hub.
            port = int(state.get("ports", {}).get("s3", 0))
            if port:
                s3 = S3Server(self.settings.log_dir, port)
                count = s3.snapshot(self.settings.data_dir / "s3-snapshot")
                self._say(f"  saved {count} S3 objects to {self.settings.data_dir}/s3-snapshot")
        for component in reversed(COMPONENTS):
            pid = running.get(component)
            if pid is None:
                self.settings.pid_file(component).unlink(missing_ok=True)
                continue
            step = time.monotonic()
            if component == "jupyterhub":
                self._stop_hub_services(pid)
            signal_number = 2 if component == "postgresql" else 15  # SIGINT: fast PG shutdown
            stop_process_group(pid, signal_number, timeout=max(2.0, timeout / 3))
            self.settings.pid_file(component).unlink(missing_ok=True)
            self._say(f"  stopped {component:<12} in {time.monotonic() - step:.1f}s")
        (self.settings.run_dir / "state.json").unlink(missing_ok=True)
        if running:
            self._say(
                f"podlab is down ({time.monotonic() - began:.1f}s); data kept in "
                f"{self.settings.data_dir}"
            )

    @staticmethod
    def _stop_hub_services(hub_pid: int) -> None:
        """The culler is the hub's child in its own session; stopping it first spares the ~30 s
        the hub otherwise waits for managed services on shutdown."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if int(stat[1]) == hub_pid and b"podlab.culling" in cmdline:
                stop_process_group(int(entry.name), 15, timeout=5)

    # -- status ----------------------------------------------------------------------------------
    def status(self) -> bool:
        """Print each component with its PID, URL and health; True when all are healthy."""
        state = self._read_state()
        urls = state.get("urls", {})
        all_ok = True
        self._say(f"{'component':<12} {'pid':>8}  {'health':<10} url")
        for component in COMPONENTS:
            pid = read_pid_file(self.settings.pid_file(component))
            alive = pid is not None and pid_alive(pid)
            url = urls.get(component, "-")
            if not alive:
                health = "stopped" if pid is None else "dead (stale PID file)"
            elif component == "postgresql":
                health = "ok"
            else:
                probe = {"jupyterhub": "/hub/api/", "mlflow": "/health", "s3": "/moto-api/"}
                health = "ok" if http_ok(url.rstrip("/") + probe[component]) else "unhealthy"
            all_ok = all_ok and health == "ok"
            self._say(f"{component:<12} {pid or '-':>8}  {health:<10} {url}")
        return all_ok


def run(command: str, *, config: str | None = None, data_dir: str | None = None) -> int:
    """`podlab up|down|status`: 0 on success (for `status`: all healthy), 1 with the reason."""
    platform = LocalPlatform(LocalSettings.from_env(config, data_dir), out=sys.stdout)
    try:
        if command == "up":
            platform.up()
        elif command == "down":
            platform.down()
        else:
            return 0 if platform.status() else 1
    except (StackError, ComponentError) as err:
        print(f"podlab {command}: {err}", file=sys.stderr)
        return 1
    return 0
