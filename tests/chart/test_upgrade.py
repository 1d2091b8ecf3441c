"""Upgrade, rollback, uninstall and reinstall on a real API server, with a user's things in
place: a running server, a file in the home volume, an MLflow run and a registered model.

The release before is chart 0.2.0 as it landed, from git history, and its pods run the code
of its images (tag 0.1.0): the pod runner runs podlab images of that tag from the same
commit's tree (RuntimeSettings.releases), today's tag from this checkout. So the old hub runs
the old hub code under the old ClusterRole, as on a customer's cluster, and the upgrade swaps
both at once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from podlab.localstack.paths import REPO_ROOT
from podlab.localstack.postgres import PostgresServer
from tests.support.hubclient import HubUser
from tests.support.kube import KubeCluster, KubeError, get_json, wait_for
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


RELEASE_TREE = ["charts/podlab", "hub", "envlogger", "mlflow-server", "images"]
"""What the images of a release are built from (the Dockerfiles and what they copy)."""


def old_chart(kube: KubeCluster) -> Path:
    """charts/podlab as of CHART_0_2_0, from the repository's history, with the source of its
    images where the pod runner finds it for their tag."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", CHART_0_2_0, *RELEASE_TREE],
        cwd=REPO_ROOT, capture_output=True, check=False,
    )  # fmt: skip
    if archive.returncode != 0:
        raise AssertionError(
            f"chart 0.2.0 ({CHART_0_2_0}) is not in this checkout's history: "
            f"{archive.stderr.decode()[-500:]} — clone with full history (not --depth)"
        )
    old_values = yaml.safe_load(
        subprocess.run(["git", "show", f"{CHART_0_2_0}:charts/podlab/values.yaml"],
                       cwd=REPO_ROOT, capture_output=True, check=True).stdout
    )  # fmt: skip
    tag = old_values["hub"]["image"]["tag"]
    assert tag != yaml.safe_load((CHART / "values.yaml").read_text())["hub"]["image"]["tag"], (
        "chart 0.2.0 and this chart name the same image tag: bump the release version "
        "(hub/pyproject.toml, Chart.yaml appVersion, values.yaml tags)"
    )
    target: Path = kube.settings.releases_dir / str(tag)
    if target.exists():
        shutil.rmtree(target)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    chart = target / "charts" / "podlab"
    assert yaml.safe_load((chart / "Chart.yaml").read_text())["version"] == "0.2.0"
    return chart


def in_pod(
    release: Release, user: HubUser, script: str, token: str | None = None
) -> dict[str, Any]:
    """Run Python in the user's server pod, with its own environment (MLflow URI, token), or
    with another MLflow token."""
    namespace = f"podlab-{user.name}"
    pod = release.kube.kubectl("get", "pods", "-n", namespace, "-o", "name").split()[0]
    env = ["env", f"MLFLOW_TRACKING_TOKEN={token}"] if token else []
    out = release.kube.kubectl("exec", "-n", namespace, pod, "--", *env, "python", "-c", script)
    return dict(json.loads(out.strip().splitlines()[-1]))


def mlflow_token(user: HubUser) -> str:
    """A new token of the user for the mlflow service, as the hub's Token page makes one."""
    answer = user.web.post(
        f"/hub/api/users/{user.quoted}/tokens",
        json={"note": "upgrade test", "expires_in": 600,
              "scopes": ["access:services!service=mlflow"]},
        headers={"X-XSRFToken": user.web.cookies.get("_xsrf") or ""},
    )  # fmt: skip
    answer.raise_for_status()
    return str(answer.json()["token"])


