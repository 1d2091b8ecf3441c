"""What a user does with MLflow's real client, one function per operation family.

Each family runs against a server through `client_at` (client and fluent API) and returns what
a user would observe, without ids, timestamps or the user name, so the result from podlab's
server and from stock `mlflow server` can be compared with ==. Besides the classic families
(experiments, runs, artifacts, registry, traces, evaluation), each of the writes the gate once
let through on a generic rule has its own: OTLP spans (`POST /v1/traces`), the UI's GraphQL
queries, MLflow 3 logged models (one with no run), assessments, evaluation datasets, scorers,
prompts linked to runs, models and traces, a custom `mlflow-artifacts:/<name>` location and
the Default experiment.
"""

from __future__ import annotations

import json
import os
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


def otel_spans(inputs: Any, trace_id: str | None = None) -> tuple[str, list[Any]]:
    """A root span and a child as an OpenTelemetry SDK records them, as MLflow spans.

    MLflow's server names an ingested trace after the OpenTelemetry trace id (`tr-<hex>`),
    whatever `mlflow.traceRequestId` the spans carry: `trace_id` picks that OpenTelemetry id.
    """
    from mlflow.entities import Span
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class Ids(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            return int(trace_id[3:], 16) if trace_id else super().generate_trace_id()

    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=Ids())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("podlab-families")
    with tracer.start_as_current_span("root") as root:
        name = f"tr-{root.get_span_context().trace_id:032x}"
        root.set_attribute("mlflow.traceRequestId", json.dumps(name))
        root.set_attribute("mlflow.spanInputs", json.dumps(inputs))
        root.set_attribute("mlflow.spanOutputs", json.dumps("because"))
        with tracer.start_as_current_span("child") as child:
            child.set_attribute("mlflow.traceRequestId", json.dumps(name))
    provider.shutdown()
    return name, [Span(span) for span in exporter.get_finished_spans()]


def otlp_body(
    trace_id: str, encoding: str = "protobuf"
) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """Spans for `trace_id` as an OTLP exporter sends them: protobuf, JSON or gzip'd."""
    import base64
    import gzip

    from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    _, spans = otel_spans({"q": "bob"}, trace_id)
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(s.to_otel_proto() for s in spans)
    if encoding == "json":
        data = MessageToDict(request)
        for span in data["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            for key in ("traceId", "spanId", "parentSpanId"):
                if key in span:
                    span[key] = base64.b64decode(span[key]).hex()
        return json.dumps(data).encode(), (("Content-Type", "application/json"),)
    body = request.SerializeToString()
    if encoding == "gzip":
        return gzip.compress(body), (
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "gzip"),
        )
    return body, (("Content-Type", "application/x-protobuf"),)


def otlp_spans(client: Any, tmp: Path) -> dict[str, Any]:
    """POST /v1/traces exactly as the MLflow client's span exporter sends it (protobuf)."""
    import mlflow
    from mlflow.tracing.client import TracingClient

    exp = client.create_experiment(f"fam-otlp-{uuid.uuid4().hex[:8]}")
    trace_id, spans = otel_spans({"q": "why"})
    TracingClient().log_spans(exp, spans)
    found = mlflow.search_traces(locations=[exp], return_type="list")
    got = client.get_trace(trace_id)
    root = next(s for s in got.data.spans if s.parent_id is None)
    return {
        "traces": [t.info.trace_id == trace_id for t in found],
        "spans": sorted(s.name for s in got.data.spans),
        "inputs": root.inputs,
        "state": str(got.info.state),
    }


