# Rendered into the hub ConfigMap by the podlab chart and loaded last by the hub's
# jupyterhub_config.py (PODLAB_HUB_CONFIG_DIR). Plain JupyterHub settings come from the
# command line (the hub Deployment's args); this snippet does what a command line cannot:
# register the MLflow server as the hub service "mlflow" (OAuth at /services/mlflow/) with
# the roles and scopes of podlab.mlflow_service.
# Values arrive as environment variables, so no value is ever pasted into Python source.
import json
import os

from podlab import helm_test
from podlab.config import load_config
from podlab.mlflow_service import configure as configure_mlflow

c = get_config()  # type: ignore[name-defined]  # noqa: F821 (provided by traitlets)

if os.environ.get("PODLAB_MLFLOW_SERVICE_URL"):
    # The service (OAuth client secret = its token), the users' and admins' roles and the
    # scopes of user servers' tokens: one definition, shared with `make up`.
    configure_mlflow(
        c,
        url=os.environ["PODLAB_MLFLOW_SERVICE_URL"],
        api_token=os.environ["PODLAB_MLFLOW_API_TOKEN"],
        # This file is a sub-config: c.Authenticator.admin_users set by jupyterhub_config.py is
        # not visible here, so the admins come from the same podlab config it reads.
        admin_users=load_config(os.environ["PODLAB_CONFIG"]).admin_users,
        admin_groups=json.loads(os.environ.get("PODLAB_MLFLOW_ADMIN_GROUPS") or "[]"),
    )

if os.environ.get("PODLAB_HELM_TEST_TOKEN"):
    # helm test's service: one token, scoped to the one test user it spawns (podlab.helm_test).
    helm_test.configure(c, os.environ["PODLAB_HELM_TEST_TOKEN"])
