"""One profile-choice rule for both spawners (podlab.profiles): what "available here" adds,
the form, and the same refusal, word for word, from the Kubernetes and the local spawner."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from traitlets.config import Config

from podlab.config import Profile
from podlab.kubespawner_config import PodlabKubeSpawner, configure_kubespawner
from podlab.localspawner import PodlabLocalSpawner
from podlab.profiles import (
    PROFILE_KEY,
    ProfileChoiceError,
    SpawnRefused,
    choose_profile,
    form_choice,
)
from podlab.render import offline_kubeconfig
from tests.hub.k8s_helpers import config_data, make_config, write_yaml


def no_gpus(profile: Profile) -> str | None:
    return "needs 1 GPU; this machine has 0" if profile.gpu_count else None


def test_an_unavailable_profile_is_refused_with_the_reason_and_the_others():
    config = make_config()
    assert choose_profile(config, {PROFILE_KEY: "cpu-small"}, no_gpus).slug == "cpu-small"
    with pytest.raises(ProfileChoiceError) as caught:
        choose_profile(config, {PROFILE_KEY: "gpu-1"}, no_gpus)
    assert str(caught.value) == (
        "profile 'gpu-1' is not available here: needs 1 GPU; this machine has 0; "
        "choose one of: cpu-small"
    )
    with pytest.raises(ProfileChoiceError, match="unknown profile 'gpu-9'; choose one of: cpu-"):
        choose_profile(config, {PROFILE_KEY: "gpu-9"}, no_gpus)


def test_an_unavailable_default_is_refused_not_silently_replaced():
    data = config_data()
    data["profiles"][0]["default"] = False
    data["profiles"][1]["default"] = True
    with pytest.raises(ProfileChoiceError, match="'gpu-1' is not available here"):
        choose_profile(make_config(profiles=data["profiles"]), {}, no_gpus)


def test_the_form_records_the_chosen_slug_and_refuses_with_a_400():
    config = make_config()
    assert form_choice(config, {"_xsrf": ["t"]}) == {PROFILE_KEY: "cpu-small"}
    assert form_choice(config, {PROFILE_KEY: ["gpu-1"]}) == {PROFILE_KEY: "gpu-1"}
    with pytest.raises(SpawnRefused) as caught:
        form_choice(config, {PROFILE_KEY: ["gpu-1"]}, no_gpus)
    assert caught.value.status_code == 400
    assert caught.value.jupyterhub_message.startswith("profile 'gpu-1' is not available here")


FORMS: list[dict[str, list[Any]]] = [
    {PROFILE_KEY: ["gpu-9"]},
    {PROFILE_KEY: ["cpu-small", "gpu-1"]},
    {PROFILE_KEY: ["gpu-1"], "cmd": ["bash"]},
    {PROFILE_KEY: [""]},
]


def test_both_spawners_refuse_a_bad_form_in_the_same_words(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PODLAB_FAKE_GPUS", "1")
    data = config_data()
    user = SimpleNamespace(name="alice", id=1, url="/user/alice/", escaped_name="alice")
    local = PodlabLocalSpawner(
        user=user,
        config_path=str(write_yaml(tmp_path / "podlab.yaml", {"podlab": data})),
        data_dir=str(tmp_path),
    )

    async def kube_refusals() -> list[str]:
        c = Config()
        configure_kubespawner(c, make_config())
        hub = SimpleNamespace(public_host="", url="/hub/", base_url="/hub/", api_url="http://h/")
        spawner = PodlabKubeSpawner(config=c, user=user, hub=hub)
        return [refusal(spawner, form) for form in FORMS]

    with offline_kubeconfig():
        kube = asyncio.run(kube_refusals())
    assert kube == [refusal(local, form) for form in FORMS]
    assert kube[0] == "unknown profile 'gpu-9'; choose one of: cpu-small, gpu-1"


def refusal(spawner: Any, form: dict[str, list[Any]]) -> str:
    with pytest.raises(SpawnRefused) as caught:
        spawner.run_options_from_form(form)
    return caught.value.jupyterhub_message
