"""The hub's ClusterRole, proven on the real API server: sufficient and minimal.

The test bed's API server writes an audit log of every request the installed release's hub
ServiceAccount makes (tests/conftest.py, `audit_users`). After a user's server is started,
stopped and started again (the spawns of the earlier tests of the session count too):

- sufficient: RBAC never refused the hub (no `forbid` decision in the log);
- minimal: every (group, resource, verb) the ClusterRole grants was either used by the hub
  (a server-side apply answered 201 needed `create`) or is granted by the per-user Role the
  hub applied, which Kubernetes lets the hub create only while it holds the same permission
  (no `escalate`/`bind`); and removing one of those breaks the hub's apply of the user's Role
  on the same server.

Spark on Kubernetes widens the per-user Role and with it the ClusterRole; that variant is
checked by render (tests/chart/test_rbac.py), since the bed's release does not enable it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from podlab.k8s.ensure import EnsureError, apply_objects
from tests.chart.test_rbac import Permission, expand
from tests.support.hubclient import HubUser
from tests.support.kube import KubeCluster, get_json, new_namespace
from tests.support.release import Release

HUB_ACCOUNT = "system:serviceaccount:podlab:podlab-hub"
"""The installed release's hub (tests/conftest.py audits exactly this user)."""


def audited(kube: KubeCluster) -> list[dict[str, Any]]:
    path = kube.settings.log_dir / "audit.log"
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in events if e["user"]["username"] == HUB_ACCOUNT]


def used(events: list[dict[str, Any]]) -> set[Permission]:
    """What the hub's requests needed: their verb on their resource, and `create` for a
    server-side apply that created the object (201)."""
    needed: set[Permission] = set()
    for event in events:
        ref = event.get("objectRef") or {}
        code = (event.get("responseStatus") or {}).get("code", 0)
        if not ref.get("resource") or code in (401, 403):
            continue
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        needed.add((ref.get("apiGroup", ""), resource, event["verb"]))
        if event["verb"] == "patch" and code == 201:
            needed.add((ref.get("apiGroup", ""), resource, "create"))
    return needed


@pytest.fixture(scope="module")
def spawned(trial_release: Release) -> dict[str, Any]:
    """A user's server started and stopped; the user deleted by an admin (the home claim
    stays) and back at the next login: the user's quota counts one claim, so creating the home
    claim again is refused by quota admission (403, not 409), and KubeSpawner reads the claim
    to find it exists (the ClusterRole's `get` on claims). Every call a spawn, a stop and a
    returning user make."""
    url = f"http://{trial_release.service_ip('proxy-public')}"
    password = trial_release.secret_value("podlab-hub", "user-password")
    name = f"rbac-{uuid.uuid4().hex[:4]}"
    namespace = f"podlab-{name}"
    for attempt in range(2):
        user = HubUser(url, name, password)
        assert user.start().status_code in (201, 202)
        user.wait_ready()
        assert user.stop().status_code in (202, 204)
        user.wait_stopped()
        if not attempt:
            admin_password = trial_release.secret_value("podlab-hub", "admin-password")
            admin = HubUser(url, "admin", admin_password)
            assert admin.api.delete(f"/users/{name}").status_code == 204
    role = get_json(trial_release.kube, "role", "podlab-user", "-n", namespace)
    # The chart names it after the release namespace too (templates/_helpers-names.tpl).
    cluster_role = get_json(trial_release.kube, "clusterrole", "podlab-podlab-hub")
    return {"user": user, "role": role, "cluster_role": cluster_role}


def test_the_hub_was_never_refused(trial_release: Release, spawned: dict[str, Any]):
    events = audited(trial_release.kube)
    assert events, "no audited request of the hub: is the bed's audit policy set?"
    # RBAC's refusals (quota admission's 403 for the returning user's claim is expected).
    refused = [
        f"{e['verb']} {e['requestURI']}: {e['responseStatus'].get('message', '')}"
        for e in events
        if (e.get("annotations") or {}).get("authorization.k8s.io/decision") == "forbid"
    ]
    assert refused == []
    allowed = [e for e in events if e.get("annotations", {}).get("authorization.k8s.io/decision")]
    assert len(allowed) == len(events), "the audit log lacks authorization decisions"
    quota = [e for e in events if "exceeded quota" in e["responseStatus"].get("message", "")]
    assert quota, "the returning user's claim was not refused by quota"
    assert {e["objectRef"]["resource"] for e in quota} == {"persistentvolumeclaims"}


