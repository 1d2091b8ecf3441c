"""JupyterHub fixture: the API answers through the real proxy, and the admin token works."""

from __future__ import annotations

from importlib.metadata import version


def test_hub_api_answers_with_version_through_the_proxy(jupyterhub):
    status, body = jupyterhub.api("GET", "/", token=None)
    assert status == 200
    assert body["version"] == version("jupyterhub")


def test_admin_service_token_can_manage_users(jupyterhub):
    status, _ = jupyterhub.api("POST", "/users/support-alice", body={"admin": False})
    assert status in (201, 409)
    status, users = jupyterhub.api("GET", "/users")
    assert status == 200
    assert "support-alice" in {u["name"] for u in users}
    token, token_id = jupyterhub.user_token("support-alice")
    status, me = jupyterhub.api("GET", "/user", token=token)
    assert (status, me["name"]) == (200, "support-alice")
    jupyterhub.revoke_token("support-alice", token_id)
    status, _ = jupyterhub.api("GET", "/user", token=token)
    assert status in (401, 403)


def test_requests_without_a_token_are_refused(jupyterhub):
    status, _ = jupyterhub.api("GET", "/users", token=None)
    assert status in (401, 403)
