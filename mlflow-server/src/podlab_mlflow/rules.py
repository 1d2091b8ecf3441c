"""The gate's table: one rule per MLflow endpoint, and nothing passes that is not in it.

Keys are the endpoint keys of `podlab_mlflow.routes` (the protobuf request message for MLflow's
REST API, `flask:<view>` and `asgi:<module>.<function>` for the rest). An endpoint that is not
listed is refused (deny by default): an MLflow upgrade that adds a route adds nothing reachable
until a rule is written here, and `tests/mlflow_server/test_route_coverage.py` lists every
route without one. Each rule also says where the handler reads the id it acts on (body field,
URL parameter or query parameter, in the handler's own order), so the check and the action
look at the same value. docs/security.md describes this table in words.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Access(enum.Enum):
    """Who may call an endpoint; `WHO` says it in the words of docs/security.md."""

    PUBLIC = enum.auto()
    SIGNED_IN = enum.auto()
    ADMIN = enum.auto()
    SERVER_INFO = enum.auto()
    CREATE_EXPERIMENT = enum.auto()
    CREATE_REGISTERED_MODEL = enum.auto()
    CREATE_RUN = enum.auto()
    CREATE_LOGGED_MODEL = enum.auto()
    CREATE_MODEL_VERSION = enum.auto()
    CREATE_TRACE = enum.auto()
    CREATE_DATASET = enum.auto()
    RUN = enum.auto()
    EXPERIMENT = enum.auto()
    EXPERIMENT_OWNER = enum.auto()
    REGISTERED_MODEL = enum.auto()
    REGISTERED_MODEL_OWNER = enum.auto()
    LOGGED_MODEL = enum.auto()
    TRACE = enum.auto()
    DATASET = enum.auto()
    ARTIFACT_READ = enum.auto()
    ARTIFACT_WRITE = enum.auto()


WHO = {
    Access.PUBLIC: "anyone",
    Access.SIGNED_IN: "any signed-in user",
    Access.ADMIN: "MLflow admins",
    Access.SERVER_INFO: "any signed-in user (direct-storage capabilities hidden)",
    Access.CREATE_EXPERIMENT: "any signed-in user; becomes the experiment's owner",
    Access.CREATE_REGISTERED_MODEL: "any signed-in user; becomes the model's owner",
    Access.CREATE_RUN: "any signed-in user; becomes the run's owner",
    Access.CREATE_LOGGED_MODEL: "any signed-in user; becomes the logged model's owner",
    Access.CREATE_MODEL_VERSION: "the registered model's owner, editors and admins",
    Access.CREATE_TRACE: "any signed-in user; becomes the owner of each new trace (adding to "
    "an existing trace: its owner and admins)",
    Access.CREATE_DATASET: "any signed-in user; becomes the evaluation dataset's owner",
    Access.RUN: "the run's owner and admins",
    Access.EXPERIMENT: "the experiment's owner, editors and admins",
    Access.EXPERIMENT_OWNER: "the experiment's owner and admins",
    Access.REGISTERED_MODEL: "the registered model's owner, editors and admins",
    Access.REGISTERED_MODEL_OWNER: "the registered model's owner and admins",
    Access.LOGGED_MODEL: "the logged model's owner and admins",
    Access.TRACE: "the trace's owner and admins",
    Access.DATASET: "the evaluation dataset's owner and admins",
    Access.ARTIFACT_READ: "any signed-in user",
    Access.ARTIFACT_WRITE: "the owner of every run, logged model or trace folder holding the key",
}


@dataclass(frozen=True)
class Source:
    """Where the handler reads a value: the first non-empty of `names`."""

    where: str  # "body" (the parsed message), "url" (a path parameter) or "query"
    names: tuple[str, ...]


def body(*names: str) -> Source:
    return Source("body", names)


def url(name: str) -> Source:
    return Source("url", (name,))


def query(*names: str) -> Source:
    return Source("query", names)


@dataclass(frozen=True)
class ArtifactAt:
    """Where an artifact request lands: a key of the artifact store, found as MLflow finds it.

    base: "proxy" (the path is already the key), "run" (below the run's artifact root),
    "run-upload" (MLflow's upload-artifact: <experiment>/<run>/artifacts/<path>),
    "logged-model" (below its artifact location), "model-version" (below its download URI),
    "checked" (only the path's spelling is checked: MLflow resolves it itself).
    """

    base: str
    path: Source
    owner: Source | None = None
    version: Source | None = None
    path_required: bool = False
    listing: bool = False  # a folder listing: a failure is not "the file is missing"


@dataclass(frozen=True)
class Rule:
    access: Access
    target: Source | None = None
    artifact: ArtifactAt | None = None
    direct_storage: bool = False  # presigned/multipart: only with PODLAB_MLFLOW_PRESIGNED_URLS


RUN_ID = body("run_id", "run_uuid")
EXPERIMENT_ID = body("experiment_id")
MODEL_NAME = body("name")
PROXY_PATH = url("artifact_path")

_SIGNED_IN = Rule(Access.SIGNED_IN)
_ADMIN = Rule(Access.ADMIN)


def _all(rule: Rule, *keys: str) -> dict[str, Rule]:
    return dict.fromkeys(keys, rule)


TABLE: dict[str, Rule] = {
    # -- open -----------------------------------------------------------------------------
    "asgi:server_info_api.health": Rule(Access.PUBLIC),
    "flask:health": Rule(Access.PUBLIC),
    "asgi:server_info_api.get_server_info": Rule(Access.SERVER_INFO),
    "flask:_get_server_info": Rule(Access.SERVER_INFO),
    # -- the UI and reads: every signed-in user --------------------------------------------
    **_all(
        _SIGNED_IN,
        "flask:serve",
        "flask:static",
        "flask:serve_static_file",
        "flask:version",
        "flask:_graphql",
        "flask:serve_get_ui_telemetry",
        "flask:serve_post_ui_telemetry",
        "flask:serve_get_metric_history_bulk",
        "flask:serve_search_datasets",
        "flask:_list_supported_models",
        "flask:_list_supported_providers",
        "flask:_get_provider_config",
        "flask:_get_secrets_config",
        "flask:_get_online_scoring_configs",
        "flask:_get_job",
        "asgi:job_api.get_job",
        "asgi:job_api.search_jobs",
        "mlflow.GetExperiment",
        "mlflow.GetExperimentByName",
        "mlflow.SearchExperiments",
        "mlflow.GetRun",
        "mlflow.SearchRuns",
        "mlflow.GetMetricHistory",
        "mlflow.GetMetricHistoryBulkInterval",
        "mlflow.GetRegisteredModel",
        "mlflow.SearchRegisteredModels",
        "mlflow.GetLatestVersions",
        "mlflow.GetModelVersion",
        "mlflow.SearchModelVersions",
        "mlflow.GetModelVersionDownloadUri",
        "mlflow.GetModelVersionByAlias",
        "mlflow.GetLoggedModel",
        "mlflow.SearchLoggedModels",
        "mlflow.SearchDatasets",
        "mlflow.SearchEvaluationDatasets",
        "mlflow.GetDataset",
        "mlflow.GetDatasetExperimentIds",
        "mlflow.GetDatasetRecords",
        "mlflow.GetTrace",
        "mlflow.GetTraceInfo",
        "mlflow.GetTraceInfoV3",
        "mlflow.SearchTraces",
        "mlflow.SearchTracesV3",
        "mlflow.SearchUnifiedTraces",
        "mlflow.BatchGetTraces",
        "mlflow.BatchGetTraceInfos",
        "mlflow.CalculateTraceFilterCorrelation",
        "mlflow.QueryTraceMetrics",
        "mlflow.GetOnlineTraceDetails",
        "mlflow.GetAssessmentRequest",
        "mlflow.GetScorer",
        "mlflow.ListScorers",
        "mlflow.ListScorerVersions",
        "mlflow.GetPromptOptimizationJob",
        "mlflow.SearchPromptOptimizationJobs",
        "mlflow.GetGatewayEndpoint",
        "mlflow.ListGatewayEndpoints",
        "mlflow.GetGatewayModelDefinition",
        "mlflow.ListGatewayModelDefinitions",
        "mlflow.ListGatewayEndpointBindings",
        "mlflow.ListEndpointGuardrailConfigs",
        "mlflow.GetGatewayBudgetPolicy",
        "mlflow.ListGatewayBudgetPolicies",
        "mlflow.ListGatewayBudgetWindows",
        "mlflow.ListWorkspaces",
        "mlflow.GetWorkspace",
        "mlflow.issues.GetIssue",
        "mlflow.issues.SearchIssues",
        "mlflow.label_schemas.GetLabelSchema",
        "mlflow.label_schemas.GetLabelSchemaByName",
        "mlflow.label_schemas.ListLabelSchemas",
        "mlflow.review_queues.GetReviewQueue",
        "mlflow.review_queues.GetReviewQueueByName",
        "mlflow.review_queues.ListReviewQueues",
        "mlflow.review_queues.ListReviewQueueItems",
        "asgi:mcp_server_api.get_mcp_access_endpoint",
        "asgi:mcp_server_api.get_mcp_server",
        "asgi:mcp_server_api.get_mcp_server_version",
        "asgi:mcp_server_api.get_version_by_alias",
        "asgi:mcp_server_api.search_all_access_endpoints",
        "asgi:mcp_server_api.search_mcp_server_versions",
        "asgi:mcp_server_api.search_mcp_servers",
        "asgi:mcp_server_api.search_server_access_endpoints",
    ),
    # -- writes open to every signed-in user: review tools and gateway invocations have no
    #    owner in MLflow (docs/security.md, "Known limits") -----------------------------------
    **_all(
        _SIGNED_IN,
        "mlflow.issues.CreateIssue",
        "mlflow.issues.UpdateIssue",
        "mlflow.label_schemas.CreateLabelSchema",
        "mlflow.label_schemas.UpdateLabelSchema",
        "mlflow.label_schemas.DeleteLabelSchema",
        "mlflow.review_queues.CreateReviewQueue",
        "mlflow.review_queues.UpdateReviewQueue",
        "mlflow.review_queues.DeleteReviewQueue",
        "mlflow.review_queues.GetOrCreateUserQueue",
        "mlflow.review_queues.AddItemsToReviewQueue",
        "mlflow.review_queues.RemoveItemsFromReviewQueue",
        "mlflow.review_queues.SetReviewQueueItemStatus",
        "asgi:gateway_api.invocations",
        "asgi:gateway_api.chat_completions",
        "asgi:gateway_api.list_models",
        "asgi:gateway_api.anthropic_passthrough_messages",
        "asgi:gateway_api.gemini_passthrough_generate_content",
        "asgi:gateway_api.gemini_passthrough_stream_generate_content",
        "asgi:gateway_api.openai_passthrough_chat",
        "asgi:gateway_api.openai_passthrough_embeddings",
        "asgi:gateway_api.openai_passthrough_responses",
        "asgi:gateway_api.openai_passthrough_responses_compact",
        "asgi:gateway_api.raw_proxy",
        "asgi:gateway_api.typesafe_passthrough_system_one",
    ),
    # -- server-wide configuration, secrets, and work done with the server's credentials ----
    **_all(
        _ADMIN,
        "mlflow.CreateGatewaySecret",
        "mlflow.UpdateGatewaySecret",
        "mlflow.DeleteGatewaySecret",
        "mlflow.GetGatewaySecretInfo",
        "mlflow.ListGatewaySecretInfos",
        "mlflow.CreateGatewayEndpoint",
        "mlflow.UpdateGatewayEndpoint",
        "mlflow.DeleteGatewayEndpoint",
        "mlflow.CreateGatewayModelDefinition",
        "mlflow.UpdateGatewayModelDefinition",
        "mlflow.DeleteGatewayModelDefinition",
        "mlflow.AttachModelToGatewayEndpoint",
        "mlflow.DetachModelFromGatewayEndpoint",
        "mlflow.CreateGatewayEndpointBinding",
        "mlflow.DeleteGatewayEndpointBinding",
        "mlflow.SetGatewayEndpointTag",
        "mlflow.DeleteGatewayEndpointTag",
        "mlflow.CreateGatewayBudgetPolicy",
        "mlflow.UpdateGatewayBudgetPolicy",
        "mlflow.DeleteGatewayBudgetPolicy",
        "mlflow.CreateGatewayGuardrail",
        "mlflow.GetGatewayGuardrail",
        "mlflow.ListGatewayGuardrails",
        "mlflow.DeleteGatewayGuardrail",
        "mlflow.AddGuardrailToEndpoint",
        "mlflow.RemoveGuardrailFromEndpoint",
        "mlflow.UpdateEndpointGuardrailConfig",
        "flask:serve_gateway_proxy",
        "mlflow.CreateWebhook",
        "mlflow.UpdateWebhook",
        "mlflow.DeleteWebhook",
        "mlflow.GetWebhook",
        "mlflow.ListWebhooks",
        "mlflow.TestWebhook",
        "mlflow.CreateWorkspace",
        "mlflow.UpdateWorkspace",
        "mlflow.DeleteWorkspace",
        "mlflow.CreatePromptOptimizationJob",
        "mlflow.CancelPromptOptimizationJob",
        "mlflow.DeletePromptOptimizationJob",
        "asgi:job_api.submit_job",
        "asgi:job_api.cancel_job",
        "flask:_cancel_job",
        "flask:_invoke_scorer_handler",
        "flask:_invoke_genai_evaluate_handler",
        "flask:_invoke_issue_detection_handler",
        "flask:_upsert_online_scoring_config",
        "flask:_generate_demo",
        "flask:_delete_demo",
        "flask:serve_create_promptlab_run",
        "asgi:assistant.api.get_config",
        "asgi:assistant.api.update_config",
        "asgi:assistant.api.get_providers",
        "asgi:assistant.api.list_provider_models",
        "asgi:assistant.api.provider_health_check",
        "asgi:assistant.api.install_skills_endpoint",
        "asgi:assistant.api.send_message",
        "asgi:assistant.api.stream_response",
        "asgi:assistant.api.patch_session",
        "asgi:assistant.api.resolve_client_tool_result",
        "asgi:assistant.api.resolve_permission",
        "asgi:mcp_server_api.create_mcp_server",
        "asgi:mcp_server_api.update_mcp_server",
        "asgi:mcp_server_api.delete_mcp_server",
        "asgi:mcp_server_api.create_mcp_server_version",
        "asgi:mcp_server_api.update_mcp_server_version",
        "asgi:mcp_server_api.delete_mcp_server_version",
        "asgi:mcp_server_api.set_mcp_server_alias",
        "asgi:mcp_server_api.delete_mcp_server_alias",
        "asgi:mcp_server_api.set_mcp_server_tag",
        "asgi:mcp_server_api.delete_mcp_server_tag",
        "asgi:mcp_server_api.set_mcp_server_version_tag",
        "asgi:mcp_server_api.delete_mcp_server_version_tag",
        "asgi:mcp_server_api.create_mcp_access_endpoint",
        "asgi:mcp_server_api.update_mcp_access_endpoint",
        "asgi:mcp_server_api.delete_mcp_access_endpoint",
    ),
    "mlflow.CreatePresignedUploadUrl": Rule(Access.ADMIN, direct_storage=True),
    # -- experiments -------------------------------------------------------------------------
    "mlflow.CreateExperiment": Rule(Access.CREATE_EXPERIMENT),
    **_all(
        Rule(Access.EXPERIMENT, EXPERIMENT_ID),
        "mlflow.UpdateExperiment",
        "mlflow.SetExperimentTag",
        "mlflow.DeleteExperimentTag",
        "mlflow.RegisterScorer",
        "mlflow.DeleteScorer",
    ),
    **_all(
        Rule(Access.EXPERIMENT_OWNER, EXPERIMENT_ID),
        "mlflow.DeleteExperiment",
        "mlflow.RestoreExperiment",
        "mlflow.DeleteTraces",
        "mlflow.DeleteTracesV3",
    ),
    # -- runs --------------------------------------------------------------------------------
    "mlflow.CreateRun": Rule(Access.CREATE_RUN),
    **_all(
        Rule(Access.RUN, RUN_ID),
        "mlflow.UpdateRun",
        "mlflow.DeleteRun",
        "mlflow.RestoreRun",
        "mlflow.SetTag",
        "mlflow.DeleteTag",
        "mlflow.LogMetric",
        "mlflow.LogParam",
        "mlflow.LogBatch",
        "mlflow.LogModel",
        "mlflow.LogInputs",
        "mlflow.LogOutputs",
        "mlflow.LinkTracesToRun",
    ),
    # -- registered models and their versions ------------------------------------------------
    "mlflow.CreateRegisteredModel": Rule(Access.CREATE_REGISTERED_MODEL),
    "mlflow.CreateModelVersion": Rule(Access.CREATE_MODEL_VERSION, MODEL_NAME),
    **_all(
        Rule(Access.REGISTERED_MODEL, MODEL_NAME),
        "mlflow.UpdateRegisteredModel",
        "mlflow.RenameRegisteredModel",
        "mlflow.SetRegisteredModelTag",
        "mlflow.DeleteRegisteredModelTag",
        "mlflow.SetRegisteredModelAlias",
        "mlflow.DeleteRegisteredModelAlias",
        "mlflow.UpdateModelVersion",
        "mlflow.DeleteModelVersion",
        "mlflow.TransitionModelVersionStage",
        "mlflow.SetModelVersionTag",
        "mlflow.DeleteModelVersionTag",
    ),
    "mlflow.DeleteRegisteredModel": Rule(Access.REGISTERED_MODEL_OWNER, MODEL_NAME),
    # -- logged models (MLflow 3): the handlers read the id from the URL, except finalize ----
    "mlflow.CreateLoggedModel": Rule(Access.CREATE_LOGGED_MODEL),
    "mlflow.FinalizeLoggedModel": Rule(Access.LOGGED_MODEL, body("model_id")),
    **_all(
        Rule(Access.LOGGED_MODEL, url("model_id")),
        "mlflow.SetLoggedModelTags",
        "mlflow.DeleteLoggedModelTag",
        "mlflow.DeleteLoggedModel",
        "mlflow.LogLoggedModelParamsRequest",
    ),
    # -- traces (MLflow 3) and their assessments: the handlers read the id from the URL (v2
    #    calls it request_id); an OTLP export or StartTraceV3 names its traces in the body -----
    **_all(
        Rule(Access.CREATE_TRACE),
        "asgi:otel_api.export_traces",
        "mlflow.StartTrace",
        "mlflow.StartTraceV3",
    ),
    **_all(
        Rule(Access.TRACE, url("trace_id")),
        "mlflow.SetTraceTagV3",
        "mlflow.DeleteTraceTagV3",
        "mlflow.CreateAssessment",
        "mlflow.UpdateAssessment",
        "mlflow.DeleteAssessment",
    ),
    **_all(
        Rule(Access.TRACE, url("request_id")),
        "mlflow.EndTrace",
        "mlflow.SetTraceTag",
        "mlflow.DeleteTraceTag",
    ),
    "mlflow.LinkPromptsToTrace": Rule(Access.TRACE, body("trace_id")),
    # -- evaluation datasets: the handlers read the id from the URL ---------------------------
    "mlflow.CreateDataset": Rule(Access.CREATE_DATASET),
    **_all(
        Rule(Access.DATASET, url("dataset_id")),
        "mlflow.UpsertDatasetRecords",
        "mlflow.SetDatasetTags",
        "mlflow.DeleteDatasetTag",
        "mlflow.DeleteDataset",
        "mlflow.DeleteDatasetRecords",
        "mlflow.AddDatasetToExperiments",
        "mlflow.RemoveDatasetFromExperiments",
    ),
    # -- artifacts: decided on the key MLflow reads or writes --------------------------------
    **_all(
        Rule(Access.ARTIFACT_READ, artifact=ArtifactAt("proxy", PROXY_PATH)),
        "asgi:artifact_router.download_artifact",
        "mlflow.artifacts.DownloadArtifact",
    ),
    "mlflow.artifacts.ListArtifacts": Rule(
        Access.ARTIFACT_READ, artifact=ArtifactAt("proxy", query("path"), listing=True)
    ),
    **_all(
        Rule(Access.ARTIFACT_WRITE, artifact=ArtifactAt("proxy", PROXY_PATH, path_required=True)),
        "asgi:artifact_router.upload_artifact",
        "mlflow.artifacts.UploadArtifact",
        "mlflow.artifacts.DeleteArtifact",
    ),
    **_all(
        Rule(
            Access.ARTIFACT_WRITE,
            artifact=ArtifactAt("proxy", PROXY_PATH, path_required=True),
            direct_storage=True,
        ),
        "mlflow.artifacts.CreateMultipartUpload",
        "mlflow.artifacts.CompleteMultipartUpload",
        "mlflow.artifacts.AbortMultipartUpload",
    ),
    "mlflow.artifacts.GetPresignedDownloadUrl": Rule(
        Access.ARTIFACT_READ,
        artifact=ArtifactAt("proxy", PROXY_PATH, path_required=True),
        direct_storage=True,
    ),
    "mlflow.CreatePresignedDownloadUrl": Rule(
        Access.ARTIFACT_READ,
        artifact=ArtifactAt("run", body("path"), owner=body("run_id"), path_required=True),
        direct_storage=True,
    ),
    "flask:serve_artifacts": Rule(
        Access.ARTIFACT_READ,
        artifact=ArtifactAt(
            "run", query("path"), owner=query("run_id", "run_uuid"), path_required=True
        ),
    ),
    "mlflow.ListArtifacts": Rule(
        Access.ARTIFACT_READ,
        artifact=ArtifactAt("run", query("path"), owner=query("run_id", "run_uuid"), listing=True),
    ),
    "flask:serve_upload_artifact": Rule(
        Access.ARTIFACT_WRITE,
        artifact=ArtifactAt(
            "run-upload", query("path"), owner=query("run_uuid"), path_required=True
        ),
    ),
    "flask:serve_model_version_artifact": Rule(
        Access.ARTIFACT_READ,
        artifact=ArtifactAt(
            "model-version",
            query("path"),
            owner=query("name"),
            version=query("version"),
            path_required=True,
        ),
    ),
    "flask:serve_get_logged_model_artifact": Rule(
        Access.ARTIFACT_READ,
        artifact=ArtifactAt(
            "logged-model", query("artifact_file_path"), owner=url("model_id"), path_required=True
        ),
    ),
    "mlflow.ListLoggedModelArtifacts": Rule(
        Access.ARTIFACT_READ,
        artifact=ArtifactAt(
            "logged-model", query("artifact_directory_path"), owner=url("model_id"), listing=True
        ),
    ),
    "flask:serve_get_trace_artifact": Rule(
        Access.ARTIFACT_READ, artifact=ArtifactAt("checked", query("path"))
    ),
}


def rule_for(key: str) -> Rule | None:
    """The rule of an endpoint key; None means refused (not in the table)."""
    return TABLE.get(key)


_CREATES = (
    Access.CREATE_EXPERIMENT,
    Access.CREATE_REGISTERED_MODEL,
    Access.CREATE_RUN,
    Access.CREATE_LOGGED_MODEL,
    Access.CREATE_MODEL_VERSION,
    Access.CREATE_TRACE,
    Access.CREATE_DATASET,
)
_NO_DATABASE = (
    Access.PUBLIC,
    Access.SIGNED_IN,
    Access.SERVER_INFO,
    Access.ADMIN,
    Access.CREATE_EXPERIMENT,
    Access.CREATE_REGISTERED_MODEL,
    Access.CREATE_RUN,
    Access.CREATE_DATASET,
    Access.ARTIFACT_READ,
)


def _sources(rule: Rule) -> list[Source]:
    found = [rule.target] if rule.target else []
    if rule.artifact is not None:
        at = rule.artifact
        found += [s for s in (at.path, at.owner, at.version) if s is not None]
    return found


def reads_body(rule: Rule) -> bool:
    """Whether the decision needs the parsed message (creates, or an id from the body)."""
    return rule.access in _CREATES or any(s.where == "body" for s in _sources(rule))


def reads_database(rule: Rule) -> bool:
    """Whether the decision looks anything up (then it runs in a worker thread)."""
    if rule.artifact is not None and rule.artifact.base not in ("proxy", "checked"):
        return True
    return rule.access not in _NO_DATABASE
