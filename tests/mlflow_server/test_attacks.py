"""Bob attacks Alice's things by every path, encoding and field alias the server accepts.

Two ordinary hub users against the real hub, podlab-mlflow, PostgreSQL and each artifact
destination (S3 and the mounted volume). Every request below must be refused with an MLflow
error (400, 403, 404 or 501) and must leave Alice's rows and artifact bytes exactly as they
were (`victim.snapshot`, compared after each request).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.mlflow_server.families import otlp_body
from tests.mlflow_server.stack_helpers import Stack, client_as
from tests.mlflow_server.victim import Victim, plant, snapshot

REFUSED = {400, 403, 404, 501}
V2 = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


@dataclass(frozen=True)
class Attack:
    label: str
    method: str
    target: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


@dataclass(frozen=True)
class Scene:
    stack: Stack
    alice: Victim
    bob_experiment: str
    bob_run: str
    bob_model: str


_SCENES: dict[str, Scene] = {}


@pytest.fixture
def scene(any_stack: Stack) -> Scene:
    """Alice's things and Bob's own, planted once per artifact destination."""
    key = any_stack.server.artifacts_destination
    if key not in _SCENES:
        alice = plant(any_stack, "alice")
        with client_as(any_stack, "bob") as client:
            experiment = client.create_experiment(f"bob-{uuid.uuid4().hex[:8]}")
            run = client.create_run(experiment).info.run_id
            model = f"bob-model-{uuid.uuid4().hex[:8]}"
            client.create_registered_model(model)
        _SCENES[key] = Scene(any_stack, alice, experiment, run, model)
    return _SCENES[key]


def _bodies(
    field: str, victim: str, own: str, extra: dict[str, Any]
) -> Iterator[tuple[str, bytes]]:
    """One id written every way MLflow's parser accepts (and ways it must refuse)."""
    camel = "".join(p if i == 0 else p.title() for i, p in enumerate(field.split("_")))
    plain = {**extra, field: victim}
    yield "plain", json.dumps(plain).encode()
    yield "json name", json.dumps({**extra, camel: victim}).encode()
    yield "double-encoded", json.dumps(json.dumps(plain)).encode()
    yield (
        "duplicate key, victim last",
        (json.dumps({field: own, **extra})[:-1] + f', "{field}": "{victim}"}}').encode(),
    )
    escaped = field.replace("_", "\\u005f")
    yield (
        "escaped key",
        json.dumps({**extra, "x": 1}).replace('"x": 1', f'"{escaped}": "{victim}"').encode(),
    )
    yield "both spellings", json.dumps({**extra, field: own, camel: victim}).encode()
    if field == "run_id":
        yield "run_uuid", json.dumps({**extra, "run_uuid": victim}).encode()
        yield (
            "runUuid with empty run_id",
            json.dumps({**extra, "run_id": "", "runUuid": victim}).encode(),
        )
        yield (
            "runId wins over run_uuid",
            json.dumps({**extra, "runId": victim, "run_uuid": own}).encode(),
        )


def _check(scene: Scene, attacks: list[Attack], user: str = "bob") -> None:
    before = snapshot(scene.stack, scene.alice)
    failures = []
    for attack in attacks:
        status, text = scene.stack.raw(
            attack.method, attack.target, user, attack.body, dict(attack.headers)
        )
        if status not in REFUSED:
            failures.append(
                f"{attack.label}: {attack.method} {attack.target} -> {status} {text[:200]}"
            )
            continue
        try:
            error = json.loads(text)
        except ValueError:
            failures.append(f"{attack.label}: refusal is not MLflow JSON: {text[:200]}")
            continue
        if not error.get("error_code") or not error.get("message"):
            failures.append(f"{attack.label}: refusal without error_code/message: {text[:200]}")
        after = snapshot(scene.stack, scene.alice)
        if after != before:
            changed = sorted(k for k in after if after[k] != before[k])
            failures.append(f"{attack.label}: refused ({status}) but changed {changed}")
            before = after
    assert not failures, f"{len(failures)} of {len(attacks)} attacks got through:\n" + "\n".join(
        failures
    )


