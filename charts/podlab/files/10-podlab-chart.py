# Rendered into the hub ConfigMap by the podlab chart and loaded last by the hub's
# jupyterhub_config.py (PODLAB_HUB_CONFIG_DIR). Plain JupyterHub settings come from the
# command line (the hub Deployment's args); this snippet does what a command line cannot:
# register the MLflow server as the hub service "mlflow" (OAuth at /services/mlflow/).
# Values arrive as environment variables, so no value is ever pasted into Python source.
import os

c = get_config()  # type: ignore[name-defined]  # noqa: F821 (provided by traitlets)

if os.environ.get("PODLAB_MLFLOW_SERVICE_URL"):
    c.JupyterHub.services.append(
        {
            "name": "mlflow",
            "url": os.environ["PODLAB_MLFLOW_SERVICE_URL"],
            # The OAuth client secret of browser logins; token checks need no scope.
            "api_token": os.environ["PODLAB_MLFLOW_API_TOKEN"],
            "oauth_no_confirm": True,
        }
    )
