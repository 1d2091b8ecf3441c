"""The life of user servers on a real Kubernetes API server: culling deletes idle pods and
keeps homes (and spares a silent busy kernel), a hub restart keeps running servers, deleting
a user keeps their home, and hostile user names spawn into distinct namespaces."""

from __future__ import annotations

import uuid
from typing import Any

from tests.hub.test_kube_spawn import POOL, hub_url, pod_of, user
from tests.support.hubclient import HubUser, start_silent_cell
from tests.support.kube import get_json, wait_for
from tests.support.release import Release


def admin(release: Release) -> HubUser:
    password = release.secret_value(f"{release.name}-hub", "admin-password")
    return HubUser(hub_url(release), "admin", password)


def user_pods(release: Release, name: str) -> list[dict[str, Any]]:
    pods = get_json(
        release.kube, "pods", "-n", f"podlab-{name}", "-l", "component=singleuser-server"
    )
    return [p for p in pods["items"] if "deletionTimestamp" not in p["metadata"]]


def test_culling_deletes_idle_pods_keeps_homes_and_spares_a_busy_kernel(trial_release: Release):
    suffix = uuid.uuid4().hex[:4]
    busy, idle = user(trial_release, f"busy-{suffix}"), user(trial_release, f"idle-{suffix}")
    for someone in (busy, idle):
        assert someone.start("quick-cull").status_code in (201, 202)
    for someone in (busy, idle):
        someone.wait_ready()
    # A cell that prints nothing for 3 minutes: only the server's own activity report (the
    # busy kernel) keeps it alive; the culler checks every 10 s, the idle timeout is 30 s.
    start_silent_cell(f"{hub_url(trial_release)}/user/{busy.name}", busy.token, 180)
    idle.wait_stopped(timeout=150)
    assert busy.model()["servers"][""]["ready"], "the busy server was culled while its cell ran"
    assert user_pods(trial_release, busy.name)
    wait_for("the idle pod to be gone", lambda: not user_pods(trial_release, idle.name))
    claim = get_json(trial_release.kube, "pvc", "home", "-n", f"podlab-{idle.name}")
    assert claim["status"]["phase"] == "Bound"
    assert idle.model()["name"] == idle.name  # culling stops servers, never users
    busy.stop()


def test_a_hub_restart_keeps_running_servers(trial_release: Release):
    kube = trial_release.kube
    erin = user(trial_release, f"erin-{uuid.uuid4().hex[:4]}")
    assert erin.start("cpu-small").status_code in (201, 202)
    erin.wait_ready()
    before = pod_of(trial_release, erin.name)["metadata"]["uid"]
    hub_pod = kube.kubectl("get", "pods", "-n", trial_release.namespace, "-l",
                           "app.kubernetes.io/component=hub", "-o", "name").split()  # fmt: skip
    kube.kubectl("delete", "-n", trial_release.namespace, *hub_pod, "--wait=true")
    kube.kubectl("rollout", "status", "deployment/podlab-hub", "-n", trial_release.namespace,
                 "--timeout=180s")  # fmt: skip

    def answers() -> bool:
        try:
            return erin.server_api("api/status").status_code == 200 and bool(
                erin.model()["servers"][""]["ready"]
            )
        except OSError:
            return False

    wait_for("the server to answer through the restarted hub", answers, timeout=120)
    pods = user_pods(trial_release, erin.name)
    assert [p["metadata"]["uid"] for p in pods] == [before], "the server was started again"
    erin.stop()
    erin.wait_stopped()


def test_deleting_a_user_keeps_the_home_volume(trial_release: Release):
    frank = user(trial_release, f"frank-{uuid.uuid4().hex[:4]}")
    assert frank.start("cpu-small").status_code in (201, 202)
    frank.wait_ready()
    frank.stop()
    frank.wait_stopped()
    boss = admin(trial_release)
    assert boss.api.delete(f"/users/{frank.name}").status_code == 204
    assert boss.api.get(f"/users/{frank.name}").status_code == 404
    claim = get_json(trial_release.kube, "pvc", "home", "-n", f"podlab-{frank.name}")
    assert claim["status"]["phase"] == "Bound"


def test_hostile_user_names_spawn_into_distinct_namespaces(trial_release: Release):
    suffix = uuid.uuid4().hex[:4]
    names = [
        f"émile-{suffix}",
        f"Jane.Doe+ml-{suffix}@example.com",
        f"{'x' * 74}-{suffix}",
        f"UPPER-{suffix}",
    ]
    users = [user(trial_release, name) for name in names]
    for someone in users:
        assert someone.start("cpu-small").status_code in (201, 202), someone.name
    namespaces = set()
    for someone in users:
        someone.wait_ready()
        pod = get_json(
            trial_release.kube, "pods", "-A", "-l", "component=singleuser-server",
            "--field-selector", "status.phase=Running",
        )  # fmt: skip
        mine = [
            p
            for p in pod["items"]
            if p["metadata"]["annotations"].get("hub.jupyter.org/username") == someone.name
        ]
        assert len(mine) == 1, someone.name
        namespace = mine[0]["metadata"]["namespace"]
        assert namespace.startswith("podlab-")
        assert len(namespace) <= 63
        namespaces.add(namespace)
        assert someone.server_api("api/status").status_code == 200
        assert (
            get_json(trial_release.kube, "node", mine[0]["spec"]["nodeName"])["metadata"]["labels"][
                POOL
            ]
            == "cpu"
        )
    assert len(namespaces) == len(users)
    for someone in users:
        someone.stop()