# -- runs ----------------------------------------------------------------------------------
RUN_WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "runs/log-metric", {"key": "loss", "value": 9.0, "timestamp": 1, "step": 99}),
    ("POST", "runs/log-parameter", {"key": "lr", "value": "0.1"}),
    ("POST", "runs/set-tag", {"key": "note", "value": "bob was here"}),
    ("POST", "runs/delete-tag", {"key": "note"}),
    (
        "POST",
        "runs/log-batch",
        {"metrics": [{"key": "loss", "value": 9, "timestamp": 1, "step": 99}]},
    ),
    ("POST", "runs/update", {"status": "FAILED", "run_name": "bobs"}),
    ("POST", "runs/delete", {}),
    ("POST", "runs/restore", {}),
    ("POST", "runs/log-model", {"model_json": "{}"}),
    ("POST", "runs/log-inputs", {"datasets": []}),
]


def test_bob_cannot_write_alices_run(scene):
    attacks = []
    for method, endpoint, extra in RUN_WRITES:
        for label, body in _bodies("run_id", scene.alice.run_id, scene.bob_run, extra):
            attacks.append(Attack(f"{endpoint} ({label})", method, f"{V2[0]}/{endpoint}", body))
        plain = json.dumps({**extra, "run_id": scene.alice.run_id}).encode()
        attacks.append(Attack(f"{endpoint} (ajax)", method, f"{V2[1]}/{endpoint}", plain))
    outputs = {"run_id": scene.alice.run_id, "models": [{"model_id": scene.alice.logged_model_id}]}
    attacks.append(Attack("outputs", "POST", f"{V2[0]}/runs/outputs", json.dumps(outputs).encode()))
    link = {"run_id": scene.alice.run_id, "trace_ids": [scene.alice.trace_id]}
    attacks.append(
        Attack("link traces", "POST", f"{V2[0]}/traces/link-to-run", json.dumps(link).encode())
    )
    _check(scene, attacks)


# -- experiments ---------------------------------------------------------------------------
EXPERIMENT_WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/2.0/mlflow/experiments/update", {"new_name": "bobs"}),
    ("POST", "/api/2.0/mlflow/experiments/delete", {}),
    ("POST", "/api/2.0/mlflow/experiments/restore", {}),
    ("POST", "/api/2.0/mlflow/experiments/set-experiment-tag", {"key": "team", "value": "b"}),
    ("POST", "/api/2.0/mlflow/experiments/delete-experiment-tag", {"key": "team"}),
    ("POST", "/ajax-api/2.0/mlflow/experiments/delete", {}),
    ("POST", "/api/2.0/mlflow/traces/delete-traces", {"max_timestamp_millis": 9_999_999_999_999}),
    ("POST", "/api/3.0/mlflow/traces/delete-traces", {"max_timestamp_millis": 9_999_999_999_999}),
    ("POST", "/api/3.0/mlflow/scorers/register", {"name": "s", "serialized_scorer": "{}"}),
]


def test_bob_cannot_change_or_delete_alices_experiment(scene):
    attacks = [
        Attack(f"{target} ({label})", method, target, body)
        for method, target, extra in EXPERIMENT_WRITES
        for label, body in _bodies(
            "experiment_id", scene.alice.experiment_id, scene.bob_experiment, extra
        )
    ]
    _check(scene, attacks)


