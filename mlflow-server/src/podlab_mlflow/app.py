"""The ASGI application each uvicorn worker runs: MLflow's own app behind podlab's gate.

`podlab-mlflow serve` has already checked settings and schema and exported MLflow's server
variables before uvicorn imports this module, so here nothing can be misconfigured any more;
the stores are opened at import time so the first request does not pay for it.
"""

from __future__ import annotations

import logging

from podlab_mlflow.gate import ASGIApp, PodlabGate
from podlab_mlflow.hubauth import HubAuthenticator
from podlab_mlflow.owners import OwnerStore
from podlab_mlflow.routes import RouteIndex
from podlab_mlflow.settings import load_settings
from podlab_mlflow.storage import ArtifactStore

_logger = logging.getLogger(__name__)


def create_app() -> ASGIApp:
    """uvicorn factory (`uvicorn --factory podlab_mlflow.app:create_app`)."""
    settings = load_settings()
    from mlflow.server import handlers
    from mlflow.server.fastapi_app import app as mlflow_app

    handlers._get_tracking_store()
    handlers._get_model_registry_store()
    authenticator = HubAuthenticator(
        settings.hub_api_url, settings.hub_api_token, settings.token_cache_ttl
    )
    owners = OwnerStore(settings.database_url)
    routes = RouteIndex.from_mlflow()
    store = ArtifactStore(settings.artifacts_destination, settings.s3_endpoint_url)
    _logger.info("podlab MLflow gate ready (hub %s)", settings.hub_api_url)
    return PodlabGate(mlflow_app, settings, authenticator, owners, routes, store)
