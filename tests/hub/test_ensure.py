"""The ensure step: server-side apply of the namespace objects, against a fake API server.

Checks the wire format (PATCH, apply content type, fieldManager=podlab-hub, force=true), the
exact paths in order, idempotency (a second run sends the same requests and changes nothing),
and that a failure stops the spawn with an error naming the object — before any pod exists,
also through a real JupyterHub running PodlabKubeSpawner.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import time
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from kubernetes_asyncio.client import ApiClient, Configuration

from podlab.config import PodlabConfig
from podlab.k8s import namespace_objects
from podlab.k8s.ensure import Applied, EnsureError, api_path, apply_objects
from podlab.kubespawner_config import PodlabKubeSpawner, configure_kubespawner
from podlab.localstack.process import free_port
from podlab.names import namespace_for
from podlab.profiles import ProfileChoiceError
from podlab.render import _DUMMY_KUBECONFIG, offline_kubeconfig
from tests.hub.k8s_helpers import config_data, make_config, write_yaml
from tests.support.fake_kube import APPLY, FakeKubeAPI

NS = "podlab-alice"
EXPECTED_PATHS = [
    "/api/v1/namespaces/podlab-alice",
    "/api/v1/namespaces/podlab-alice/serviceaccounts/podlab-user",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/podlab-alice/roles/podlab-user",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/podlab-alice/rolebindings/podlab-user",
    "/api/v1/namespaces/podlab-alice/resourcequotas/podlab-quota",
    "/api/v1/namespaces/podlab-alice/limitranges/podlab-limits",
    "/apis/networking.k8s.io/v1/namespaces/podlab-alice/networkpolicies/podlab-user",
]


@pytest.fixture(autouse=True)
def _a_fresh_hub_process():
    """Each test is a hub that has applied nothing yet (the ensure cache is per process)."""
    PodlabKubeSpawner._ensured.clear()
    yield
    PodlabKubeSpawner._ensured.clear()


def namespace_requests(api: FakeKubeAPI) -> list[Any]:
    """The requests about the user's namespace: without the node list the spawn form reads."""
    return [r for r in api.requests if r.path != "/api/v1/nodes"]


@pytest.fixture
def kube_api():
    api = FakeKubeAPI().start()
    yield api
    api.stop()


def manifests(config: PodlabConfig | None = None) -> list[dict[str, Any]]:
    return namespace_objects(
        config or make_config(),
        username="alice",
        namespace_name=NS,
        platform_namespace="podlab",
    )


def apply(url: str, objects: list[dict[str, Any]]) -> list[Applied]:
    async def run() -> list[Applied]:
        conf = Configuration(host=url)
        conf.api_key = {"BearerToken": "test-token"}
        conf.api_key_prefix = {"BearerToken": "Bearer"}
        async with ApiClient(conf) as client:
            return await apply_objects(client, objects, request_timeout=5)

    return asyncio.run(run())


def test_api_paths():
    assert [api_path(m) for m in manifests()] == EXPECTED_PATHS
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "home", "namespace": NS},
    }
    assert api_path(pvc) == "/api/v1/namespaces/podlab-alice/persistentvolumeclaims/home"
    with pytest.raises(ValueError, match="no REST path known for kind 'Secret'"):
        api_path({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})


def test_server_side_apply_wire_format(kube_api):
    objects = manifests()
    applied = apply(kube_api.url, objects)
    assert [a.path for a in applied] == EXPECTED_PATHS
    assert [r.path for r in kube_api.requests] == EXPECTED_PATHS
    for request, manifest in zip(kube_api.requests, objects, strict=True):
        assert request.method == "PATCH"
        assert request.content_type == APPLY
        assert request.query == {"fieldManager": ["podlab-hub"], "force": ["true"]}
        assert request.authorization == "Bearer test-token"
        assert request.body == manifest
    stored = kube_api.objects[EXPECTED_PATHS[0]]
    assert stored["metadata"]["managedFields"] == [{"manager": "podlab-hub", "operation": "Apply"}]