# -- registered models -----------------------------------------------------------------------
def test_bob_cannot_change_alices_registered_model(scene):
    name = scene.alice.model
    writes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "registered-models/rename", {"new_name": "bobs"}),
        ("PATCH", "registered-models/update", {"description": "bob"}),
        ("DELETE", "registered-models/delete", {}),
        ("POST", "registered-models/set-tag", {"key": "owner", "value": "bob"}),
        ("DELETE", "registered-models/delete-tag", {"key": "owner"}),
        ("POST", "registered-models/alias", {"alias": "champion", "version": "1"}),
        ("DELETE", "registered-models/alias", {"alias": "champion"}),
        (
            "POST",
            "model-versions/create",
            {"source": f"runs:/{scene.bob_run}/model", "run_id": scene.bob_run},
        ),
        ("PATCH", "model-versions/update", {"version": "1", "description": "bob"}),
        ("DELETE", "model-versions/delete", {"version": "1"}),
        ("POST", "model-versions/transition-stage", {"version": "1", "stage": "Archived"}),
        ("POST", "model-versions/set-tag", {"version": "1", "key": "k", "value": "v"}),
        ("DELETE", "model-versions/delete-tag", {"version": "1", "key": "k"}),
    ]
    attacks = []
    for method, endpoint, extra in writes:
        for prefix in V2:
            body = json.dumps({**extra, "name": name}).encode()
            attacks.append(Attack(f"{endpoint} {prefix}", method, f"{prefix}/{endpoint}", body))
        dup = json.dumps({"name": scene.bob_model, **extra})[:-1] + f', "name": "{name}"}}'
        attacks.append(Attack(f"{endpoint} dup", method, f"{V2[0]}/{endpoint}", dup.encode()))
        encoded = json.dumps(json.dumps({**extra, "name": name})).encode()
        attacks.append(Attack(f"{endpoint} 2x", method, f"{V2[0]}/{endpoint}", encoded))
    _check(scene, attacks)


# -- logged models (MLflow 3) --------------------------------------------------------------
def test_bob_cannot_change_alices_logged_model(scene):
    victim, base = scene.alice.logged_model_id, f"{V2[0]}/logged-models"
    with client_as(scene.stack, "bob") as client:
        own = client.create_logged_model(scene.bob_experiment, name="bobs").model_id
    finalize = {"status": "LOGGED_MODEL_READY"}
    attacks = [
        Attack(
            "finalize",
            "PATCH",
            f"{base}/{victim}",
            json.dumps({**finalize, "model_id": victim}).encode(),
        ),
        Attack(
            "finalize: own id in the URL, hers in the body",
            "PATCH",
            f"{base}/{own}",
            json.dumps({**finalize, "model_id": victim}).encode(),
        ),
        Attack(
            "finalize: camelCase body id",
            "PATCH",
            f"{base}/{own}",
            json.dumps({**finalize, "modelId": victim}).encode(),
        ),
        Attack(
            "tags",
            "PATCH",
            f"{base}/{victim}/tags",
            json.dumps({"tags": [{"key": "kind", "value": "bob"}]}).encode(),
        ),
        Attack(
            "tags: her id in the body only",
            "PATCH",
            f"{base}/{victim}/tags",
            json.dumps({"model_id": own, "tags": [{"key": "kind", "value": "bob"}]}).encode(),
        ),
        Attack("delete tag", "DELETE", f"{base}/{victim}/tags/kind", b"{}"),
        Attack("delete", "DELETE", f"{base}/{victim}", b"{}"),
        Attack(
            "params",
            "POST",
            f"{base}/{victim}/params",
            json.dumps({"model_id": victim, "params": [{"key": "a", "value": "b"}]}).encode(),
        ),
        Attack(
            "a model logged from her run",
            "POST",
            base,
            json.dumps(
                {"experiment_id": scene.bob_experiment, "source_run_id": scene.alice.run_id}
            ).encode(),
        ),
    ]
    _check(scene, attacks)


