"""The hub's ClusterRole grants exactly what the hub code calls: nothing missing (a spawn
would fail with 403), nothing extra (least privilege). See rbac_derivation for how the
required set is read from KubeSpawner, podlab.k8s and the per-user Role.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from podlab.config import parse_config
from tests.chart.helm import RENDERS, by_component, example, find, render_example
from tests.chart.rbac_derivation import Permission, expand, required_permissions

ESCALATION_VERBS = {"escalate", "bind", "impersonate", "*"}


def _granted(objects: list[dict[str, Any]]) -> set[Permission]:
    roles = [o for o in objects if o["kind"] in ("ClusterRole", "Role")]
    granted = set()
    for role in roles:
        granted |= set(expand(role["rules"]))
    return granted


@pytest.mark.parametrize("name", RENDERS)
def test_hub_rbac_matches_what_the_hub_code_calls(name):
    objects = render_example(name)
    hub_config = by_component(objects, "ConfigMap", "hub")["data"]["podlab.yaml"]
    required = required_permissions(parse_config(yaml.safe_load(hub_config)))
    granted = _granted(objects)
    missing = sorted(set(required) - granted)
    extra = sorted(granted - set(required))
    assert not missing, "the hub would get 403 for: " + ", ".join(
        f"{p} (needed by {', '.join(sorted(required[p]))})" for p in missing
    )
    assert not extra, f"granted but never used by the hub code: {extra}"


def test_derivation_sees_podlab_choices():
    """Guards in KubeSpawner are evaluated with podlab's traits: home PVCs are never deleted
    (delete_pvc=False), per-pod Secrets/Services are off; Spark on Kubernetes widens the
    per-user Role and with it the hub's."""
    plain = required_permissions(parse_config(yaml.safe_load(example("minimal").read_text())))
    assert ("", "persistentvolumeclaims", "delete") not in plain
    assert ("", "secrets", "create") not in plain
    assert ("", "pods", "watch") in plain
    assert ("", "events", "watch") in plain
    spark = required_permissions(parse_config(yaml.safe_load(example("gpu-heavy").read_text())))
    assert ("", "services", "create") in spark


@pytest.mark.parametrize("name", RENDERS)
def test_no_rule_can_escalate_or_read_secrets(name):
    for permission in _granted(render_example(name)):
        group, resource, verb = permission
        assert verb not in ESCALATION_VERBS, permission
        assert "*" not in (group, resource), permission
        assert resource != "secrets", permission


def test_every_rule_says_why():
    text = (example("minimal").parent.parent / "templates" / "hub" / "rbac.yaml").read_text()
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            previous = lines[index - 1].strip()
            assert previous.startswith("#") or previous.startswith("{{-"), (
                f"rule at line {index + 1} of rbac.yaml has no comment saying why"
            )


def test_binding_targets_the_hub_service_account():
    objects = render_example("production-eks")
    role = find(objects, "ClusterRole")
    binding = find(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    hub = next(
        o
        for o in objects
        if o["kind"] == "Deployment"
        and o["metadata"]["labels"]["app.kubernetes.io/component"] == "hub"
    )
    account = hub["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": "podlab"}
    ]
