"""An ML engineer's day on the chart installed in the Kubernetes test bed, in a real browser
under a public host name (as behind a load balancer: `podlab.test`, mapped by Chromium's
host resolver rules to the proxy's Service): log in, pick a profile in the spawn form (a GPU
profile no node could run is greyed out), train and register a model from a notebook in
JupyterLab (the user pod, run by the pod runner), stop, start with another profile, and find
the notebook again on the home volume. Screenshots of each step are kept with the logs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.journey import cells, run_notebook, shot
from tests.e2e.platform import ARGS, CHROMIUM
from tests.support.hubclient import HubUser
from tests.support.release import Release

HOST = "podlab.test"
NOTEBOOK = "journey.ipynb"
state: dict[str, Any] = {}


@pytest.fixture(scope="module")
def public_browser(trial_release: Release) -> Iterator[Any]:
    """Chromium resolving podlab.test to the proxy's Service (its ClusterIP, on loopback)."""
    from playwright.sync_api import sync_playwright

    rules = f"--host-resolver-rules=MAP {HOST} {trial_release.service_ip('proxy-public')}"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, rules])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def kube_shots(component_log_dir: Path) -> Path:
    path = component_log_dir / "kube-e2e-screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def engineer(trial_release: Release) -> dict[str, str]:
    name = f"grace-{uuid.uuid4().hex[:4]}"
    return {"name": name, "password": trial_release.secret_value("podlab-hub", "user-password")}


def test_1_login_and_the_spawn_form(public_browser, engineer, kube_shots):
    page = public_browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"http://{HOST}/hub/login")
    page.fill("#username_input", engineer["name"])
    page.fill("#password_input", engineer["password"])
    page.click("#login_submit")
    page.wait_for_selector("input[value='cpu-small']", timeout=60_000)
    form = page.inner_text("form")
    assert "Unavailable: needs 8 nvidia.com/gpu; the largest node has 4" in form
    assert page.is_disabled("input[value='gpu-8']")
    assert not page.is_disabled("input[value='gpu-1']")
    shot(page, kube_shots, "1-profiles")
    page.check("input[value='cpu-small']")
    page.click("button[type=submit]")
    page.wait_for_url("**/user/**/lab**", timeout=180_000)
    page.wait_for_selector(".jp-LauncherCard", timeout=180_000)
    shot(page, kube_shots, "1-jupyterlab")
    state["page"] = page


def test_2_a_notebook_trains_logs_and_registers_a_model(trial_release, engineer, kube_shots):
    page = state["page"]
    run_notebook(page, NOTEBOOK, cells(f"journey-{engineer['name']}"))
    outputs = page.inner_text(".jp-NotebookPanel")
    assert "TRAINED" in outputs
    run_id = next(line.split()[1] for line in outputs.splitlines() if line.startswith("RUN "))
    page.keyboard.press("Control+s")
    shot(page, kube_shots, "2-notebook")
    # The run belongs to the user (recorded by the server) and carries envlogger's provenance:
    # asked from inside the user's pod (kubectl exec), with the pod's own MLflow settings.
    script = (
        "import json, mlflow; tags = mlflow.get_run('RUN').data.tags; "
        "print(json.dumps({k: tags.get(k) for k in ('mlflow.user', 'envlogger.entry_point', "
        "'envlogger.git')}))"
    ).replace("RUN", run_id)
    kube = trial_release.kube
    namespace = f"podlab-{engineer['name']}"
    pod = kube.kubectl("get", "pods", "-n", namespace, "-o", "name").split()[0]
    tags = json.loads(kube.kubectl("exec", "-n", namespace, pod, "--", "python", "-c", script))
    assert tags["mlflow.user"] == engineer["name"]
    assert NOTEBOOK in tags["envlogger.entry_point"]
    assert tags["envlogger.git"] == "unavailable"  # the home is not a repository
    state["run_id"] = run_id


def test_2b_the_mlflow_ui_shows_and_edits_the_run_as_that_user(engineer, kube_shots):
    """A non-admin in the MLflow UI of the installed chart, under the public host name: the
    chart grants every user access to the mlflow service, the UI's own POSTs (runs/search
    for the runs table, a tag written) pass MLflow's cross-origin guard."""
    page = state["page"].context.new_page()
    page.goto(f"http://{HOST}/services/mlflow/", timeout=60_000)
    page.wait_for_url(f"http://{HOST}/services/mlflow/**", timeout=60_000)
    page.get_by_text("Default", exact=False).first.wait_for(timeout=90_000)

    def ajax(method: str, path: str, body: Any = None) -> dict[str, Any]:
        reply: dict[str, Any] = page.evaluate(
            """async ([method, path, body]) => {
                const init = {method, headers: {"Content-Type": "application/json"}};
                if (body !== null) init.body = JSON.stringify(body);
                const r = await fetch("ajax-api/2.0/mlflow/" + path, init);
                return {status: r.status, body: await r.text()};
            }""",
            [method, path, body],
        )
        assert reply["status"] == 200, reply
        return dict(json.loads(reply["body"]))

    run = ajax("GET", f"runs/get?run_id={state['run_id']}")["run"]
    experiment = run["info"]["experiment_id"]
    # The runs table is filled by the UI's own POST runs/search (MLflow's cross-origin and
    # host checks apply to it): it must answer with the run.
    with page.expect_response(lambda r: "runs/search" in r.url, timeout=90_000) as searched:
        page.goto(f"http://{HOST}/services/mlflow/#/experiments/{experiment}", timeout=60_000)
    assert searched.value.status == 200, searched.value.text()
    assert state["run_id"] in searched.value.text()
    page.wait_for_timeout(2_000)  # let the table render for the screenshot
    shot(page, kube_shots, "2b-mlflow-runs-table")
    ajax("POST", "runs/set-tag", {"run_id": state["run_id"], "key": "reviewed", "value": "yes"})
    tags = ajax("GET", f"runs/get?run_id={state['run_id']}")["run"]["data"]["tags"]
    assert {"key": "reviewed", "value": "yes"} in tags
    assert {"key": "mlflow.user", "value": engineer["name"]} in tags
    page.close()


def test_3_another_profile_finds_the_notebook_on_the_home_volume(
    trial_release, engineer, kube_shots
):
    page = state["page"]
    person = HubUser(
        f"http://{trial_release.service_ip('proxy-public')}", engineer["name"], engineer["password"]
    )
    assert person.stop().status_code in (202, 204)
    person.wait_stopped()
    page.goto(f"http://{HOST}/hub/spawn/{person.quoted}")
    page.check("input[value='cpu-large']")
    page.click("button[type=submit]")
    page.wait_for_url("**/user/**/lab**", timeout=180_000)
    page.wait_for_selector(f".jp-DirListing-item:has-text('{NOTEBOOK}')", timeout=120_000)
    shot(page, kube_shots, "3-restarted-cpu-large")
    assert person.model()["servers"][""]["user_options"]["profile"] == "cpu-large"
    page.context.close()
