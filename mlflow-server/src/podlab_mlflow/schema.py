"""The database schema: MLflow's alembic revisions plus podlab's ownership table.

Stock `mlflow server` creates or upgrades tables from whichever pod starts first; with several
replicas during a rolling upgrade that means concurrent migrations and old pods writing to a
new schema. Here `migrate` is the only writer of schema (one hook Job per release, serialised
by a PostgreSQL advisory lock), and `serve` only *checks* and refuses a schema that does not
match the installed MLflow exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

_logger = logging.getLogger(__name__)

OWNERS_TABLE = "podlab_mlflow_owners"
GRANTS_TABLE = "podlab_mlflow_grants"
META_TABLE = "podlab_mlflow_schema"
PODLAB_SCHEMA_VERSION = 2  # 2: grants
# pg_advisory_lock key for migrations: b"podlabml" as a signed 64-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(b"podlabml", "big", signed=True)
MIGRATE_COMMAND = "podlab-mlflow migrate"

_PODLAB_DDL = (
    f"""
    CREATE TABLE IF NOT EXISTS {OWNERS_TABLE} (
        kind VARCHAR(32) NOT NULL,
        object_key VARCHAR(512) NOT NULL,
        owner VARCHAR(256) NOT NULL,
        created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        PRIMARY KEY (kind, object_key)
    )
    """,
    f"""
    CREATE TABLE IF NOT EXISTS {GRANTS_TABLE} (
        kind VARCHAR(32) NOT NULL,
        object_key VARCHAR(512) NOT NULL,
        grantee VARCHAR(256) NOT NULL,
        permission VARCHAR(16) NOT NULL,
        granted_by VARCHAR(256) NOT NULL,
        created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        PRIMARY KEY (kind, object_key, grantee)
    )
    """,
    f"CREATE TABLE IF NOT EXISTS {META_TABLE} (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)",
    f"""
    INSERT INTO {META_TABLE} (id, version) VALUES (1, {PODLAB_SCHEMA_VERSION})
    ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version
    """,  # noqa: S608  (constants only)
)


class SchemaError(RuntimeError):
    """The database schema cannot be used by this release; the message says what to run."""


@dataclass(frozen=True)
class SchemaStatus:
    """Where the database stands relative to the installed MLflow and podlab."""

    current: str | None  # alembic revision in the database (None: never migrated)
    head: str  # the installed MLflow's latest revision
    known: bool  # the database revision exists in the installed MLflow's migrations
    podlab_version: int | None

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head and self.podlab_version == PODLAB_SCHEMA_VERSION

    @property
    def newer_than_installed(self) -> bool:
        return self.current is not None and not self.known


def _mlflow_version() -> str:
    from mlflow.version import VERSION

    return str(VERSION)


def _db_utils() -> Any:
    """MLflow's migration helpers (private API, pinned with the MLflow version)."""
    import mlflow.store.db.utils as db_utils

    return db_utils


def _known_revisions() -> tuple[str, set[str]]:
    from alembic.script import ScriptDirectory

    utils = _db_utils()
    script = ScriptDirectory.from_config(utils._get_alembic_config(db_url=""))
    return str(utils._get_latest_schema_revision()), {
        rev.revision for rev in script.walk_revisions()
    }


def _podlab_version(conn: Connection) -> int | None:
    from sqlalchemy import inspect, text

    if not inspect(conn).has_table(META_TABLE):
        return None
    row = conn.execute(text(f"SELECT version FROM {META_TABLE} WHERE id = 1")).first()  # noqa: S608
    return int(row[0]) if row else None


def make_engine(database_url: str) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    # Short-lived commands: a connection per use (the migration lock holds one of them).
    return create_engine(database_url, poolclass=NullPool)


def schema_status(engine: Engine) -> SchemaStatus:
    from alembic.runtime.migration import MigrationContext

    head, known = _known_revisions()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        podlab = _podlab_version(conn)
    return SchemaStatus(current=current, head=head, known=current in known, podlab_version=podlab)


def newer_message(status: SchemaStatus) -> str:
    return (
        f"The database schema (MLflow revision {status.current}) is newer than this "
        f"server's MLflow {_mlflow_version()} (latest revision {status.head}). It was migrated "
        "by a newer podlab-mlflow release: run that release (or newer), or restore the backup "
        "taken before the upgrade. Nothing was changed."
    )


def check_current(engine: Engine) -> SchemaStatus:
    """Raise SchemaError unless the schema is exactly what this release expects."""
    status = schema_status(engine)
    if status.newer_than_installed:
        raise SchemaError(newer_message(status))
    if status.podlab_version is not None and status.podlab_version > PODLAB_SCHEMA_VERSION:
        raise SchemaError(
            f"The database has podlab schema version {status.podlab_version}, newer than this "
            f"release's {PODLAB_SCHEMA_VERSION}: run the newer podlab-mlflow release."
        )
    if not status.up_to_date:
        found = status.current or "none (empty database)"
        raise SchemaError(
            f"The database schema is not current (MLflow revision {found}, expected "
            f"{status.head}; podlab schema {status.podlab_version or 'missing'}, expected "
            f"{PODLAB_SCHEMA_VERSION}). Take a backup, then run `{MIGRATE_COMMAND}` once "
            "(the Helm chart's pre-upgrade hook Job does this) and start the server again."
        )
    return status


def migrate(engine: Engine) -> tuple[SchemaStatus, SchemaStatus]:
    """Bring the schema to this release's head; safe to re-run. Returns (before, after)."""
    from sqlalchemy import text

    with engine.connect() as lock_conn:
        # One migrator at a time; a second hook Job waits here, then finds nothing to do.
        lock_conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        try:
            before = schema_status(engine)
            if before.newer_than_installed:
                raise SchemaError(newer_message(before))
            if before.current != before.head:
                _upgrade_mlflow(engine, empty=before.current is None)
            with engine.begin() as conn:
                for statement in _PODLAB_DDL:
                    conn.execute(text(statement))
            _ensure_default_experiment(engine)
            after = schema_status(engine)
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            lock_conn.commit()
    return before, after


def _upgrade_mlflow(engine: Engine, *, empty: bool) -> None:
    utils = _db_utils()
    if empty and utils._is_empty_database(engine):
        _logger.info("Empty database: creating MLflow's tables")
        utils._initialize_tables(engine)
    else:
        _logger.info("Upgrading MLflow's schema")
        utils._upgrade_db(engine)


def _ensure_default_experiment(engine: Engine) -> None:
    """Create MLflow's 'Default' experiment here, not racily in the first serving worker."""
    import mlflow.store.tracking.sqlalchemy_store as sql_store

    url = engine.url.render_as_string(hide_password=False)
    store: Any = sql_store.SqlAlchemyStore
    store(url, "mlflow-artifacts:/")
