"""The decision for one request: may this user do what MLflow is about to do, and how.

`decide` runs in a worker thread (it reads the database) once per request, after the body has
been parsed with MLflow's parser. It applies the request's rule from `podlab_mlflow.rules` to
the values the handler will use and returns a `Plan`: forward unchanged, forward a corrected
message (the run's user), record the creator of a new object from MLflow's answer, or check
the artifact key again when a download fails. Refusals are raised as `Denied` with a message
that says who may do it instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Request

from podlab_mlflow.errors import Denied, bad_request, forbidden, not_found, not_implemented
from podlab_mlflow.hubauth import HubUser
from podlab_mlflow.messages import encode, first_arg, first_field
from podlab_mlflow.owners import (
    DATASET,
    EXPERIMENT,
    LOGGED_MODEL,
    REGISTERED_MODEL,
    TRACE,
    OwnerStore,
    RunFacts,
)
from podlab_mlflow.paths import join_key, relative_path_problem
from podlab_mlflow.routes import Route
from podlab_mlflow.rules import Access, ArtifactAt, Rule, Source
from podlab_mlflow.storage import (
    artifact_location_problem,
    key_of_uri,
    model_source_problem,
)

MLFLOW_USER = "mlflow.user"
MPU_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
"""MLflow's client falls back to a plain upload when the refusal starts with these words."""

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
_TRACE_ID = re.compile(r"^tr-[0-9a-f]{32}$")


@dataclass
class Plan:
    """What the gate does around MLflow for an allowed request."""

    body: bytes | None = None  # forward this instead of the received body
    record: tuple[str, tuple[str, ...]] | None = None  # (kind, JSON path of the new key)
    renamed: tuple[str, str] | None = None  # registered model (old, new) on success
    deleted: str | None = None  # registered model forgotten on success
    artifact_key: str | None = None  # the store key a download reads (404 when missing)
    owned: list[tuple[str, str]] = field(default_factory=list)  # (kind, key) new on success


@dataclass(frozen=True)
class Call:
    """The facts of one request the rule is applied to."""

    route: Route
    rule: Rule
    user: HubUser
    message: Any  # the parsed protobuf message (None for GET and non-REST routes)
    request: Request  # for query parameters, parsed as Werkzeug parses them
    presigned_urls: bool
    trace_ids: tuple[str, ...] = ()  # the traces an OTLP export writes (podlab_mlflow.otlp)


def _value(req: Call, source: Source) -> str:
    if source.where == "body":
        return first_field(req.message, source.names) if req.message is not None else ""
    if source.where == "url":
        return str(req.route.params.get(source.names[0], ""))
    return first_arg(req.request, source.names)


def _required(req: Call, source: Source) -> str:
    value = _value(req, source)
    if not value:
        where = "in the request body" if source.where == "body" else "as a parameter"
        raise bad_request(f"{_name(req)}: {' or '.join(source.names)} is required {where}")
    return value


def _name(req: Call) -> str:
    return req.route.key.removeprefix("mlflow.").removeprefix("flask:").removeprefix("asgi:")


def decide(req: Call, owners: OwnerStore) -> Plan:
    rule, user = req.rule, req.user
    if rule.direct_storage and not req.presigned_urls:
        raise _direct_storage_refusal(req)
    plan = Plan()
    if rule.artifact is not None:
        plan.artifact_key = _artifact_key(req, rule.artifact, owners)
    access = rule.access
    if access in (Access.PUBLIC, Access.SIGNED_IN, Access.SERVER_INFO, Access.ARTIFACT_READ):
        return plan
    if access is Access.ADMIN:
        if not user.admin:
            raise forbidden(
                f"{_name(req)} changes server-wide configuration or uses the server's own "
                "credentials: only MLflow admins may call it (a token with the scope "
                "custom:mlflow-admin)"
            )
        return plan
    if access is Access.ARTIFACT_WRITE:
        assert plan.artifact_key is not None
        _check_artifact_write(plan.artifact_key, user, owners)
        return plan
    return _OBJECT_RULES[access](req, owners, plan)


