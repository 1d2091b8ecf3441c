"""Print what the hub would create for one user and profile, without a cluster.

The pod and the PVC come from KubeSpawner's own `get_pod_manifest()` / `get_pvc_manifest()`
on a `PodlabKubeSpawner` configured exactly as the hub configures it, so a review of this
output is a review of the real thing. KubeSpawner insists on a Kubernetes client config and a
running event loop even to build manifests: a throwaway kubeconfig pointing at an unreachable
address satisfies it, and nothing is ever sent to it.

    podlab render --config podlab.yaml --profile gpu-1 --user alice@example.com
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from podlab.config import ConfigError, PodlabConfig, load_config
from podlab.profiles import ProfileChoiceError, choose_profile

RENDER_API_TOKEN = "rendered-offline-the-hub-issues-a-new-token-at-each-spawn"  # noqa: S105
"""Stands in for JUPYTERHUB_API_TOKEN (and so MLFLOW_TRACKING_TOKEN) in rendered pods."""
DEFAULT_PLATFORM_NAMESPACE = "podlab"

_DUMMY_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: offline
  cluster: {server: "https://127.0.0.1:9"}
contexts:
- name: offline
  context: {cluster: offline, user: offline}
current-context: offline
users:
- name: offline
  user: {token: offline}
"""


class RenderError(Exception):
    """Rendering cannot proceed; the message says why (bad config, unknown profile)."""


@contextmanager
def offline_kubeconfig() -> Iterator[None]:
    """A kubeconfig pointing at a port nothing listens on, for the duration of a render.

    kubernetes_asyncio reads $KUBECONFIG once, at import, into a module global; both are set.
    """
    from kubernetes_asyncio.config import kube_config

    previous_env = os.environ.get("KUBECONFIG")
    previous_default = kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    with tempfile.TemporaryDirectory(prefix="podlab-render-") as tmp:
        path = Path(tmp) / "kubeconfig"
        path.write_text(_DUMMY_KUBECONFIG)
        os.environ["KUBECONFIG"] = kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(path)
        try:
            yield
        finally:
            kube_config.KUBE_CONFIG_DEFAULT_LOCATION = previous_default
            if previous_env is None:
                os.environ.pop("KUBECONFIG", None)
            else:
                os.environ["KUBECONFIG"] = previous_env


def render_objects(
    config: PodlabConfig,
    *,
    profile: str,
    username: str,
    platform_namespace: str | None = None,
) -> list[dict[str, Any]]:
    """Namespace objects, then the PVC, then the pod, as the hub would apply/create them."""
    try:
        choose_profile(config, {"profile": profile})
    except ProfileChoiceError as err:
        raise RenderError(str(err)) from None
    with offline_kubeconfig():
        return asyncio.run(_render(config, profile, username, platform_namespace))


async def _render(
    config: PodlabConfig, profile: str, username: str, platform_namespace: str | None
) -> list[dict[str, Any]]:
    from traitlets.config import Config

    from podlab.kubespawner_config import PodlabKubeSpawner, configure_kubespawner

    c = Config()
    configure_kubespawner(c, config)
    c.PodlabKubeSpawner.platform_namespace = (
        platform_namespace or config.network.platform_namespace or DEFAULT_PLATFORM_NAMESPACE
    )
    user = SimpleNamespace(name=username, id=1, url=f"/user/{username}/", escaped_name=username)
    hub = SimpleNamespace(
        public_host="", url="/hub/", base_url="/hub/", api_url="http://hub:8081/hub/api"
    )
    spawner = PodlabKubeSpawner(config=c, user=user, hub=hub)
    spawner.user_options = {"profile": profile}
    spawner.api_token = RENDER_API_TOKEN
    await spawner.load_user_options()
    serialize = spawner.api.api_client.sanitize_for_serialization
    pod = serialize(await spawner.get_pod_manifest())
    pvc = serialize(spawner.get_pvc_manifest())
    for manifest in (pod, pvc):
        manifest["metadata"]["namespace"] = spawner.namespace
    return [*spawner.namespace_manifests(), pvc, pod]


def to_yaml(objects: Sequence[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(list(objects), sort_keys=False, default_flow_style=False)


def run(args: argparse.Namespace) -> int:
    """`podlab render`: the YAML on stdout and 0, or the reason on stderr and 2 (bad input)."""
    try:
        config = load_config(args.config)
        objects = render_objects(
            config,
            profile=args.profile,
            username=args.user,
            platform_namespace=args.platform_namespace,
        )
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        return 2
    except RenderError as err:
        print(f"podlab render: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(to_yaml(objects))
    return 0
