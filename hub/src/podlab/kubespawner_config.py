"""KubeSpawner configured from the podlab config: profiles, namespaces, home volume, security.

`configure_kubespawner(c, config)` is all `jupyterhub_config.py` calls. It sets KubeSpawner's
own traitlets (so the KubeSpawner documentation stays true for podlab) and selects
`PodlabKubeSpawner`, which adds three things KubeSpawner does not do:

- strict profile choice (`podlab.profiles`, the local spawner's rule too): the options form
  and the REST API may only name a configured profile; anything else fails the spawn before
  any object is created;
- the ensure step (`pre_spawn_hook`): the user's namespace objects are server-side applied
  before the pod, so quota, limits, RBAC and network policy exist when it starts;
- the integration environment from `integration_env`, with the server's own hub token.

Home volumes are never deleted: `delete_pvc` is False, so neither stopping, culling (which
stops servers through the hub API), deleting the user, nor a hub upgrade removes a PVC; user
namespaces are created by the hub, not by Helm, so `helm uninstall` does not touch them.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import time
from typing import Any, ClassVar

from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner import KubeSpawner
from traitlets import Any as AnyTrait
from traitlets import Dict, Unicode, default

from podlab.config import PodlabConfig, Profile
from podlab.integrations import integration_env
from podlab.k8s import SERVICE_ACCOUNT, capacity, namespace_objects
from podlab.k8s.claim import claim_namespace
from podlab.k8s.ensure import apply_objects
from podlab.k8s.objects import MANAGED_BY, POD_SECURITY_LABELS, spark_on_kubernetes
from podlab.names import NAMESPACE_PREFIX
from podlab.profiles import (
    Offer,
    ProfileChoiceError,
    choose_profile,
    form_choice,
    render_form,
)

ENSURE_AGAIN_AFTER = 3600.0
"""Seconds after which an unchanged namespace is applied again anyway (drift repair)."""
HOME = "/home/jovyan"
"""The home directory in the podlab images (Jupyter docker-stacks layout): the PVC's mount."""
UID = 1000
GID = 100
"""uid 1000 in group 100 (`users`), as in the docker-stacks images; also the fsGroup."""
HOME_VOLUME = "home"
PVC_NAME = "home"
"""One home volume per user namespace; named servers of a user share it."""
NAMESPACE_TEMPLATE = NAMESPACE_PREFIX + "{username}"

CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": GID,
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": UID,
    "runAsGroup": GID,
    "fsGroup": GID,
    "fsGroupChangePolicy": "OnRootMismatch",
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""Pod Security `restricted`, stated explicitly rather than left to the image."""

DOWNWARD_API_ENV: dict[str, Any] = {
    "PODLAB_POD": {"valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    # Spark's driver host in client mode: executors connect back to the pod's IP.
    "POD_IP": {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
}


# -- profiles ----------------------------------------------------------------------------------
def profile_overrides(config: PodlabConfig, profile: Profile) -> dict[str, Any]:
    """The KubeSpawner traits one profile sets. Memory is passed in bytes: JupyterHub's byte
    traits read "G" as 2**30 and reject "Gi", while podlab quantities are Kubernetes ones."""
    gpus: dict[str, str] = {}
    if profile.gpu is not None and profile.gpu.count:
        gpus[profile.gpu.resource] = str(profile.gpu.count)
    return {
        "image": config.image_for(profile),
        "cpu_guarantee": profile.cpu.guarantee,
        "cpu_limit": profile.cpu.limit,
        "mem_guarantee": profile.memory.guarantee_bytes,
        "mem_limit": profile.memory.limit_bytes,
        "extra_resource_limits": gpus,
        "extra_resource_guarantees": dict(gpus),
        "node_selector": dict(profile.node_selector),
        "tolerations": [t.to_k8s() for t in profile.tolerations],
    }


def profile_list(config: PodlabConfig) -> list[dict[str, Any]]:
    """KubeSpawner's `profile_list`, for what reads the trait (it lists the profiles); podlab
    renders the form and applies a profile itself (`load_user_options`), so no overrides."""
    default_slug = config.default_profile.slug
    return [
        {
            "slug": profile.slug,
            "display_name": profile.display_name,
            "description": profile.description,
            "default": profile.slug == default_slug,
        }
        for profile in config.profiles
    ]


# -- the spawner -------------------------------------------------------------------------------
class PodlabKubeSpawner(KubeSpawner):  # type: ignore[misc]
    """KubeSpawner with strict profile choice, the ensure step and the podlab environment."""

    podlab_config = AnyTrait(
        None, allow_none=True, config=True, help="The validated PodlabConfig (set by podlab)."
    )
    platform_namespace = Unicode(
        config=True,
        help="Namespace of the hub, proxy and MLflow (default: the hub's own namespace).",
    )

    user_service_account_annotations = Dict(
        value_trait=Unicode(),
        config=True,
        help="Annotations of every user's ServiceAccount (e.g. eks.amazonaws.com/role-arn); "
        "configure_kubespawner sets them from podlab.user_service_account.annotations.",
    )

    @default("options_form")
    def _default_options_form(self) -> Any:
        return lambda spawner: spawner.render_options_form()

    @default("platform_namespace")
    def _platform_namespace_default(self) -> str:
        configured = self.config_model.network.platform_namespace
        return configured or str(self._namespace_default())

    @property
    def config_model(self) -> PodlabConfig:
        if not isinstance(self.podlab_config, PodlabConfig):
            raise RuntimeError(
                "PodlabKubeSpawner.podlab_config is not set: call "
                "podlab.kubespawner_config.configure_kubespawner(c, config) in the hub config"
            )
        return self.podlab_config

    @property
    def profile(self) -> Profile:
        return choose_profile(self.config_model, self.user_options)

    # -- can each profile start here? (k8s/capacity.py) ---------------------------------------
    _nodes_cache: tuple[float, asyncio.Future[list[dict[str, Any]] | None]] | None = None
    """(when, the request) of the last node list; per event loop, see nodes()."""

    async def nodes(self) -> list[dict[str, Any]] | None:
        """The cluster's nodes, shared by every spawner of the hub for 5 s: a wave of spawns
        reads them once (one request in flight, the others wait for its answer)."""
        cached = PodlabKubeSpawner._nodes_cache
        if (
            cached is None
            or time.monotonic() - cached[0] >= 5
            or (cached[1].done() and cached[1].exception() is not None)
        ):
            future = asyncio.ensure_future(self._list_nodes())
            PodlabKubeSpawner._nodes_cache = cached = (time.monotonic(), future)
        return await asyncio.shield(cached[1])

    async def _list_nodes(self) -> list[dict[str, Any]] | None:
        """The nodes, or None where the hub may not list them (its ClusterRole lacks it, e.g.
        a cluster that forbids reading nodes): profiles are then offered without notes and
        left to the scheduler, rather than every spawn failing."""
        try:
            listed = await self.api.list_node(_request_timeout=self.k8s_api_request_timeout)
        except ApiException as err:
            if err.status not in (401, 403):
                raise
            self.log.warning(
                "The hub may not list nodes (HTTP %s): the spawn form cannot say which profiles "
                "can start; grant `list` on nodes in the hub's ClusterRole (the chart does).",
                err.status,
            )
            return None
        nodes: list[dict[str, Any]] = self.api.api_client.sanitize_for_serialization(listed.items)
        return nodes

    async def pods_on(self, names: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The pods on these nodes (what they request decides whether a profile fits now)."""
        client, timeout = self.api.api_client, self.k8s_api_request_timeout
        listed = await asyncio.gather(
            *(
                self.api.list_pod_for_all_namespaces(
                    field_selector=f"spec.nodeName={name}", _request_timeout=timeout
                )
                for name in names
            )
        )
        return {
            name: client.sanitize_for_serialization(result.items)
            for name, result in zip(names, listed, strict=True)
        }

    async def render_options_form(self) -> str:
        config = self.config_model
        nodes = await self.nodes()
        if nodes is None:
            return render_form(config.profiles, config.default_profile.slug, {})
        used = sorted(
            {
                n["metadata"]["name"]
                for n in nodes
                for p in config.profiles
                if capacity.may_run_on(p, n)
            }
        )
        pods = await self.pods_on(used)
        offers = {}
        for profile in config.profiles:
            found = capacity.availability(profile, nodes, pods)
            if found.reason:
                offers[profile.slug] = Offer(startable=found.startable, note=found.reason)
        return render_form(config.profiles, config.default_profile.slug, offers)

    def _options_from_form(self, formdata: dict[str, list[Any]]) -> dict[str, str]:
        return form_choice(self.config_model, formdata)

    async def load_user_options(self) -> None:
        """Apply the chosen profile by assignment: KubeSpawner merges dict overrides into the
        current values, so a GPU profile's node selector would survive a restart on CPU."""
        profile = self.profile
        for trait, value in profile_overrides(self.config_model, profile).items():
            setattr(self, trait, copy.deepcopy(value))

    def get_env(self) -> dict[str, Any]:
        env: dict[str, Any] = super().get_env()
        env.update(
            integration_env(
                self.config_model,
                self.profile,
                username=self.user.name,
                namespace=self.namespace,
                home=HOME,
                api_token=self.api_token,
                service_account=SERVICE_ACCOUNT,
            )
        )
        return env

    def namespace_manifests(self) -> list[dict[str, Any]]:
        return namespace_objects(
            self.config_model,
            username=self.user.name,
            namespace_name=self.namespace,
            platform_namespace=self.platform_namespace,
            service_account_annotations=self.user_service_account_annotations,
        )

    async def ensure_namespace_objects(self) -> None:
        """Validate the request, then server-side apply the namespace objects (the hook)."""
        profile = self.profile  # ProfileChoiceError here: nothing has been created yet
        # Whether it can ever run needs the nodes only; whether it fits now is the
        # scheduler's to say (a FailedScheduling event fails the spawn fast, see _start).
        nodes = await self.nodes()
        found = capacity.availability(profile, nodes, {}) if nodes is not None else None
        if found is not None and not found.startable:
            others = [p.slug for p in self.config_model.profiles if p.slug != profile.slug]
            raise ProfileChoiceError(
                f"profile {profile.slug!r} cannot run on this cluster: {found.reason}; "
                f"choose another one ({', '.join(others) or 'none configured'})"
            )
        # Unknown nodes: no fail-fast on FailedScheduling, the start timeout decides.
        self.expect_scale_up = nodes is None or capacity.can_grow(
            profile, [n for n in nodes if capacity.may_run_on(profile, n)]
        )
        if profile.start_timeout:
            self.start_timeout = profile.start_timeout
        manifests = self.namespace_manifests()
        # The ownership check runs on every spawn (one GET); the seven applies only when
        # this hub has not applied these very manifests to this very namespace lately.
        existing = await claim_namespace(
            self.api.api_client,
            manifests[0],
            self.user.name,
            self.platform_namespace,
            request_timeout=self.k8s_api_request_timeout,
        )
        key = (self.api.api_client.configuration.host, self.namespace)
        fingerprint = hashlib.sha256(json.dumps(manifests, sort_keys=True).encode()).hexdigest()
        meta = (existing or {}).get("metadata") or {}
        applied_at = PodlabKubeSpawner._ensured.get(key)
        if (
            applied_at is not None
            and applied_at[0] == fingerprint
            and applied_at[1] == meta.get("uid")
            and not meta.get("deletionTimestamp")
            and time.monotonic() - applied_at[2] < ENSURE_AGAIN_AFTER
        ):
            self.log.info("Namespace %s is as the hub applied it: unchanged", self.namespace)
            return
        PodlabKubeSpawner._ensured.pop(key, None)
        self.log.info(
            "Ensuring namespace %s for %s (profile %s)",
            self.namespace,
            self.user.name,
            profile.slug,
        )
        applied = await apply_objects(
            self.api.api_client, manifests, request_timeout=self.k8s_api_request_timeout
        )
        self.log.info("Applied %s", ", ".join(f"{a.kind} {a.name}" for a in applied))
        if applied and applied[0].uid:
            PodlabKubeSpawner._ensured[key] = (fingerprint, applied[0].uid, time.monotonic())

    _ensured: ClassVar[dict[tuple[str, str], tuple[str, str, float]]] = {}
    """(API server, namespace) -> (fingerprint of the manifests, the namespace's uid, when)
    this hub process last applied them: a user's next spawns (a restart, another profile with
    the same objects) skip the applies. A changed config, a namespace deleted or recreated
    (another uid), or ENSURE_AGAIN_AFTER applies again, which also repairs drift."""

    expect_scale_up = False
    """Set by the ensure step: the profile's nodes are added on demand, so a pod that cannot
    be scheduled yet is waiting for a node, not stuck."""

    async def _start(self) -> Any:
        """KubeSpawner's start, failing fast (and leaving no pod) when the scheduler says the
        pod cannot run and no node will be added for it: the user learns why in seconds, not
        after the start timeout."""
        start = asyncio.ensure_future(super()._start())
        stuck = asyncio.ensure_future(self._unschedulable())
        try:
            done, _ = await asyncio.wait({start, stuck}, return_when=asyncio.FIRST_COMPLETED)
            if start in done:
                return start.result()
            start.cancel()
            await asyncio.gather(start, return_exceptions=True)
            await self.stop(now=True)
            raise UnschedulableError(stuck.result(), self.profile, self.config_model)
        finally:
            stuck.cancel()

    async def _unschedulable(self) -> str:
        """The scheduler's message, once it says the pod fits no node (never returns while a
        scale-up is expected)."""
        while True:
            await asyncio.sleep(0.5)
            if self.expect_scale_up:
                continue
            for event in self.events:
                if event.get("reason") == "FailedScheduling":
                    return str(event.get("message", "")).strip()