def test_every_grant_is_used_or_granted_on_to_users(
    trial_release: Release, spawned: dict[str, Any]
):
    granted = set(expand(spawned["cluster_role"]["rules"]))
    needed = used(audited(trial_release.kube))
    on_to_users = set(expand(spawned["role"]["rules"]))
    assert needed <= granted  # what the hub did, its role allowed (no 403 above)
    unexplained = sorted(granted - needed - on_to_users)
    assert unexplained == [], "granted, never used by the hub, not granted on to users"
    # Each reason is real: the hub lists nodes and pods, applies the namespace objects.
    for permission in [
        ("", "nodes", "list"),
        ("", "pods", "watch"),
        ("", "pods", "create"),
        ("", "pods", "delete"),
        ("", "namespaces", "get"),
        ("rbac.authorization.k8s.io", "roles", "create"),
        ("", "persistentvolumeclaims", "create"),
        ("", "persistentvolumeclaims", "get"),
    ]:
        assert permission in needed, permission


def _grant_only_to_users(spawned: dict[str, Any], kube: KubeCluster) -> list[Permission]:
    needed = used(audited(kube))
    return sorted(set(expand(spawned["role"]["rules"])) - needed)


def test_without_a_permission_it_grants_the_hub_cannot_apply_the_users_role(
    trial_release: Release, spawned: dict[str, Any]
):
    """Remove, one at a time, each permission the hub holds only to grant it on: the real
    API server then refuses the hub's apply of the per-user Role (no escalation)."""
    kube = trial_release.kube
    namespace = new_namespace(kube, "rbac-minus")
    role = spawned["role"]
    manifest = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "podlab-user", "namespace": namespace},
        "rules": role["rules"],
    }
    only_granted = _grant_only_to_users(spawned, kube)
    assert only_granted, "the per-user Role grants nothing the hub does not use itself"
    for removed in only_granted:
        name = f"podlab-minus-{uuid.uuid4().hex[:6]}"
        rules = [
            {"apiGroups": [g], "resources": [r], "verbs": [v]}
            for g, r, v in sorted(set(expand(spawned["cluster_role"]["rules"])) - {removed})
        ]
        objects: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "ServiceAccount",
             "metadata": {"name": name, "namespace": namespace}},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": name}, "rules": rules},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": {"name": name},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": name},
             "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
        ]  # fmt: skip
        kube.apply(*objects)
        try:
            token = kube.kubectl("create", "token", name, "-n", namespace).strip()
            with pytest.raises(EnsureError, match=r"forbidden|not currently held") as refused:
                asyncio.run(_apply_as(kube, token, [manifest]))
            assert removed[1].split("/")[0] in str(refused.value), (removed, refused.value)
        finally:
            kube.kubectl("delete", "clusterrole,clusterrolebinding", name, "--wait=false")
    # With the whole ClusterRole the same apply passes: the removals were the cause.
    full = f"podlab-full-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "serviceaccount", full, "-n", namespace)
    kube.kubectl(
        "create", "clusterrolebinding", full, "--clusterrole=podlab-podlab-hub",
        f"--serviceaccount={namespace}:{full}",
    )  # fmt: skip
    try:
        token = kube.kubectl("create", "token", full, "-n", namespace).strip()
        applied = asyncio.run(_apply_as(kube, token, [manifest]))
        assert [a.kind for a in applied] == ["Role"]
    finally:
        kube.kubectl("delete", "clusterrolebinding", full, "--wait=false")


async def _apply_as(kube: KubeCluster, token: str, manifests: list[dict[str, Any]]) -> Any:
    from kubernetes_asyncio.client import ApiClient, Configuration

    conf = Configuration(host=kube.api_url)
    conf.ssl_ca_cert = str(kube.pki.ca_cert)
    conf.api_key = {"BearerToken": token}
    conf.api_key_prefix = {"BearerToken": "Bearer"}
    async with ApiClient(conf) as client:
        return await apply_objects(client, manifests, request_timeout=10)