def test_apply_is_idempotent_and_converges_in_place_on_a_real_api_server(kube):
    """kube-apiserver 1.34: a second apply of the same objects changes none of them (same
    resourceVersion); a config change (a bigger profile) changes the quota and the limit range
    in place and leaves every other object untouched."""
    from kubernetes_asyncio import config as k8s_config

    from tests.support.kube import get_json

    user = f"conv-{os.urandom(3).hex()}"
    namespace = namespace_for(user)

    def objects(config: PodlabConfig) -> list[dict[str, Any]]:
        return namespace_objects(
            config, username=user, namespace_name=namespace, platform_namespace="podlab"
        )

    async def apply_as_admin(manifests: list[dict[str, Any]]) -> None:
        client = await k8s_config.new_client_from_config(config_file=str(kube.kubeconfig))
        async with client:
            await apply_objects(client, manifests)

    def versions() -> dict[str, str]:
        found = {"Namespace": get_json(kube, "namespace", namespace)["metadata"]}
        listed = get_json(
            kube, "serviceaccount,role,rolebinding,resourcequota,limitrange,networkpolicy",
            "-n", namespace,
        )["items"]  # fmt: skip
        for item in listed:
            if item["metadata"]["name"] != "default":  # the controller's ServiceAccount
                found[f"{item['kind']} {item['metadata']['name']}"] = item["metadata"]
        return {kind: meta["resourceVersion"] for kind, meta in found.items()}

    try:
        asyncio.run(apply_as_admin(objects(make_config())))
        first = versions()
        assert len(first) == len(EXPECTED_PATHS)
        asyncio.run(apply_as_admin(objects(make_config())))
        assert versions() == first
        data = config_data()
        data["profiles"][1]["cpu"]["limit"] = 16
        asyncio.run(apply_as_admin(objects(make_config(profiles=data["profiles"]))))
        after = versions()
        changed = {kind for kind in first if after[kind] != first[kind]}
        # Both follow the largest profile; the rest does not depend on profiles.
        assert changed == {"ResourceQuota podlab-quota", "LimitRange podlab-limits"}
        quota = get_json(kube, "resourcequota", "podlab-quota", "-n", namespace)
        assert quota["spec"]["hard"]["limits.cpu"] == "16"
    finally:
        kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_failure_names_the_object_and_stops(kube_api):
    kube_api.failures[EXPECTED_PATHS[3]] = (
        403,
        "Forbidden",
        'rolebindings.rbac.authorization.k8s.io "podlab-user" is forbidden: user '
        '"system:serviceaccount:podlab:hub" is attempting to grant RBAC permissions not '
        "currently held",
    )
    with pytest.raises(EnsureError) as caught:
        apply(kube_api.url, manifests())
    assert str(caught.value) == (
        "could not prepare the user namespace: applying RoleBinding podlab-alice/podlab-user "
        'failed (HTTP 403 Forbidden: rolebindings.rbac.authorization.k8s.io "podlab-user" is '
        'forbidden: user "system:serviceaccount:podlab:hub" is attempting to grant RBAC '
        "permissions not currently held); no server was started. The hub's ServiceAccount "
        "lacks permission: its ClusterRole must allow patch (server-side apply) on namespaces, "
        "serviceaccounts, roles, rolebindings, resourcequotas, limitranges and networkpolicies."
    )
    assert caught.value.kind == "RoleBinding"
    assert caught.value.path == EXPECTED_PATHS[3]
    # Nothing after the failing object was attempted.
    assert [r.path for r in kube_api.requests] == EXPECTED_PATHS[:4]


def test_rejected_object_points_at_the_config(kube_api):
    kube_api.failures[EXPECTED_PATHS[4]] = (
        422,
        "Invalid",
        'ResourceQuota "podlab-quota" is invalid: spec.hard[requests.cpu]: Invalid value',
    )
    with pytest.raises(EnsureError, match=r"check the podlab config \(podlab validate\)"):
        apply(kube_api.url, manifests())


def test_unreachable_api_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EnsureError) as caught:
        apply(url, manifests())
    message = str(caught.value)
    assert message.startswith(
        "could not prepare the user namespace: applying Namespace podlab-alice failed "
        "(Kubernetes API unreachable: "
    )
    assert message.endswith(
        "no server was started. Check that the hub can reach the Kubernetes API server, then "
        "start again."
    )


# -- through the spawner -----------------------------------------------------------------------
def run_pre_spawn(
    api_url: str,
    user_options: Any,
    username: str = "alice",
    config: PodlabConfig | None = None,
    annotations: dict[str, str] | None = None,
) -> str:
    """What JupyterHub does before `start()`: set user_options, run the pre_spawn_hook."""

    async def run() -> str:
        from traitlets.config import Config

        c = Config()
        configure_kubespawner(c, config or make_config())
        c.PodlabKubeSpawner.k8s_api_host = api_url
        if annotations is not None:
            c.PodlabKubeSpawner.user_service_account_annotations = annotations
        user = SimpleNamespace(name=username, id=7, url=f"/user/{username}/")
        hub = SimpleNamespace(public_host="", url="/hub/", base_url="/hub/", api_url="http://h/")
        spawner = PodlabKubeSpawner(config=c, user=user, hub=hub)
        spawner.user_options = user_options
        await spawner.run_pre_spawn_hook()
        return str(spawner.namespace)

    with offline_kubeconfig():
        return asyncio.run(run())