def graphql(client: Any, tmp: Path) -> dict[str, Any]:
    """The UI's GraphQL queries (run page, metric charts, runs table, artifacts)."""
    import requests

    exp = client.create_experiment(f"fam-gql-{uuid.uuid4().hex[:8]}")
    run_id = client.create_run(exp, run_name="gql").info.run_id
    for step in range(3):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    client.log_param(run_id, "lr", "0.1")
    client.log_text(run_id, "hi", "notes/hello.txt")
    headers = {"Content-Type": "application/json"}
    if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):  # set by client_at, as in a pod
        headers["Authorization"] = f"Bearer {token}"

    def ask(query: str, variables: dict[str, Any]) -> Any:
        reply = requests.post(
            f"{client.tracking_uri}/graphql",
            json={"query": query, "variables": variables},
            headers=headers,
            timeout=30,
        )
        reply.raise_for_status()
        return reply.json()

    run = ask(
        "query MlflowGetRunQuery($data: MlflowGetRunInput!) "
        '@component(name: "MLflow.ExperimentRunTracking") { mlflowGetRun(input: $data) { '
        "run { info { runName status lifecycleStage } data { metrics { key value step } "
        "params { key value } } experiment { name } modelVersions { name } } } }",
        {"data": {"runId": run_id}},
    )
    history = ask(
        "query GetMetricHistoryBulkInterval($data: MlflowGetMetricHistoryBulkIntervalInput!) "
        '@component(name: "MLflow.ExperimentRunTracking") { '
        "mlflowGetMetricHistoryBulkInterval(input: $data) { metrics { key step value } } }",
        {"data": {"runIds": [run_id], "metricKey": "loss", "maxResults": 100}},
    )
    search = ask(
        "query SearchRuns($data: MlflowSearchRunsInput!) { mlflowSearchRuns(input: $data) { "
        "runs { info { runName } data { params { key value } } } } }",
        {"data": {"experimentIds": [exp], "filter": "params.lr = '0.1'"}},
    )
    listing = ask(
        "query ListArtifacts($data: MlflowListArtifactsInput!) { mlflowListArtifacts(input: "
        "$data) { files { path isDir } } }",
        {"data": {"runId": run_id, "path": "notes"}},
    )
    experiment = ask(
        "query MlflowGetExperimentQuery($input: MlflowGetExperimentInput!) { "
        "mlflowGetExperiment(input: $input) { experiment { name lifecycleStage } } }",
        {"input": {"experimentId": exp}},
    )
    run["data"]["mlflowGetRun"]["run"]["experiment"]["name"] = "<name>"
    experiment["data"]["mlflowGetExperiment"]["experiment"]["name"] = "<name>"
    return {
        "run": run,
        "history": history,
        "search": search,
        "listing": listing,
        "experiment": experiment,
    }


def logged_models(client: Any, tmp: Path) -> dict[str, Any]:
    """MLflow 3 logged models, including one logged with no run (its artifacts uploaded by
    the model's creator, not a run's owner)."""
    import mlflow
    import pandas as pd
    from mlflow.entities import LoggedModelStatus
    from mlflow.pyfunc.model import PythonModel

    class Tripler(PythonModel):
        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return model_input * 3

    exp = client.create_experiment(f"fam-lm-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=exp)
    info = mlflow.pyfunc.log_model(name="runless", python_model=Tripler(), pip_requirements=[])
    prediction = mlflow.pyfunc.load_model(info.model_uri).predict(pd.DataFrame({"x": [1, 2]}))
    model = client.create_logged_model(
        exp, name="manual", tags={"kind": "manual"}, params={"p": "1"}, model_type="agent"
    )
    src = tmp / "manual"
    (src / "sub").mkdir(parents=True)
    (src / "weights.bin").write_bytes(bytes(range(256)) * 100)
    (src / "sub" / "config.json").write_text('{"a": 1}')
    client.log_model_artifacts(model.model_id, str(src))
    client.log_model_params(model.model_id, {"q": "2"})
    client.set_logged_model_tags(model.model_id, {"stage": "dev", "drop": "me"})
    client.delete_logged_model_tag(model.model_id, "drop")
    client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    doomed = client.create_logged_model(exp, name="doomed")
    client.delete_logged_model(doomed.model_id)
    got = client.get_logged_model(model.model_id)
    local = Path(
        mlflow.artifacts.download_artifacts(f"models:/{model.model_id}", dst_path=str(tmp / "d"))
    )
    found = mlflow.search_logged_models(experiment_ids=[exp], output_format="list")
    return {
        "prediction": prediction["x"].tolist(),
        "runless_has_no_run": info.run_id is None,
        "status": str(got.status),
        "tags": _tags(got.tags),
        "params": got.params,
        "type": got.model_type,
        "listed": sorted(f.path for f in client.list_logged_model_artifacts(model.model_id)),
        "files": sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()),
        "found": sorted(m.name for m in found),
    }