# -- artifacts -------------------------------------------------------------------------------
def test_bob_cannot_write_or_delete_alices_artifacts(scene):
    alice, bob_run = scene.alice, scene.bob_run
    bob_root = f"{scene.bob_experiment}/{bob_run}/artifacts"
    proxy = "/api/2.0/mlflow-artifacts/artifacts"
    data = (("Content-Type", "application/octet-stream"),)
    rel = alice.run_root.split("/", 1)[1]  # "<run>/artifacts"
    attacks = [
        Attack("overwrite", "PUT", f"{proxy}/{alice.run_root}/model/weights.bin", b"x", data),
        Attack("new file", "PUT", f"{proxy}/{alice.run_root}/bob.txt", b"x", data),
        Attack(
            "ajax overwrite",
            "PUT",
            f"/ajax-api/2.0/mlflow-artifacts/artifacts/{alice.run_root}/model/weights.bin",
            b"x",
            data,
        ),
        Attack("logged model", "PUT", f"{proxy}/{alice.model_root}/weights.bin", b"x", data),
        Attack("delete", "DELETE", f"{proxy}/{alice.run_root}/model/weights.bin", None, data),
        Attack("delete folder", "DELETE", f"{proxy}/{alice.run_root}", None, data),
        Attack("delete experiment folder", "DELETE", f"{proxy}/{alice.experiment_id}", None, data),
        Attack(
            "encoded letters",
            "PUT",
            f"{proxy}/{alice.run_root.replace('artifacts', '%61rtifacts')}/model/weights.bin",
            b"x",
            data,
        ),
        Attack("dot-dot", "PUT", f"{proxy}/{bob_root}/../../{rel}/model/weights.bin", b"x", data),
        Attack(
            "%2e%2e", "PUT", f"{proxy}/{bob_root}/%2e%2e/%2e%2e/{rel}/model/weights.bin", b"x", data
        ),
        Attack("%252e", "PUT", f"{proxy}/{bob_root}/%252e%252e/%252e%252e/{rel}/x", b"x", data),
        Attack("%2F", "PUT", f"{proxy}/{bob_root}%2F..%2F..%2F{rel}/model/weights.bin", b"x", data),
        Attack("backslash", "PUT", f"{proxy}/{bob_root}/..%5C..%5C{rel}/x", b"x", data),
        Attack("empty segment", "PUT", f"{proxy}/{alice.experiment_id}//{rel}/x", b"x", data),
        Attack(
            "multipart",
            "POST",
            f"/api/2.0/mlflow-artifacts/mpu/create/{alice.run_root}/big.bin",
            b'{"path": "big.bin", "num_parts": 1}',
        ),
        Attack(
            "presigned",
            "GET",
            f"/api/2.0/mlflow-artifacts/presigned/{alice.run_root}/model/weights.bin",
        ),
        Attack(
            "upload-artifact",
            "POST",
            f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={alice.run_id}&path=model/weights.bin",
            b"x",
            data,
        ),
        Attack(
            "upload-artifact, repeated run_uuid",
            "POST",
            f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={alice.run_id}&run_uuid={bob_run}&path=x",
            b"x",
            data,
        ),
        Attack(
            "upload-artifact, path out of his run",
            "POST",
            f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={bob_run}&path=../../{rel}/x",
            b"x",
            data,
        ),
    ]
    _check(scene, attacks)


def test_bob_cannot_reach_her_folder_through_an_artifact_location(scene):
    """An experiment whose artifact root lies inside her run: his runs there cannot write."""
    stack = scene.stack
    nested = f"mlflow-artifacts:/{scene.alice.run_root}/nested"
    with client_as(stack, "bob") as client:
        experiment = client.create_experiment(f"nested-{uuid.uuid4().hex[:8]}", nested)
        run = client.create_run(experiment)
    root = run.info.artifact_uri.removeprefix("mlflow-artifacts:").lstrip("/")
    assert root.startswith(scene.alice.run_root)
    attacks = [
        Attack(
            "his run's root inside hers",
            "PUT",
            f"/api/2.0/mlflow-artifacts/artifacts/{root}/x.txt",
            b"x",
            (("Content-Type", "text/plain"),),
        )
    ]
    for location in ("s3://another-bucket/x", "file:///tmp/elsewhere", "http://evil.example/x"):
        body = json.dumps({"name": f"out-{uuid.uuid4().hex[:6]}", "artifact_location": location})
        attacks.append(Attack(location, "POST", f"{V2[0]}/experiments/create", body.encode()))
    for source in (
        "file:///etc",
        "s3://another-bucket/model",
        "http://evil.example/model",
        f"mlflow-artifacts:/{scene.alice.run_root}/../../../x",
    ):
        body = json.dumps({"name": scene.bob_model, "source": source})
        attacks.append(Attack(source, "POST", f"{V2[0]}/model-versions/create", body.encode()))
    _check(scene, attacks)


