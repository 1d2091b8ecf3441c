"""Identity is the server's; only owners (or hub admins) delete, rename or re-alias."""

from __future__ import annotations

import uuid

from tests.mlflow_server.stack_helpers import client_as

API = "/api/2.0/mlflow"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_run_user_is_the_token_owner_not_the_client_tag(mlflow_stack):
    with client_as(mlflow_stack, "alice") as client:
        exp = client.create_experiment(_name("identity"))
        run = client.create_run(exp, tags={"mlflow.user": "bob"})
        run_id = run.info.run_id
        # A later attempt to rewrite it, by set-tag and by log-batch, is overwritten too.
        client.set_tag(run_id, "mlflow.user", "bob")
        from mlflow.entities import RunTag

        client.log_batch(run_id, tags=[RunTag("mlflow.user", "mallory")])
    stored = mlflow_stack.call("GET", f"{API}/runs/get", "bob", {"run_id": run_id}).json()
    tags = {t["key"]: t["value"] for t in stored["run"]["data"]["tags"]}
    assert tags["mlflow.user"] == "alice"
    assert stored["run"]["info"]["user_id"] == "alice"
    # The raw REST field user_id is overwritten as well.
    reply = mlflow_stack.call(
        "POST", f"{API}/runs/create", "alice", {"experiment_id": exp, "user_id": "bob"}
    ).json()
    assert reply["run"]["info"]["user_id"] == "alice"
    denied = mlflow_stack.call(
        "POST", f"{API}/runs/delete-tag", "alice", {"run_id": run_id, "key": "mlflow.user"}
    )
    assert denied.status_code == 403


def test_everyone_reads_but_only_the_owner_writes_a_run(mlflow_stack):
    with client_as(mlflow_stack, "alice") as client:
        exp = client.create_experiment(_name("shared"))
        run_id = client.create_run(exp).info.run_id
        client.log_metric(run_id, "loss", 0.5)
    got = mlflow_stack.call("GET", f"{API}/runs/get", "bob", {"run_id": run_id})
    assert got.status_code == 200
    # Bob may create his own run in Alice's experiment ...
    created = mlflow_stack.call("POST", f"{API}/runs/create", "bob", {"experiment_id": exp})
    assert created.status_code == 200, created.text
    # ... but not write into hers.
    for endpoint, body in [
        ("runs/log-metric", {"run_id": run_id, "key": "loss", "value": 9, "timestamp": 1}),
        ("runs/log-batch", {"run_id": run_id, "metrics": []}),
        ("runs/delete", {"run_id": run_id}),
        ("runs/update", {"run_id": run_id, "run_name": "mine"}),
    ]:
        reply = mlflow_stack.call("POST", f"{API}/{endpoint}", "bob", body)
        assert reply.status_code == 403, (endpoint, reply.text)
        assert reply.json()["error_code"] == "PERMISSION_DENIED"
    # Nor into its artifact folder through the proxy.
    put = mlflow_stack.call(
        "PUT",
        f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run_id}/artifacts/evil.txt",
        "bob",
        data=b"x",
    )
    assert put.status_code == 403, put.text


def test_bob_cannot_delete_alices_experiment_or_model_but_an_admin_can(mlflow_stack):
    exp_name, model = _name("alice-exp"), _name("alice-model")
    with client_as(mlflow_stack, "alice") as client:
        exp = client.create_experiment(exp_name)
        client.create_registered_model(model)
        run_id = client.create_run(exp).info.run_id
        client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id)

    bob_attempts = [
        ("POST", "experiments/delete", {"experiment_id": exp}),
        ("POST", "experiments/update", {"experiment_id": exp, "new_name": "bobs"}),
        ("DELETE", "registered-models/delete", {"name": model}),
        ("POST", "registered-models/rename", {"name": model, "new_name": "bobs"}),
        ("POST", "registered-models/alias", {"name": model, "alias": "champion", "version": "1"}),
        ("DELETE", "model-versions/delete", {"name": model, "version": "1"}),
    ]
    for method, endpoint, body in bob_attempts:
        reply = mlflow_stack.call(method, f"{API}/{endpoint}", "bob", body)
        assert reply.status_code == 403, (endpoint, reply.text)
        assert "alice" in reply.json()["message"]
    # Nothing was changed by the refused calls.
    assert (
        mlflow_stack.call("GET", f"{API}/experiments/get", "bob", {"experiment_id": exp}).json()[
            "experiment"
        ]["lifecycle_stage"]
        == "active"
    )

    # The owner may set an alias and rename; the record follows the rename.
    ok = mlflow_stack.call(
        "POST", f"{API}/registered-models/alias", "alice",
        {"name": model, "alias": "champion", "version": "1"},
    )  # fmt: skip
    assert ok.status_code == 200, ok.text
    renamed = model + "-v2"
    ok = mlflow_stack.call(
        "POST", f"{API}/registered-models/rename", "alice", {"name": model, "new_name": renamed}
    )
    assert ok.status_code == 200, ok.text
    assert (
        mlflow_stack.call(
            "DELETE", f"{API}/registered-models/delete", "bob", {"name": renamed}
        ).status_code
        == 403
    )

    # A hub admin can delete both.
    for method, endpoint, body in [
        ("POST", "experiments/delete", {"experiment_id": exp}),
        ("DELETE", "registered-models/delete", {"name": renamed}),
    ]:
        reply = mlflow_stack.call(method, f"{API}/{endpoint}", "admin", body)
        assert reply.status_code == 200, (endpoint, reply.text)
    gone = mlflow_stack.call("GET", f"{API}/registered-models/get", "alice", {"name": renamed})
    assert gone.status_code == 404


def test_admin_only_configuration_routes(mlflow_stack):
    reply = mlflow_stack.call("POST", f"{API}/webhooks", "bob", {"name": "x", "url": "http://x"})
    assert reply.status_code == 403
    reply = mlflow_stack.call("GET", "/ajax-api/3.0/mlflow/gateway/secrets/list", "bob")
    assert reply.status_code == 403
