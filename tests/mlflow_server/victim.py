"""Alice's things, planted through the real client, and a byte-exact picture of them.

The attacker tests compare `snapshot()` before and after every refused request: every row
MLflow and podlab keep about her experiment, runs (one in the Default experiment, one in an
experiment with a custom `mlflow-artifacts:/<name>` location), registered model, prompt,
logged models (one logged from her run, one with no run), trace with its assessment, scorer
and evaluation dataset, and the bytes of every artifact file under her folders, in S3 or on
the volume. A refusal that still
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

from tests.mlflow_server.stack_helpers import Stack, client_as

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
    assessment_id: str
    free_model_id: str  # a logged model with no source run
    free_model_root: str
    default_run_id: str  # a run in the Default experiment (id 0)
    custom_run_id: str  # a run in an experiment at mlflow-artifacts:/<custom folder>
    custom_root: str
    prompt: str  # a prompt (version 1), linked to her run and her logged model
    scorer: str  # registered in her experiment
    dataset_id: str  # an evaluation dataset with records and tags


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
        assessment_id = _assess(trace_id)
        free = client.create_logged_model(experiment, name=f"free-{tag}")
        client.log_model_artifacts(free.model_id, os.path.join(tmp, "model"))
        default_run = client.create_run("0", tags={"stage": "default"}).info.run_id
        client.log_artifacts(default_run, tmp)
        custom = client.create_experiment(
            f"victim-custom-{tag}", artifact_location=f"mlflow-artifacts:/victim-{tag}/custom"
        )
        custom_run = client.create_run(custom, tags={"stage": "custom"})
        client.log_artifacts(custom_run.info.run_id, tmp)
        client.log_batch(custom_run.info.run_id, params=[Param("where", "custom")])
        prompt = f"victim-prompt-{tag}"
        client.register_prompt(prompt, "Hello {{name}}", tags={"owner": "alice"})
        client.link_prompt_version_to_run(run_id, f"prompts:/{prompt}/1")
        client.link_prompt_version_to_model(prompt, "1", logged.model_id)
        scorer_name = _register_scorer(experiment)
        dataset_id = _dataset(experiment, tag)
    root = run.info.artifact_uri.removeprefix("mlflow-artifacts:").lstrip("/")
    model_root = logged.artifact_location.removeprefix("mlflow-artifacts:").lstrip("/")
    return Victim(
        experiment,
        run_id,
        name,
        logged.model_id,
        root,
        model_root,
        trace_id,
        assessment_id,
        free.model_id,
        free.artifact_location.removeprefix("mlflow-artifacts:").lstrip("/"),
        default_run,
        custom_run.info.run_id,
        custom_run.info.artifact_uri.removeprefix("mlflow-artifacts:").lstrip("/"),
        prompt,
        scorer_name,
        dataset_id,
    )


def _assess(trace_id: str) -> str:
    import mlflow
    from mlflow.entities import AssessmentSource, AssessmentSourceType

    human = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="alice")
    feedback = mlflow.log_feedback(trace_id=trace_id, name="good", value=True, source=human)
    return str(feedback.assessment_id)


def _register_scorer(experiment: str) -> str:
    from mlflow.genai.scorers import Guidelines

    Guidelines(name="polite", guidelines=["The answer is polite."]).register(
        name="polite", experiment_id=experiment
    )
    return "polite"


def _dataset(experiment: str, tag: str) -> str:
    from mlflow.genai.datasets import create_dataset

    dataset = create_dataset(name=f"victim-ds-{tag}", experiment_id=experiment, tags={"k": "v"})
    dataset.merge_records([{"inputs": {"q": "1"}, "expectations": {"a": "1"}}])
    return str(dataset.dataset_id)


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
    "runs": "SELECT * FROM runs WHERE run_uuid = ANY(%(runs)s)",
    "params": "SELECT * FROM params WHERE run_uuid = ANY(%(runs)s)",
    "metrics": "SELECT * FROM metrics WHERE run_uuid = ANY(%(runs)s)",
    "latest_metrics": "SELECT * FROM latest_metrics WHERE run_uuid = ANY(%(runs)s)",
    "tags": "SELECT * FROM tags WHERE run_uuid = ANY(%(runs)s)",
    "experiments": "SELECT * FROM experiments WHERE experiment_id = %(experiment)s",
    "experiment_tags": "SELECT * FROM experiment_tags WHERE experiment_id = %(experiment)s",
    "registered_models": "SELECT * FROM registered_models WHERE name = ANY(%(models)s)",
    "registered_model_tags": "SELECT * FROM registered_model_tags WHERE name = ANY(%(models)s)",
    "model_versions": "SELECT * FROM model_versions WHERE name = ANY(%(models)s)",
    "model_version_tags": "SELECT * FROM model_version_tags WHERE name = ANY(%(models)s)",
    "registered_model_aliases": "SELECT * FROM registered_model_aliases "
    "WHERE name = ANY(%(models)s)",
    "logged_models": "SELECT * FROM logged_models WHERE model_id = ANY(%(logged)s)",
    "logged_model_tags": "SELECT * FROM logged_model_tags WHERE model_id = ANY(%(logged)s)",
    "logged_model_params": "SELECT * FROM logged_model_params WHERE model_id = ANY(%(logged)s)",
    "trace_info": "SELECT * FROM trace_info WHERE request_id = %(trace)s",
    "trace_tags": "SELECT * FROM trace_tags WHERE request_id = %(trace)s",
    "trace_request_metadata": "SELECT * FROM trace_request_metadata WHERE request_id = %(trace)s",
    "spans": "SELECT trace_id, span_id, content FROM spans WHERE trace_id = %(trace)s",
    "assessments": "SELECT * FROM assessments WHERE trace_id = %(trace)s",
    "scorers": "SELECT s.scorer_name, v.* FROM scorers s JOIN scorer_versions v "
    "ON v.scorer_id = s.scorer_id WHERE s.experiment_id = %(experiment)s",
    "evaluation_datasets": "SELECT * FROM evaluation_datasets WHERE dataset_id = %(dataset)s",
    "evaluation_dataset_tags": "SELECT * FROM evaluation_dataset_tags "
    "WHERE dataset_id = %(dataset)s",
    "evaluation_dataset_records": "SELECT * FROM evaluation_dataset_records "
    "WHERE dataset_id = %(dataset)s",
    "entity_associations": "SELECT * FROM entity_associations "
    "WHERE source_id = %(dataset)s OR destination_id = %(dataset)s",
    "runs_in_experiment": "SELECT run_uuid, lifecycle_stage FROM runs "
    "WHERE experiment_id = %(experiment)s",
    "podlab_owners": "SELECT * FROM podlab_mlflow_owners WHERE object_key = ANY(%(keys)s)",
    "podlab_grants": "SELECT * FROM podlab_mlflow_grants "
    "WHERE object_key IN (%(experiment_key)s, %(model)s)",
}


def _rows(stack: Stack, victim: Victim) -> dict[str, list[str]]:
    import psycopg2

    dsn = stack.server.database_url.replace("postgresql+psycopg2://", "postgresql://")
    params = {
        "runs": [victim.run_id, victim.default_run_id, victim.custom_run_id],
        "experiment": int(victim.experiment_id),
        "experiment_key": victim.experiment_id,
        "model": victim.model,
        "models": [victim.model, victim.prompt],
        "logged": [victim.logged_model_id, victim.free_model_id],
        "trace": victim.trace_id,
        "dataset": victim.dataset_id,
        "keys": [
            victim.experiment_id,
            victim.model,
            victim.prompt,
            victim.logged_model_id,
            victim.free_model_id,
            victim.trace_id,
            victim.dataset_id,
        ],
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
    state["artifacts"] = _artifacts(
        stack, [victim.experiment_id, f"0/{victim.default_run_id}", victim.custom_root]
    )
    assert state["runs"], "the snapshot sees no run: it could not fail"
    assert state["artifacts"], "the snapshot sees no artifact: it could not fail"
    return state