# -- admin-only configuration -----------------------------------------------------------------
def test_ordinary_users_cannot_touch_server_configuration(scene):
    attacks = [
        Attack("webhook", "POST", f"{V2[0]}/webhooks", b'{"name": "w", "url": "http://x.example"}'),
        Attack(
            "gateway secret",
            "POST",
            "/api/3.0/mlflow/gateway/secrets/create",
            b'{"secret_name": "s"}',
        ),
        Attack("secrets list", "GET", "/ajax-api/3.0/mlflow/gateway/secrets/list"),
        Attack("workspace", "POST", "/api/3.0/mlflow/workspaces", b'{"name": "w"}'),
        Attack("job", "POST", "/ajax-api/3.0/jobs/", b'{"function_fullname": "os.system"}'),
        Attack("scorer invoke", "POST", "/ajax-api/3.0/mlflow/scorer/invoke", b"{}"),
        Attack("assistant", "POST", "/ajax-api/3.0/mlflow/assistant/message", b"{}"),
        Attack("promptlab run", "POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", b"{}"),
    ]
    _check(scene, attacks)


# -- grants ----------------------------------------------------------------------------------
def test_bob_cannot_grant_himself_or_take_ownership(scene):
    model, experiment = scene.alice.model, scene.alice.experiment_id
    grant = "/podlab/api/1.0/grants"
    attacks = [
        Attack(
            "grant model",
            "POST",
            grant,
            json.dumps({"kind": "registered_model", "key": model, "user": "bob"}).encode(),
        ),
        Attack(
            "grant experiment",
            "POST",
            grant,
            json.dumps({"kind": "experiment", "key": experiment, "user": "bob"}).encode(),
        ),
        Attack(
            "take model",
            "PUT",
            "/podlab/api/1.0/owner",
            json.dumps({"kind": "registered_model", "key": model, "owner": "bob"}).encode(),
        ),
        Attack(
            "take experiment",
            "PUT",
            "/podlab/api/1.0/owner",
            json.dumps({"kind": "experiment", "key": experiment, "owner": "bob"}).encode(),
        ),
        Attack(
            "revoke",
            "DELETE",
            grant,
            json.dumps({"kind": "registered_model", "key": model, "user": "carol"}).encode(),
        ),
    ]
    _check(scene, attacks)


# -- tokens ----------------------------------------------------------------------------------
def test_tokens_without_the_mlflow_scope_or_admin_scope_are_refused(scene):
    hub = scene.stack.hub
    narrow_bob, _ = hub.user_token("bob", scopes=["read:users:name!user=bob"])
    narrow_alice, _ = hub.user_token("alice", scopes=["read:users:name!user=alice"])
    narrow_admin, _ = hub.user_token("admin", scopes=["access:services!service=mlflow"])
    delete = json.dumps({"experiment_id": scene.alice.experiment_id}).encode()
    tag = json.dumps({"run_id": scene.alice.run_id, "key": "note", "value": "x"}).encode()
    attacks = [
        (narrow_bob, Attack("bob, no mlflow scope", "POST", f"{V2[0]}/experiments/delete", delete)),
        (narrow_alice, Attack("alice, no mlflow scope", "POST", f"{V2[0]}/runs/set-tag", tag)),
        (
            narrow_admin,
            Attack("admin, no admin scope", "POST", f"{V2[0]}/experiments/delete", delete),
        ),
    ]
    for token, attack in attacks:
        _check(scene, [attack], user=token)
    status, text = scene.stack.raw("GET", f"{V2[0]}/experiments/get?experiment_id=0", narrow_bob)
    assert status == 403, text
    assert "access:services!service=mlflow" in json.loads(text)["message"]


