"""KubeSpawner from the podlab config: profile_list, traitlets, strict profile choice, the hub.

Includes the production `hub/jupyterhub_config.py`: it loads a good config into these
settings, and refuses to start (quickly, with the validation lines) on a bad one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from podlab.config import DEFAULT_IMAGE, PodlabConfig, load_config
from podlab.kubespawner_config import (
    CONTAINER_SECURITY_CONTEXT,
    POD_SECURITY_CONTEXT,
    PodlabKubeSpawner,
    configure_kubespawner,
    ensure_user_namespace,
    profile_list,
    profile_overrides,
)
from podlab.profiles import (
    ProfileChoiceError,
    SpawnRefused,
    choose_profile,
    options_from_form,
)
from podlab.render import offline_kubeconfig
from tests.hub.k8s_helpers import (
    EXAMPLE_CONFIG,
    HUB_CONFIG_FILE,
    config_data,
    make_config,
    write_yaml,
)

EXAMPLE = load_config(EXAMPLE_CONFIG)


def test_profile_list_from_profiles():
    profiles = profile_list(EXAMPLE)
    assert [p["slug"] for p in profiles] == ["small", "large", "gpu-1"]
    assert [p["default"] for p in profiles] == [True, False, False]
    small, _large, _gpu = profiles
    assert small["display_name"] == "Small (2 CPU, 8 GiB)"
    assert small["description"] == "Notebooks, pandas, light feature work."
    # podlab applies a profile itself (load_user_options): no overrides for KubeSpawner to merge.
    assert all("kubespawner_override" not in p for p in profiles)


def test_profile_overrides_from_profiles():
    small, _large, gpu = EXAMPLE.profiles
    assert profile_overrides(EXAMPLE, small) == {
        "image": DEFAULT_IMAGE,
        "cpu_guarantee": 0.5,
        "cpu_limit": 2.0,
        "mem_guarantee": 2 * 2**30,
        "mem_limit": 8 * 2**30,
        "extra_resource_limits": {},
        "extra_resource_guarantees": {},
        "node_selector": {},
        "tolerations": [],
    }
    assert profile_overrides(EXAMPLE, gpu) == {
        "image": "podlab/singleuser-gpu:0.3.0",
        "cpu_guarantee": 4.0,
        "cpu_limit": 8.0,
        "mem_guarantee": 30 * 2**30,
        "mem_limit": 60 * 2**30,
        "extra_resource_limits": {"nvidia.com/gpu": "1"},
        "extra_resource_guarantees": {"nvidia.com/gpu": "1"},
        "node_selector": {"podlab.io/node-pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }


def test_decimal_quantities_keep_their_kubernetes_meaning():
    """1.5G is 1.5e9 bytes for Kubernetes; JupyterHub's own parser would read 1.5 * 2**30."""
    data = config_data()
    data["profiles"][0]["memory"] = {"guarantee": "1.5G", "limit": "3G"}
    config = make_config(profiles=data["profiles"])
    overrides = profile_overrides(config, config.profiles[0])
    assert overrides["mem_guarantee"] == 1_500_000_000
    assert overrides["mem_limit"] == 3_000_000_000


def test_kubespawner_traitlets():
    c = Config()
    configure_kubespawner(c, EXAMPLE)
    ks = c.PodlabKubeSpawner
    assert c.JupyterHub.spawner_class is PodlabKubeSpawner
    assert ks.enable_user_namespaces is True
    assert ks.user_namespace_template == "podlab-{username}"
    assert ks.slug_scheme == "safe"
    assert ks.user_namespace_labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ks.pre_spawn_hook is ensure_user_namespace
    # Home volume: ensured, remembered, never deleted.
    assert ks.storage_pvc_ensure is True
    assert ks.delete_pvc is False
    assert ks.remember_pvc_name is True
    assert ks.storage_capacity == "50Gi"
    assert ks.storage_class == "gp3"
    assert ks.volume_mounts == [{"name": "home", "mountPath": "/home/jovyan"}]
    # restricted security contexts, uid 1000 / gid 100.
    assert (ks.uid, ks.gid, ks.fs_gid) == (1000, 100, 100)
    assert ks.allow_privilege_escalation is False
    assert ks.privileged is False
    assert ks.container_security_context == CONTAINER_SECURITY_CONTEXT
    assert ks.pod_security_context == POD_SECURITY_CONTEXT
    assert ks.service_account == "podlab-user"
    assert ks.automount_service_account_token is True  # the example runs Spark on Kubernetes
    assert ks.environment["POD_IP"] == {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}


