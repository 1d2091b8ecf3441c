"""Before the ensure step touches a namespace: is it one the hub created for this user?

A user's namespace is `podlab-<safe username>`, so a user called `hub` maps to `podlab-hub`,
which may be the platform's own namespace or any other team's. Server-side apply with force
would take such a namespace over (Pod Security labels, quota, a NetworkPolicy that cuts its
traffic). So the hub reads the namespace first and goes on only when it does not exist yet,
or carries the hub's own marks for this very user (`app.kubernetes.io/managed-by:
podlab-hub` and the `podlab.io/username` annotation). Anything else stops the spawn with a
message that names the namespace and what to do; nothing is written.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from podlab.k8s.ensure import EnsureError, api_path
from podlab.k8s.objects import FIELD_MANAGER, MANAGED_BY, USER_ANNOTATION


class NamespaceNotOwned(EnsureError):
    """The namespace exists and is not this user's podlab namespace: nothing was written."""

    def __init__(self, manifest: dict[str, Any], path: str, detail: str, hint: str) -> None:
        self.kind = "Namespace"
        self.name = str(manifest["metadata"]["name"])
        self.path = path
        self.detail = detail
        RuntimeError.__init__(
            self,
            f"could not prepare the user namespace: {detail}; nothing was changed and no "
            f"server was started. {hint}",
        )


def _refusal(manifest: dict[str, Any], path: str, detail: str, hint: str) -> EnsureError:
    return NamespaceNotOwned(manifest, path, detail, hint)


def ownership_problem(
    existing: dict[str, Any], username: str, platform_namespace: str
) -> str | None:
    """Why an existing namespace is not this user's podlab namespace (None: it is)."""
    meta = existing.get("metadata") or {}
    name = meta.get("name", "")
    if name == platform_namespace:
        return f"it is the platform's own namespace {name!r}"
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    manager = labels.get("app.kubernetes.io/managed-by")
    if manager != MANAGED_BY["app.kubernetes.io/managed-by"]:
        shown = f"managed by {manager!r}" if manager else "not managed by podlab"
        return f"it already exists and was not created by podlab's hub ({shown})"
    owner = annotations.get(USER_ANNOTATION)
    if owner != username:
        return f"it belongs to the podlab user {owner!r}, not {username!r}"
    return None


async def claim_namespace(
    api_client: ApiClient,
    manifest: dict[str, Any],
    username: str,
    platform_namespace: str,
    *,
    request_timeout: float = 10,
) -> dict[str, Any] | None:
    """Raise EnsureError unless the Namespace `manifest` is absent (None) or already this
    user's (the namespace as read)."""
    path = api_path(manifest)
    name = manifest["metadata"]["name"]
    if name == platform_namespace:
        raise _refusal(
            manifest,
            path,
            f"the user {username!r} would get the platform's own namespace {name!r}",
            "podlab never changes a namespace it did not create. Rename the user or move the "
            "platform to another namespace.",
        )
    try:
        existing = await api_client.call_api(
            path,
            "GET",
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            response_types_map={200: "object"},
            _return_http_data_only=True,
            _request_timeout=request_timeout,
        )
    except ApiException as err:
        if err.status == 404:
            return None  # the hub creates it with its own marks
        raise _refusal(
            manifest,
            path,
            f"HTTP {err.status} {err.reason} reading namespace {name!r}".rstrip(),
            "The hub's ServiceAccount needs get on namespaces to check that a namespace is "
            "its own before changing it.",
        ) from err
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
        raise _refusal(
            manifest,
            path,
            f"Kubernetes API unreachable: {type(err).__name__}: {err}",
            "Check that the hub can reach the Kubernetes API server, then start again.",
        ) from err
    problem = ownership_problem(existing or {}, username, platform_namespace)
    if problem is not None:
        raise _refusal(
            manifest,
            path,
            f"namespace {name!r} is not {username!r}'s: {problem}",
            f"podlab never changes a namespace it did not create ({FIELD_MANAGER} marks its "
            "own). Rename the hub user, or delete or rename the other namespace if it is no "
            "longer needed.",
        )
    return dict(existing)
