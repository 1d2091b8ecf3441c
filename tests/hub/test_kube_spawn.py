"""The hub on a real Kubernetes API server: the chart's hub (its config, its ServiceAccount's
token and RBAC) spawns user servers that the pod runner runs, through the real admission
chain (Pod Security `restricted`, ResourceQuota, LimitRange) and a home volume that binds."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from html import unescape
from typing import Any

import pytest

from tests.conftest import GPU_TOLERATION
from tests.support.hubclient import HubUser
from tests.support.kube import get_json, new_namespace, wait_for
from tests.support.release import Release

POOL = "podlab.io/node-pool"


def hub_url(release: Release) -> str:
    return f"http://{release.service_ip('proxy-public')}"


def user(release: Release, name: str) -> HubUser:
    password = release.secret_value(f"{release.name}-hub", "user-password")
    return HubUser(hub_url(release), name, password)


def pod_of(release: Release, username: str) -> dict[str, Any]:
    pods = get_json(
        release.kube, "pods", "-n", f"podlab-{username}", "-l", "component=singleuser-server"
    )
    (pod,) = pods["items"]
    return dict(pod)


@pytest.fixture(scope="module")
def alice(trial_release: Release) -> HubUser:
    return user(trial_release, f"alice-{uuid.uuid4().hex[:4]}")


def test_spawn_creates_the_namespace_objects_and_a_running_server(
    trial_release: Release, alice: HubUser
):
    kube = trial_release.kube
    assert alice.start("cpu-small").status_code in (201, 202)
    events = list(alice.progress())
    assert events[-1].get("ready"), events
    messages = " | ".join(str(e.get("message")) for e in events)
    assert "Started container" in messages or "ready" in messages, messages
    namespace = f"podlab-{alice.name}"
    labels = get_json(kube, "namespace", namespace)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for kind, name in (
        ("serviceaccount", "podlab-user"),
        ("role", None),
        ("rolebinding", None),
        ("resourcequota", None),
        ("limitrange", None),
        ("networkpolicy", None),
    ):
        found = (
            get_json(kube, kind, "-n", namespace)["items"]
            if name is None
            else [get_json(kube, kind, name, "-n", namespace)]
        )
        assert found, f"no {kind} in {namespace}"
    claim = get_json(kube, "pvc", "home", "-n", namespace)
    assert claim["status"]["phase"] == "Bound"
    pod = pod_of(trial_release, alice.name)
    assert pod["status"]["phase"] == "Running"
    node = get_json(kube, "node", pod["spec"]["nodeName"])
    assert node["metadata"]["labels"][POOL] == "cpu"
    # The server answers through the proxy, with the user's own token.
    assert alice.server_api("api/status").status_code == 200


def test_home_survives_a_restart_with_another_profile(trial_release: Release, alice: HubUser):
    alice.wait_ready()
    body = {"type": "file", "format": "text", "content": "kept across restarts\n"}
    assert alice.server_api("api/contents/notes.txt", method="PUT", json=body).status_code in (
        200,
        201,
    )
    assert alice.stop().status_code in (202, 204)
    alice.wait_stopped()
    namespace = f"podlab-{alice.name}"
    wait_for(
        "the pod to be deleted",
        lambda: (
            not get_json(
                trial_release.kube, "pods", "-n", namespace, "-l", "component=singleuser-server"
            )["items"]
        ),
    )
    assert (
        get_json(trial_release.kube, "pvc", "home", "-n", namespace)["status"]["phase"] == "Bound"
    )
    assert alice.start("cpu-large").status_code in (201, 202)
    alice.wait_ready()
    pod = pod_of(trial_release, alice.name)
    assert pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "4"
    answer = alice.server_api("api/contents/notes.txt")
    assert answer.status_code == 200
    assert answer.json()["content"] == "kept across restarts\n"
    # The namespace objects do not depend on the profile: the second spawn skipped the ensure
    # step (one hub process, same manifests) instead of applying them again.
    log = trial_release.kube.kubectl(
        "logs", "deployment/podlab-hub", "-c", "hub", "-n", trial_release.namespace
    )
    assert f"Namespace {namespace} is as the hub applied it: unchanged" in log


def test_the_quota_admits_the_profile_and_rejects_a_bigger_pod(
    trial_release: Release, alice: HubUser
):
    alice.wait_ready()
    kube, namespace = trial_release.kube, f"podlab-{alice.name}"
    pod = pod_of(trial_release, alice.name)
    # The user's own pod spec, as someone with create rights would resubmit it, but bigger.
    spec = {k: v for k, v in pod["spec"].items() if k not in ("nodeName",)}
    containers = [
        {**spec["containers"][0], "resources": {"limits": {"cpu": "64", "memory": "512Gi"}}}
    ]
    tampered = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bigger", "namespace": namespace},
        "spec": {**spec, "containers": containers},
    }
    proc = subprocess.run(
        [
            str(kube.settings.bin_dir / "kubectl"),
            f"--kubeconfig={kube.kubeconfig}",
            "create",
            "-f",
            "-",
        ],
        input=json.dumps(tampered),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "forbidden" in proc.stderr
    assert "exceeded quota" in proc.stderr or "maximum" in proc.stderr, proc.stderr


# -- GPU profiles on Kubernetes -----------------------------------------------------------------
def offered(html: str) -> dict[str, tuple[bool, str]]:
    """slug -> (startable, note) from the spawn form."""
    found = {}
    for block in re.findall(
        r'<div class="form-check podlab-profile".*?</label>(?:<div[^>]*>.*?</div>)?</div>',
        html,
        re.S,
    ):
        slug = re.search(r'data-profile="([^"]+)"', block)
        assert slug is not None
        note = re.search(
            r'<div class="podlab-(?:note|unavailable) text-muted">(.*?)</div>', block, re.S
        )
        found[slug.group(1)] = (" disabled" not in block, unescape(note.group(1)) if note else "")
    return found


def test_the_spawn_form_says_which_profiles_can_start(trial_release: Release):
    bob = user(trial_release, f"bob-{uuid.uuid4().hex[:4]}")
    page = bob.web.get("/hub/spawn")
    assert page.status_code == 200
    form = offered(page.text)
    assert form["cpu-small"] == (True, "")
    assert form["gpu-1"] == (True, "")
    assert form["gpu-8"] == (False, "Unavailable: needs 8 nvidia.com/gpu; the largest node has 4")
    assert form["gpu-spot"] == (True, "starts a new node first: this takes a few minutes")
    # The REST API refuses what can never run, before anything is created for the user.
    answer = bob.start("gpu-8")
    assert answer.status_code >= 400
    assert "cannot run on this cluster: needs 8 nvidia.com/gpu" in answer.text
    namespaces = trial_release.kube.kubectl("get", "namespaces", "-o", "name")
    assert f"namespace/podlab-{bob.name}" not in namespaces.split()


def test_a_gpu_profile_lands_on_the_gpu_node(trial_release: Release):
    carol = user(trial_release, f"carol-{uuid.uuid4().hex[:4]}")
    started = carol.start("gpu-1")
    assert started.status_code in (201, 202), started.text
    carol.wait_ready()
    pod = pod_of(trial_release, carol.name)
    assert pod["spec"]["nodeName"] == "gpu-a"
    assert pod["spec"]["nodeSelector"] == {POOL: "gpu"}
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert carol.server_api("api/status").status_code == 200
    carol.stop()
    carol.wait_stopped()


def test_a_full_gpu_node_fails_the_next_gpu_spawn_within_seconds(trial_release: Release):
    """With every GPU taken (here by simulated pods), a gpu-1 spawn fails with the scheduler's
    reason and the profiles to pick instead, long before the start timeout, and leaves no pod."""
    kube = trial_release.kube
    filler_namespace = new_namespace(kube, "gpu-filler")
    for index in range(4):
        filler = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"train-{index}", "namespace": filler_namespace},
            "spec": {
                "nodeSelector": {POOL: "gpu"}, "tolerations": [GPU_TOLERATION],
                "containers": [{"name": "main", "image": "trainer", "resources": {
                    "limits": {"nvidia.com/gpu": "1"}}}],
            },
        }  # fmt: skip
        kube.apply(filler)

    def running(index: int) -> bool:
        found = get_json(kube, "pod", f"train-{index}", "-n", filler_namespace)
        return bool(found["status"].get("phase") == "Running")

    wait_for("the GPU node to fill up", lambda: all(running(i) for i in range(4)))
    dave = user(trial_release, f"dave-{uuid.uuid4().hex[:4]}")
    answer = dave.start("gpu-1")
    if answer.status_code in (201, 202):  # still starting: the failure comes as progress
        events = list(dave.progress(timeout=60))
        assert events[-1].get("failed"), events
        message = events[-1]["message"]
    else:  # failed while the hub still waited for it (its slow_spawn_timeout, 10 s)
        message = answer.json()["message"]
    # The scheduler's reason, not JupyterHub's "did not start in 60 seconds".
    assert "No node has room for a 'gpu-1' server right now" in message
    assert "Insufficient nvidia.com/gpu" in message
    assert "pick another profile (cpu-small, cpu-large, gpu-8, gpu-spot, quick-cull)" in message
    assert "did not start in" not in message
    dave.wait_stopped()
    pods = get_json(kube, "pods", "-n", f"podlab-{dave.name}")["items"]
    assert [p["metadata"]["name"] for p in pods if "deletionTimestamp" not in p["metadata"]] == []
