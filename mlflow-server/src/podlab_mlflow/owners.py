"""Who owns what, who was granted what, and where artifacts live: read from the database.

A run's owner is MLflow's own `runs.user_id`, which the gate sets from the hub identity when
the run is created and which nothing can change afterwards; with the run's experiment and
artifact root it never changes, so it is cached. Experiments, registered models, logged
models, traces and evaluation datasets have no owner column in MLflow: the gate records the
creator in `podlab_mlflow_owners` when the create call succeeds. Owners (and admins) may
grant other users the right to edit an experiment or a registered model
(`podlab_mlflow_grants`, managed through the gate's grants API). Objects created before
podlab, or by MLflow itself (the Default experiment), have no owner: only admins may change
them, and an admin may give experiments and registered models one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from podlab_mlflow.schema import GRANTS_TABLE, OWNERS_TABLE

EXPERIMENT = "experiment"
REGISTERED_MODEL = "registered_model"
LOGGED_MODEL = "logged_model"
TRACE = "trace"
DATASET = "dataset"
GRANTABLE = (EXPERIMENT, REGISTERED_MODEL)
CACHE_ENTRIES = 50_000


@dataclass(frozen=True)
class RunFacts:
    run_id: str
    owner: str
    experiment_id: str
    artifact_uri: str


@dataclass(frozen=True)
class LoggedModelFacts:
    model_id: str
    owner: str | None
    experiment_id: str
    artifact_location: str


@dataclass(frozen=True)
class Owned:
    """An object MLflow keeps without an owner, and the creator the gate recorded."""

    key: str
    owner: str | None


@dataclass(frozen=True)
class Standing:
    """What a user may do to an experiment or registered model."""

    exists: bool
    owner: str | None
    editor: bool  # holds a grant


@dataclass(frozen=True)
class Grant:
    user: str
    permission: str
    granted_by: str
    created_at: str


class _Lru:
    """cachetools' LRUCache behind a lock (the gate serves from threads; cachetools is not
    thread-safe)."""

    def __init__(self, size: int) -> None:
        self._items: LRUCache[str, Any] = LRUCache(size)
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            return self._items.get(key)

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value


def _int_key(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 19 else None


class OwnerStore:
    def __init__(self, database_url: str, pool_size: int = 2) -> None:
        self.engine: Engine = create_engine(
            database_url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size
        )
        self._runs = _Lru(CACHE_ENTRIES)

    def _row(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).first()

    # -- facts MLflow keeps ---------------------------------------------------------------------
    def run(self, run_id: str) -> RunFacts | None:
        cached: RunFacts | None = self._runs.get(run_id)
        if cached is not None:
            return cached
        row = self._row(
            "SELECT user_id, experiment_id, artifact_uri FROM runs WHERE run_uuid = :run",
            run=run_id,
        )
        if row is None:
            return None
        facts = RunFacts(run_id, str(row[0] or ""), str(row[1]), str(row[2] or ""))
        self._runs.put(run_id, facts)
        return facts

    def logged_model(self, model_id: str) -> LoggedModelFacts | None:
        """Its recorded creator, else the owner of the run it was logged from."""
        row = self._row(
            f"SELECT m.experiment_id, m.artifact_location, o.owner, r.user_id "  # noqa: S608
            f"FROM logged_models m LEFT JOIN runs r ON r.run_uuid = m.source_run_id "
            f"LEFT JOIN {OWNERS_TABLE} o ON o.kind = :kind AND o.object_key = m.model_id "
            "WHERE m.model_id = :model",
            kind=LOGGED_MODEL,
            model=model_id,
        )
        if row is None:
            return None
        owner = row[2] or row[3] or None
        return LoggedModelFacts(model_id, owner, str(row[0]), str(row[1] or ""))

    def trace(self, trace_id: str) -> Owned | None:
        return self._recorded(TRACE, "trace_info", "request_id", trace_id)

    def dataset(self, dataset_id: str) -> Owned | None:
        return self._recorded(DATASET, "evaluation_datasets", "dataset_id", dataset_id)

    def _recorded(self, kind: str, table: str, column: str, key: str) -> Owned | None:
        row = self._row(
            f"SELECT o.owner FROM {table} t LEFT JOIN {OWNERS_TABLE} o "  # noqa: S608
            f"ON o.kind = :kind AND o.object_key = t.{column} WHERE t.{column} = :key",
            kind=kind,
            key=key,
        )
        return None if row is None else Owned(key, row[0])

    def model_version_location(self, name: str, version: str) -> str | None:
        number = _int_key(version)
        if number is None:
            return None
        row = self._row(
            "SELECT coalesce(storage_location, source) FROM model_versions "
            "WHERE name = :name AND version = :version",
            name=name,
            version=number,
        )
        return None if row is None or row[0] is None else str(row[0])

    def standing(self, kind: str, key: str, user: str) -> Standing:
        """Whether the object exists, its owner, and whether `user` holds a grant on it."""
        params: dict[str, Any] = {"kind": kind, "key": key, "user": user}
        if kind == EXPERIMENT:
            params["number"] = _int_key(key)
            if params["number"] is None:
                return Standing(False, None, False)
            exists_sql = "SELECT 1 FROM experiments WHERE experiment_id = :number"
        else:
            exists_sql = "SELECT 1 FROM registered_models WHERE name = :key"
        row = self._row(
            f"SELECT EXISTS ({exists_sql}), "  # noqa: S608
            f"(SELECT owner FROM {OWNERS_TABLE} WHERE kind = :kind AND object_key = :key), "
            f"EXISTS (SELECT 1 FROM {GRANTS_TABLE} WHERE kind = :kind AND object_key = :key "
            "AND grantee = :user)",
            **params,
        )
        return Standing(bool(row[0]), row[1], bool(row[2]))

    # -- what the gate records ------------------------------------------------------------------
    def owner(self, kind: str, key: str) -> str | None:
        row = self._row(
            f"SELECT owner FROM {OWNERS_TABLE} WHERE kind = :kind AND object_key = :key",  # noqa: S608
            kind=kind,
            key=key,
        )
        return None if row is None else str(row[0])

    def record(self, kind: str, key: str, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO {OWNERS_TABLE} (kind, object_key, owner) "  # noqa: S608
                    "VALUES (:kind, :key, :owner) ON CONFLICT (kind, object_key) "
                    "DO UPDATE SET owner = EXCLUDED.owner, created_at = now()"
                ),
                {"kind": kind, "key": key, "owner": owner},
            )

    def rename(self, kind: str, old: str, new: str) -> None:
        with self.engine.begin() as conn:
            for table in (OWNERS_TABLE, GRANTS_TABLE):
                conn.execute(
                    text(
                        f"UPDATE {table} SET object_key = :new "  # noqa: S608
                        "WHERE kind = :kind AND object_key = :old"
                    ),
                    {"kind": kind, "old": old, "new": new},
                )

    def forget(self, kind: str, key: str) -> None:
        with self.engine.begin() as conn:
            for table in (OWNERS_TABLE, GRANTS_TABLE):
                conn.execute(
                    text(f"DELETE FROM {table} WHERE kind = :kind AND object_key = :key"),  # noqa: S608
                    {"kind": kind, "key": key},
                )

    # -- grants ---------------------------------------------------------------------------------
    def grants(self, kind: str, key: str) -> list[Grant]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT grantee, permission, granted_by, created_at FROM {GRANTS_TABLE} "  # noqa: S608
                    "WHERE kind = :kind AND object_key = :key ORDER BY grantee"
                ),
                {"kind": kind, "key": key},
            ).all()
        return [Grant(str(r[0]), str(r[1]), str(r[2]), r[3].isoformat()) for r in rows]

    def grant(self, kind: str, key: str, user: str, permission: str, by: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO {GRANTS_TABLE} (kind, object_key, grantee, permission, "  # noqa: S608
                    "granted_by) VALUES (:kind, :key, :user, :permission, :by) "
                    "ON CONFLICT (kind, object_key, grantee) DO UPDATE SET "
                    "permission = EXCLUDED.permission, granted_by = EXCLUDED.granted_by, "
                    "created_at = now()"
                ),
                {"kind": kind, "key": key, "user": user, "permission": permission, "by": by},
            )

    def revoke(self, kind: str, key: str, user: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                text(
                    f"DELETE FROM {GRANTS_TABLE} WHERE kind = :kind AND object_key = :key "  # noqa: S608
                    "AND grantee = :user"
                ),
                {"kind": kind, "key": key, "user": user},
            )
        return bool(result.rowcount)