def test_pre_spawn_hook_applies_the_users_namespace(kube_api):
    namespace = run_pre_spawn(kube_api.url, {"profile": "gpu-1"}, username="Alice")
    assert namespace == namespace_for("Alice")  # KubeSpawner's template, podlab's function
    assert namespace.startswith("podlab-alice---")
    seen = namespace_requests(kube_api)
    first = seen[0]
    assert (first.method, first.path.split("/")[-1]) == ("GET", namespace)
    assert [r.path.split("/")[-1] for r in seen[1:]] == [
        namespace,
        "podlab-user",
        "podlab-user",
        "podlab-user",
        "podlab-quota",
        "podlab-limits",
        "podlab-user",
    ]
    assert {r.query["fieldManager"][0] for r in seen[1:]} == {"podlab-hub"}


def test_user_service_account_carries_the_sites_cloud_identity(kube_api):
    """podlab.user_service_account.annotations (IRSA's role ARN) reach the applied ServiceAccount;
    dropping one later removes it (server-side apply owns exactly what it last applied)."""
    role = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/podlab-user"}
    namespace = run_pre_spawn(kube_api.url, {"profile": "cpu-small"}, annotations=role)
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/podlab-user"
    applied = kube_api.applied[path]["metadata"]["annotations"]
    assert applied["eks.amazonaws.com/role-arn"] == role["eks.amazonaws.com/role-arn"]
    assert applied["podlab.io/username"] == "alice"
    run_pre_spawn(kube_api.url, {"profile": "cpu-small"}, annotations={})
    assert "eks.amazonaws.com/role-arn" not in kube_api.applied[path]["metadata"]["annotations"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"profile": "huge"}, "unknown profile 'huge'; choose one of: cpu-small, gpu-1"),
        (
            {"profile": "gpu-1", "image": "evil/miner"},
            "unexpected spawn option(s) 'image': podlab accepts only 'profile' (one of: "
            "cpu-small, gpu-1)",
        ),
        (
            {"profile": ["gpu-1"]},
            "profile must be a profile slug (one of: cpu-small, gpu-1), got ['gpu-1']",
        ),
    ],
)
def test_bad_profile_choice_creates_nothing(kube_api, options, message):
    with pytest.raises(ProfileChoiceError) as caught:
        run_pre_spawn(kube_api.url, options)
    assert str(caught.value) == message
    assert kube_api.requests == []


# -- through a real JupyterHub -----------------------------------------------------------------
@pytest.fixture
def kube_hub(make_jupyterhub, kube_api, tmp_path):
    config_path = write_yaml(tmp_path / "podlab.yaml", {"podlab": config_data()})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(_DUMMY_KUBECONFIG)
    extra = f"""
    from podlab.config import load_config
    from podlab.kubespawner_config import configure_kubespawner
    configure_kubespawner(c, load_config({str(config_path)!r}))
    c.PodlabKubeSpawner.k8s_api_host = {kube_api.url!r}
    c.PodlabKubeSpawner.events_enabled = False
    """
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    hub = make_jupyterhub(
        f"kube-{time.monotonic_ns()}", extra_config=textwrap.dedent(extra), env=env
    )
    yield hub
    hub.stop()