# -- traces, assessments, OTLP ingest ----------------------------------------------------------
def test_bob_cannot_change_alices_trace_or_its_assessments(scene):
    alice = scene.alice
    trace, assessment = alice.trace_id, alice.assessment_id
    feedback = {
        "assessment": {
            "assessment_name": "good",
            "trace_id": trace,
            "source": {"source_type": "HUMAN", "source_id": "bob"},
            "feedback": {"value": False},
        }
    }
    attacks = []
    for prefix in ("/api/3.0/mlflow", "/ajax-api/3.0/mlflow"):
        attacks += [
            Attack(
                f"v3 set tag {prefix}",
                "PATCH",
                f"{prefix}/traces/{trace}/tags",
                b'{"key": "note", "value": "bob"}',
            ),
            Attack(
                f"v3 delete tag {prefix}",
                "DELETE",
                f"{prefix}/traces/{trace}/tags",
                b'{"key": "mlflow.traceName"}',
            ),
            Attack(
                f"new assessment {prefix}",
                "POST",
                f"{prefix}/traces/{trace}/assessments",
                json.dumps(feedback).encode(),
            ),
            Attack(
                f"update assessment {prefix}",
                "PATCH",
                f"{prefix}/traces/{trace}/assessments/{assessment}",
                json.dumps({**feedback, "update_mask": "feedback"}).encode(),
            ),
            Attack(
                f"delete assessment {prefix}",
                "DELETE",
                f"{prefix}/traces/{trace}/assessments/{assessment}",
                b"{}",
            ),
        ]
    v2 = V2[0]
    attacks += [
        Attack("v2 set tag", "PATCH", f"{v2}/traces/{trace}/tags", b'{"key": "k", "value": "v"}'),
        Attack("v2 delete tag", "DELETE", f"{v2}/traces/{trace}/tags", b'{"key": "mlflow.user"}'),
        Attack(
            "v2 end trace",
            "PATCH",
            f"{v2}/traces/{trace}",
            b'{"timestamp_ms": 1, "status": "ERROR"}',
        ),
        Attack(
            "link her prompt to her trace",
            "POST",
            f"{v2}/traces/link-prompts",
            json.dumps(
                {"trace_id": trace, "prompt_versions": [{"name": alice.prompt, "version": "1"}]}
            ).encode(),
        ),
        Attack(
            "start trace v3 with her id",
            "POST",
            "/api/3.0/mlflow/traces",
            json.dumps(
                {
                    "trace": {
                        "trace_info": {
                            "trace_id": trace,
                            "trace_location": {
                                "type": "MLFLOW_EXPERIMENT",
                                "mlflow_experiment": {"experiment_id": scene.bob_experiment},
                            },
                            "request_time": "2026-01-01T00:00:00Z",
                            "state": "ERROR",
                            "tags": {"note": "bob"},
                        }
                    }
                }
            ).encode(),
        ),
        Attack(
            "her trace's artifact folder",
            "PUT",
            f"/api/2.0/mlflow-artifacts/artifacts/{alice.experiment_id}/traces/{trace}/"
            "artifacts/traces.json",
            b"{}",
            (("Content-Type", "application/octet-stream"),),
        ),
    ]
    for encoding in ("protobuf", "json", "gzip"):
        for experiment in (alice.experiment_id, scene.bob_experiment):
            body, headers = otlp_body(trace, encoding)
            attacks.append(
                Attack(
                    f"OTLP spans into her trace ({encoding}, experiment {experiment})",
                    "POST",
                    "/v1/traces",
                    body,
                    (*headers, ("x-mlflow-experiment-id", experiment)),
                )
            )
    _check(scene, attacks)


