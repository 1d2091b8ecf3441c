"""The objects of one user's namespace, as plain manifests (dicts), from the config alone.

Pure functions: no cluster, no client, no clock. The ensure step applies exactly what these
return, `podlab render` prints it, and the tests validate it against the Kubernetes schemas,
so what is reviewed is what is applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubespawner.slugs import is_valid_label, safe_slug

from podlab.config import DEFAULT_GPU_RESOURCE, PodlabConfig, Profile

FIELD_MANAGER = "podlab-hub"
"""The server-side apply field manager: the hub owns every field it sets, nothing more."""
SERVICE_ACCOUNT = "podlab-user"
"""The user's ServiceAccount: the pod runs as it, and it is what a VS Code kubeconfig gets."""
ROLE = "podlab-user"
QUOTA = "podlab-quota"
LIMIT_RANGE = "podlab-limits"
NETWORK_POLICY = "podlab-user"

POD_SECURITY_LEVEL = "restricted"
POD_SECURITY_LABELS = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "audit", "warn")
    for suffix, value in (("", POD_SECURITY_LEVEL), ("-version", "latest"))
}
"""Pod Security Admission: every pod in a user namespace (executors too) must be restricted."""

MANAGED_BY = {
    "app.kubernetes.io/managed-by": FIELD_MANAGER,
    "app.kubernetes.io/part-of": "podlab",
}
USER_LABEL = "podlab.io/user"
USER_ANNOTATION = "podlab.io/username"


@dataclass(frozen=True)
class UserNamespace:
    """Who the objects are for: the hub username, their namespace and the hub's namespace."""

    username: str
    namespace: str
    platform_namespace: str

    @property
    def user_label(self) -> str:
        """The username as a label value (KubeSpawner's scheme for `hub.jupyter.org/username`)."""
        return str(safe_slug(self.username, is_valid=is_valid_label))

    def metadata(self, name: str, *, namespaced: bool = True) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": name,
            "labels": {**MANAGED_BY, USER_LABEL: self.user_label},
            "annotations": {USER_ANNOTATION: self.username},
        }
        if namespaced:
            meta["namespace"] = self.namespace
        return meta


def spark_on_kubernetes(config: PodlabConfig) -> bool:
    spark = config.integrations.spark
    return spark is not None and spark.mode == "kubernetes"


# -- the objects -------------------------------------------------------------------------------
def namespace(user: UserNamespace) -> dict[str, Any]:
    meta = user.metadata(user.namespace, namespaced=False)
    meta["labels"].update(POD_SECURITY_LABELS)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_account(
    user: UserNamespace, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """No automatic token: the pod spec opts in only when Spark needs the API (spark k8s).

    `annotations` (podlab.user_service_account.annotations) give every user pod the
    site's cloud identity, e.g. `eks.amazonaws.com/role-arn` for IRSA; podlab's own
    annotation cannot be overridden by them.
    """
    metadata = user.metadata(SERVICE_ACCOUNT)
    metadata["annotations"] = {**dict(annotations or {}), **metadata["annotations"]}
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata,
        "automountServiceAccountToken": False,
    }


POD_ACCESS_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list", "watch"]},
    # kubectl exec / port-forward (VS Code attach) open a stream: create, plus get for
    # clients that still upgrade a GET request.
    {"apiGroups": [""], "resources": ["pods/exec", "pods/portforward"], "verbs": ["create", "get"]},
]
"""What the user (and VS Code through their kubeconfig) may do: see and enter their pods."""

SPARK_EXECUTOR_VERBS = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
]
SPARK_RULES: list[dict[str, Any]] = [
    # Spark's driver creates, watches, labels and deletes (by label: deletecollection) its
    # executor pods, the executors' ConfigMap, on-demand PersistentVolumeClaims, and a
    # headless driver Service in cluster mode.
    {
        "apiGroups": [""],
        "resources": ["pods", "services", "configmaps", "persistentvolumeclaims"],
        "verbs": SPARK_EXECUTOR_VERBS,
    },
]


def role(user: UserNamespace, config: PodlabConfig) -> dict[str, Any]:
    rules = [dict(rule) for rule in POD_ACCESS_RULES]
    if spark_on_kubernetes(config):
        rules += [dict(rule) for rule in SPARK_RULES]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": user.metadata(ROLE),
        "rules": rules,
    }