# -- creating things -------------------------------------------------------------------------
def _create_experiment(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    if problem := artifact_location_problem(req.message.artifact_location):
        raise bad_request(f"CreateExperiment: {problem}")
    plan.record = (EXPERIMENT, ("experiment_id",))
    return plan


def _create_registered_model(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    plan.record = (REGISTERED_MODEL, ("registered_model", "name"))
    return plan


def _create_run(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    """The run's user is the caller, whatever `user_id` or `mlflow.user` tag was sent."""
    from mlflow.protos.service_pb2 import RunTag

    message = req.message
    message.user_id = req.user.name
    kept = [tag for tag in message.tags if tag.key != MLFLOW_USER]
    del message.tags[:]
    message.tags.extend([*kept, RunTag(key=MLFLOW_USER, value=req.user.name)])
    plan.body = encode(message)
    return plan


def _create_logged_model(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    source_run = req.message.source_run_id
    if source_run:
        _require_run_owner(req, owners, source_run, "log a model from")
    plan.record = (LOGGED_MODEL, ("model", "info", "model_id"))
    return plan


def _create_model_version(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    if not _is_prompt_version(req.message) and (
        problem := model_source_problem(req.message.source)
    ):
        raise bad_request(f"CreateModelVersion: {problem}")
    return _registered_model(req, owners, plan)


def _is_prompt_version(message: Any) -> bool:
    """A prompt version (mlflow.genai.register_prompt, the UI): MLflow takes it for a prompt as
    its handler does and then accepts only its own placeholder sources, which name no
    location, so nothing is ever read or written through them."""
    from mlflow.prompt.constants import _PROMPT_SOURCE_PLACEHOLDERS
    from mlflow.server.handlers import _is_prompt_request

    is_prompt = _is_prompt_request(message)  # type: ignore[no-untyped-call]
    return bool(is_prompt) and message.source in _PROMPT_SOURCE_PLACEHOLDERS


def _create_trace(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    """A new trace becomes the caller's; spans or a trace info sent for an existing trace
    (the client sends both for each of its traces) need that trace to be the caller's."""
    if req.route.key == "mlflow.StartTrace":  # v2: the server picks the id
        plan.record = (TRACE, ("trace_info", "request_id"))
        return plan
    if req.route.key == "mlflow.StartTraceV3":
        trace_id = req.message.trace.trace_info.trace_id
        if not trace_id:
            raise bad_request("StartTraceV3: trace.trace_info.trace_id is required")
        ids: tuple[str, ...] = (trace_id,)
    else:
        ids = req.trace_ids
    for trace_id in ids:
        if _trace_owner(req, owners, trace_id, missing_ok=True) is None:
            plan.owned.append((TRACE, trace_id))
    return plan


def _create_dataset(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    plan.record = (DATASET, ("dataset", "dataset_id"))
    return plan


# -- changing things -------------------------------------------------------------------------
def _require_run_owner(req: Call, owners: OwnerStore, run_id: str, verb: str) -> RunFacts:
    run = owners.run(run_id)
    if run is None:
        raise not_found(f"Run with id={run_id} not found")
    if run.owner != req.user.name and not req.user.admin:
        raise forbidden(
            f"Run {run_id} belongs to {run.owner!r}: only its owner or an MLflow admin may "
            f"{verb} it. Start a run of your own (mlflow.start_run())."
        )
    return run


def _run(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    assert req.rule.target is not None
    run = _require_run_owner(req, owners, _required(req, req.rule.target), "change")
    message, key = req.message, req.route.key
    if key == "mlflow.DeleteTag" and message.key == MLFLOW_USER:
        raise forbidden("mlflow.user is recorded by the server and cannot be deleted")
    stamped = False
    if key == "mlflow.SetTag" and message.key == MLFLOW_USER and message.value != run.owner:
        message.value, stamped = run.owner, True
    if key == "mlflow.LogBatch":
        for tag in message.tags:
            if tag.key == MLFLOW_USER and tag.value != run.owner:
                tag.value, stamped = run.owner, True
    if stamped:
        plan.body = encode(message)
    return plan


def _grantable(req: Call, owners: OwnerStore, kind: str, key: str, *, owner_only: bool) -> None:
    what = "experiment" if kind == EXPERIMENT else "registered model"
    standing = owners.standing(kind, key, req.user.name)
    if not standing.exists:
        raise not_found(f"No {what} {key!r}")
    user = req.user
    if user.admin or standing.owner == user.name or (standing.editor and not owner_only):
        return
    if standing.owner is None:
        raise forbidden(
            f"The {what} {key!r} has no recorded owner (created before podlab, or by MLflow "
            "itself): only MLflow admins may change it, or give it an owner"
        )
    may = "its owner" if owner_only else "its owner, users it was granted to,"
    raise forbidden(
        f"The {what} {key!r} belongs to {standing.owner!r}: only {may} or an MLflow admin may "
        f"{_name(req)}. Ask {standing.owner!r} to grant you access "
        "(POST /podlab/api/1.0/grants, see docs/security.md)."
    )


def _experiment(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    assert req.rule.target is not None
    owner_only = req.rule.access is Access.EXPERIMENT_OWNER
    _grantable(req, owners, EXPERIMENT, _required(req, req.rule.target), owner_only=owner_only)
    return plan


def _registered_model(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    assert req.rule.target is not None
    name = _required(req, req.rule.target)
    owner_only = req.rule.access is Access.REGISTERED_MODEL_OWNER
    _grantable(req, owners, REGISTERED_MODEL, name, owner_only=owner_only)
    if req.route.key == "mlflow.RenameRegisteredModel" and req.message.new_name:
        plan.renamed = (name, req.message.new_name)
    if req.route.key == "mlflow.DeleteRegisteredModel":
        plan.deleted = name
    return plan


def _logged_model(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    assert req.rule.target is not None
    model_id = _required(req, req.rule.target)
    url_id = req.route.params.get("model_id")
    if url_id and url_id != model_id:
        raise bad_request(
            f"{_name(req)}: the model_id in the URL ({url_id}) and in the body ({model_id}) "
            "differ; send the same id in both"
        )
    model = owners.logged_model(model_id)
    if model is None:
        raise not_found(f"Logged model with id={model_id} not found")
    if model.owner != req.user.name and not req.user.admin:
        whose = f"belongs to {model.owner!r}" if model.owner else "has no recorded owner"
        raise forbidden(
            f"Logged model {model_id} {whose}: only its owner or an MLflow admin may change it"
        )
    return plan


def _trace_owner(req: Call, owners: OwnerStore, trace_id: str, *, missing_ok: bool) -> str | None:
    """The owner of an existing trace the caller may change; None when there is no trace."""
    trace = owners.trace(trace_id)
    if trace is None:
        if missing_ok:
            return None
        raise not_found(f"Trace with id={trace_id} not found")
    if trace.owner != req.user.name and not req.user.admin:
        whose = f"belongs to {trace.owner!r}" if trace.owner else "has no recorded owner"
        raise forbidden(
            f"Trace {trace_id} {whose}: only its owner or an MLflow admin may change it, its "
            "tags or its assessments. Log a trace of your own (@mlflow.trace)."
        )
    return trace.owner or ""


def _trace(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    assert req.rule.target is not None
    _trace_owner(req, owners, _required(req, req.rule.target), missing_ok=False)
    return plan


def _dataset(req: Call, owners: OwnerStore, plan: Plan) -> Plan:
    assert req.rule.target is not None
    dataset_id = _required(req, req.rule.target)
    dataset = owners.dataset(dataset_id)
    if dataset is None:
        raise not_found(f"Evaluation dataset with id={dataset_id} not found")
    if dataset.owner != req.user.name and not req.user.admin:
        whose = f"belongs to {dataset.owner!r}" if dataset.owner else "has no recorded owner"
        raise forbidden(
            f"Evaluation dataset {dataset_id} {whose}: only its owner or an MLflow admin may "
            "change it. Create a dataset of your own (mlflow.genai.datasets.create_dataset)."
        )
    return plan


_OBJECT_RULES = {
    Access.CREATE_EXPERIMENT: _create_experiment,
    Access.CREATE_REGISTERED_MODEL: _create_registered_model,
    Access.CREATE_RUN: _create_run,
    Access.CREATE_LOGGED_MODEL: _create_logged_model,
    Access.CREATE_MODEL_VERSION: _create_model_version,
    Access.CREATE_TRACE: _create_trace,
    Access.CREATE_DATASET: _create_dataset,
    Access.RUN: _run,
    Access.EXPERIMENT: _experiment,
    Access.EXPERIMENT_OWNER: _experiment,
    Access.REGISTERED_MODEL: _registered_model,
    Access.REGISTERED_MODEL_OWNER: _registered_model,
    Access.LOGGED_MODEL: _logged_model,
    Access.TRACE: _trace,
    Access.DATASET: _dataset,
}


# -- artifacts -------------------------------------------------------------------------------
def _direct_storage_refusal(req: Call) -> Denied:
    if req.route.key == "mlflow.artifacts.CreateMultipartUpload":
        return not_implemented(
            f"{MPU_UNSUPPORTED}: podlab's server keeps every artifact on its authenticated "
            "proxy (PODLAB_MLFLOW_PRESIGNED_URLS=false), so the client uploads through it"
        )
    return not_implemented(
        "Presigned bucket URLs are disabled on this server (PODLAB_MLFLOW_PRESIGNED_URLS=false): "
        "artifacts go through the server; unset MLFLOW_ENABLE_PROXY_MULTIPART_* in the client"
    )


def _outside(what: str, uri: str) -> Denied:
    return forbidden(
        f"The artifacts of {what} are stored at {uri!r}, outside this server's artifact store: "
        "the server reads and writes only its own store. Ask an admin to move them."
    )


def _artifact_key(req: Call, at: ArtifactAt, owners: OwnerStore) -> str | None:
    """The store key the handler will use, after checking the path is written canonically."""
    path = _value(req, at.path)
    if problem := relative_path_problem(path, allow_empty=not at.path_required):
        raise bad_request(f"Invalid artifact path {path!r}: it {problem}")
    if at.base == "checked":
        return None
    if at.base == "proxy":
        return path
    assert at.owner is not None
    subject = _required(req, at.owner)
    if at.base in ("run", "run-upload"):
        run = owners.run(subject)
        if run is None:
            raise not_found(f"Run with id={subject} not found")
        root = key_of_uri(run.artifact_uri)
        if root is None:
            raise _outside(f"run {subject}", run.artifact_uri)
        if at.base == "run-upload":  # MLflow's upload-artifact ignores the run's root
            root = f"{run.experiment_id}/{run.run_id}/artifacts"
        return join_key(root, path)
    if at.base == "logged-model":
        model = owners.logged_model(subject)
        if model is None:
            raise not_found(f"Logged model with id={subject} not found")
        root = key_of_uri(model.artifact_location)
        if root is None:
            raise _outside(f"logged model {subject}", model.artifact_location)
        return join_key(root, path)
    assert at.version is not None
    version = _required(req, at.version)
    location = owners.model_version_location(subject, version)
    if location is None:
        raise not_found(f"Model version {subject!r} version {version!r} not found")
    root = key_of_uri(location)
    if root is not None:
        return join_key(root, path)
    if location.startswith(("runs:/", "models:/")):
        return None  # MLflow resolves these to runs and logged models of this store
    raise _outside(f"model version {subject}/{version}", location)


def _check_artifact_write(key: str, user: HubUser, owners: OwnerStore) -> None:
    """Writes need every folder the key is inside to be the user's (or an admin)."""
    parts = key.split("/")
    claims: list[tuple[str, str | None]] = []
    for i, segment in enumerate(parts[:-1]):
        if parts[i + 1] != "artifacts":
            continue
        folder = "/".join(parts[: i + 2])
        if _RUN_ID.match(segment):
            run = owners.run(segment)
            default = f"{run.experiment_id}/{run.run_id}/artifacts" if run else None
            if run is not None and folder in (key_of_uri(run.artifact_uri), default):
                claims.append((f"run {segment}", run.owner))
        elif i > 0 and parts[i - 1] == "models" and _MODEL_ID.match(segment):
            model = owners.logged_model(segment)
            if model is not None and key_of_uri(model.artifact_location) == folder:
                claims.append((f"logged model {segment}", model.owner))
        elif i > 0 and parts[i - 1] == "traces" and _TRACE_ID.match(segment):
            trace = owners.trace(segment)
            if trace is not None:
                claims.append((f"trace {segment}", trace.owner))
    if user.admin:
        return
    if not claims:
        raise forbidden(
            f"Artifact path {key!r} is not inside the artifact folder of a run, logged model or "
            "trace: only MLflow admins may write there. Log artifacts to your own run "
            "(mlflow.log_artifact) instead."
        )
    for what, owner in claims:
        if owner != user.name:
            whose = f"belong to {owner!r}" if owner else "have no recorded owner"
            raise forbidden(
                f"The artifacts of {what} {whose}: only its owner or an MLflow admin may write, "
                "replace or delete them"
            )
