"""No token, a garbage token or a revoked one: 401 everywhere but /health."""

from __future__ import annotations

import re
import time

import pytest
import requests

PROBES = [
    ("GET", "/api/2.0/mlflow/experiments/search?max_results=1"),
    ("POST", "/api/2.0/mlflow/runs/search"),
    ("GET", "/ajax-api/2.0/mlflow/experiments/search?max_results=1"),
    ("GET", "/"),  # the UI
    ("GET", "/static-files/index.html"),
    ("GET", "/version"),
    ("GET", "/graphql"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"),
    ("GET", "/services/mlflow/"),  # the UI under the hub service prefix
]


@pytest.mark.parametrize(("method", "path"), PROBES)
@pytest.mark.parametrize("header", [None, "Bearer garbage", "token garbage", "Basic !!"])
def test_bad_or_missing_token_is_401_json(mlflow_stack, method, path, header):
    headers = {"Authorization": header} if header else {}
    reply = requests.request(method, mlflow_stack.url + path, headers=headers, timeout=30)
    assert reply.status_code == 401, reply.text
    assert reply.json()["error_code"] == "UNAUTHENTICATED"
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_health_is_open(mlflow_stack):
    assert requests.get(mlflow_stack.url + "/health", timeout=10).text == "OK"


@pytest.mark.parametrize("scheme", ["Bearer", "token", "bearer"])
def test_valid_token_in_either_scheme(mlflow_stack, scheme):
    reply = requests.get(
        mlflow_stack.url + "/api/2.0/mlflow/experiments/search",
        params={"max_results": 1},
        headers={"Authorization": f"{scheme} {mlflow_stack.tokens['alice']}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text


def test_revoked_token_is_refused_after_the_cache_ttl(mlflow_stack):
    hub = mlflow_stack.hub
    token, token_id = hub.user_token("carol")
    url = mlflow_stack.url + "/api/2.0/mlflow/experiments/search?max_results=1"
    auth = {"Authorization": f"Bearer {token}"}
    assert requests.get(url, headers=auth, timeout=30).status_code == 200
    hub.revoke_token("carol", token_id)
    time.sleep(mlflow_stack.server.token_cache_ttl + 0.5)
    for path in ("/api/2.0/mlflow/experiments/search?max_results=1", "/"):
        reply = requests.get(mlflow_stack.url + path, headers=auth, timeout=30)
        assert reply.status_code == 401, reply.text
        assert "revoked" in reply.json()["message"]


def _login(hub) -> requests.Session:
    browser = requests.Session()
    browser.headers["Accept"] = "text/html"
    page = browser.get(f"{hub.url}/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    form = {"username": "alice", "password": hub.password}
    if xsrf:
        form["_xsrf"] = xsrf.group(1)
    browser.post(f"{hub.url}/hub/login", data=form, timeout=30)
    return browser


def test_browser_login_through_jupyterhub_oauth(mlflow_stack):
    """A browser with no token is sent to the hub's OAuth and comes back logged in."""
    hub = mlflow_stack.hub
    with _login(hub) as browser:
        first = browser.get(f"{hub.url}/services/mlflow/", allow_redirects=False, timeout=30)
        assert first.status_code == 302
        assert "/hub/api/oauth2/authorize" in first.headers["Location"]
        final = browser.get(f"{hub.url}/services/mlflow/", timeout=60)
        assert final.status_code == 200, final.text[:500]
        assert final.url.rstrip("/").endswith("/services/mlflow")
        assert "<html" in final.text.lower()
        # The session cookie also authenticates the UI's own API calls.
        api = browser.get(
            f"{hub.url}/services/mlflow/ajax-api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            headers={"Accept": "application/json"},
            timeout=30,
        )
        assert api.status_code == 200, api.text


EVIL_TARGETS = [
    "//evil.example/x",
    "/\\evil.example",
    "/\t/evil.example",
    "https://evil.example/",
    "/services/mlflow//evil.example",
    "/services/mlflow/../../hub/admin",
    "/hub/admin",
    "/services/mlflow/#frag",
]


KEPT = "/services/mlflow/static-files/index.html?x=1"


@pytest.mark.parametrize(
    ("evil", "expected"),
    [(KEPT, KEPT), *[(evil, "/services/mlflow/") for evil in EVIL_TARGETS]],
)
def test_the_oauth_callback_never_redirects_off_the_service(mlflow_stack, evil, expected):
    """Even with a forged state cookie, the callback sends the browser to this service only
    (the first case proves the forged cookie is what the callback reads)."""
    from urllib.parse import quote, unquote

    hub = mlflow_stack.hub
    with _login(hub) as browser:
        start = browser.get(f"{hub.url}/services/mlflow/", allow_redirects=False, timeout=30)
        assert start.status_code == 302
        cookie = next(c for c in browser.cookies if c.name == "podlab-mlflow-oauth-state")
        state = unquote(cookie.value or "").partition("|")[0]
        browser.cookies.set(
            cookie.name, quote(f"{state}|{evil}", safe=""), domain=cookie.domain, path=cookie.path
        )
        authorize = start.headers["Location"]
        if authorize.startswith("/"):
            authorize = hub.url + authorize
        callback = browser.get(authorize, allow_redirects=False, timeout=30)
        while (
            callback.status_code in (301, 302, 303)
            and "oauth_callback" not in callback.headers["Location"]
        ):
            location = callback.headers["Location"]
            callback = browser.get(
                location if location.startswith("http") else hub.url + location,
                allow_redirects=False,
                timeout=30,
            )
        location = callback.headers["Location"]
        final = browser.get(
            location if location.startswith("http") else hub.url + location,
            allow_redirects=False,
            timeout=30,
        )
    assert final.status_code == 302, final.text[:300]
    assert final.headers["Location"] == expected


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/services/mlflow/", True),
        ("/services/mlflow/static-files/index.html?x=1", True),
        ("/services/mlflow/%23not-a-fragment", True),
        *[(evil, False) for evil in EVIL_TARGETS],
        ("/services/mlflow/\\evil", False),
        ("/services/mlflow/\r\nSet-Cookie: x=1", False),
    ],
)
def test_safe_target(target, kept):
    from podlab_mlflow.oauth import safe_target

    assert safe_target(target, "/services/mlflow/") == (target if kept else "/services/mlflow/")


def test_a_browser_path_with_a_backslash_is_refused_before_login(mlflow_stack):
    reply = requests.get(
        f"{mlflow_stack.url}/%5Cevil.example",
        headers={"Accept": "text/html"},
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 400
    assert "backslash" in reply.json()["message"] or "%5C" in reply.json()["message"]
