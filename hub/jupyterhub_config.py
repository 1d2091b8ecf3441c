# The production hub configuration: everything comes from the podlab config file, the one
# route for what podlab decides (as z2jh's values reach its hub through one mounted file).
#
#   PODLAB_CONFIG            the podlab config (default /etc/podlab/podlab.yaml): a podlab.yaml
#                            or chart values with a `podlab:` section
#   PODLAB_MLFLOW_SERVICE_URL, PODLAB_MLFLOW_API_TOKEN, PODLAB_MLFLOW_ADMIN_GROUPS
#                            optional: register the MLflow server as the hub service "mlflow"
#                            (the chart sets them when mlflow.enabled; the token is a Secret)
#   PODLAB_HELM_TEST_TOKEN   optional: the scoped service `helm test` uses (podlab.helm_test)
#   PODLAB_HUB_CONFIG_DIR    optional *.py snippets loaded last, in name order (default
#                            /etc/podlab/jupyterhub_config.d; the chart mounts none)
#
# Plain JupyterHub settings (authenticator, database URL, proxy) come from the command line
# (the chart's hub Deployment args). An invalid podlab config stops the hub before it does
# anything, with one line per problem naming the field, the bad value and what is allowed
# (the same text as `podlab validate`).
import json
import os
import sys
from pathlib import Path

from podlab import helm_test
from podlab.config import ConfigError, load_config
from podlab.culling import configure_culling
from podlab.kubespawner_config import configure_kubespawner
from podlab.mlflow_service import configure as configure_mlflow

c = get_config()  # type: ignore[name-defined]  # noqa: F821 (provided by traitlets)

PODLAB_CONFIG = os.environ.get("PODLAB_CONFIG", "/etc/podlab/podlab.yaml")
try:
    podlab_config = load_config(PODLAB_CONFIG)
except ConfigError as err:
    sys.exit(
        f"JupyterHub refuses to start: {err}\n"
        f"Fix {PODLAB_CONFIG} (check it with `podlab validate {PODLAB_CONFIG}`), then start "
        "the hub again."
    )

configure_kubespawner(c, podlab_config)
c.Authenticator.admin_users = set(podlab_config.admin_users)

# -- hub services ------------------------------------------------------------------------------
# The idle culler (it only stops servers, never users or home volumes). It sets
# c.JupyterHub.services and load_roles, which the services below add to.
configure_culling(c, podlab_config, PODLAB_CONFIG)

if os.environ.get("PODLAB_MLFLOW_SERVICE_URL"):
    # The service (OAuth client secret = its token), the users' and admins' roles and the
    # scopes of user servers' tokens: one definition, shared with `make up`.
    configure_mlflow(
        c,
        url=os.environ["PODLAB_MLFLOW_SERVICE_URL"],
        api_token=os.environ["PODLAB_MLFLOW_API_TOKEN"],
        admin_users=podlab_config.admin_users,
        admin_groups=json.loads(os.environ.get("PODLAB_MLFLOW_ADMIN_GROUPS") or "[]"),
    )

if os.environ.get("PODLAB_HELM_TEST_TOKEN"):
    # helm test's service: one token, scoped to the one test user it spawns.
    helm_test.configure(c, os.environ["PODLAB_HELM_TEST_TOKEN"])

# -- deployment snippets -----------------------------------------------------------------------
_snippets = Path(os.environ.get("PODLAB_HUB_CONFIG_DIR", "/etc/podlab/jupyterhub_config.d"))
if _snippets.is_dir():
    for _snippet in sorted(_snippets.glob("*.py")):
        load_subconfig(str(_snippet))  # type: ignore[name-defined]  # noqa: F821
