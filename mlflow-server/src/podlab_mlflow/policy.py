"""Which rule guards a request: one table for every MLflow route, read by the auth layer.

MLflow serves the same endpoint under several prefixes (`/api/2.0/mlflow/`, `/ajax-api/2.0/
mlflow/`, `/api/2.0/preview/mlflow/`, `/api/3.0/mlflow/`, ...), so requests are reduced to
their endpoint (`runs/log-batch`) first and the table is written once, in docs/security.md's
words. Anything not named is a plain authenticated write: the restrictive rules are listed,
and the route-coverage test proves that no route escapes authentication.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import unquote


class Rule(enum.Enum):
    PUBLIC = "public"  # /health only
    READ = "read"  # any authenticated user
    WRITE = "write"  # any authenticated user
    ADMIN = "admin"  # hub admins only (server-wide configuration, secrets, jobs)
    CREATE_RUN = "create-run"  # any user; mlflow.user is set to the caller
    CREATE_EXPERIMENT = "create-experiment"  # any user; the caller becomes the owner
    CREATE_MODEL = "create-model"  # any user; the caller becomes the owner
    RUN_OWNER = "run-owner"  # the run's user (or an admin)
    EXPERIMENT_OWNER = "experiment-owner"
    MODEL_OWNER = "model-owner"  # the registered model's owner, for the model and its versions
    ARTIFACT_READ = "artifact-read"
    ARTIFACT_WRITE = "artifact-write"  # into a run's or logged model's folder: its owner


@dataclass(frozen=True)
class Decision:
    rule: Rule
    endpoint: str = ""  # e.g. "runs/log-batch" (empty for non-API routes)
    artifact_path: str | None = None  # proxied-artifact path from the URL, if any


API = re.compile(r"^/(?:ajax-)?api/[23]\.0/?(?:preview/)?mlflow/(?P<endpoint>.+?)/?$")
ARTIFACTS = re.compile(
    r"^/(?:ajax-)?api/2\.0/mlflow-artifacts/"
    r"(?P<op>artifacts|mpu/create|mpu/complete|mpu/abort|presigned)(?:/(?P<path>.*))?$"
)
PUBLIC_PATHS = frozenset({"/health"})
RUN_OWNER = frozenset(
    {
        "runs/update",
        "runs/delete",
        "runs/restore",
        "runs/set-tag",
        "runs/delete-tag",
        "runs/log-metric",
        "runs/log-parameter",
        "runs/log-batch",
        "runs/log-model",
        "runs/log-inputs",
        "runs/outputs",
        "upload-artifact",  # ids in the query; the body is the file
    }
)
EXPERIMENT_OWNER = frozenset(
    {
        "experiments/delete",
        "experiments/restore",
        "experiments/update",
        "experiments/set-experiment-tag",
        "experiments/delete-experiment-tag",
    }
)
MODEL_OWNER = frozenset(
    {
        "registered-models/delete",
        "registered-models/rename",
        "registered-models/update",
        "registered-models/set-tag",
        "registered-models/delete-tag",
        "registered-models/alias",
        "model-versions/delete",
        "model-versions/update",
        "model-versions/transition-stage",
        "model-versions/set-tag",
        "model-versions/delete-tag",
    }
)
CREATE = {
    "runs/create": Rule.CREATE_RUN,
    "experiments/create": Rule.CREATE_EXPERIMENT,
    "registered-models/create": Rule.CREATE_MODEL,
}
# Server-wide configuration and things that spend the server's credentials: admins only.
ADMIN_WRITE_PREFIXES = (
    "gateway/",
    "gateway-proxy",
    "webhooks",
    "workspaces",
    "demo/",
    "jobs",
    "prompt-optimization/",
    "scorer/invoke",
    "genai/evaluate/invoke",
    "runs/create-promptlab-run",  # takes its user from the request body
    "artifacts/presigned-upload-url",  # direct bucket access, bypassing the proxy
    "assistant/",  # runs tools on the server host
    "mcp-servers",
)
# Writes outside the /api/<v>/mlflow/ tree that are admin-only.
ADMIN_WRITE_PATHS = ("/ajax-api/3.0/jobs",)
ADMIN_READ_PREFIXES = ("gateway/secrets/", "gateway-proxy", "webhooks")
# POST endpoints that only read.
READ_BY_POST = re.compile(
    r"(^|/)(search|search-[a-z-]+|get|get-[a-z-]+|list|list-[a-z-]+|batchGet|batchGetInfos"
    r"|calculate-filter-correlation|metrics)$"
)
# Query parameters that name an artifact path somewhere in MLflow's routes.
PATH_PARAMS = ("path", "artifact_path", "artifact_file_path")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def classify(method: str, path: str) -> Decision:
    """The rule for a request (path already stripped of the hub service prefix)."""
    method = method.upper()
    if path in PUBLIC_PATHS:
        return Decision(Rule.PUBLIC)
    if match := ARTIFACTS.match(path):
        op, artifact_path = match.group("op"), match.group("path") or ""
        if op in ("artifacts", "presigned") and method in READ_METHODS:
            return Decision(Rule.ARTIFACT_READ, artifact_path=artifact_path)
        return Decision(Rule.ARTIFACT_WRITE, artifact_path=artifact_path)
    if path in ("/get-artifact", "/model-versions/get-artifact"):
        return Decision(Rule.ARTIFACT_READ, endpoint=path.lstrip("/"))
    match = API.match(path)
    if match is None:
        if method not in READ_METHODS and path.startswith(ADMIN_WRITE_PATHS):
            return Decision(Rule.ADMIN)
        # UI pages, static files, /version, /graphql (queries only), OTLP ingest, MCP.
        return Decision(Rule.READ if method in READ_METHODS or path == "/graphql" else Rule.WRITE)
    endpoint = match.group("endpoint")
    if method in READ_METHODS:
        if endpoint in RUN_OWNER:
            return Decision(Rule.RUN_OWNER, endpoint)
        if endpoint.startswith(ADMIN_READ_PREFIXES):
            return Decision(Rule.ADMIN, endpoint)
        return Decision(Rule.READ, endpoint)
    if endpoint in CREATE:
        return Decision(CREATE[endpoint], endpoint)
    if endpoint in RUN_OWNER:
        return Decision(Rule.RUN_OWNER, endpoint)
    if endpoint in EXPERIMENT_OWNER:
        return Decision(Rule.EXPERIMENT_OWNER, endpoint)
    if endpoint in MODEL_OWNER:
        return Decision(Rule.MODEL_OWNER, endpoint)
    if endpoint.startswith(ADMIN_WRITE_PREFIXES):
        return Decision(Rule.ADMIN, endpoint)
    if READ_BY_POST.search(endpoint):
        return Decision(Rule.READ, endpoint)
    return Decision(Rule.WRITE, endpoint)


PRESIGNED = re.compile(
    r"^/(?:ajax-)?api/2\.0/mlflow-artifacts/(presigned|mpu)/|/artifacts/presigned-upload-url$"
)
SERVER_INFO = re.compile(r"^/(?:ajax-)?api/3\.0/mlflow/server-info/?$")
# server-info keys that make clients move artifacts directly to/from the bucket.
DIRECT_S3_CAPABILITIES = (
    "multipart_uploads_enabled",
    "multipart_downloads_enabled",
    "presigned_upload_run_id_supported",
    "presigned_upload_model_id_supported",
)


def fully_unquote(value: str, rounds: int = 4) -> str:
    """Percent-decode until stable, so %252e%252e is seen as `..` too."""
    for _ in range(rounds):
        decoded = unquote(value)
        if decoded == value:
            break
        value = decoded
    return value


def unsafe_path_reason(value: str) -> str | None:
    """Why an artifact path would escape its root, or None when it is a plain relative path."""
    decoded = fully_unquote(value)
    if "\x00" in decoded:
        return "contains a NUL byte"
    if "\\" in decoded:
        return "contains a backslash"
    if decoded.startswith("/"):
        return "is absolute"
    if re.match(r"^[A-Za-z]:", decoded) or "://" in decoded:
        return "names a drive or a URL"
    if any(part == ".." for part in decoded.split("/")):
        return "contains '..'"
    return None


# Artifact layouts under the destination: <experiment>/<run id>/... for runs and
# <experiment>/models/<model id>/... for MLflow 3 logged models.
RUN_ARTIFACT = re.compile(r"^(?P<experiment>[0-9]+)/(?P<run>[0-9a-f]{32})(/|$)")
MODEL_ARTIFACT = re.compile(r"^(?P<experiment>[0-9]+)/models/(?P<model>[^/]+)(/|$)")
