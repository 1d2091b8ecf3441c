"""An ML engineer's day on the local platform, in a real browser, against the real launcher.

The steps run in order and share one platform: log in and pick a profile, train and register
a model from a notebook, find the run in the MLflow UI, restart with another profile, watch
the culler spare a busy server and reclaim an idle one, and survive `make down` / `make up`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from tests.e2e.conftest import hub_api
from tests.e2e.journey import cells, dismiss_news, run_notebook, shot
from tests.e2e.platform import LocalPlatformUnderTest
from tests.support.hubclient import start_silent_cell

USER = "alice"
MODEL = f"journey-{USER}"
NOTEBOOK = "journey.ipynb"

state: dict[str, Any] = {}


def login(browser: Any, platform: LocalPlatformUnderTest, user: str) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{platform.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", platform.password)
    page.click("#login_submit")
    page.wait_for_load_state()
    return page


def wait_for_server(platform: LocalPlatformUnderTest, user: str, ready: bool, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, model = hub_api(platform, "GET", f"/users/{user}")
        server = (model.get("servers") or {}).get("")
        if bool(server and server.get("ready")) == ready:
            return model
        time.sleep(1)
    raise AssertionError(f"{user}: server ready={not ready} after {timeout}s: {model}")


def user_token(platform: LocalPlatformUnderTest, user: str) -> str:
    status, reply = hub_api(platform, "POST", f"/users/{user}/tokens", {"note": "e2e"})
    assert status == 201, reply
    return str(reply["token"])


def test_1_login_profile_list_and_jupyterlab(platform, browser, shots):
    page = login(browser, platform, USER)
    form = page.inner_text("form")
    for name, description in [
        ("CPU small — 2 cores, 4 GiB", "Everyday notebooks"),
        ("CPU large — 2 cores, 8 GiB", "Bigger in-memory data"),
        ("Quick cull — idle for 30 s", "Culled after 30 seconds without activity"),
    ]:
        assert name in form
        assert description in form
    # No GPU on this machine: the GPU profile is shown, disabled, with the reason.
    assert page.is_disabled("input[value='gpu-1']")
    assert "Unavailable: needs 1 GPU" in form
    shot(page, shots, "1-profiles")
    page.check("input[value='cpu-small']")
    page.click("button[type=submit]")
    page.wait_for_url("**/user/**/lab**", timeout=120_000)
    page.wait_for_selector(".jp-LauncherCard", timeout=120_000)
    shot(page, shots, "1-jupyterlab")
    state["page"] = page


def test_2_notebook_trains_logs_registers_and_loads_a_model(platform, browser, shots):
    page = state["page"]
    run_notebook(page, NOTEBOOK, cells(MODEL))
    outputs = page.inner_text(".jp-NotebookPanel")
    assert "TRAINED" in outputs
    run_line = next(line for line in outputs.splitlines() if line.startswith("RUN "))
    state["run_id"] = run_line.split()[1]
    page.keyboard.press("Control+s")
    dismiss_news(page)
    shot(page, shots, "2-notebook")


def test_3_mlflow_ui_shows_the_run_owned_by_the_user_with_envlogger_tags(platform, browser, shots):
    from mlflow.tracking import MlflowClient

    run_id = state["run_id"]
    page = state["page"]
    # Through the hub: the MLflow service logs the browser in with hub OAuth.
    page.goto(f"{platform.url}/services/mlflow/#/experiments/0/runs/{run_id}")
    page.wait_for_selector("text=envlogger.entry_point", timeout=90_000)
    assert USER in page.inner_text("body")
    shot(page, shots, "3-mlflow-run")

    os.environ["MLFLOW_TRACKING_TOKEN"] = user_token(platform, USER)
    try:
        run = MlflowClient(platform.mlflow_url).get_run(run_id)
        artifacts = [
            a.path for a in MlflowClient(platform.mlflow_url).list_artifacts(run_id, "envlogger")
        ]
    finally:
        os.environ.pop("MLFLOW_TRACKING_TOKEN")
    tags = run.data.tags
    assert tags["mlflow.user"] == USER
    # The notebook lives in the home directory, which is not a git repository.
    assert tags["envlogger.git"] == "unavailable"
    assert tags["envlogger.git.unavailable"] == "not-a-repo"
    assert NOTEBOOK in tags["envlogger.entry_point"]
    assert "envlogger/requirements.txt" in artifacts


def test_4_restart_with_another_profile_keeps_the_notebook(platform, shots):
    page = state["page"]
    status, _ = hub_api(platform, "DELETE", f"/users/{USER}/server")
    assert status in (202, 204)
    wait_for_server(platform, USER, ready=False, timeout=60)
    page.goto(f"{platform.url}/hub/spawn/{USER}")
    page.check("input[value='cpu-large']")
    page.click("button[type=submit]")
    page.wait_for_url("**/user/**/lab**", timeout=120_000)
    page.wait_for_selector(f".jp-DirListing-item:has-text('{NOTEBOOK}')", timeout=60_000)
    shot(page, shots, "4-restarted-cpu-large")
    _, model = hub_api(platform, "GET", f"/users/{USER}")
    assert model["servers"][""]["user_options"]["profile"] == "cpu-large"
    page.context.close()


def test_5_culler_keeps_a_silent_busy_server_and_reclaims_an_idle_one(platform, browser, shots):
    busy, idle = "journey-busy", "journey-idle"
    for user in (busy, idle):
        status, reply = hub_api(platform, "POST", f"/users/{user}", {})
        assert status in (201, 409), reply
        status, reply = hub_api(
            platform, "POST", f"/users/{user}/server", {"profile": "quick-cull"}
        )
        assert status in (201, 202), reply
    for user in (busy, idle):
        wait_for_server(platform, user, ready=True, timeout=120)
    # A cell that prints nothing for 90 s, started through the server's own kernel API.
    token = user_token(platform, busy)
    run_silent_cell(platform, busy, token, seconds=90)
    began = time.monotonic()
    wait_for_server(platform, idle, ready=False, timeout=90)
    culled_after = time.monotonic() - began
    _, model = hub_api(platform, "GET", f"/users/{busy}")
    assert model["servers"][""]["ready"], "the busy server was culled while its cell ran"
    assert culled_after < 90
    # Culling stops servers; it never deletes users or their homes.
    status, _ = hub_api(platform, "GET", f"/users/{idle}")
    assert status == 200
    assert list((platform.data_dir / "homes").glob("journey-idle*"))


def run_silent_cell(platform: LocalPlatformUnderTest, user: str, token: str, seconds: int):
    start_silent_cell(f"{platform.url}/user/{user}", token, seconds)


def test_6_down_and_up_keep_user_notebook_run_and_model(platform, shots, browser):
    down = platform.podlab("down")
    assert down.returncode == 0, down.stderr
    assert down.elapsed < 15, down.stdout
    up = platform.podlab("up")
    assert up.returncode == 0, up.stdout + up.stderr
    status, model = hub_api(platform, "GET", f"/users/{USER}")
    assert status == 200
    assert model["name"] == USER
    notebooks = list((platform.data_dir / "homes").glob(f"{USER}*/{NOTEBOOK}"))
    assert notebooks, "the notebook is gone after down/up"
    cells = json.loads(notebooks[0].read_text())["cells"]
    assert "registered_model_name" in "".join(cells[1]["source"])

    env = dict(os.environ)
    env.update(
        {
            "MLFLOW_TRACKING_URI": platform.mlflow_url,
            "MLFLOW_TRACKING_TOKEN": user_token(platform, USER),
        }
    )
    check = textwrap.dedent(
        f"""
        import mlflow, mlflow.pytorch, torch
        from mlflow.tracking import MlflowClient
        run = MlflowClient().get_run({state["run_id"]!r})
        assert run.data.metrics["loss"] >= 0
        model = mlflow.pytorch.load_model("models:/{MODEL}/1")
        print("OUT", model(torch.ones(1, 3)).shape)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OUT torch.Size([1, 1])" in result.stdout
    page = login(browser, platform, USER)
    shot(page, shots, "6-after-restart")
    page.context.close()


@pytest.fixture(scope="module", autouse=True)
def _close_pages():
    yield
    page = state.get("page")
    if page is not None:
        with contextlib.suppress(Exception):  # the context may already be closed
            page.context.close()
