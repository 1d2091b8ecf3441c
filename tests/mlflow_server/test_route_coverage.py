"""Every route the server has is behind authentication, and every rule names a real route.

The routes are read from the installed MLflow's own application (FastAPI routers and the
mounted Flask app), so a route added by an MLflow upgrade is probed without editing this test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import requests

from podlab_mlflow import policy

ENUMERATE = r"""
import json, os, warnings
warnings.simplefilter("ignore")
os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
from mlflow.server import app as flask_app
from mlflow.server.fastapi_app import app
routes = []
for route in app.routes:
    ctx = getattr(route, "include_context", None)
    inner = ctx.included_router.routes if ctx is not None else [route]
    prefix = ctx.prefix if ctx is not None else ""
    for r in inner:
        if getattr(r, "path", None):
            routes.append([prefix + r.path, sorted(getattr(r, "methods", None) or ["GET"])])
for rule in flask_app.url_map.iter_rules():
    routes.append([rule.rule, sorted(rule.methods - {"HEAD", "OPTIONS"})])
print(json.dumps(routes))
"""


def _server_routes() -> list[tuple[str, str]]:
    out = subprocess.run(
        [sys.executable, "-c", ENUMERATE], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    pairs = set()
    for path, methods in json.loads(out.strip().splitlines()[-1]):
        for method in methods:
            pairs.add((path, method))
    return sorted(pairs)


def _concrete(path: str) -> str:
    path = re.sub(r"<path:[^>]+>|\{[^}]+:path\}", "a/b", path)
    return re.sub(r"<[^>]+>|\{[^}]+\}", "x1", path)


@pytest.fixture(scope="module")
def routes():
    found = _server_routes()
    assert len(found) > 300, "MLflow's route table looks empty: the enumeration is broken"
    return found


def test_every_route_requires_a_token(mlflow_stack, routes):
    unauthenticated = []
    for path, method in routes:
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


def test_every_restricted_endpoint_exists(routes):
    """A rule for an endpoint MLflow renamed would silently guard nothing."""
    endpoints = set()
    for path, _ in routes:
        if match := policy.API.match(path):
            endpoints.add(match.group("endpoint"))
    named = policy.RUN_OWNER | policy.EXPERIMENT_OWNER | policy.MODEL_OWNER | set(policy.CREATE)
    assert named - endpoints == set()


def test_owner_rules_apply_under_every_api_prefix(routes):
    for path, method in routes:
        match = policy.API.match(path)
        if match and match.group("endpoint") in policy.MODEL_OWNER and method != "GET":
            assert policy.classify(method, _concrete(path)).rule is policy.Rule.MODEL_OWNER
