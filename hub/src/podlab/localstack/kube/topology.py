"""The shape of the test bed's cluster: its address plan, its nodes and its storage class.

Every address is on 127.0.0.0/8 (nothing here may reach another network, even by a tool's
default). Nodes mirror the EKS node groups of terraform/modules/nodegroups: a `podlab.io/
node-pool` label, one zone per node, and the GPU group's `nvidia.com/gpu=true:NoSchedule`
taint, so a profile that schedules here schedules there.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

NODE_IP = "127.0.0.1"
"""Every kwok node's InternalIP: the address kwok's kubelet API (exec, logs, port-forward)
listens on."""
POD_CIDR = "127.1.0.0/16"
RUNNER_CIDR = "127.1.240.0/20"
"""Pod IPs the pod runner hands out: inside the pod CIDR, outside every node's range (which
kwok allocates from for the pods it only simulates)."""
SERVICE_CIDR = "127.2.0.0/16"
POOL_LABEL = "podlab.io/node-pool"
GPU_RESOURCE = "nvidia.com/gpu"
STORAGE_CLASS = "podlab-local"
PROVISIONER = "podlab.io/local-dir"
RUNNER_LABEL = "podlab.io/pod-runner"
"""Pods labelled `podlab.io/pod-runner=local` are run by the pod runner (see runner.py)."""


@dataclass(frozen=True)
class NodeSpec:
    name: str
    pool: str
    zone: str
    instance_type: str
    cpu: str
    memory: str
    pod_cidr: str
    gpus: int = 0
    pods: int = 110

    def manifest(self) -> dict[str, Any]:
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
            "spec": {"podCIDR": self.pod_cidr, "podCIDRs": [self.pod_cidr], "taints": taints},
            "status": {"capacity": capacity, "allocatable": dict(capacity)},
        }


NODES = (
    NodeSpec("cpu-a", "cpu", "local-a", "m5.2xlarge", "8", "32Gi", "127.1.0.0/20"),
    NodeSpec("cpu-b", "cpu", "local-b", "m5.2xlarge", "8", "32Gi", "127.1.16.0/20"),
    NodeSpec("gpu-a", "gpu", "local-a", "g5.12xlarge", "48", "192Gi", "127.1.32.0/20", gpus=4),
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


def service_ip(index: int = 1) -> str:
    """The n-th address of the service range (the `kubernetes` Service takes the first)."""
    return str(ipaddress.ip_network(SERVICE_CIDR)[index])