def _login(hub: Any, user: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{hub.url}/hub/login", timeout=30)
    reply = session.post(
        f"{hub.url}/hub/login",
        data={"username": user, "password": hub.password, "_xsrf": session.cookies["_xsrf"]},
        timeout=30,
    )
    assert reply.ok, reply.text
    return session


def test_hub_refuses_bad_choices_and_failed_ensure_without_a_pod(kube_hub, kube_api):
    # The spawn form: KubeSpawner's profile list, from the podlab profiles.
    session = _login(kube_hub, "alice")
    form = session.get(f"{kube_hub.url}/hub/spawn", timeout=30)
    assert form.status_code == 200
    assert "One GPU" in form.text
    assert "2 CPU, 8 GiB" in form.text
    xsrf = session.cookies["_xsrf"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"profile": "gpu-9"}, "unknown profile &#39;gpu-9&#39;; choose one of: cpu-small, gpu-1"),
        (
            {"profile": "gpu-1", "profile-option-gpu-1--image": "evil/miner"},
            "unexpected field(s) in the spawn form: &#39;profile-option-gpu-1--image&#39;",
        ),
        ({"profile": ["cpu-small", "gpu-1"]}, "the spawn form must name exactly one profile"),
    ]
    for data, message in cases:
        reply = session.post(f"{kube_hub.url}/hub/spawn", data={**data, "_xsrf": xsrf}, timeout=30)
        assert reply.status_code == 400, reply.text
        assert message in reply.text
    assert kube_api.changes() == []

    # The REST API: same strictness, and the message in the error body.
    status, body = kube_hub.api("POST", "/users/alice/server", body={"profile": "huge"})
    assert status >= 400
    assert "unknown profile 'huge'; choose one of: cpu-small, gpu-1" in str(body)
    assert kube_api.changes() == []  # nothing created, not even the namespace

    # A failing object stops the spawn: no PVC, no pod, and the user sees which object.
    kube_api.failures[
        "/apis/networking.k8s.io/v1/namespaces/podlab-alice/networkpolicies/podlab-user"
    ] = (403, "Forbidden", "networkpolicies.networking.k8s.io is forbidden")
    status, body = kube_hub.api("POST", "/users/alice/server", body={"profile": "gpu-1"})
    assert status >= 400
    assert "applying NetworkPolicy podlab-alice/podlab-user failed (HTTP 403 Forbidden" in str(body)
    changes = kube_api.changes()
    assert [r.method for r in changes] == ["PATCH"] * 7  # no pod, no PVC requests
    assert [r.path for r in changes][-1].endswith("/networkpolicies/podlab-user")
    _, user = kube_hub.api("GET", "/users/alice")
    assert user["servers"] == {}


# -- a namespace the hub did not create --------------------------------------------------------
def _namespace(name: str, labels: dict[str, str], annotations: dict[str, str] | None = None):
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
    }


@pytest.mark.parametrize(
    ("existing", "reason"),
    [
        (
            _namespace("podlab-hub", {"app.kubernetes.io/managed-by": "Helm"}),
            "namespace 'podlab-hub' is not 'hub''s: it already exists and was not created by "
            "podlab's hub (managed by 'Helm')",
        ),
        (
            _namespace("podlab-hub", {}),
            "namespace 'podlab-hub' is not 'hub''s: it already exists and was not created by "
            "podlab's hub (not managed by podlab)",
        ),
        (
            _namespace(
                "podlab-hub",
                {"app.kubernetes.io/managed-by": "podlab-hub"},
                {"podlab.io/username": "Hub"},
            ),
            "namespace 'podlab-hub' is not 'hub''s: it belongs to the podlab user 'Hub', not 'hub'",
        ),
    ],
)
def test_the_hub_never_takes_over_a_namespace_it_did_not_create(kube_api, existing, reason):
    """User `hub` maps to `podlab-hub`: if that namespace is someone else's, the spawn stops
    before any write, with a message saying so."""
    kube_api.store(existing)
    with pytest.raises(EnsureError) as caught:
        run_pre_spawn(kube_api.url, {"profile": "cpu-small"}, username="hub")
    assert str(caught.value) == (
        f"could not prepare the user namespace: {reason}; nothing was changed and no server "
        "was started. podlab never changes a namespace it did not create (podlab-hub marks "
        "its own). Rename the hub user, or delete or rename the other namespace if it is no "
        "longer needed."
    )
    assert kube_api.changes() == []
    assert kube_api.objects["/api/v1/namespaces/podlab-hub"] == existing


def test_the_platform_namespace_is_refused_even_before_it_is_read(kube_api):
    config = make_config(network={"platform_namespace": "podlab-hub"})
    with pytest.raises(EnsureError, match="would get the platform's own namespace 'podlab-hub'"):
        run_pre_spawn(kube_api.url, {"profile": "cpu-small"}, username="hub", config=config)
    assert namespace_requests(kube_api) == []


def test_the_users_own_namespace_is_applied_again(kube_api):
    first = run_pre_spawn(kube_api.url, {"profile": "cpu-small"}, username="hub")
    assert first == "podlab-hub"
    PodlabKubeSpawner._ensured.clear()  # another hub process: it has applied nothing yet
    kube_api.requests.clear()
    run_pre_spawn(kube_api.url, {"profile": "cpu-small"}, username="hub")
    assert [r.method for r in namespace_requests(kube_api)][:2] == ["GET", "PATCH"]


