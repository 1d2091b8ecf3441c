"""Can a profile start on this cluster: now, after a node scale-up, or never?

The spawn form says it per profile before anyone waits: a GPU profile on a cluster whose GPU
nodes are all busy, or whose GPU group starts from zero, or that has no node big enough, should
not look like the CPU profile next to it. The answer comes from the nodes the profile may run
on (its node selector and tolerations), their allocatable resources, what the pods on them
already request, and the profile's node-group hints (`max_nodes`, `scales_from_zero`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from podlab.config import Profile
from podlab.quantities import parse_bytes, parse_cpu

Obj = Mapping[str, Any]
NO_SCHEDULE = ("NoSchedule", "NoExecute")


class State(Enum):
    NOW = "now"
    """A Ready node has room for it now."""
    SCALE_UP = "scale-up"
    """No node has room now, but the node group can add one (minutes)."""
    BUSY = "busy"
    """Nodes that fit exist but are full, and none can be added: it waits for room."""
    NEVER = "never"
    """No node of this cluster could ever run it."""


@dataclass(frozen=True)
class Availability:
    state: State
    reason: str = ""

    @property
    def startable(self) -> bool:
        return self.state is not State.NEVER


def requests_of(profile: Profile) -> dict[str, float]:
    """What the profile's pod requests of a node (cores, bytes, devices)."""
    wanted = {"cpu": profile.cpu.guarantee, "memory": float(profile.memory.guarantee_bytes)}
    if profile.gpu is not None and profile.gpu.count:
        wanted[profile.gpu.resource] = float(profile.gpu.count)
    return wanted


def _amount(resource: str, value: Any) -> float:
    if resource == "cpu":
        return parse_cpu(str(value))
    if resource in ("memory", "ephemeral-storage"):
        return float(parse_bytes(str(value)))
    return float(str(value))


def tolerated(taint: Obj, tolerations: Iterable[Obj]) -> bool:
    """Kubernetes' rule for one taint and a pod's tolerations."""
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator", "Equal") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get(
            "value", ""
        ):
            return True
    return False


def may_run_on(profile: Profile, node: Obj) -> bool:
    """The node's labels and taints let the profile's pod onto it."""
    labels = node.get("metadata", {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in profile.node_selector.items()):
        return False
    tolerations = [t.to_k8s() for t in profile.tolerations]
    taints = [t for t in node.get("spec", {}).get("taints") or [] if t.get("effect") in NO_SCHEDULE]
    return all(tolerated(t, tolerations) for t in taints)


def _ready(node: Obj) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return not node.get("spec", {}).get("unschedulable") and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
    )


def _requested(pods: Iterable[Obj]) -> dict[str, float]:
    """What running and pending pods on a node request (init containers left out)."""
    total: dict[str, float] = {}
    for pod in pods:
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for container in pod.get("spec", {}).get("containers") or []:
            for resource, value in (
                (container.get("resources") or {}).get("requests") or {}
            ).items():
                total[resource] = total.get(resource, 0.0) + _amount(resource, value)
    return total


def _short(resource: str) -> str:
    return {"cpu": "cores", "memory": "memory"}.get(resource, resource)


def availability(
    profile: Profile, nodes: Sequence[Obj], pods_by_node: Mapping[str, Sequence[Obj]]
) -> Availability:
    """The profile's state on a cluster with these nodes and pods."""
    wanted = requests_of(profile)
    candidates = [n for n in nodes if may_run_on(profile, n)]

    def allocatable(node: Obj) -> dict[str, float]:
        values = node.get("status", {}).get("allocatable") or {}
        return {r: _amount(r, values[r]) if r in values else 0.0 for r in wanted}

    big_enough = [n for n in candidates if all(allocatable(n)[r] >= v for r, v in wanted.items())]
    grows = can_grow(profile, candidates)
    for node in big_enough:
        if not _ready(node):
            continue
        used = _requested(pods_by_node.get(node["metadata"]["name"], []))
        if all(allocatable(node)[r] - used.get(r, 0.0) >= v for r, v in wanted.items()):
            return Availability(State.NOW)
    if grows and (big_enough or not candidates):
        return Availability(State.SCALE_UP, "starts a new node first: this takes a few minutes")
    if big_enough:
        return Availability(
            State.BUSY,
            f"all {len(big_enough)} node(s) for it are in use; it waits until one has room",
        )
    return Availability(State.NEVER, _never_reason(profile, candidates, wanted, allocatable))


def can_grow(profile: Profile, candidates: Sequence[Obj]) -> bool:
    """The profile's node group can add a node (its hints, and the nodes it may run on now)."""
    if not candidates:
        return profile.scales_from_zero
    return profile.max_nodes is not None and len(candidates) < profile.max_nodes


def _never_reason(
    profile: Profile, candidates: list[Obj], wanted: dict[str, float], allocatable: Any
) -> str:
    if not candidates:
        where = ", ".join(f"{k}={v}" for k, v in profile.node_selector.items()) or "its tolerations"
        return f"no node of this cluster matches {where}"
    for resource, value in wanted.items():
        largest = max(allocatable(n)[resource] for n in candidates)
        if largest < value:
            if resource == "memory":
                has = f"{largest / 2**30:.0f}Gi"
                return f"needs {profile.memory.guarantee} of memory; the largest node has {has}"
            return f"needs {value:g} {_short(resource)}; the largest node has {largest:g}"
    return "no node of this cluster can run it"