@pytest.fixture(scope="module")
def upgraded(
    kube: KubeCluster, make_postgres: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("upgrade")
    values = work / "values.yaml"
    values.write_text(yaml.safe_dump(VALUES))
    postgres: PostgresServer = make_postgres("upgrade")
    release = install(kube, postgres, name=NAME, namespace=NAMESPACE, extra=["-f", str(values)],
                      chart=old_chart(kube), database="rds-upgrade")  # fmt: skip
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
    yield {"release": release, "user": user, "password": password, "run": run, "model": model,
           "pod_uid": pod_uid, "values": values, "hub_secret": hub_secret}  # fmt: skip
    shutil.rmtree(kube.settings.releases_dir, ignore_errors=True)


def hub_image(release: Release) -> str:
    deployment = get_json(release.kube, "deployment", f"{NAME}-hub", "-n", NAMESPACE)
    (hub,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "hub"]
    return str(hub["image"])


def the_server_and_home_are_still_there(state: dict[str, Any]) -> HubUser:
    release, user = state["release"], state["user"]
    release.kube.kubectl("rollout", "status", f"deployment/{NAME}-hub", "-n", NAMESPACE,
                         "--timeout=300s")  # fmt: skip
    url = f"http://{release.service_ip('proxy-public')}"

    def logged_in() -> HubUser | None:
        try:
            return HubUser(url, user.name, state["password"])
        except (httpx.HTTPError, AssertionError):
            return None  # the hub is still starting behind the proxy (503)

    fresh: HubUser = wait_for("a login at the hub", logged_in, timeout=180, every=2)

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
    # Every key the old release generated keeps its value (a new chart may add keys, e.g.
    # helm-test-token in 0.3.0; a rollback removes them again).
    after = get_json(release.kube, "secret", f"{NAME}-hub", "-n", NAMESPACE)["data"]
    assert {key: after.get(key) for key in state["hub_secret"]} == state["hub_secret"]
    return fresh


def everything_is_still_there(state: dict[str, Any]) -> None:
    """The server, its home, the Secrets, and the run and model, read from inside the old
    server with a token that carries the mlflow scope (0.3's MLflow requires it)."""
    release, user = state["release"], state["user"]
    fresh = the_server_and_home_are_still_there(state)
    script = CHECK_SCRIPT.replace("RUN", state["run"]).replace("NAME", state["model"])
    found = in_pod(release, user, script, token=mlflow_token(fresh))
    assert found == {"loss": 0.5, "user": user.name, "versions": ["1"]}


def test_upgrade_to_this_chart_keeps_users_servers_homes_runs_and_models(upgraded):
    release = upgraded["release"]
    release.helm("upgrade", NAME, str(CHART), "-n", NAMESPACE, "-f", str(upgraded["values"]),
                 "--wait", "--timeout", "6m")  # fmt: skip
    history = json.loads(release.helm("history", NAME, "-n", NAMESPACE, "-o", "json").stdout)
    assert [h["status"] for h in history] == ["superseded", "deployed"]
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert hub_image(release).endswith(f":{app_version}")
    everything_is_still_there(upgraded)
    # The server started under 0.2 keeps its token, which lacks the mlflow scope 0.3's MLflow
    # requires: MLflow says so (docs/admin-guide.md: restart servers to use MLflow again).
    script = CHECK_SCRIPT.replace("RUN", upgraded["run"]).replace("NAME", upgraded["model"])
    with pytest.raises(KubeError, match="lacks the scope access:services!service=mlflow"):
        in_pod(release, upgraded["user"], script)


def test_rollback_to_0_2_0_keeps_servers_and_homes_and_mlflow_refuses_the_newer_database(
    upgraded,
):
    """MLflow's database was migrated by 0.3 (podlab schema 2); the 0.2 server refuses a newer
    schema rather than run on it, so a rollback brings back the hub and keeps every server and
    home, and MLflow stays down with that message until the database is restored from the
    pre-upgrade snapshot or the release rolled forward (docs/admin-guide.md)."""
    release = upgraded["release"]
    release.helm("rollback", NAME, "1", "-n", NAMESPACE, "--timeout", "6m")
    history = json.loads(release.helm("history", NAME, "-n", NAMESPACE, "-o", "json").stdout)
    assert history[-1]["chart"] == "podlab-0.2.0"
    assert hub_image(release).endswith(":0.1.0")
    the_server_and_home_are_still_there(upgraded)
    kube = release.kube

    def refused() -> bool:
        selector = "app.kubernetes.io/component=mlflow"
        logs = kube.kubectl("logs", "-n", NAMESPACE, "-l", selector, "--tail=50",
                            "--all-containers", "--prefix", check=False)  # fmt: skip
        return "podlab schema version 2, newer than this" in logs

    wait_for("the 0.2 MLflow server refusing the 0.3 database", refused, timeout=240)
    # Rolled forward again: everything is there, MLflow included.
    release.helm("rollback", NAME, "2", "-n", NAMESPACE, "--wait", "--timeout", "6m")
    assert hub_image(release).endswith(":0.3.0")
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