def test_a_second_spawn_checks_ownership_and_skips_unchanged_applies(kube_api):
    """The same hub spawning the same user again reads the namespace (the ownership check is
    never skipped) and applies nothing; a recreated namespace (new uid) or a changed config
    is applied again."""
    run_pre_spawn(kube_api.url, {"profile": "cpu-small"})
    kube_api.requests.clear()
    run_pre_spawn(kube_api.url, {"profile": "gpu-1"})
    assert [(r.method, r.path) for r in namespace_requests(kube_api)] == [
        ("GET", f"/api/v1/namespaces/{NS}")
    ]
    # Someone deleted the namespace (and with it everything in it): applied again in full.
    del kube_api.objects[f"/api/v1/namespaces/{NS}"]
    del kube_api.applied[f"/api/v1/namespaces/{NS}"]
    kube_api.requests.clear()
    run_pre_spawn(kube_api.url, {"profile": "cpu-small"})
    assert [r.path for r in namespace_requests(kube_api)] == [EXPECTED_PATHS[0], *EXPECTED_PATHS]
    # A namespace being deleted is not "as applied" either.
    kube_api.objects[f"/api/v1/namespaces/{NS}"]["metadata"]["deletionTimestamp"] = "now"
    kube_api.requests.clear()
    run_pre_spawn(kube_api.url, {"profile": "cpu-small"})
    assert len(namespace_requests(kube_api)) == 1 + len(EXPECTED_PATHS)
    del kube_api.objects[f"/api/v1/namespaces/{NS}"]["metadata"]["deletionTimestamp"]
    # A changed config (bigger homes: another quota) is applied again.
    run_pre_spawn(kube_api.url, {"profile": "cpu-small"})
    kube_api.requests.clear()
    bigger = make_config(storage={"home_size": "50Gi", "storage_class": "gp3"})
    run_pre_spawn(kube_api.url, {"profile": "cpu-small"}, config=bigger)
    assert len(namespace_requests(kube_api)) == 1 + len(EXPECTED_PATHS)


def test_a_namespace_that_cannot_be_read_stops_the_spawn(kube_api):
    kube_api.failures["/api/v1/namespaces/podlab-hub"] = (403, "Forbidden", "no get")
    with pytest.raises(EnsureError, match="needs get on namespaces"):
        run_pre_spawn(kube_api.url, {"profile": "cpu-small"}, username="hub")
    assert kube_api.changes() == []


def test_ownership_check_against_a_real_api_server(kube):
    """The same check against kube-apiserver 1.34: a namespace made by someone else stays as it
    was; a user's own namespace is claimed, applied and claimed again."""
    from kubernetes_asyncio import config as k8s_config

    from podlab.k8s.claim import claim_namespace
    from tests.support.kube import get_json

    foreign = f"podlab-team-{os.urandom(3).hex()}"
    kube.apply(_namespace(foreign, {"app.kubernetes.io/managed-by": "Helm"}))
    before = get_json(kube, "namespace", foreign)["metadata"]
    user = foreign.removeprefix("podlab-")
    own_user = f"ok-{os.urandom(3).hex()}"

    async def run() -> None:
        client = await k8s_config.new_client_from_config(config_file=str(kube.kubeconfig))
        async with client:
            objects = namespace_objects(
                make_config(), username=user, namespace_name=foreign, platform_namespace="podlab"
            )
            with pytest.raises(EnsureError, match="not created by podlab's hub"):
                await claim_namespace(client, objects[0], user, "podlab")
            own = namespace_objects(
                make_config(),
                username=own_user,
                namespace_name=namespace_for(own_user),
                platform_namespace="podlab",
            )
            await claim_namespace(client, own[0], own_user, "podlab")
            await apply_objects(client, own)
            await claim_namespace(client, own[0], own_user, "podlab")
            with pytest.raises(EnsureError, match=f"belongs to the podlab user {own_user!r}"):
                await claim_namespace(client, own[0], "intruder", "podlab")

    asyncio.run(run())
    after = get_json(kube, "namespace", foreign)["metadata"]
    assert after["labels"] == before["labels"]
    assert after["resourceVersion"] == before["resourceVersion"]
    kube.kubectl("delete", "namespace", foreign, namespace_for(own_user), "--wait=false")