def test_service_account_token_only_for_spark_on_kubernetes():
    c = Config()
    configure_kubespawner(c, make_config())
    assert c.PodlabKubeSpawner.automount_service_account_token is False


# -- strict profile choice ---------------------------------------------------------------------
def test_choose_profile():
    config = make_config()
    assert choose_profile(config, {}).slug == "cpu-small"
    assert choose_profile(config, None).slug == "cpu-small"
    assert choose_profile(config, {"profile": "gpu-1"}).slug == "gpu-1"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"profile": "gpu-9"}, "unknown profile 'gpu-9'; choose one of: cpu-small, gpu-1"),
        ({"profile": ""}, "profile must be a profile slug (one of: cpu-small, gpu-1), got ''"),
        ({"profile": 3}, "profile must be a profile slug (one of: cpu-small, gpu-1), got 3"),
        (
            {"profile": "gpu-1", "cpu_limit": "64"},
            "unexpected spawn option(s) 'cpu_limit': podlab accepts only 'profile' (one of: "
            "cpu-small, gpu-1)",
        ),
        (
            ["gpu-1"],
            "spawn options must be an object like {'profile': '<slug>'}, got list; profiles: "
            "cpu-small, gpu-1",
        ),
    ],
)
def test_choose_profile_rejects(options, message):
    with pytest.raises(ProfileChoiceError) as caught:
        choose_profile(make_config(), options)
    assert str(caught.value) == message
    assert caught.value.jupyterhub_message == message


def test_options_form_accepts_one_profile_and_the_xsrf_field():
    assert options_from_form({"profile": ["gpu-1"], "_xsrf": ["token"]}) == {"profile": "gpu-1"}
    assert options_from_form({}) == {}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"profile": ["gpu-1"], "profile-option-gpu-1--image": ["evil/miner:latest"]},
            "unexpected field(s) in the spawn form: 'profile-option-gpu-1--image'; choose a "
            "profile and submit the form again",
        ),
        (
            {"profile": ["gpu-1"], "mem_limit": ["1T"]},
            "unexpected field(s) in the spawn form: 'mem_limit'; choose a profile and submit the "
            "form again",
        ),
        ({"profile": ["cpu-small", "gpu-1"]}, "the spawn form must name exactly one profile"),
    ],
)
def test_tampered_options_form_is_rejected(form, message):
    with pytest.raises(ProfileChoiceError) as caught:
        options_from_form(form)
    assert str(caught.value) == message


def _with_spawner(config: PodlabConfig, test: Any) -> Any:
    async def run() -> Any:
        c = Config()
        configure_kubespawner(c, config)
        user = SimpleNamespace(name="alice", id=1, url="/user/alice/")
        hub = SimpleNamespace(public_host="", url="/hub/", base_url="/hub/", api_url="http://h/")
        return await test(PodlabKubeSpawner(config=c, user=user, hub=hub))

    with offline_kubeconfig():
        return asyncio.run(run())


def test_spawner_form_names_the_valid_profiles():
    async def test(spawner):
        assert spawner.run_options_from_form({"profile": ["gpu-1"]}) == {"profile": "gpu-1"}
        with pytest.raises(SpawnRefused) as caught:
            spawner.run_options_from_form({"profile": ["gpu-9"]})
        assert caught.value.status_code == 400
        assert caught.value.jupyterhub_message == (
            "unknown profile 'gpu-9'; choose one of: cpu-small, gpu-1"
        )

    _with_spawner(make_config(), test)


