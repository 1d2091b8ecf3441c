"""How JupyterHub knows podlab's MLflow server: one definition for the chart and `make up`.

The MLflow server accepts a hub token only when the token's own scopes allow it
(`access:services!service=mlflow`), and treats it as an admin token only when it carries
`custom:mlflow-admin` (mlflow-server/src/podlab_mlflow/hubauth.py). Everything that hands out
those scopes is here, and both the chart's hub (hub/jupyterhub_config.py) and
the local platform (podlab.localstack) call `configure`:

- the service `mlflow` with OAuth, whose browser tokens may carry the admin scope;
- the `user` role: `self` plus access to the service (so every user can log in and use it);
- the `mlflow-admin` role: the admin scope, for the hub's admin users and admin groups;
- the scopes of each server's `JUPYTERHUB_API_TOKEN`, which podlab pods use as
  `MLFLOW_TRACKING_TOKEN`: JupyterHub's default server scopes plus the two above (a token gets
  only what its user holds, so only admins' servers get the admin scope).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SERVICE_NAME = "mlflow"
ACCESS_SCOPE = f"access:services!service={SERVICE_NAME}"
ADMIN_SCOPE = "custom:mlflow-admin"
ADMIN_ROLE = "mlflow-admin"
DEFAULT_SERVER_SCOPES = ("users:activity!user", "access:servers!server")


def service_entry(url: str, api_token: str) -> dict[str, Any]:
    """The `c.JupyterHub.services` entry: an external service with OAuth for browser logins."""
    return {
        "name": SERVICE_NAME,
        "api_token": api_token,
        "url": url,
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [ADMIN_SCOPE],
    }


def user_role() -> dict[str, Any]:
    """Every user may use MLflow (API and browser login)."""
    return {"name": "user", "scopes": ["self", ACCESS_SCOPE]}


def admin_role(users: Iterable[str], groups: Iterable[str] = ()) -> dict[str, Any]:
    """MLflow admins: may change anyone's experiments, runs and models, and server settings."""
    return {
        "name": ADMIN_ROLE,
        "description": "Administer podlab's MLflow server",
        "scopes": [ADMIN_SCOPE, ACCESS_SCOPE],
        "users": sorted(set(users)),
        "groups": sorted(set(groups)),
    }


def server_token_scopes() -> list[str]:
    return [*DEFAULT_SERVER_SCOPES, ACCESS_SCOPE, ADMIN_SCOPE]


def configure(
    c: Any,
    *,
    url: str,
    api_token: str,
    admin_users: Iterable[str],
    admin_groups: Iterable[str] = (),
) -> None:
    """Register the MLflow service, its roles, its custom scope and the server token scopes.

    Only appends and updates, after configure_culling has set the lists (its service and
    role stay); in a sub-config the lists are traitlets' lazy values, which append too.
    """
    hub = c.JupyterHub
    hub.custom_scopes.update({ADMIN_SCOPE: {"description": "Administer podlab's MLflow server"}})
    hub.services.append(service_entry(url, api_token))
    hub.load_roles.append(user_role())
    hub.load_roles.append(admin_role(admin_users, admin_groups))
    c.Spawner.server_token_scopes = server_token_scopes()
