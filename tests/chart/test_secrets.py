"""Generated secrets are generated once: an upgrade reuses what the cluster holds.

`lookup` returns nothing under a plain `helm template`, so these tests run helm against a
fake API server (tests/support/fake_kube.py) with `--dry-run=server`: helm then really calls
the API for its lookups. A first render against an empty namespace plays the install; the
Secrets it produced are stored in the fake API as helm would have created them; two more
renders play upgrades and must reproduce every value byte for byte.
"""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.helm import (
    NAMESPACE,
    RELEASE,
    by_component,
    example,
    helm,
    is_hook,
    pod_specs,
    render_example,
    template_args,
)
from tests.support.fake_kube import FakeKubeAPI


def _render_against(fake: FakeKubeAPI, tmp_path: Path, name: str) -> list[dict[str, Any]]:
    args = template_args((str(example(name)),))
    result = helm(
        *args,
        "--dry-run=server",
        "--disable-openapi-validation",
        "--kubeconfig",
        str(fake.kubeconfig(tmp_path)),
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _as_installed(secret: dict[str, Any]) -> dict[str, Any]:
    """The Secret as the API server returns it after `helm install`."""
    installed = copy.deepcopy(secret)
    meta = installed["metadata"]
    meta.setdefault("annotations", {}).update(
        {"meta.helm.sh/release-name": RELEASE, "meta.helm.sh/release-namespace": NAMESPACE}
    )
    meta["uid"] = "00000000-0000-0000-0000-000000000001"
    meta["resourceVersion"] = "1"
    return installed


GENERATED = {"hub": "minimal", "postgresql": "minimal"}


@pytest.mark.parametrize("component", sorted(GENERATED))
def test_generated_secrets_are_stable_across_upgrades(component, tmp_path):
    name = GENERATED[component]
    fake = FakeKubeAPI()
    with fake.running():
        installed = by_component(_render_against(fake, tmp_path, name), "Secret", component)
        secret_path = f"/api/v1/namespaces/{NAMESPACE}/secrets/{installed['metadata']['name']}"
        assert fake.saw("GET", secret_path), "the chart did not look the Secret up"
        fresh = by_component(_render_against(fake, tmp_path, name), "Secret", component)
        assert fresh["data"] != installed["data"], "nothing stored yet: values are new each time"
        fake.store(_as_installed(installed))
        for _upgrade in range(2):
            upgraded = by_component(_render_against(fake, tmp_path, name), "Secret", component)
            assert upgraded["data"] == installed["data"]


def test_generated_hub_secrets_have_the_form_jupyterhub_expects():
    secret = by_component(render_example("minimal"), "Secret", "hub")
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    for key in ("cookie-secret", "proxy-token", "mlflow-api-token"):
        assert re.fullmatch(r"[0-9a-f]{64}", values[key]), f"{key} is not 32 bytes of hex"
    assert len(values["user-password"]) >= 8
    assert len(values["admin-password"]) >= 32
    assert values["user-password"] != values["admin-password"]


def test_an_existing_hub_secret_replaces_the_generated_one():
    objects = render_example("minimal", 'hub.existingSecret="site-hub-secret"')
    assert not [o for o in objects if o["kind"] == "Secret" and "hub" in o["metadata"]["name"]]
    names = set()
    for _obj, spec in pod_specs(objects):
        for container in spec["containers"]:
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["key"] in ("cookie-secret", "proxy-token", "mlflow-api-token"):
                    names.add(ref["name"])
    assert names == {"site-hub-secret"}


def test_generated_secrets_are_not_hooks():
    """Hook objects are recreated, not upgraded: a generated Secret must be a release object."""
    for obj in render_example("minimal"):
        if obj["kind"] == "Secret":
            assert not is_hook(obj)
