"""What a user does with MLflow's real client, one function per operation family.

Each family runs against a server through `client_at` (client and fluent API) and returns what
a user would observe, without ids, timestamps or the user name, so the result from podlab's
server and from stock `mlflow server` can be compared with ==.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

Family = Callable[[Any, Path], dict[str, Any]]


def _tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith(("mlflow.", "envlogger."))}


def experiments(client: Any, tmp: Path) -> dict[str, Any]:
    name = f"fam-exp-{uuid.uuid4().hex[:8]}"
    exp = client.create_experiment(name, tags={"team": "nlp"})
    client.set_experiment_tag(exp, "stage", "dev")
    client.delete_experiment_tag(exp, "team")
    client.rename_experiment(exp, name + "-renamed")
    found = client.search_experiments(filter_string=f"name = '{name}-renamed'")
    client.delete_experiment(exp)
    deleted = client.get_experiment(exp).lifecycle_stage
    client.restore_experiment(exp)
    got = client.get_experiment_by_name(name + "-renamed")
    return {
        "found": len(found),
        "tags": _tags(got.tags),
        "deleted": deleted,
        "restored": got.lifecycle_stage,
        "location_is_proxied": got.artifact_location.startswith("mlflow-artifacts:"),
    }


def runs(client: Any, tmp: Path) -> dict[str, Any]:
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    exp = client.create_experiment(f"fam-runs-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=exp)
    with mlflow.start_run(run_name="first", tags={"kind": "a"}) as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_params({"layers": 3, "act": "relu"})
        mlflow.log_metric("loss", 0.5, step=0)
        mlflow.log_metrics({"loss": 0.25, "acc": 0.9}, step=1)
        mlflow.set_tags({"kind": "b", "extra": "x"})
    run_id = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric("batch", float(i), 1_700_000_000_000 + i, i) for i in range(1000)],
        params=[Param("batch_param", "v")],
        tags=[RunTag("batch_tag", "t")],
    )
    client.delete_tag(run_id, "extra")
    client.update_run(run_id, name="renamed")
    second = client.create_run(exp, run_name="second").info.run_id
    client.log_metric(second, "loss", 0.1)
    client.set_terminated(second, "FAILED")
    ordered = client.search_runs(
        [exp], filter_string="metrics.loss < 1", order_by=["metrics.loss ASC"]
    )
    client.delete_run(second)
    active = client.search_runs([exp])
    client.restore_run(second)
    got = client.get_run(run_id)
    return {
        "params": got.data.params,
        "metrics": got.data.metrics,
        "tags": _tags(got.data.tags),
        "name": got.info.run_name,
        "status": got.info.status,
        "history": [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")],
        "batch_points": len(client.get_metric_history(run_id, "batch")),
        "order": [r.info.run_name for r in ordered],
        "active_after_delete": len(active),
        "second_status": client.get_run(second).info.status,
    }


def artifacts(client: Any, tmp: Path) -> dict[str, Any]:
    import mlflow

    exp = client.create_experiment(f"fam-art-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp).info.run_id
    src = tmp / "src"
    (src / "nested" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "nested" / "résumé v1.txt").write_text("unicode and a space")
    (src / "nested" / "deeper" / "big.bin").write_bytes(bytes(range(256)) * 12_000)  # 3 MB
    client.log_artifacts(run_id, str(src), "bundle")
    single = tmp / "single.json"
    single.write_text(json.dumps({"k": 1}))
    client.log_artifact(run_id, str(single))
    mlflow.set_experiment(experiment_id=exp)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_text("hello", "texts/hello.txt")
        mlflow.log_dict({"x": [1, 2]}, "texts/d.json")
    listed = sorted(f.path for f in client.list_artifacts(run_id, "bundle/nested"))
    out = Path(client.download_artifacts(run_id, "bundle", str(tmp / "out")))
    files = {
        str(p.relative_to(out)): p.read_bytes().hex()[:64] + f":{p.stat().st_size}"
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }
    return {
        "listed": listed,
        "files": files,
        "text": mlflow.artifacts.load_text(f"runs:/{run_id}/texts/hello.txt"),
        "dict": mlflow.artifacts.load_dict(f"runs:/{run_id}/texts/d.json"),
        "root": sorted(f.path for f in client.list_artifacts(run_id)),
    }


def registry(client: Any, tmp: Path) -> dict[str, Any]:
    import mlflow
    import pandas as pd  # type: ignore[import-untyped]
    from mlflow.pyfunc.model import PythonModel

    class Doubler(PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input * 2

    exp = client.create_experiment(f"fam-reg-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=exp)
    name = f"fam-model-{uuid.uuid4().hex[:8]}"
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(
            name="model", python_model=Doubler(), registered_model_name=name, pip_requirements=[]
        )
    client.set_registered_model_alias(name, "champion", info.registered_model_version)
    client.set_registered_model_tag(name, "task", "double")
    client.set_model_version_tag(name, "1", "validated", "yes")
    client.update_model_version(name, "1", description="first")
    second = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.transition_model_version_stage(name, second.version, "Staging")
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    prediction = loaded.predict(pd.DataFrame({"x": [1, 2]}))["x"].tolist()
    found = client.search_model_versions(f"name = '{name}'")
    client.delete_model_version(name, second.version)
    renamed = name + "-v2"
    client.rename_registered_model(name, renamed)
    model = client.get_registered_model(renamed)
    logged = mlflow.search_logged_models(experiment_ids=[exp], output_format="list")
    local = Path(
        mlflow.artifacts.download_artifacts(f"models:/{renamed}/1", dst_path=str(tmp / "m"))
    )
    return {
        "version": info.registered_model_version,
        "prediction": prediction,
        "versions_found": len(found),
        "aliases": model.aliases,
        "tags": model.tags,
        "description": client.get_model_version(renamed, "1").description,
        "logged_models": len(logged),
        "model_files": sorted(p.name for p in local.iterdir()),
    }


def traces(client: Any, tmp: Path) -> dict[str, Any]:
    import mlflow

    exp = client.create_experiment(f"fam-trace-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=exp)

    @mlflow.trace(name="outer")
    def outer(x: int) -> int:
        return inner(x) + 1

    @mlflow.trace(name="inner")
    def inner(x: int) -> int:
        return x * 3

    results = [outer(i) for i in range(3)]
    mlflow.flush_trace_async_logging()
    found = mlflow.search_traces(locations=[exp], return_type="list")
    trace_id = found[0].info.trace_id
    client.set_trace_tag(trace_id, "review", "ok")
    client.delete_trace_tag(trace_id, "review")
    client.set_trace_tag(trace_id, "final", "yes")
    got = client.get_trace(trace_id)
    return {
        "results": results,
        "traces": len(found),
        "spans": sorted(s.name for s in got.data.spans),
        "tags": _tags(got.info.tags),
    }


def datasets_and_evaluation(client: Any, tmp: Path) -> dict[str, Any]:
    import mlflow
    import mlflow.data.pandas_dataset
    import pandas as pd
    from mlflow.genai.scorers import scorer

    exp = client.create_experiment(f"fam-eval-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=exp)
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [2, 4, 6]})
    with mlflow.start_run() as run:
        mlflow.log_input(
            mlflow.data.pandas_dataset.from_pandas(frame, name="doubles"), context="training"
        )

    @scorer
    def exact(outputs: Any, expectations: Any) -> bool:
        return bool(outputs == expectations["expected"])

    data = [{"inputs": {"q": str(i)}, "expectations": {"expected": str(i)}} for i in range(4)]
    result = mlflow.genai.evaluate(data=data, predict_fn=lambda q: q, scorers=[exact])
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    return {
        "datasets": [(d.dataset.name, d.dataset.digest) for d in inputs],
        "metrics": {k: v for k, v in result.metrics.items() if "exact" in k},
    }


FAMILIES: dict[str, Family] = {
    "experiments": experiments,
    "runs": runs,
    "artifacts": artifacts,
    "registry": registry,
    "traces": traces,
    "datasets_and_evaluation": datasets_and_evaluation,
}
