# The production hub configuration: everything comes from the podlab config file.
#
#   PODLAB_CONFIG            the podlab config (default /etc/podlab/podlab.yaml): a podlab.yaml
#                            or chart values with a `podlab:` section
#   PODLAB_USER_SERVICE_ACCOUNT_ANNOTATIONS
#                            optional JSON object: annotations of every user's ServiceAccount
#                            (the chart's singleuser.serviceAccount.annotations)
#   PODLAB_HUB_CONFIG_DIR    optional *.py snippets loaded last, in name order (default
#                            /etc/podlab/jupyterhub_config.d): authenticator, database URL and
#                            other deployment settings the chart renders
#
# An invalid podlab config stops the hub before it does anything, with one line per problem
# naming the field, the bad value and what is allowed (the same text as `podlab validate`).
import os
import sys
from pathlib import Path

from podlab.config import ConfigError, load_config
from podlab.k8s import service_account_annotations_from_env
from podlab.kubespawner_config import configure_kubespawner

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
try:
    c.PodlabKubeSpawner.user_service_account_annotations = service_account_annotations_from_env(
        os.environ
    )
except ValueError as err:
    sys.exit(f"JupyterHub refuses to start: {err}")
c.Authenticator.admin_users = set(podlab_config.admin_users)

# -- idle culling (podlab.culling) ------------------------------------------------------------
# The culler service and its role; it only stops servers (never users or home volumes).
from podlab.culling import configure_culling  # noqa: E402

if not isinstance(c.JupyterHub.get("services"), list):
    c.JupyterHub.services = []
if not isinstance(c.JupyterHub.get("load_roles"), list):
    c.JupyterHub.load_roles = []
configure_culling(c, podlab_config, PODLAB_CONFIG)

# -- deployment snippets -----------------------------------------------------------------------
_snippets = Path(os.environ.get("PODLAB_HUB_CONFIG_DIR", "/etc/podlab/jupyterhub_config.d"))
if _snippets.is_dir():
    for _snippet in sorted(_snippets.glob("*.py")):
        load_subconfig(str(_snippet))  # type: ignore[name-defined]  # noqa: F821