class UnschedulableError(RuntimeError):
    """A spawn the cluster cannot place: the scheduler's reason and what to pick instead."""

    def __init__(self, reason: str, profile: Profile, config: PodlabConfig) -> None:
        others = ", ".join(p.slug for p in config.profiles if p.slug != profile.slug)
        message = (
            f"No node has room for a {profile.slug!r} server right now (the scheduler says: "
            f"{reason}). Try again later, or pick another profile ({others or 'none configured'})."
        )
        super().__init__(message)
        self.jupyterhub_message = message


async def ensure_user_namespace(spawner: PodlabKubeSpawner) -> None:
    """`pre_spawn_hook`: JupyterHub awaits it before `start()`, so a failure means no pod."""
    await spawner.ensure_namespace_objects()


# -- traitlets ---------------------------------------------------------------------------------
def configure_kubespawner(c: Any, config: PodlabConfig) -> None:
    """Set every KubeSpawner traitlet podlab decides on `c` (a traitlets Config)."""
    spark_k8s = spark_on_kubernetes(config)
    c.JupyterHub.spawner_class = PodlabKubeSpawner
    ks = c.PodlabKubeSpawner
    ks.podlab_config = config
    if config.network.platform_namespace:
        ks.platform_namespace = config.network.platform_namespace
    ks.profile_list = profile_list(config)
    ks.image = config.image_for(config.default_profile)
    ks.slug_scheme = "safe"
    ks.enable_user_namespaces = True
    ks.user_namespace_template = NAMESPACE_TEMPLATE
    ks.user_namespace_labels = {**MANAGED_BY, **POD_SECURITY_LABELS}
    ks.pre_spawn_hook = ensure_user_namespace
    # Home volume: created if missing, remembered across hub restarts, never deleted.
    ks.storage_pvc_ensure = True
    ks.pvc_name_template = PVC_NAME
    ks.remember_pvc_name = True
    ks.delete_pvc = False
    ks.storage_capacity = config.storage.home_size
    ks.storage_access_modes = ["ReadWriteOnce"]
    if config.storage.storage_class:
        ks.storage_class = config.storage.storage_class
    ks.volumes = [{"name": HOME_VOLUME, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}]
    ks.volume_mounts = [{"name": HOME_VOLUME, "mountPath": HOME}]
    ks.working_dir = HOME
    # Pod Security `restricted`.
    ks.uid = UID
    ks.gid = GID
    ks.fs_gid = GID
    ks.privileged = False
    ks.allow_privilege_escalation = False
    ks.container_security_context = copy.deepcopy(CONTAINER_SECURITY_CONTEXT)
    ks.pod_security_context = copy.deepcopy(POD_SECURITY_CONTEXT)
    # Identity: the user's ServiceAccount; its token only where Spark must call the API.
    ks.service_account = SERVICE_ACCOUNT
    ks.user_service_account_annotations = dict(config.user_service_account.annotations)
    ks.automount_service_account_token = spark_k8s
    ks.environment = copy.deepcopy(DOWNWARD_API_ENV)
