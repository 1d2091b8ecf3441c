"""Network isolation: the per-user NetworkPolicy (built by the hub from the podlab config the
chart renders) and the chart's own policies for the hub, the proxy and MLflow.

The user policy is not a chart template: the hub creates it in each user namespace with
podlab.k8s.network. The chart's part is to pass the database network through the podlab
config, so the test renders the chart, loads the ConfigMap's podlab.yaml exactly as the hub
does, builds the policy with the hub's builder and checks what it lets through.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml

from podlab.config import load_config
from podlab.k8s.network import network_policy
from podlab.k8s.objects import UserNamespace, namespace
from tests.chart.helm import RENDERS, by_component, render_example

METADATA = "169.254.169.254"


def _podlab_config(objects: list[dict[str, Any]], tmp_path: Path):
    path = tmp_path / "podlab.yaml"
    path.write_text(by_component(objects, "ConfigMap", "hub")["data"]["podlab.yaml"])
    return load_config(path)


def _allows(rules: list[dict[str, Any]], address: str, port: int, key: str = "to") -> bool:
    """Whether an egress (ingress) rule list lets `address:port/TCP` through by IP.

    Pod and namespace selectors select pods, never an address outside the cluster such as
    the instance metadata endpoint or an RDS instance, so only ipBlocks count; a rule with no
    peers matches every address."""
    ip = ipaddress.ip_address(address)
    for rule in rules:
        ports = rule.get("ports")
        if ports and not any(
            p.get("protocol", "TCP") == "TCP" and p.get("port") in (None, port) for p in ports
        ):
            continue
        peers = rule.get(key)
        if not peers:
            return True
        for peer in peers:
            block = peer.get("ipBlock")
            if block is None:
                continue
            if ip in ipaddress.ip_network(block["cidr"]) and not any(
                ip in ipaddress.ip_network(e) for e in block.get("except", [])
            ):
                return True
    return False


@pytest.mark.parametrize("name", RENDERS)
def test_user_pods_cannot_reach_metadata_or_the_database(name, tmp_path):
    objects = render_example(name)
    config = _podlab_config(objects, tmp_path)
    policy = network_policy(UserNamespace("alice", "podlab-alice", "podlab"), config)
    egress = policy["spec"]["egress"]
    assert "Egress" in policy["spec"]["policyTypes"]
    for port in (80, 443, 8080):
        assert not _allows(egress, METADATA, port), f"{METADATA}:{port} reachable"
    database = config.network.database
    if database is not None:
        network = ipaddress.ip_network(database.cidr)
        for address in (network[1], network[-2]):
            assert not _allows(egress, str(address), database.port), (
                f"user pods reach the database at {address}:{database.port}"
            )
    # ...while what users need stays open: the internet (S3, package indexes).
    assert _allows(egress, "52.216.0.1", 443) is config.network.internet


def test_production_example_names_the_database_network(tmp_path):
    config = _podlab_config(render_example("production-eks"), tmp_path)
    assert config.network.database is not None
    assert str(config.network.database.cidr) == "10.20.64.0/20"
    assert config.network.database.port == 5432


def test_user_pods_reach_mlflow_in_the_platform_namespace(tmp_path):
    objects = render_example("production-eks")
    config = _podlab_config(objects, tmp_path)
    policy = network_policy(UserNamespace("alice", "podlab-alice", "podlab"), config)
    assert {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "podlab"}}}],
        "ports": [{"protocol": "TCP", "port": 5000}],
    } in policy["spec"]["egress"]


@pytest.mark.parametrize("component", ["hub", "mlflow"])
def test_platform_pods_reach_the_database(component):
    """The hub and MLflow may reach the database network named in podlab.network.database."""
    objects = render_example("production-eks")
    policy = by_component(objects, "NetworkPolicy", component)
    assert _allows(policy["spec"]["egress"], "10.20.64.10", 5432)
    assert not _allows(policy["spec"]["egress"], "10.20.64.10", 22)


@pytest.mark.parametrize("name", RENDERS)
def test_user_namespace_selector_matches_the_namespaces_the_hub_creates(name):
    """The chart's policies admit user pods by namespace labels; those labels come from
    podlab.k8s, so a renamed label would silently cut users off the hub."""
    labels = namespace(UserNamespace("alice", "podlab-alice", "podlab"))["metadata"]["labels"]
    selectors = []
    for obj in render_example(name):
        if obj["kind"] != "NetworkPolicy":
            continue
        for rule in obj["spec"].get("ingress", []) + obj["spec"].get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                if "namespaceSelector" in peer and "podSelector" not in peer:
                    selectors.append(peer["namespaceSelector"]["matchLabels"])
    assert selectors
    for selector in selectors:
        if "kubernetes.io/metadata.name" in selector:
            continue  # a named namespace (DNS), not the user namespaces
        assert selector.items() <= labels.items(), f"{selector} does not select {labels}"


def test_proxy_api_only_from_the_hub():
    objects = render_example("production-eks")
    policy = by_component(objects, "NetworkPolicy", "proxy")
    api_rules = [
        r for r in policy["spec"]["ingress"] if any(p["port"] == 8001 for p in r.get("ports", []))
    ]
    assert len(api_rules) == 1
    (peer,) = api_rules[0]["from"]
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "hub"


def test_every_platform_pod_is_covered_by_a_policy():
    objects = render_example("minimal")
    selectors = [
        o["spec"]["podSelector"]["matchLabels"] for o in objects if o["kind"] == "NetworkPolicy"
    ]
    for obj in objects:
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        assert any(s.items() <= labels.items() for s in selectors), obj["metadata"]["name"]


def test_bundled_database_admits_only_hub_mlflow_and_migration():
    policy = by_component(render_example("minimal"), "NetworkPolicy", "postgresql")
    (rule,) = policy["spec"]["ingress"]
    components = {
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in rule["from"]
    }
    assert components == {"hub", "mlflow", "mlflow-migrate"}
    assert policy["spec"]["egress"] == []
    assert yaml.safe_dump(policy)  # renders as YAML


def _pod_peers(rule: dict[str, Any], key: str) -> set[str]:
    return {
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in rule.get(key, [])
        if "podSelector" in p and "namespaceSelector" not in p
    }


def _opens(objects, source: str, target: str, port: int) -> bool:
    """Both sides agree: `source` may send to `target` on `port` and `target` accepts it."""
    policies = {
        o["metadata"]["labels"]["app.kubernetes.io/component"]: o["spec"]
        for o in objects
        if o["kind"] == "NetworkPolicy"
    }

    def matches(rules: list[dict[str, Any]], key: str, peer: str) -> bool:
        return any(
            peer in _pod_peers(r, key) and any(p["port"] == port for p in r.get("ports", []))
            for r in rules
        )

    egress_ok = source not in policies or matches(policies[source]["egress"], "to", target)
    ingress_ok = target not in policies or matches(policies[target]["ingress"], "from", source)
    return egress_ok and ingress_ok


@pytest.mark.parametrize(
    ("source", "target", "port", "why"),
    [
        ("proxy", "hub", 8081, "the proxy's default route"),
        ("hub", "proxy", 8001, "the hub manages the proxy's routes"),
        ("hub", "hub", 8081, "the idle culler in the hub pod calls the hub API by its Service"),
        ("hub", "mlflow", 5000, "JupyterHub checks the mlflow service's health"),
        ("mlflow", "hub", 8081, "MLflow validates users' tokens with the hub"),
        ("proxy", "mlflow", 5000, "the proxy routes /services/mlflow/"),
        ("test", "hub", 8081, "helm test: hub API"),
        ("test", "mlflow", 5000, "helm test: MLflow /health"),
        ("hub", "postgresql", 5432, "the hub database (bundled)"),
        ("mlflow", "postgresql", 5432, "the MLflow database (bundled)"),
        ("mlflow-migrate", "postgresql", 5432, "the migration Job (bundled)"),
    ],
)
def test_platform_paths_are_open_on_both_sides(source, target, port, why):
    assert _opens(render_example("minimal"), source, target, port), why


@pytest.mark.parametrize(
    ("source", "target", "port"),
    [("mlflow", "proxy", 8001), ("test", "proxy", 8001), ("mlflow", "hub", 5432)],
)
def test_platform_paths_not_needed_stay_closed(source, target, port):
    assert not _opens(render_example("minimal"), source, target, port)
