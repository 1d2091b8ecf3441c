"""Every route the server has is behind authentication, and every route has exactly one rule.

The routes are read from the installed MLflow's own application (FastAPI routers and the
mounted Flask app) by the gate's own route index, so a route added by an MLflow upgrade is
probed without editing this test, and is refused until podlab_mlflow/rules.py names it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import requests

from podlab_mlflow.rules import TABLE, Access

ENUMERATE = r"""
import json, os, warnings
warnings.simplefilter("ignore")
os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
from podlab_mlflow.routes import RouteIndex
print(json.dumps(RouteIndex.from_mlflow().endpoints()))
"""


@pytest.fixture(scope="module")
def routes() -> list[tuple[str, str, str]]:
    out = subprocess.run(
        [sys.executable, "-c", ENUMERATE], capture_output=True, text=True, check=True, timeout=180
    ).stdout
    found = [tuple(item) for item in json.loads(out.strip().splitlines()[-1])]
    assert len(found) > 300, "MLflow's route table looks empty: the enumeration is broken"
    return found


def _concrete(path: str) -> str:
    path = re.sub(r"<path:[^>]+>|\{[^}]+:path\}", "a/b", path)
    return re.sub(r"<[^>]+>|\{[^}]+\}", "x1", path)


def test_every_route_has_a_rule(routes):
    """Deny by default is a promise only if the table is complete for this MLflow."""
    missing = sorted(
        {f"{key}  ({method} {template})" for method, template, key in routes if key not in TABLE}
    )
    assert not missing, "MLflow routes without a rule in podlab_mlflow/rules.py:\n" + "\n".join(
        missing
    )


def test_every_rule_names_a_route(routes):
    """A rule for an endpoint MLflow renamed would silently guard nothing."""
    keys = {key for _, _, key in routes}
    assert set(TABLE) - keys == set()


def test_only_health_is_public(routes):
    public = {key for key, rule in TABLE.items() if rule.access is Access.PUBLIC}
    assert public == {"asgi:server_info_api.health", "flask:health"}


def test_every_route_requires_a_token(mlflow_stack, routes):
    unauthenticated = []
    for method, path, _ in routes:
        url = mlflow_stack.url + _concrete(path)
        for headers in ({}, {"Authorization": "Bearer not-a-hub-token"}):
            reply = requests.request(method, url, headers=headers, timeout=30)
            if path == "/health":
                assert reply.status_code == 200
            elif reply.status_code != 401:
                unauthenticated.append(f"{method} {path} -> {reply.status_code}")
    assert not unauthenticated, "routes answering without a valid token:\n" + "\n".join(
        unauthenticated
    )


def test_an_unknown_endpoint_is_refused_after_authentication(mlflow_stack):
    for method, path in [
        ("POST", "/api/2.0/mlflow/runs/log-everything"),
        ("GET", "/api/9.9/mlflow/runs/get"),
        ("DELETE", "/api/2.0/mlflow/runs/get"),
    ]:
        reply = mlflow_stack.call(method, path, "alice")
        assert reply.status_code == 404, (path, reply.text)
        assert reply.json()["error_code"] == "ENDPOINT_NOT_FOUND"