def assessments(client: Any, tmp: Path) -> dict[str, Any]:
    """Feedback and expectations on a v3 trace: log, update, override, delete."""
    import mlflow
    from mlflow.entities import AssessmentSource, AssessmentSourceType

    exp = client.create_experiment(f"fam-assess-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=exp)

    @mlflow.trace
    def answer(question: str) -> str:
        return question.upper()

    answer("why")
    mlflow.flush_trace_async_logging()
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id
    human = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="reviewer")
    feedback = mlflow.log_feedback(
        trace_id=trace_id, name="correct", value=True, source=human, rationale="looks right"
    )
    expectation = mlflow.log_expectation(
        trace_id=trace_id, name="expected", value="WHY", source=human
    )
    doomed = mlflow.log_feedback(trace_id=trace_id, name="doomed", value=0.5, source=human)
    assert feedback.assessment_id
    assert expectation.assessment_id
    assert doomed.assessment_id
    mlflow.delete_assessment(trace_id=trace_id, assessment_id=doomed.assessment_id)
    mlflow.override_feedback(
        trace_id=trace_id,
        assessment_id=feedback.assessment_id,
        value=False,
        rationale="on second look",
        source=human,
    )
    got = client.get_trace(trace_id).info.assessments
    kept = mlflow.get_assessment(trace_id, expectation.assessment_id)
    return {
        "assessments": sorted(
            (a.name, repr(getattr(a, "value", None)), a.rationale, a.valid is not False)
            for a in got
        ),
        "expectation": getattr(kept, "value", None),
        "version": mlflow.get_trace(trace_id).info.trace_location.type.value,
    }


def eval_datasets(client: Any, tmp: Path) -> dict[str, Any]:
    """GenAI evaluation datasets: create, add records, tag, link to experiments, delete."""
    from mlflow.genai import datasets

    exp = client.create_experiment(f"fam-ds-{uuid.uuid4().hex[:8]}")
    other = client.create_experiment(f"fam-ds2-{uuid.uuid4().hex[:8]}")
    name = f"fam-dataset-{uuid.uuid4().hex[:8]}"
    dataset = datasets.create_dataset(name=name, experiment_id=exp, tags={"team": "qa"})
    dataset.merge_records(
        [{"inputs": {"q": str(i)}, "expectations": {"a": str(i)}} for i in range(3)]
    )
    datasets.set_dataset_tags(dataset.dataset_id, {"stage": "dev", "drop": "me"})
    datasets.delete_dataset_tag(dataset.dataset_id, "drop")
    datasets.add_dataset_to_experiments(dataset.dataset_id, [other])
    datasets.remove_dataset_from_experiments(dataset.dataset_id, [other])
    got = datasets.get_dataset(dataset_id=dataset.dataset_id)
    records = got.to_df()
    doomed = datasets.create_dataset(name=name + "-doomed", experiment_id=exp)
    datasets.delete_dataset(dataset_id=doomed.dataset_id)
    found = datasets.search_datasets(experiment_ids=[exp])
    return {
        "tags": _tags(got.tags),
        "records": sorted(json.dumps(r, sort_keys=True) for r in records["inputs"]),
        "experiments": got.experiment_ids == [exp],
        "found": sorted(d.name.removeprefix(name) for d in found),
    }


def scorers(client: Any, tmp: Path) -> dict[str, Any]:
    """Scorers registered to an experiment (what scheduled evaluation runs). Both servers
    refuse code-defined @scorer functions by default, so these are guideline judges."""
    from mlflow.genai.scorers import Guidelines, delete_scorer, get_scorer, list_scorers

    exp = client.create_experiment(f"fam-scorer-{uuid.uuid4().hex[:8]}")
    short = Guidelines(name="short", guidelines=["The answer is one sentence."])
    short.register(name="short", experiment_id=exp)
    Guidelines(name="short", guidelines=["At most ten words."]).register(
        name="short", experiment_id=exp
    )  # a second version
    Guidelines(name="doomed", guidelines=["x"]).register(name="doomed", experiment_id=exp)
    delete_scorer(name="doomed", experiment_id=exp, version="all")
    got = get_scorer(name="short", experiment_id=exp)
    return {
        "listed": sorted(s.name for s in list_scorers(experiment_id=exp)),
        "latest": getattr(got, "guidelines", None),
    }


def prompts(client: Any, tmp: Path) -> dict[str, Any]:
    """The prompt registry, and prompts linked to a run, a logged model and a trace."""
    import mlflow

    exp = client.create_experiment(f"fam-prompt-{uuid.uuid4().hex[:8]}")
    mlflow.set_experiment(experiment_id=exp)
    name = f"fam-prompt-{uuid.uuid4().hex[:8]}"
    first = mlflow.genai.register_prompt(name, "Answer {{question}}", tags={"task": "qa"})
    second = mlflow.genai.register_prompt(name, "Answer {{question}} briefly")
    mlflow.genai.set_prompt_alias(name, "production", first.version)
    loaded = mlflow.genai.load_prompt(f"prompts:/{name}@production")
    with mlflow.start_run() as run:
        client.link_prompt_version_to_run(run.info.run_id, f"prompts:/{name}/2")
    model = client.create_logged_model(exp, name="with-prompt")
    client.link_prompt_version_to_model(name, str(second.version), model.model_id)

    @mlflow.trace
    def answer(question: str) -> str:
        return str(loaded.format(question=question))

    answer("why")
    mlflow.flush_trace_async_logging()
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id
    client.link_prompt_versions_to_trace([first], trace_id)
    run_tags = client.get_run(run.info.run_id).data.tags
    model_tags = client.get_logged_model(model.model_id).tags
    return {
        "format": loaded.format(question="why?"),
        "versions": (first.version, second.version),
        "run_link": _links(run_tags, name),
        "model_link": _links(model_tags, name),
        "search": [p.name == name for p in mlflow.genai.search_prompts(f"name = '{name}'")],
    }