def test_restart_with_another_profile_keeps_nothing_of_the_previous_one():
    """KubeSpawner merges dict overrides into the spawner; podlab assigns them."""

    async def test(spawner):
        spawner.user_options = {"profile": "gpu-1"}
        await spawner.load_user_options()
        assert spawner.node_selector == {"podlab.io/node-pool": "gpu"}
        assert spawner.extra_resource_limits == {"nvidia.com/gpu": "1"}
        spawner.user_options = {"profile": "cpu-small"}
        await spawner.load_user_options()
        pod = await spawner.get_pod_manifest()
        assert spawner.node_selector == {}
        assert spawner.extra_resource_limits == {}
        assert spawner.tolerations == []
        assert pod.spec.node_selector is None
        assert "nvidia.com/gpu" not in pod.spec.containers[0].resources.limits
        assert spawner.namespace == "podlab-alice"
        assert spawner.pvc_name == "home"

    _with_spawner(make_config(), test)


# -- the production hub config -----------------------------------------------------------------
def test_hub_config_loads_the_podlab_config(monkeypatch, tmp_path):
    monkeypatch.setenv("PODLAB_CONFIG", str(EXAMPLE_CONFIG))
    monkeypatch.setenv("PODLAB_HUB_CONFIG_DIR", str(tmp_path))
    (tmp_path / "10-auth.py").write_text("c.JupyterHub.authenticator_class = 'dummy'\n")
    c = PyFileConfigLoader(HUB_CONFIG_FILE.name, path=str(HUB_CONFIG_FILE.parent)).load_config()
    assert c.JupyterHub.spawner_class is PodlabKubeSpawner
    assert c.PodlabKubeSpawner.podlab_config == EXAMPLE
    assert [p["slug"] for p in c.PodlabKubeSpawner.profile_list] == ["small", "large", "gpu-1"]
    assert c.Authenticator.admin_users == {"platform-admin"}
    assert c.JupyterHub.authenticator_class == "dummy"  # deployment snippet loaded
    assert [s["name"] for s in c.JupyterHub.services] == ["idle-culler"]


def _start_hub(
    config_path: Path, cwd: Path, **extra_env: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "PODLAB_CONFIG": str(config_path), **extra_env}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG_FILE)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, time.monotonic() - started


def test_hub_refuses_to_start_on_invalid_config(tmp_path):
    data = config_data()
    data["profiles"][1]["memory"]["limit"] = "32Gb"
    data["profiles"][0]["default"] = "maybe"
    path = write_yaml(tmp_path / "podlab.yaml", {"podlab": data})
    workdir = tmp_path / "hub"
    workdir.mkdir()
    result, elapsed = _start_hub(path, workdir)
    assert result.returncode == 1
    assert elapsed < 30
    assert result.stderr.splitlines()[-4:] == [
        f"JupyterHub refuses to start: invalid podlab config in {path}:",
        "  - podlab.profiles[0](cpu-small).default: Input should be a valid boolean, unable to "
        "interpret input (got 'maybe')",
        "  - podlab.profiles[1](gpu-1).memory.limit: expected a Kubernetes quantity such as "
        "512Mi, 8Gi or 1.5G (got '32Gb')",
        f"Fix {path} (check it with `podlab validate {path}`), then start the hub again.",
    ]
    assert list(workdir.iterdir()) == []  # no database, no cookie secret: it never started


def test_hub_refuses_to_start_without_a_config_file(tmp_path):
    missing = tmp_path / "absent.yaml"
    result, _ = _start_hub(missing, tmp_path)
    assert result.returncode == 1
    assert f"  - cannot read {missing}: No such file or directory" in result.stderr.splitlines()


def test_hub_refuses_to_start_on_bad_service_account_annotations(tmp_path):
    data = {**config_data(), "user_service_account": {"annotations": {"role arn": "x"}}}
    path = write_yaml(tmp_path / "podlab.yaml", {"podlab": data})
    workdir = tmp_path / "hub"
    workdir.mkdir()
    result, _ = _start_hub(path, workdir)
    assert result.returncode == 1
    assert (
        "  - podlab.user_service_account.annotations: 'role arn' is not a valid annotation key"
        in result.stderr
    ), result.stderr
    assert list(workdir.iterdir()) == []
