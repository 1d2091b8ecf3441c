"""Apply a user's namespace objects with server-side apply, before their pod exists.

Server-side apply (PATCH, `application/apply-patch+yaml`, one field manager, conflicts forced)
makes the step idempotent without reading first: the same manifests give the same requests
and the same objects, every spawn. It also converges: a field the hub stopped setting (a
profile removed, a quota lowered) is dropped by the next apply, while fields other managers
own (labels an admin added) are left alone. Objects are applied in order and the first
failure stops the spawn with an error naming the object, before any pod is created.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from podlab.k8s.objects import FIELD_MANAGER

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"

_PLURALS = {
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "ResourceQuota": "resourcequotas",
    "LimitRange": "limitranges",
    "NetworkPolicy": "networkpolicies",
    "PersistentVolumeClaim": "persistentvolumeclaims",
}


class EnsureError(RuntimeError):
    """An object of the user's namespace could not be applied; the spawn must stop."""

    def __init__(self, manifest: dict[str, Any], path: str, detail: str, hint: str) -> None:
        self.kind = str(manifest.get("kind"))
        self.name = _qualified_name(manifest)
        self.path = path
        self.detail = detail
        super().__init__(
            f"could not prepare the user namespace: applying {self.kind} {self.name} failed "
            f"({detail}); no server was started. {hint}"
        )

    @property
    def jupyterhub_message(self) -> str:
        """What JupyterHub shows the user (REST API error body, spawn page) instead of a 500."""
        return str(self)


@dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    path: str
    uid: str = ""
    """The object's uid as the API server answered (empty where it said none)."""


def api_path(manifest: dict[str, Any]) -> str:
    """The object's REST path: /api/v1/... for the core group, /apis/<group>/<v>/... otherwise."""
    api_version = str(manifest["apiVersion"])
    kind = str(manifest["kind"])
    try:
        plural = _PLURALS[kind]
    except KeyError:
        raise ValueError(f"no REST path known for kind {kind!r}") from None
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    meta = manifest["metadata"]
    namespace = meta.get("namespace")
    if namespace:
        return f"{base}/namespaces/{namespace}/{plural}/{meta['name']}"
    return f"{base}/{plural}/{meta['name']}"


async def apply_objects(
    api_client: ApiClient,
    manifests: Sequence[dict[str, Any]],
    *,
    field_manager: str = FIELD_MANAGER,
    request_timeout: float = 10,
) -> list[Applied]:
    """Server-side apply each manifest in order; EnsureError on the first that fails."""
    applied = []
    for manifest in manifests:
        path = api_path(manifest)
        try:
            answer = await api_client.call_api(
                path,
                "PATCH",
                query_params=[("fieldManager", field_manager), ("force", "true")],
                header_params={"Content-Type": APPLY_CONTENT_TYPE, "Accept": "application/json"},
                body=manifest,
                auth_settings=["BearerToken"],
                response_types_map={200: "object", 201: "object"},
                _return_http_data_only=True,
                _request_timeout=request_timeout,
            )
        except ApiException as err:
            raise EnsureError(manifest, path, _api_detail(err), _api_hint(err)) from err
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
            detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            raise EnsureError(
                manifest,
                path,
                f"Kubernetes API unreachable: {detail}",
                "Check that the hub can reach the Kubernetes API server, then start again.",
            ) from err
        uid = str(((answer or {}).get("metadata") or {}).get("uid") or "")
        applied.append(Applied(str(manifest["kind"]), _qualified_name(manifest), path, uid))
    return applied


def _qualified_name(manifest: dict[str, Any]) -> str:
    meta = manifest.get("metadata", {})
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def _api_detail(err: ApiException) -> str:
    message = ""
    body: Any = err.body
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if isinstance(body, str) and body:
        try:
            message = str(json.loads(body).get("message", ""))
        except (ValueError, AttributeError):
            message = body[:500]
    detail = f"HTTP {err.status} {err.reason}".rstrip()
    return f"{detail}: {message}" if message else detail


def _api_hint(err: ApiException) -> str:
    if err.status in (401, 403):
        return (
            "The hub's ServiceAccount lacks permission: its ClusterRole must allow patch "
            "(server-side apply) on namespaces, serviceaccounts, roles, rolebindings, "
            "resourcequotas, limitranges and networkpolicies."
        )
    if err.status == 422:
        return "The API server rejected the object: check the podlab config (podlab validate)."
    return "Ask an administrator to check the hub log and the Kubernetes API server."