def test_otlp_batches_the_gate_cannot_read_are_refused(scene):
    """A batch the gate cannot map to traces is refused (400), never passed on unchecked."""
    headers = (("x-mlflow-experiment-id", scene.bob_experiment),)
    body, proto = otlp_body(scene.alice.trace_id)
    attacks = [
        Attack("no content type", "POST", "/v1/traces", body, headers),
        Attack(
            "text/plain", "POST", "/v1/traces", body, (*headers, ("Content-Type", "text/plain"))
        ),
        Attack("not protobuf", "POST", "/v1/traces", b"\xff\xfe garbage", (*headers, *proto)),
        Attack(
            "gzip that is not",
            "POST",
            "/v1/traces",
            body,
            (*headers, *proto, ("Content-Encoding", "gzip")),
        ),
    ]
    _check(scene, attacks)


# -- evaluation datasets -----------------------------------------------------------------------
def test_bob_cannot_change_alices_evaluation_dataset(scene):
    dataset = scene.alice.dataset_id
    records = json.dumps([{"inputs": {"q": "bob"}, "expectations": {"a": "bob"}}])
    attacks = []
    for prefix in ("/api/3.0/mlflow", "/ajax-api/3.0/mlflow"):
        base = f"{prefix}/datasets/{dataset}"
        attacks += [
            Attack(f"records {prefix}", "POST", f"{base}/records", json.dumps(
                {"dataset_id": dataset, "records": records}).encode()),
            Attack(f"tags {prefix}", "PATCH", f"{base}/tags", json.dumps(
                {"dataset_id": dataset, "tags": json.dumps({"k": "bob"})}).encode()),
            Attack(f"delete tag {prefix}", "DELETE", f"{base}/tags/k", b"{}"),
            Attack(f"delete records {prefix}", "DELETE", f"{base}/records", json.dumps(
                {"dataset_id": dataset, "dataset_record_ids": ["x"]}).encode()),
            Attack(f"add experiments {prefix}", "POST", f"{base}/add-experiments", json.dumps(
                {"dataset_id": dataset, "experiment_ids": [scene.bob_experiment]}).encode()),
            Attack(f"remove experiments {prefix}", "POST", f"{base}/remove-experiments",
                   json.dumps({"experiment_ids": [scene.alice.experiment_id]}).encode()),
            Attack(f"delete {prefix}", "DELETE", base, b"{}"),
        ]  # fmt: skip
    _check(scene, attacks)


