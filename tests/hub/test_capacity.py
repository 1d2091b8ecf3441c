"""Which profiles can start on a cluster (podlab.k8s.capacity), from nodes and pods as the
API server returns them: now, after a node scale-up, when a busy node frees up, or never."""

from __future__ import annotations

from typing import Any

import pytest

from podlab.config import Profile
from podlab.k8s.capacity import State, availability

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def node(
    name: str, pool: str, cpu: str, memory: str, gpus: int = 0, ready: bool = True
) -> dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110"}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    return {
        "metadata": {"name": name, "labels": {"podlab.io/node-pool": pool}},
        "spec": {"taints": [GPU_TAINT] if gpus else []},
        "status": {
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(requests: dict[str, str], phase: str = "Running") -> dict[str, Any]:
    return {
        "spec": {"containers": [{"resources": {"requests": requests}}]},
        "status": {"phase": phase},
    }


def profile(slug: str, cpu: float = 1, memory: str = "2Gi", gpus: int = 0, **extra: Any) -> Profile:
    data: dict[str, Any] = {
        "slug": slug, "display_name": slug,
        "cpu": {"guarantee": cpu, "limit": cpu}, "memory": {"guarantee": memory, "limit": memory},
    }  # fmt: skip
    if gpus:
        data.update(
            gpu={"count": gpus},
            node_selector={"podlab.io/node-pool": "gpu"},
            tolerations=[GPU_TOLERATION],
        )
    data.update(extra)
    return Profile.model_validate(data)


CLUSTER = [node("cpu-a", "cpu", "8", "32Gi"), node("gpu-a", "gpu", "48", "192Gi", gpus=4)]


def test_a_profile_with_room_on_a_ready_node_starts_now():
    assert availability(profile("small"), CLUSTER, {}).state is State.NOW
    assert availability(profile("gpu-1", gpus=1), CLUSTER, {}).state is State.NOW


def test_taints_keep_cpu_profiles_off_gpu_nodes():
    busy_cpu = {"cpu-a": [pod({"cpu": "8"})]}
    found = availability(profile("small"), CLUSTER, busy_cpu)
    assert found.state is State.BUSY  # the GPU node's taint is not tolerated
    assert found.reason == "all 1 node(s) for it are in use; it waits until one has room"


def test_a_full_gpu_node_is_busy_unless_the_group_can_grow():
    full = {"gpu-a": [pod({"cpu": "4", "nvidia.com/gpu": "1"}) for _ in range(4)]}
    assert availability(profile("gpu-1", gpus=1), CLUSTER, full).state is State.BUSY
    growing = profile("gpu-1", gpus=1, max_nodes=3)
    found = availability(growing, CLUSTER, full)
    assert found.state is State.SCALE_UP
    assert found.reason == "starts a new node first: this takes a few minutes"
    at_max = profile("gpu-1", gpus=1, max_nodes=1)
    assert availability(at_max, CLUSTER, full).state is State.BUSY


def test_finished_pods_free_their_room():
    done = {"gpu-a": [pod({"nvidia.com/gpu": "4"}, phase="Succeeded")]}
    assert availability(profile("gpu-1", gpus=1), CLUSTER, done).state is State.NOW


def test_a_node_that_is_not_ready_has_no_room_now():
    cluster = [node("gpu-a", "gpu", "48", "192Gi", gpus=4, ready=False)]
    assert availability(profile("gpu-1", gpus=1), cluster, {}).state is State.BUSY


@pytest.mark.parametrize(
    ("wanted", "reason"),
    [
        (profile("gpu-8", gpus=8), "needs 8 nvidia.com/gpu; the largest node has 4"),
        (profile("huge", cpu=64), "needs 64 cores; the largest node has 8"),
        (profile("fat", memory="256Gi"), "needs 256Gi of memory; the largest node has 32Gi"),
        (
            profile("spot", node_selector={"podlab.io/node-pool": "gpu-spot"}),
            "no node of this cluster matches podlab.io/node-pool=gpu-spot",
        ),
    ],
)
def test_what_no_node_could_ever_run_says_why(wanted: Profile, reason: str):
    found = availability(wanted, CLUSTER, {})
    assert (found.state, found.reason, found.startable) == (State.NEVER, reason, False)


def test_a_group_that_scales_from_zero_can_start_without_any_node():
    spot = profile("spot", node_selector={"podlab.io/node-pool": "gpu-spot"}, scales_from_zero=True)
    assert availability(spot, CLUSTER, {}).state is State.SCALE_UP
