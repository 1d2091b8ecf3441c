"""The shape of the test bed's cluster: its address plan, its nodes and its storage class.

Every address is on 127.0.0.0/8 (nothing here may reach another network, even by a tool's
default). Nodes mirror the EKS node groups of terraform/modules/nodegroups: a `podlab.io/
node-pool` label, one zone per node, and the GPU group's `nvidia.com/gpu=true:NoSchedule`
taint, so a profile that schedules here schedules there.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from podlab.config import DEFAULT_GPU_RESOURCE

NODE_IP = "127.0.0.1"
"""Every kwok node's InternalIP: the address kwok's kubelet API (exec, logs, port-forward)
listens on."""
MAX_BEDS = 100


@dataclass(frozen=True)
class AddressPlan:
    """The addresses of one test bed. Beds on one machine (`make kube-up` next to a test run)
    get different indexes, so their pod IPs and Service IPs never meet:
    pods 127.(1+2i).0.0/16 (node i: the i-th /20, the pod runner the last /20),
    Services 127.(2+2i).0.0/16."""

    index: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.index < MAX_BEDS:
            raise ValueError(f"address plan index must be in 0..{MAX_BEDS - 1}, not {self.index}")

    @property
    def pod_cidr(self) -> str:
        return f"127.{1 + 2 * self.index}.0.0/16"

    @property
    def runner_cidr(self) -> str:
        """Pod IPs the pod runner hands out: inside the pod CIDR, after every node's range
        (kwok allocates from those for the pods it only simulates)."""
        return f"127.{1 + 2 * self.index}.240.0/20"

    @property
    def service_cidr(self) -> str:
        return f"127.{2 + 2 * self.index}.0.0/16"

    def node_cidr(self, position: int) -> str:
        return f"127.{1 + 2 * self.index}.{16 * position}.0/20"

    def service_ip(self, offset: int = 1) -> str:
        """The n-th address of the Service range (the `kubernetes` Service takes the first)."""
        return str(ipaddress.ip_network(self.service_cidr)[offset])

    @property
    def lock_path(self) -> Path:
        return Path(tempfile.gettempdir()) / f"podlab-kube-bed-{self.index}.lock"

    def hold(self) -> IO[str] | None:
        """Lock this plan for the life of the returned file (the pod runner holds it), or None
        when another bed on this machine holds it."""
        handle = open(self.lock_path, "a+")  # noqa: SIM115 (held open on purpose)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return handle

    def free(self) -> bool:
        handle = self.hold()
        if handle is None:
            return False
        handle.close()
        return True


@contextlib.contextmanager
def selecting() -> Iterator[None]:
    """Held while a bed picks its address plan and while it hands the plan's lock over to its
    pod runner (the lock is free for that moment): beds starting at the same time (`make
    test`'s two workers) never pick the same plan."""
    with open(Path(tempfile.gettempdir()) / "podlab-kube-bed-selection.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def free_plan(start: int = 0) -> AddressPlan:
    """The first address plan no running bed on this machine holds."""
    for index in range(start, MAX_BEDS):
        plan = AddressPlan(index)
        if plan.free():
            return plan
    raise RuntimeError(f"all {MAX_BEDS} test bed address plans are in use on this machine")


POOL_LABEL = "podlab.io/node-pool"
GPU_RESOURCE = DEFAULT_GPU_RESOURCE
"""What the GPU node offers: the resource a profile's `gpu` requests unless it names another."""
STORAGE_CLASS = "podlab-local"
PROVISIONER = "podlab.io/local-dir"
RUNNER_LABEL = "podlab.io/pod-runner"
RUNNER_SELECTOR: tuple[tuple[str, tuple[str, ...]], ...] = (
    (RUNNER_LABEL, ("local",)),
    ("app.kubernetes.io/part-of", ("podlab",)),
    ("component", ("singleuser-server",)),
)
"""Pods the pod runner runs (any of these labels with one of its values): those labelled
`podlab.io/pod-runner=local`, the chart's pods and the user servers KubeSpawner starts."""


@dataclass(frozen=True)
class NodeSpec:
    name: str
    pool: str
    zone: str
    instance_type: str
    cpu: str
    memory: str
    gpus: int = 0
    pods: int = 110

    def manifest(self, pod_cidr: str) -> dict[str, Any]:
        capacity = {"cpu": self.cpu, "memory": self.memory, "pods": str(self.pods)}
        taints = []
        if self.gpus:
            capacity[GPU_RESOURCE] = str(self.gpus)
            taints.append({"key": GPU_RESOURCE, "value": "true", "effect": "NoSchedule"})
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": self.instance_type,
                    "topology.kubernetes.io/zone": self.zone,
                    "topology.kubernetes.io/region": "local",
                    POOL_LABEL: self.pool,
                    "type": "kwok",
                },
                "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            },
            "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr], "taints": taints},
            "status": {"capacity": capacity, "allocatable": dict(capacity)},
        }


NODES = (
    NodeSpec("cpu-a", "cpu", "local-a", "m5.2xlarge", "8", "32Gi"),
    NodeSpec("cpu-b", "cpu", "local-b", "m5.2xlarge", "8", "32Gi"),
    NodeSpec("gpu-a", "gpu", "local-a", "g5.12xlarge", "48", "192Gi", gpus=4),
)


def storage_class() -> dict[str, Any]:
    """The default class: volumes are made when a pod needs one, on that pod's node."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
