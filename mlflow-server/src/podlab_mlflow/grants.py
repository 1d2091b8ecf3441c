"""podlab's own small API on the MLflow server: who may edit an experiment or registered model.

MLflow has no owners, so the model is podlab's (docs/security.md, "Registry and experiments"):
every signed-in user reads everything; the creator owns an experiment or registered model;
the owner (or an MLflow admin) may grant other users `edit` (everything but deleting, restoring
and managing grants), revoke it, or hand the object to another owner. Requests use the same
token as MLflow's API:

    GET    /podlab/api/1.0/grants?kind=registered_model&key=NAME
    POST   /podlab/api/1.0/grants   {"kind": ..., "key": ..., "user": "bob"}
    DELETE /podlab/api/1.0/grants   {"kind": ..., "key": ..., "user": "bob"}
    PUT    /podlab/api/1.0/owner    {"kind": ..., "key": ..., "owner": "carol"}
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from podlab_mlflow.errors import Denied, bad_request, forbidden, not_found
from podlab_mlflow.hubauth import HubUser
from podlab_mlflow.owners import EXPERIMENT, GRANTABLE, OwnerStore

PREFIX = "/podlab/api/1.0/"
GRANTS_PATH = PREFIX + "grants"
OWNER_PATH = PREFIX + "owner"
PERMISSIONS = ("edit",)
MAX_NAME = 256


def is_grants_path(path: str) -> bool:
    return path.startswith(PREFIX)


def _text(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise bad_request(
            f"{field!r} is required: a non-empty string of at most {MAX_NAME} characters"
        )
    return value.strip()


def _object(data: dict[str, Any]) -> tuple[str, str]:
    kind = data.get("kind")
    if kind not in GRANTABLE:
        raise bad_request(f"'kind' must be one of {', '.join(GRANTABLE)} (got {kind!r})")
    return str(kind), _text(data, "key")


def _what(kind: str, key: str) -> str:
    return f"{'experiment' if kind == EXPERIMENT else 'registered model'} {key!r}"


def _managed(owners: OwnerStore, user: HubUser, kind: str, key: str) -> str | None:
    """The object's owner, after checking it exists and that `user` may manage its grants."""
    standing = owners.standing(kind, key, user.name)
    if not standing.exists:
        raise not_found(f"No {_what(kind, key)}")
    if not user.admin and standing.owner != user.name:
        owner = f"{standing.owner!r}" if standing.owner else "nobody (only admins)"
        raise forbidden(
            f"Only the owner of the {_what(kind, key)} ({owner}) or an MLflow admin may "
            "manage who edits it"
        )
    return standing.owner


def handle(
    method: str, path: str, query: dict[str, str], raw: bytes, user: HubUser, owners: OwnerStore
) -> tuple[int, dict[str, Any]]:
    """Answer one grants API request (runs in a worker thread: it uses the database)."""
    if path == GRANTS_PATH and method == "GET":
        kind, key = _object(query)
        standing = owners.standing(kind, key, user.name)
        if not standing.exists:
            raise not_found(f"No {_what(kind, key)}")
        grants = [asdict(g) for g in owners.grants(kind, key)]
        return 200, {"kind": kind, "key": key, "owner": standing.owner, "grants": grants}
    try:
        data = json.loads(raw or b"{}")
    except ValueError as err:
        raise bad_request(f"the request body is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise bad_request("the request body must be a JSON object")
    if path == GRANTS_PATH and method == "POST":
        kind, key = _object(data)
        grantee = _text(data, "user")
        permission = data.get("permission", "edit")
        if permission not in PERMISSIONS:
            raise bad_request(f"'permission' must be one of {', '.join(PERMISSIONS)}")
        owner = _managed(owners, user, kind, key)
        if grantee == owner:
            raise bad_request(f"{grantee!r} already owns the {_what(kind, key)}")
        owners.grant(kind, key, grantee, str(permission), user.name)
        return 200, {"kind": kind, "key": key, "user": grantee, "permission": permission}
    if path == GRANTS_PATH and method == "DELETE":
        kind, key = _object(data)
        grantee = _text(data, "user")
        if grantee != user.name:  # anyone may give up their own grant
            _managed(owners, user, kind, key)
        if not owners.revoke(kind, key, grantee):
            raise not_found(f"{grantee!r} holds no grant on the {_what(kind, key)}")
        return 200, {}
    if path == OWNER_PATH and method == "PUT":
        kind, key = _object(data)
        new_owner = _text(data, "owner")
        _managed(owners, user, kind, key)
        owners.record(kind, key, new_owner)
        owners.revoke(kind, key, new_owner)  # an owner needs no grant
        return 200, {"kind": kind, "key": key, "owner": new_owner}
    raise Denied(
        404,
        "ENDPOINT_NOT_FOUND",
        f"{method} {path} is not part of podlab's API: use {GRANTS_PATH} (GET, POST, DELETE) "
        f"or {OWNER_PATH} (PUT)",
    )
