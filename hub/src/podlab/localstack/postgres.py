"""A throwaway PostgreSQL cluster from the Debian binaries, on a free loopback port.

`initdb` refuses to run as root, so when the tests run as root the cluster belongs to the
`postgres` user (data directory chowned to it). The socket lives in the cluster's own temp
dir, never /var/run/postgresql, so no system service is touched or needed. `stop()`/`start()`
keep the data directory and port: fault tests stop the server under a live client.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from podlab.localstack.process import ComponentError, ManagedProcess, require_port_free

COMPONENT = "postgresql"
INSTALL_HINT = (
    "install the PostgreSQL server binaries: `apt-get install -y postgresql` as root "
    "(or run `make setup`, which does it)"
)


def find_pg_bin() -> Path:
    """The directory of initdb/postgres: $PODLAB_PG_BIN, Debian's layout, PATH, or the
    binaries bundled in the `pgserver` wheel (in the dev lock) where none is installed."""
    candidates = [os.environ.get("PODLAB_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    candidates.append(str(pgserver_bin() or ""))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    raise ComponentError(COMPONENT, "initdb/postgres binaries not found", INSTALL_HINT)


def pgserver_bin() -> Path | None:
    """pgserver/pginstall/bin, found without importing pgserver (it pulls in psutil)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class PostgresServer:
    """A running cluster; connect as superuser `postgres` over TCP with trust auth."""

    def __init__(
        self, base_dir: Path, log_dir: Path, port: int, pid_file: Path | None = None
    ) -> None:
        self.bin = find_pg_bin()
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.socket_dir = base_dir / "socket"
        self.log_path = log_dir / "postgresql.log"
        self.host = "127.0.0.1"
        self.port = port
        self.user = "postgres"
        self._os_user = "postgres" if os.geteuid() == 0 else None
        self.pid_file = pid_file
        self._process: ManagedProcess | None = None

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    # -- lifecycle ---------------------------------------------------------------------------
    def init(self) -> PostgresServer:
        """initdb once; an existing cluster (a second `make up`) is kept as it is."""
        if self.initialized:
            return self
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self._os_user:
            try:
                owner = pwd.getpwnam(self._os_user)
            except KeyError as err:
                raise ComponentError(
                    COMPONENT, "running as root but there is no 'postgres' user", INSTALL_HINT
                ) from err
            # The postgres user must be able to reach its directories from /.
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            user=self._os_user,
            check=False,
        )
        if result.returncode != 0:
            raise ComponentError(
                COMPONENT,
                f"initdb failed (exit {result.returncode}): {result.stderr.strip()}",
                "check that the temp dir is writable by the postgres user; " + INSTALL_HINT,
            )
        return self

    def start(self) -> PostgresServer:
        require_port_free(COMPONENT, self.port, self.host)
        self._process = ManagedProcess(
            COMPONENT,
            [
                str(self.bin / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                self.host,
                "-k",
                str(self.socket_dir),
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            log_path=self.log_path,
            ready=self.accepting_connections,
            user=self._os_user,
            # SIGINT is PostgreSQL's "fast" shutdown: roll back clients, checkpoint, exit.
            stop_signal=signal.SIGINT,
            pid_file=self.pid_file,
            start_timeout=60,
            hint=INSTALL_HINT,
        ).start()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop(timeout=30)
            self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def accepting_connections(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", self.host, "-p", str(self.port), "-U", self.user],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    # -- use ---------------------------------------------------------------------------------
    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg2") -> str:
        """SQLAlchemy URL with psycopg2 spelled out (2.1 maps postgresql:// to psycopg 3)."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def libpq_dsn(self, database: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={database}"

    def execute(
        self, sql: str, database: str = "postgres", params: tuple[object, ...] = ()
    ) -> list[tuple[object, ...]]:
        """Run one statement in autocommit mode and return its rows (empty for commands)."""
        import psycopg2

        conn = psycopg2.connect(self.libpq_dsn(database), connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, params or None)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        """Create `name` (idempotent) and return its SQLAlchemy URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"database name {name!r}: use letters, digits and underscores")
        exists = self.execute("SELECT 1 FROM pg_database WHERE datname = %s", params=(name,))
        if not exists:
            self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
