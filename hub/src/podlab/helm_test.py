"""What `helm test` may do in the hub: one service token, scoped to one test user.

The chart's test pod proves an installed release end to end as a user would use it: the hub
API answers a scoped token (and refuses what the scope does not cover), the test user's
server is spawned and reached through the proxy, and MLflow answers that token on its API and
its UI (the access every user gets). The token is a JupyterHub service `podlab-helm-test`
whose role covers exactly the user `podlab-helm-test`, which the same role assignment creates
when the hub starts. It is not an admin and cannot reach any other user. MLflow accepts the
tokens of users only, so the test asks the hub for a short-lived token of its test user,
scoped to the mlflow service (what every user may do), and calls MLflow with that.

The hub's configuration (hub/jupyterhub_config.py) calls `configure` when
the hub Secret holds a `helm-test-token`; the test pod's program is
charts/podlab/files/helm-test.py (standard library only: it runs in the hub image).
"""

from __future__ import annotations

from typing import Any

from podlab.mlflow_service import ACCESS_SCOPE

SERVICE = "podlab-helm-test"
USER = "podlab-helm-test"
SCOPES = [
    f"read:users!user={USER}",
    f"servers!user={USER}",
    f"access:servers!user={USER}",
    f"tokens!user={USER}",
    ACCESS_SCOPE,
]


def configure(c: Any, token: str) -> None:
    """Register the test service with its token, its role, and the test user."""
    c.JupyterHub.services.append({"name": SERVICE, "api_token": token})
    c.JupyterHub.load_roles.append(
        {
            "name": SERVICE,
            "description": "helm test: spawn and reach the one test user's server",
            "scopes": SCOPES,
            "services": [SERVICE],
        }
    )
    # A role assignment creates its users: the test user exists from the first hub start.
    c.JupyterHub.load_roles.append({"name": f"{SERVICE}-user", "scopes": ["self"], "users": [USER]})
