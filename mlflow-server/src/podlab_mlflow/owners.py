"""Who owns what: the facts the permission checks need, read from the tracking database.

A run's owner is MLflow's own `runs.user_id`, which podlab sets from the hub identity when
the run is created and which nothing can change afterwards, so it is cached. Experiments and
registered models have no owner column in MLflow; podlab records the creator in its own table
(`podlab_mlflow_owners`, created by `podlab-mlflow migrate`) when the create call succeeds.
Objects created before podlab (or by MLflow itself, like the Default experiment) have no owner:
only hub admins may change them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from podlab_mlflow.schema import OWNERS_TABLE

EXPERIMENT = "experiment"
REGISTERED_MODEL = "registered_model"
RUN_CACHE_ENTRIES = 50_000


class OwnerStore:
    def __init__(self, database_url: str, pool_size: int = 2) -> None:
        self.engine: Engine = create_engine(
            database_url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size
        )
        self._run_owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def _one(self, sql: str, **params: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(text(sql), params).first()
        return None if row is None or row[0] is None else str(row[0])

    def run_owner(self, run_id: str) -> str | None:
        with self._lock:
            if run_id in self._run_owners:
                self._run_owners.move_to_end(run_id)
                return self._run_owners[run_id]
        owner = self._one("SELECT user_id FROM runs WHERE run_uuid = :run", run=run_id)
        if owner is not None:
            with self._lock:
                self._run_owners[run_id] = owner
                while len(self._run_owners) > RUN_CACHE_ENTRIES:
                    self._run_owners.popitem(last=False)
        return owner

    def logged_model_owner(self, model_id: str) -> tuple[bool, str | None]:
        """(exists, owner of its source run); a logged model without a run has no owner."""
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT r.user_id FROM logged_models m "
                    "LEFT JOIN runs r ON r.run_uuid = m.source_run_id WHERE m.model_id = :model"
                ),
                {"model": model_id},
            ).first()
        if row is None:
            return False, None
        return True, None if row[0] is None else str(row[0])

    def owner(self, kind: str, key: str) -> str | None:
        return self._one(
            f"SELECT owner FROM {OWNERS_TABLE} WHERE kind = :kind AND object_key = :key",  # noqa: S608
            kind=kind,
            key=key,
        )

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
            conn.execute(
                text(
                    f"UPDATE {OWNERS_TABLE} SET object_key = :new "  # noqa: S608
                    "WHERE kind = :kind AND object_key = :old"
                ),
                {"kind": kind, "old": old, "new": new},
            )

    def forget(self, kind: str, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(f"DELETE FROM {OWNERS_TABLE} WHERE kind = :kind AND object_key = :key"),  # noqa: S608
                {"kind": kind, "key": key},
            )
