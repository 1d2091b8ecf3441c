"""Upgrade, rollback, uninstall and reinstall on a real API server, with a user's things in
place: a running server, a file in the home volume, an MLflow run and a registered model.

The release before is chart 0.2.0 as it landed (rendered from git history); both charts run
the pods of today's images (the bed runs the repository's code, see docs/development.md), so
what is tested is the chart's part of an upgrade: objects replaced, kept or adopted, Secrets
regenerated or not, running servers left alone.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.hubclient import HubUser
from tests.support.kube import KubeCluster, get_json, wait_for
from tests.support.paths import REPO_ROOT
from tests.support.postgres import PostgresServer
from tests.support.release import CHART, Release, install

CHART_0_2_0 = "7881c54"
"""The last commit of chart 0.2.0 (the state the previous session's CI passed)."""
NAME, NAMESPACE = "podlab", "podlab-upgrade"
VALUES = {
    "hub": {"auth": {"type": "password"}},
    "podlab": {
        "admin_users": ["admin"],
        "profiles": [
            {"slug": "small", "display_name": "Small", "default": True,
             "cpu": {"guarantee": 0.5, "limit": 2}, "memory": {"guarantee": "1Gi", "limit": "4Gi"}},
        ],
    },
}  # fmt: skip
MLFLOW_SCRIPT = """
import json, mlflow, mlflow.pyfunc
class Model(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return model_input
with mlflow.start_run() as run:
    mlflow.log_metric("loss", 0.5)
    mlflow.pyfunc.log_model(name="model", python_model=Model(), registered_model_name="NAME",
                            pip_requirements=["mlflow"])
print(json.dumps({"run": run.info.run_id}))
"""
CHECK_SCRIPT = """
import json, mlflow
run = mlflow.get_run("RUN")
versions = mlflow.MlflowClient().search_model_versions("name='NAME'")
print(json.dumps({"loss": run.data.metrics["loss"], "user": run.data.tags["mlflow.user"],
                  "versions": [v.version for v in versions]}))
"""


def old_chart(target: Path) -> Path:
    """charts/podlab as of CHART_0_2_0, from the repository's history."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", CHART_0_2_0, "charts/podlab"],
        cwd=REPO_ROOT, capture_output=True, check=False,
    )  # fmt: skip
    if archive.returncode != 0:
        raise AssertionError(
            f"chart 0.2.0 ({CHART_0_2_0}) is not in this checkout's history: "
            f"{archive.stderr.decode()[-500:]} — clone with full history (not --depth)"
        )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    chart = target / "charts" / "podlab"
    assert yaml.safe_load((chart / "Chart.yaml").read_text())["version"] == "0.2.0"
    return chart


def in_pod(release: Release, user: HubUser, script: str) -> dict[str, Any]:
    """Run Python in the user's server pod, with its own environment (MLflow URI, token)."""
    namespace = f"podlab-{user.name}"
    pod = release.kube.kubectl("get", "pods", "-n", namespace, "-o", "name").split()[0]
    out = release.kube.kubectl("exec", "-n", namespace, pod, "--", "python", "-c", script)
    return dict(json.loads(out.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def upgraded(
    kube: KubeCluster, make_postgres: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("upgrade")
    values = work / "values.yaml"
    values.write_text(yaml.safe_dump(VALUES))
    postgres: PostgresServer = make_postgres("upgrade")
    release = install(kube, postgres, name=NAME, namespace=NAMESPACE, extra=["-f", str(values)],
                      chart=old_chart(work), database="rds-upgrade")  # fmt: skip
    url = f"http://{release.service_ip('proxy-public')}"
    password = release.secret_value(f"{NAME}-hub", "user-password")
    user = HubUser(url, f"ursula-{uuid.uuid4().hex[:4]}", password)
    assert user.start().status_code in (201, 202)
    user.wait_ready()
    body = {"type": "file", "format": "text", "content": "written before the upgrade\n"}
    assert user.server_api("api/contents/before.txt", method="PUT", json=body).status_code == 201
    model = f"upgrade-{user.name}"
    run = in_pod(release, user, MLFLOW_SCRIPT.replace("NAME", model))["run"]
    pod_uid = get_json(kube, "pods", "-n", f"podlab-{user.name}")["items"][0]["metadata"]["uid"]
    hub_secret = get_json(kube, "secret", f"{NAME}-hub", "-n", NAMESPACE)["data"]
    return {"release": release, "user": user, "password": password, "run": run, "model": model,
            "pod_uid": pod_uid, "values": values, "hub_secret": hub_secret}  # fmt: skip


def everything_is_still_there(state: dict[str, Any]) -> None:
    release, user = state["release"], state["user"]
    fresh = HubUser(f"http://{release.service_ip('proxy-public')}", user.name, state["password"])

    def answers() -> bool:
        try:
            return fresh.server_api("api/status").status_code == 200
        except OSError:
            return False

    wait_for("the user's server through the new hub", answers, timeout=180)
    pods = get_json(release.kube, "pods", "-n", f"podlab-{user.name}")["items"]
    assert [p["metadata"]["uid"] for p in pods] == [state["pod_uid"]], "the server was restarted"
    content = fresh.server_api("api/contents/before.txt").json()["content"]
    assert content == "written before the upgrade\n"
    found = in_pod(
        release, user, CHECK_SCRIPT.replace("RUN", state["run"]).replace("NAME", state["model"])
    )
    assert found == {"loss": 0.5, "user": user.name, "versions": ["1"]}
    assert (
        get_json(release.kube, "secret", f"{NAME}-hub", "-n", NAMESPACE)["data"]
        == state["hub_secret"]
    )


def test_upgrade_to_this_chart_keeps_users_servers_homes_runs_and_models(upgraded):
    release = upgraded["release"]
    release.helm("upgrade", NAME, str(CHART), "-n", NAMESPACE, "-f", str(upgraded["values"]),
                 "--wait", "--timeout", "6m")  # fmt: skip
    history = json.loads(release.helm("history", NAME, "-n", NAMESPACE, "-o", "json").stdout)
    assert [h["status"] for h in history] == ["superseded", "deployed"]
    everything_is_still_there(upgraded)


def test_rollback_to_0_2_0_keeps_everything(upgraded):
    release = upgraded["release"]
    release.helm("rollback", NAME, "1", "-n", NAMESPACE, "--wait", "--timeout", "6m")
    history = json.loads(release.helm("history", NAME, "-n", NAMESPACE, "-o", "json").stdout)
    assert history[-1]["status"] == "deployed"
    assert history[-1]["chart"] == "podlab-0.2.0"
    everything_is_still_there(upgraded)


def test_uninstall_keeps_homes_artifacts_and_the_database_and_a_reinstall_finds_them(upgraded):
    release, user = upgraded["release"], upgraded["user"]
    kube = release.kube
    user.stop()
    user.wait_stopped()
    release.helm("uninstall", NAME, "-n", NAMESPACE, "--wait", "--timeout", "3m")
    kept = {p["metadata"]["name"] for p in get_json(kube, "pvc", "-n", NAMESPACE)["items"]}
    assert f"{NAME}-mlflow-artifacts" in kept
    assert get_json(kube, "pvc", "home", "-n", f"podlab-{user.name}")["status"]["phase"] == "Bound"
    tables = release.postgres.execute("SELECT count(*) FROM users", database="jupyterhub")
    assert tables[0][0] >= 1  # the hub's users are still in its database
    # Reinstall: the same users, the kept artifacts volume adopted, the run and model found.
    release.helm("install", NAME, str(CHART), "-n", NAMESPACE, "-f", str(upgraded["values"]),
                 "--wait", "--timeout", "6m")  # fmt: skip
    url = f"http://{release.service_ip('proxy-public')}"
    again = HubUser(url, user.name, release.secret_value(f"{NAME}-hub", "user-password"))
    assert again.start().status_code in (201, 202)
    again.wait_ready()
    assert (
        again.server_api("api/contents/before.txt").json()["content"]
        == "written before the upgrade\n"
    )
    found = in_pod(
        release,
        again,
        CHECK_SCRIPT.replace("RUN", upgraded["run"]).replace("NAME", upgraded["model"]),
    )
    assert found == {"loss": 0.5, "user": user.name, "versions": ["1"]}