# -- runs and models outside the usual layout --------------------------------------------------
def test_bob_cannot_write_her_runless_model_default_or_custom_location_runs(scene):
    """Her logged model with no source run, her run in the Default experiment (which has no
    owner) and her run under a custom mlflow-artifacts:/<name> location."""
    alice = scene.alice
    proxy = "/api/2.0/mlflow-artifacts/artifacts"
    data = (("Content-Type", "application/octet-stream"),)
    default_root = f"0/{alice.default_run_id}/artifacts"
    attacks = [
        Attack("runless model: overwrite", "PUT", f"{proxy}/{alice.free_model_root}/weights.bin",
               b"x", data),
        Attack("runless model: new file", "PUT", f"{proxy}/{alice.free_model_root}/bob.pkl",
               b"x", data),
        Attack("runless model: delete", "DELETE", f"{proxy}/{alice.free_model_root}/weights.bin",
               None, data),
        Attack("runless model: tags", "PATCH", f"{V2[0]}/logged-models/{alice.free_model_id}/tags",
               b'{"tags": [{"key": "k", "value": "bob"}]}'),
        Attack("runless model: finalize", "PATCH", f"{V2[0]}/logged-models/{alice.free_model_id}",
               json.dumps({"model_id": alice.free_model_id, "status": "LOGGED_MODEL_UPLOAD_FAILED"}
                          ).encode()),
        Attack("runless model: delete model", "DELETE",
               f"{V2[0]}/logged-models/{alice.free_model_id}", b"{}"),
        Attack("default run: overwrite", "PUT", f"{proxy}/{default_root}/model/weights.bin", b"x",
               data),
        Attack("default run: delete", "DELETE", f"{proxy}/{default_root}/model", None, data),
        Attack("default run: upload-artifact", "POST",
               f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={alice.default_run_id}&path=x.txt",
               b"x", data),
        Attack("custom root: overwrite", "PUT", f"{proxy}/{alice.custom_root}/model/weights.bin",
               b"x", data),
        Attack("custom root: new file", "PUT", f"{proxy}/{alice.custom_root}/bob.txt", b"x", data),
        Attack("custom root: delete", "DELETE", f"{proxy}/{alice.custom_root}/model", None, data),
        Attack("custom root: the folder above", "DELETE",
               f"{proxy}/{alice.custom_root.rsplit('/', 2)[0]}", None, data),
    ]  # fmt: skip
    for run in (alice.default_run_id, alice.custom_run_id):
        for endpoint, extra in (
            ("runs/set-tag", {"key": "stage", "value": "bob"}),
            ("runs/log-parameter", {"key": "where", "value": "bob"}),
            ("runs/delete", {}),
            ("runs/update", {"status": "FAILED"}),
        ):
            body = json.dumps({**extra, "run_id": run}).encode()
            attacks.append(Attack(f"{endpoint} {run}", "POST", f"{V2[0]}/{endpoint}", body))
    with client_as(scene.stack, "bob") as client:
        nested = client.create_experiment(
            f"under-hers-{uuid.uuid4().hex[:6]}", f"mlflow-artifacts:/{alice.custom_root}"
        )
        bob_run = client.create_run(nested).info.run_id
    attacks.append(
        Attack(
            "his run inside her custom root",
            "PUT",
            f"{proxy}/{alice.custom_root}/{bob_run}/artifacts/x.txt",
            b"x",
            data,
        )
    )
    _check(scene, attacks)


# -- prompts and scorers -----------------------------------------------------------------------
def test_bob_cannot_change_alices_prompts_links_or_scorers(scene):
    alice = scene.alice
    prompt_version = {
        "name": alice.prompt,
        "source": "prompt-template",
        "tags": [
            {"key": "mlflow.prompt.is_prompt", "value": "true"},
            {"key": "mlflow.prompt.text", "value": "Bob says {{name}}"},
        ],
    }
    link = json.dumps([{"name": alice.prompt, "version": "1"}])
    attacks = [
        Attack("a version of her prompt", "POST", f"{V2[0]}/model-versions/create",
               json.dumps(prompt_version).encode()),
        Attack("her prompt's alias", "POST", f"{V2[0]}/registered-models/alias",
               json.dumps({"name": alice.prompt, "alias": "production", "version": "1"}).encode()),
        Attack("her prompt's text", "POST", f"{V2[0]}/model-versions/set-tag", json.dumps(
            {"name": alice.prompt, "version": "1", "key": "mlflow.prompt.text", "value": "bob"}
        ).encode()),
        Attack("link to her run", "POST", f"{V2[0]}/runs/set-tag", json.dumps(
            {"run_id": alice.run_id, "key": "mlflow.linkedPrompts", "value": link}).encode()),
        Attack("link to her logged model", "PATCH",
               f"{V2[0]}/logged-models/{alice.logged_model_id}/tags",
               json.dumps({"tags": [{"key": "mlflow.linkedPrompts", "value": link}]}).encode()),
        Attack("replace her scorer", "POST", "/api/3.0/mlflow/scorers/register", json.dumps(
            {"experiment_id": alice.experiment_id, "name": alice.scorer,
             "serialized_scorer": "{}"}).encode()),
        Attack("delete her scorer", "DELETE", "/api/3.0/mlflow/scorers/delete", json.dumps(
            {"experiment_id": alice.experiment_id, "name": alice.scorer}).encode()),
    ]  # fmt: skip
    _check(scene, attacks)