def _links(tags: dict[str, str], name: str) -> list[tuple[bool, str]]:
    """The prompt versions a run or model links to (this prompt: True)."""
    linked = json.loads(tags.get("mlflow.linkedPrompts", "[]"))
    return [(link["name"] == name, str(link["version"])) for link in linked]


def custom_artifact_location(client: Any, tmp: Path) -> dict[str, Any]:
    """An experiment whose artifacts go to `mlflow-artifacts:/<a name>` instead of its id."""
    import mlflow

    folder = f"team-{uuid.uuid4().hex[:8]}/projects"
    exp = client.create_experiment(
        f"fam-loc-{uuid.uuid4().hex[:8]}", artifact_location=f"mlflow-artifacts:/{folder}"
    )
    mlflow.set_experiment(experiment_id=exp)
    with mlflow.start_run() as run:
        mlflow.log_text("custom", "out/custom.txt")
        mlflow.log_dict({"k": 1}, "out/d.json")
    run_id = run.info.run_id
    back = Path(client.download_artifacts(run_id, "out", str(tmp / "out")))
    uri = client.get_run(run_id).info.artifact_uri
    return {
        "uri": uri.replace(run_id, "<run>").replace(folder, "<folder>"),
        "listed": sorted(f.path for f in client.list_artifacts(run_id, "out")),
        "files": sorted(p.name for p in back.iterdir()),
        "text": mlflow.artifacts.load_text(f"runs:/{run_id}/out/custom.txt"),
    }


def default_experiment(client: Any, tmp: Path) -> dict[str, Any]:
    """Runs, artifacts, models and traces in the Default experiment (id 0), which has no
    owner: every user may start runs there and own them."""
    import mlflow

    mlflow.set_experiment(experiment_id="0")
    marker = uuid.uuid4().hex[:8]
    with mlflow.start_run(run_name=f"default-{marker}") as run:
        mlflow.log_param("marker", marker)
        mlflow.log_metric("m", 1.0)
        mlflow.set_tag("t", "v")
        mlflow.log_text("in default", "notes.txt")
    run_id = run.info.run_id
    client.set_tag(run_id, "after", "yes")
    client.update_run(run_id, name=f"renamed-{marker}")
    model = client.create_logged_model("0", name=f"default-model-{marker}")
    client.set_logged_model_tags(model.model_id, {"k": "v"})

    @mlflow.trace
    def answer(question: str) -> str:
        return question[::-1]

    answer("abc")
    mlflow.flush_trace_async_logging()
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id
    client.set_trace_tag(trace_id, "review", "done")
    found = client.search_runs(["0"], filter_string=f"params.marker = '{marker}'")
    got = client.get_run(run_id)
    client.delete_run(run_id)
    return {
        "found": [str(r.info.run_name).replace(marker, "<marker>") for r in found],
        "tags": _tags(got.data.tags),
        "text": mlflow.artifacts.load_text(f"runs:/{run_id}/notes.txt"),
        "model_tags": _tags(client.get_logged_model(model.model_id).tags),
        "trace_tags": _tags(client.get_trace(trace_id).info.tags),
        "deleted": client.get_run(run_id).info.lifecycle_stage,
    }


FAMILIES: dict[str, Family] = {
    "experiments": experiments,
    "runs": runs,
    "artifacts": artifacts,
    "registry": registry,
    "traces": traces,
    "datasets_and_evaluation": datasets_and_evaluation,
    "otlp_spans": otlp_spans,
    "graphql": graphql,
    "logged_models": logged_models,
    "assessments": assessments,
    "eval_datasets": eval_datasets,
    "scorers": scorers,
    "prompts": prompts,
    "custom_artifact_location": custom_artifact_location,
    "default_experiment": default_experiment,
}
