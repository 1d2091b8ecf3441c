"""The hub on a real Kubernetes API server: the chart's hub (its config, its ServiceAccount's
token and RBAC) spawns user servers that the pod runner runs, through the real admission
chain (Pod Security `restricted`, ResourceQuota, LimitRange) and a home volume that binds."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

import pytest

from tests.support.hubclient import HubUser
from tests.support.kube import get_json, wait_for
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
