"""The MLflow UI in a real browser under a public host name, through the hub's proxy.

Chromium resolves `podlab.test` to 127.0.0.1 (`--host-resolver-rules`), so the browser sends
`Host: podlab.test:<port>` and, on the UI's own POSTs, `Origin: http://podlab.test:<port>`:
what users see behind an Ingress. The server is configured as the chart configures it from
`proxy.publicUrl` (PODLAB_MLFLOW_ALLOWED_ORIGINS); the user logs in through the hub, the
OAuth login lands on the UI, and the UI's writes succeed. Another origin stays blocked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from podlab.localstack.jupyterhub import JupyterHubServer
from podlab.localstack.postgres import PostgresServer
from podlab.localstack.process import ComponentError, free_port
from podlab.localstack.s3 import S3Server
from tests.e2e.platform import ARGS, CHROMIUM
from tests.mlflow_server.stack_helpers import Stack, Template
from tests.support.podlab_mlflow import start_with_hub

PUBLIC_HOST = "podlab.test"


@pytest.fixture(scope="module")
def public_stack(
    make_jupyterhub: Callable[..., JupyterHubServer],
    postgres: PostgresServer,
    s3_server: S3Server,
    component_log_dir: Path,
    mlflow_template: Template,
) -> Iterator[tuple[Stack, str]]:
    port = free_port()
    public = f"http://{PUBLIC_HOST}:{port}"
    hub, server = start_with_hub(
        make_jupyterhub, postgres, s3_server, component_log_dir, "mlflowpublic",
        hub_options={"port": port},
        database_url=mlflow_template.clone("mlflow_public"),
        extra_env={"PODLAB_MLFLOW_ALLOWED_ORIGINS": public},
    )  # fmt: skip
    tokens = {name: hub.user_token(name)[0] for name in ("alice", "bob")}
    yield Stack(hub, server, tokens), public
    server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise ComponentError(
            "chromium", f"{CHROMIUM} not found", "run `make setup` as root (apt installs chromium)"
        )
    with sync_playwright() as playwright:
        args = [*ARGS, f"--host-resolver-rules=MAP {PUBLIC_HOST} 127.0.0.1"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()


def test_the_ui_works_under_the_public_host_name(public_stack, chromium, component_log_dir):
    stack, public = public_stack
    context = chromium.new_context()
    page = context.new_page()
    try:
        page.goto(f"{public}/hub/login", timeout=60_000)
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", stack.hub.password)
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url("**/hub/**", timeout=60_000)
        page.goto(f"{public}/services/mlflow/", timeout=60_000)
        page.wait_for_url(f"{public}/services/mlflow/**", timeout=60_000)
        page.get_by_text("Default", exact=False).first.wait_for(timeout=90_000)
        name = f"from-the-browser-{uuid.uuid4().hex[:6]}"
        created = page.evaluate(
            """async (name) => {
                const reply = await fetch("ajax-api/2.0/mlflow/experiments/create", {
                    method: "POST",
                    headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({name}),
                });
                return {status: reply.status, body: await reply.text()};
            }""",
            name,
        )
        page.screenshot(path=str(component_log_dir / "mlflow-public-host.png"))
    finally:
        context.close()
    assert created["status"] == 200, created["body"]
    experiment = json.loads(created["body"])["experiment_id"]
    owner = stack.call(
        "GET", "/podlab/api/1.0/grants", "bob", {"kind": "experiment", "key": experiment}
    ).json()["owner"]
    assert owner == "alice", "the browser's request ran as the logged-in hub user"


def test_another_origin_and_host_stay_refused(public_stack):
    stack, public = public_stack
    auth = {"Authorization": f"Bearer {stack.tokens['alice']}", "Content-Type": "application/json"}
    create = f"{stack.url}/api/2.0/mlflow/experiments/create"
    ours = requests.post(
        create,
        headers={**auth, "Origin": public},
        json={"name": f"o-{uuid.uuid4().hex[:6]}"},
        timeout=30,
    )
    assert ours.status_code == 200, ours.text
    theirs = requests.post(
        create, headers={**auth, "Origin": "http://evil.test"}, json={"name": "evil"}, timeout=30
    )
    assert theirs.status_code == 403
    assert "Cross-origin request blocked" in theirs.text
    host = requests.get(
        f"{stack.url}/api/2.0/mlflow/experiments/search",
        params={"max_results": 1},
        headers={**auth, "Host": "evil.test"},
        timeout=30,
    )
    assert host.status_code == 403
    assert "Invalid Host header" in host.text
