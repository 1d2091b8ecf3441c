"""The Kubernetes test bed for the tests: `podlab.localstack.kube`, the code `make kube-up` runs.

`kube` (session scope, in tests/conftest.py) is one bed on free ports in the session's temp dir;
`KubeClient` wraps the built kubectl and the `kubernetes` client around it for the tests.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import kubernetes
import yaml

from podlab.localstack.kube import topology
from podlab.localstack.kube.cluster import (
    KubeCluster,
    KubeError,
    KubeSettings,
    Ports,
    running_cluster,
)

__all__ = [
    "KubeCluster",
    "KubeError",
    "KubeSettings",
    "Ports",
    "api_client",
    "delete_new_namespaces",
    "get_json",
    "manifest",
    "new_namespace",
    "running_cluster",
    "topology",
    "wait_for",
]


CREATED: list[tuple[KubeCluster, str]] = []
"""Namespaces new_namespace made; `delete_new_namespaces` removes them after a test."""


def new_namespace(cluster: KubeCluster, prefix: str, labels: dict[str, str] | None = None) -> str:
    """A fresh namespace for one test (tests share the bed, never a namespace)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    CREATED.append((cluster, name))
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels or {}},
        }
    )
    return name


def delete_new_namespaces() -> None:
    """Delete what the test's namespaces hold (their pods hold GPUs and processes the next
    test may need), waiting until they are gone."""
    while CREATED:
        cluster, name = CREATED.pop()
        cluster.kubectl("delete", "namespace", name, "--wait=true", "--timeout=120s", check=False)


def get_json(cluster: KubeCluster, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json"))


def api_client(cluster: KubeCluster, token: str | None = None) -> kubernetes.client.ApiClient:
    """The official Python client: as the admin, or as whoever `token` belongs to."""
    if token is None:
        client: kubernetes.client.ApiClient = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(cluster.kubeconfig)
        )
        return client
    config = kubernetes.client.Configuration()
    config.host = cluster.api_url
    config.ssl_ca_cert = str(cluster.pki.ca_cert)
    config.api_key = {"authorization": f"Bearer {token}"}
    return kubernetes.client.ApiClient(config)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.3) -> Any:
    """Poll `check` until it returns something truthy; AssertionError with `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def manifest(text: str) -> dict[str, Any]:
    return dict(yaml.safe_load(text))
