"""Owners, admins and explicit grants: the registry and experiment model of docs/security.md.

Every signed-in user reads everything. The creator owns an experiment or registered model;
the owner (or an MLflow admin) grants `edit` to other users through podlab's grants API; an
editor may change the object but not delete it or manage its grants; ownership follows a
rename, ends with a delete, and may be handed on.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.mlflow_server.stack_helpers import Stack, client_as

API = "/api/2.0/mlflow"
GRANTS = "/podlab/api/1.0/grants"
OWNER = "/podlab/api/1.0/owner"


def _things(stack: Stack, user: str = "alice") -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:8]
    with client_as(stack, user) as client:
        experiment = client.create_experiment(f"granted-{tag}")
        run_id = client.create_run(experiment).info.run_id
        model = f"granted-model-{tag}"
        client.create_registered_model(model)
        client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id)
    return experiment, model, run_id


def _set_tag(stack: Stack, user: str, model: str) -> Any:
    return stack.call(
        "POST", f"{API}/registered-models/set-tag", user, {"name": model, "key": "k", "value": user}
    )


def test_an_owner_grants_edit_and_takes_it_back(mlflow_stack):
    stack = mlflow_stack
    experiment, model, _ = _things(stack)
    listed = stack.call("GET", GRANTS, "bob", {"kind": "registered_model", "key": model})
    assert listed.status_code == 200, listed.text
    assert listed.json() == {
        "kind": "registered_model",
        "key": model,
        "owner": "alice",
        "grants": [],
    }
    assert _set_tag(stack, "bob", model).status_code == 403

    for kind, key in (("registered_model", model), ("experiment", experiment)):
        granted = stack.call("POST", GRANTS, "alice", {"kind": kind, "key": key, "user": "bob"})
        assert granted.status_code == 200, granted.text
    grants = stack.call("GET", GRANTS, "carol", {"kind": "registered_model", "key": model}).json()
    assert [(g["user"], g["permission"], g["granted_by"]) for g in grants["grants"]] == [
        ("bob", "edit", "alice")
    ]

    # An editor edits ...
    assert _set_tag(stack, "bob", model).status_code == 200
    alias = {"name": model, "alias": "prod", "version": "1"}
    assert stack.call("POST", f"{API}/registered-models/alias", "bob", alias).status_code == 200
    renamed = stack.call(
        "POST",
        f"{API}/experiments/update",
        "bob",
        {"experiment_id": experiment, "new_name": f"e-{model}"},
    )
    assert renamed.status_code == 200, renamed.text
    # ... but neither deletes nor hands out access.
    refused = [
        stack.call("DELETE", f"{API}/registered-models/delete", "bob", {"name": model}),
        stack.call("POST", f"{API}/experiments/delete", "bob", {"experiment_id": experiment}),
        stack.call(
            "POST", GRANTS, "bob", {"kind": "registered_model", "key": model, "user": "carol"}
        ),
    ]
    for reply in refused:
        assert reply.status_code == 403, reply.text
        assert "alice" in reply.json()["message"]

    # Bob may give his grant up; Alice may take Carol's away.
    stack.call("POST", GRANTS, "alice", {"kind": "registered_model", "key": model, "user": "carol"})
    dropped = stack.call(
        "DELETE", GRANTS, "bob", {"kind": "registered_model", "key": model, "user": "bob"}
    )
    assert dropped.status_code == 200, dropped.text
    revoked = stack.call(
        "DELETE", GRANTS, "alice", {"kind": "registered_model", "key": model, "user": "carol"}
    )
    assert revoked.status_code == 200, revoked.text
    assert _set_tag(stack, "bob", model).status_code == 403
    assert _set_tag(stack, "carol", model).status_code == 403


def test_grants_follow_a_rename_and_end_with_a_delete(mlflow_stack):
    stack = mlflow_stack
    _, model, _ = _things(stack)
    stack.call("POST", GRANTS, "alice", {"kind": "registered_model", "key": model, "user": "bob"})
    new = model + "-v2"
    assert (
        stack.call(
            "POST", f"{API}/registered-models/rename", "bob", {"name": model, "new_name": new}
        ).status_code
        == 200
    )
    assert _set_tag(stack, "bob", new).status_code == 200
    assert (
        stack.call("DELETE", f"{API}/registered-models/delete", "alice", {"name": new}).status_code
        == 200
    )
    # The name is free again: Carol's new model carries no grant of Bob's and no owner of Alice's.
    with client_as(stack, "carol") as client:
        client.create_registered_model(new)
    again = stack.call("GET", GRANTS, "bob", {"kind": "registered_model", "key": new}).json()
    assert again["owner"] == "carol"
    assert again["grants"] == []
    assert _set_tag(stack, "bob", new).status_code == 403


def test_ownership_is_handed_on_and_admins_adopt_unowned_things(mlflow_stack):
    stack = mlflow_stack
    _, model, _ = _things(stack)
    handed = stack.call(
        "PUT", OWNER, "alice", {"kind": "registered_model", "key": model, "owner": "carol"}
    )
    assert handed.status_code == 200, handed.text
    assert (
        stack.call(
            "DELETE", f"{API}/registered-models/delete", "alice", {"name": model}
        ).status_code
        == 403
    )
    # MLflow's own Default experiment has no owner: only an admin changes it, or adopts it.
    tag = {"experiment_id": "0", "key": "note", "value": "x"}
    assert (
        stack.call("POST", f"{API}/experiments/set-experiment-tag", "alice", tag).status_code == 403
    )
    adopted = stack.call(
        "PUT", OWNER, "admin", {"kind": "experiment", "key": "0", "owner": "alice"}
    )
    assert adopted.status_code == 200, adopted.text
    assert (
        stack.call("POST", f"{API}/experiments/set-experiment-tag", "alice", tag).status_code == 200
    )
    back = stack.call("PUT", OWNER, "alice", {"kind": "experiment", "key": "0", "owner": "admin"})
    assert back.status_code == 200


@pytest.mark.parametrize(
    ("method", "body", "status", "message"),
    [
        ("POST", {"kind": "run", "key": "x", "user": "bob"}, 400, "'kind' must be one of"),
        ("POST", {"kind": "experiment", "key": "x", "user": ""}, 400, "'user' is required"),
        ("POST", {"kind": "experiment", "key": "99999999", "user": "bob"}, 404, "No experiment"),
        ("POST", {"kind": "registered_model", "key": "no-such", "user": "b"}, 404, "No registered"),
        (
            "POST",
            {"kind": "experiment", "key": "0", "user": "b", "permission": "own"},
            400,
            "'permission'",
        ),
        ("PATCH", {}, 404, "is not part of podlab's API"),
    ],
)
def test_bad_grant_requests_say_what_is_wrong(mlflow_stack, method, body, status, message):
    reply = mlflow_stack.call(method, GRANTS, "admin", body)
    assert reply.status_code == status, reply.text
    assert message in reply.json()["message"]


def test_the_grants_api_needs_a_token(mlflow_stack):
    import requests

    reply = requests.get(
        mlflow_stack.url + GRANTS, params={"kind": "experiment", "key": "0"}, timeout=30
    )
    assert reply.status_code == 401