def role_binding(user: UserNamespace) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": user.metadata(ROLE),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
        "subjects": [
            {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": user.namespace}
        ],
    }


@dataclass(frozen=True)
class Envelope:
    """The largest resources any profile asks for, dimension by dimension."""

    cpu_guarantee: float
    cpu_limit: float
    memory_guarantee: int
    memory_limit: int
    gpus: dict[str, int]
    min_cpu_guarantee: float
    min_memory_guarantee: int


def envelope(profiles: Iterable[Profile]) -> Envelope:
    """Per dimension, not one profile: a user may restart with any profile they can choose."""
    profiles = list(profiles)
    gpus: dict[str, int] = {}
    for profile in profiles:
        if profile.gpu is not None:
            gpus[profile.gpu.resource] = max(gpus.get(profile.gpu.resource, 0), profile.gpu.count)
    return Envelope(
        cpu_guarantee=max(p.cpu.guarantee for p in profiles),
        cpu_limit=max(p.cpu.limit for p in profiles),
        memory_guarantee=max(p.memory.guarantee_bytes for p in profiles),
        memory_limit=max(p.memory.limit_bytes for p in profiles),
        gpus=gpus,
        min_cpu_guarantee=min(p.cpu.guarantee for p in profiles),
        min_memory_guarantee=min(p.memory.guarantee_bytes for p in profiles),
    )


def resource_quota(user: UserNamespace, config: PodlabConfig) -> dict[str, Any]:
    """The namespace may hold one server of the largest profile and its home volume.

    With Spark on Kubernetes the executors get a budget as large as the server again (cpu and
    memory, no GPUs) and one pod slot each: a runaway job stops at the quota, not the cluster.
    """
    env = envelope(config.profiles)
    spark = config.integrations.spark
    executors = spark.executor_instances if spark is not None and spark_on_kubernetes(config) else 0
    factor = 2 if executors else 1
    hard: dict[str, str] = {
        "pods": str(1 + executors),
        "requests.cpu": cpu_quantity(env.cpu_guarantee * factor),
        "limits.cpu": cpu_quantity(env.cpu_limit * factor),
        "requests.memory": byte_quantity(env.memory_guarantee * factor),
        "limits.memory": byte_quantity(env.memory_limit * factor),
        "persistentvolumeclaims": "1",
        "requests.storage": config.storage.home_size,
    }
    for resource, count in sorted((env.gpus or {DEFAULT_GPU_RESOURCE: 0}).items()):
        hard[f"requests.{resource}"] = str(count)
    if not executors:
        hard["services"] = "0"
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": user.metadata(QUOTA),
        "spec": {"hard": hard},
    }


def limit_range(user: UserNamespace, config: PodlabConfig) -> dict[str, Any]:
    """Defaults for containers that set none (Spark executors) and a per-container ceiling.

    The quota above counts limits.cpu/limits.memory, so every container needs limits: the
    default limit is the largest profile's (a request above it is rejected anyway), the default
    request the smallest profile's guarantee.
    """
    env = envelope(config.profiles)
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": user.metadata(LIMIT_RANGE),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "max": {
                        "cpu": cpu_quantity(env.cpu_limit),
                        "memory": byte_quantity(env.memory_limit),
                    },
                    "default": {
                        "cpu": cpu_quantity(env.cpu_limit),
                        "memory": byte_quantity(env.memory_limit),
                    },
                    "defaultRequest": {
                        "cpu": cpu_quantity(env.min_cpu_guarantee),
                        "memory": byte_quantity(env.min_memory_guarantee),
                    },
                },
                {
                    "type": "PersistentVolumeClaim",
                    "max": {"storage": config.storage.home_size},
                },
            ]
        },
    }


# -- quantities --------------------------------------------------------------------------------
def cpu_quantity(cores: float) -> str:
    """0.5 -> "500m", 2.0 -> "2": the canonical spelling the API server echoes back."""
    millis = round(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def byte_quantity(count: int) -> str:
    """8589934592 -> "8Gi"; the largest binary suffix that divides exactly."""
    for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if count and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)
