"""Per-user namespace objects: pure builders (`objects`, `network`) and the apply step (`ensure`).

The builders take the validated config and return manifests; nothing here talks to a cluster
except `ensure`, which applies exactly the builders' output with server-side apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podlab.config import PodlabConfig
from podlab.k8s.network import network_policy
from podlab.k8s.objects import (
    FIELD_MANAGER,
    SERVICE_ACCOUNT,
    UserNamespace,
    limit_range,
    namespace,
    resource_quota,
    role,
    role_binding,
    service_account,
)

__all__ = [
    "FIELD_MANAGER",
    "SERVICE_ACCOUNT",
    "UserNamespace",
    "namespace_objects",
]


def namespace_objects(
    config: PodlabConfig,
    *,
    username: str,
    namespace_name: str,
    platform_namespace: str,
    service_account_annotations: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Everything the hub ensures before a user's pod, in apply order (the Namespace first)."""
    user = UserNamespace(username, namespace_name, platform_namespace)
    return [
        namespace(user),
        service_account(user, service_account_annotations),
        role(user, config),
        role_binding(user),
        resource_quota(user, config),
        limit_range(user, config),
        network_policy(user, config),
    ]
