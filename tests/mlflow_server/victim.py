"""Alice's things, planted through the real client, and a byte-exact picture of them.

The attacker tests compare `snapshot()` before and after every refused request: every row
MLflow and podlab keep about her experiment, runs, registered model and logged model, and the
bytes of every artifact file under her folders, in S3 or on the volume. A refusal that still
changed something (a half-applied batch, a renamed model, an overwritten file) fails the test.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.mlflow_server.conftest import Stack, client_as

ARTIFACT = b"alice's weights\n" * 64


@dataclass(frozen=True)
class Victim:
    experiment_id: str
    run_id: str
    model: str
    logged_model_id: str
    run_root: str  # store key of the run's artifact folder
    model_root: str  # store key of the logged model's artifact folder
    trace_id: str


def plant(stack: Stack, user: str = "alice") -> Victim:
    """An experiment with a run (metrics, params, tags, artifacts), a registered model with a
    version, an alias and tags, and a logged model with artifacts: all `user`'s."""
    from mlflow.entities import Metric, Param, RunTag

    tag = uuid.uuid4().hex[:8]
    with client_as(stack, user) as client, tempfile.TemporaryDirectory() as tmp:
        experiment = client.create_experiment(f"victim-{tag}", tags={"team": "a"})
        run_id = client.create_run(experiment, tags={"stage": "train"}).info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0 / (s + 1), 1_700_000_000_000 + s, s) for s in range(5)],
            params=[Param("lr", "0.1")],
            tags=[RunTag("note", "keep")],
        )
        Path(tmp, "model").mkdir()
        Path(tmp, "model", "weights.bin").write_bytes(ARTIFACT)
        Path(tmp, "model", "MLmodel").write_text("flavors: {}\n")
        client.log_artifacts(run_id, tmp)
        name = f"victim-model-{tag}"
        client.create_registered_model(name, tags={"owner": "alice"})
        client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
        client.set_registered_model_alias(name, "champion", "1")
        logged = client.create_logged_model(experiment, name=f"lm-{tag}", source_run_id=run_id)
        client.log_model_artifacts(logged.model_id, os.path.join(tmp, "model"))
        client.set_logged_model_tags(logged.model_id, {"kind": "test"})
        run = client.get_run(run_id)
        trace_id = _start_trace(experiment)
    root = run.info.artifact_uri.removeprefix("mlflow-artifacts:").lstrip("/")
    model_root = logged.artifact_location.removeprefix("mlflow-artifacts:").lstrip("/")
    return Victim(experiment, run_id, name, logged.model_id, root, model_root, trace_id)


def _start_trace(experiment: str) -> str:
    import mlflow

    mlflow.set_experiment(experiment_id=experiment)

    @mlflow.trace
    def answer(question: str) -> str:
        return question.upper()

    answer("why")
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id, "the trace was not recorded"
    mlflow.flush_trace_async_logging()
    return str(trace_id)


_QUERIES = {
    "runs": "SELECT * FROM runs WHERE run_uuid = %(run)s",
    "params": "SELECT * FROM params WHERE run_uuid = %(run)s",
    "metrics": "SELECT * FROM metrics WHERE run_uuid = %(run)s",
    "latest_metrics": "SELECT * FROM latest_metrics WHERE run_uuid = %(run)s",
    "tags": "SELECT * FROM tags WHERE run_uuid = %(run)s",
    "experiments": "SELECT * FROM experiments WHERE experiment_id = %(experiment)s",
    "experiment_tags": "SELECT * FROM experiment_tags WHERE experiment_id = %(experiment)s",
    "registered_models": "SELECT * FROM registered_models WHERE name = %(model)s",
    "registered_model_tags": "SELECT * FROM registered_model_tags WHERE name = %(model)s",
    "model_versions": "SELECT * FROM model_versions WHERE name = %(model)s",
    "model_version_tags": "SELECT * FROM model_version_tags WHERE name = %(model)s",
    "registered_model_aliases": "SELECT * FROM registered_model_aliases WHERE name = %(model)s",
    "logged_models": "SELECT * FROM logged_models WHERE model_id = %(logged)s",
    "logged_model_tags": "SELECT * FROM logged_model_tags WHERE model_id = %(logged)s",
    "logged_model_params": "SELECT * FROM logged_model_params WHERE model_id = %(logged)s",
    "trace_info": "SELECT * FROM trace_info WHERE request_id = %(trace)s",
    "trace_tags": "SELECT * FROM trace_tags WHERE request_id = %(trace)s",
    "runs_in_experiment": "SELECT run_uuid, lifecycle_stage FROM runs "
    "WHERE experiment_id = %(experiment)s",
    "podlab_owners": "SELECT * FROM podlab_mlflow_owners "
    "WHERE object_key IN (%(experiment_key)s, %(model)s, %(logged)s)",
    "podlab_grants": "SELECT * FROM podlab_mlflow_grants "
    "WHERE object_key IN (%(experiment_key)s, %(model)s)",
}


def _rows(stack: Stack, victim: Victim) -> dict[str, list[str]]:
    import psycopg2

    dsn = stack.server.database_url.replace("postgresql+psycopg2://", "postgresql://")
    params = {
        "run": victim.run_id,
        "experiment": int(victim.experiment_id),
        "experiment_key": victim.experiment_id,
        "model": victim.model,
        "logged": victim.logged_model_id,
        "trace": victim.trace_id,
    }
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            found = {}
            for name, sql in _QUERIES.items():
                cur.execute(sql, params)
                found[name] = sorted(repr(row) for row in cur.fetchall())
            return found
    finally:
        conn.close()


def _artifacts(stack: Stack, prefixes: list[str]) -> dict[str, str]:
    """sha256 of every file under the prefixes (the experiment folder covers them all)."""
    destination = stack.server.artifacts_destination
    found: dict[str, str] = {}
    if destination.startswith("s3://"):
        bucket, _, base = destination.removeprefix("s3://").partition("/")
        s3 = stack.server.s3.client()
        for prefix in prefixes:
            pages = s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=f"{base}/{prefix}/"
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    found[obj["Key"]] = hashlib.sha256(body).hexdigest()
    else:
        for prefix in prefixes:
            for path in sorted(Path(destination, prefix).rglob("*")):
                if path.is_file():
                    found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def snapshot(stack: Stack, victim: Victim) -> dict[str, Any]:
    """Everything of the victim's, rows and artifact bytes, comparable with ==."""
    state: dict[str, Any] = _rows(stack, victim)
    state["artifacts"] = _artifacts(stack, [victim.experiment_id])
    assert state["runs"], "the snapshot sees no run: it could not fail"
    assert state["artifacts"], "the snapshot sees no artifact: it could not fail"
    return state
