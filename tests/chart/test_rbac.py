"""The hub's ClusterRole as rendered, for every example values file: it holds everything the
per-user Role grants (Kubernetes refuses a Role whose permissions its creator lacks), never an
escalation verb or Secrets, and every rule says why.

That it is sufficient and minimal is proven on the real API server from what the hub did
(tests/hub/test_kube_rbac.py, the API server's audit log of the hub's ServiceAccount).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import yaml

from podlab.config import parse_config
from podlab.k8s import namespace_objects
from tests.chart.helm import RENDERS, by_component, find, render_example
from tests.support.release import CHART

Permission = tuple[str, str, str]
"""(apiGroup, resource, verb)"""
ESCALATION_VERBS = {"escalate", "bind", "impersonate", "*"}


def expand(rules: Iterable[dict[str, Any]]) -> Iterator[Permission]:
    for rule in rules:
        for group in rule.get("apiGroups", [""]):
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    yield (group, resource, verb)


def _granted(objects: list[dict[str, Any]]) -> set[Permission]:
    roles = [o for o in objects if o["kind"] in ("ClusterRole", "Role")]
    granted = set()
    for role in roles:
        granted |= set(expand(role["rules"]))
    return granted


def _granted_to_users(objects: list[dict[str, Any]]) -> set[Permission]:
    hub_config = by_component(objects, "ConfigMap", "hub")["data"]["podlab.yaml"]
    config = parse_config(yaml.safe_load(hub_config))
    user_objects = namespace_objects(
        config, username="someone", namespace_name="podlab-someone", platform_namespace="podlab"
    )
    return set(expand(r for o in user_objects if o["kind"] == "Role" for r in o["rules"]))


@pytest.mark.parametrize("name", RENDERS)
def test_the_hub_holds_what_it_grants_users(name):
    objects = render_example(name)
    missing = sorted(_granted_to_users(objects) - _granted(objects))
    assert not missing, f"the hub could not create the per-user Role: it lacks {missing}"


def test_spark_on_kubernetes_widens_both_roles():
    """Spark drivers manage executor pods, services and config maps in the user's namespace:
    the per-user Role grants it, so the hub must hold it; without Spark neither does."""
    spark = render_example("gpu-heavy")
    plain = render_example("minimal")
    assert ("", "services", "create") in _granted_to_users(spark) & _granted(spark)
    assert ("", "services", "create") not in _granted(plain)
    assert ("", "persistentvolumeclaims", "delete") not in _granted(plain)


@pytest.mark.parametrize("name", RENDERS)
def test_no_rule_can_escalate_or_read_secrets(name):
    for permission in _granted(render_example(name)):
        group, resource, verb = permission
        assert verb not in ESCALATION_VERBS, permission
        assert "*" not in (group, resource), permission
        assert resource != "secrets", permission


def test_every_rule_says_why():
    text = (CHART / "templates" / "hub" / "rbac.yaml").read_text()
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
