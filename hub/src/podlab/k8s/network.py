"""The user namespace's NetworkPolicy: an allow-list, so everything not named is denied.

A NetworkPolicy cannot deny; it selects pods and lists what they may reach. Selecting every
pod in the namespace for Ingress and Egress makes the denials of the design hold by omission:
the instance metadata endpoint, the hub database and other users' namespaces are never listed,
and they are cut out (`except`) of every address-block rule that would otherwise cover them.
Peers come from the integration URLs where those name an in-cluster Service
(`name.namespace.svc…`) or an IP address; external hostnames are reached through the
"internet" rule (addresses outside `network.private_cidrs`), or through `network.egress`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from podlab.config import PodlabConfig
from podlab.k8s.objects import NETWORK_POLICY, UserNamespace

SERVER_PORT = 8888
"""KubeSpawner's default single-user port; the proxy and the hub connect to it."""
METADATA_CIDRS = ("169.254.169.254/32", "fd00:ec2::254/128")
"""EC2 instance metadata (IPv4 and IPv6): node credentials must stay out of reach."""
KUBERNETES_API_PORTS = (443, 6443)
ANY_ADDRESS = {4: "0.0.0.0/0", 6: "::/0"}
NAME_LABEL = "kubernetes.io/metadata.name"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def network_policy(user: UserNamespace, config: PodlabConfig) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": user.metadata(NETWORK_POLICY),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress_rules(user, config),
            "egress": egress_rules(user, config),
        },
    }


def ingress_rules(user: UserNamespace, config: PodlabConfig) -> list[dict[str, Any]]:
    net = config.network
    rules: list[dict[str, Any]] = [
        # The proxy routes browser traffic to the server; the hub checks it is up.
        {
            "from": [_namespace_peer(user.platform_namespace)],
            "ports": _ports([SERVER_PORT]),
        },
        # Spark executors and the driver (the user's pod) talk to each other both ways.
        {"from": [{"podSelector": {}}]},
    ]
    spark = config.integrations.spark
    if spark is not None and spark.mode == "standalone" and spark.url:
        # Standalone executors run on the Spark workers and connect back to the driver.
        peer = _destination_peer(spark.url, config)
        if peer is not None:
            rules.append({"from": [peer]})
    for rule in net.ingress:
        rules.append(_cidr_rule("from", rule.cidr, rule.ports, config))
    return rules


def egress_rules(user: UserNamespace, config: PodlabConfig) -> list[dict[str, Any]]:
    net = config.network
    integ = config.integrations
    rules: list[dict[str, Any]] = [
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {NAME_LABEL: net.dns.namespace}},
                    "podSelector": {"matchLabels": dict(net.dns.pod_labels)},
                }
            ],
            "ports": [
                {"protocol": "UDP", "port": 53},
                {"protocol": "TCP", "port": 53},
            ],
        },
        {"to": [{"podSelector": {}}]},
        {"to": [_namespace_peer(user.platform_namespace)], "ports": _ports([net.hub_port])},
    ]
    destinations: list[str] = []
    if integ.mlflow.url:
        destinations.append(integ.mlflow.url)
    if integ.s3.endpoint_url:
        destinations.append(integ.s3.endpoint_url)
    if integ.sql is not None:
        destinations.append(f"{integ.sql.http_scheme}://{integ.sql.host}:{integ.sql.port}")
    spark = integ.spark
    if spark is not None and spark.mode in ("connect", "standalone") and spark.url:
        destinations.append(spark.url)
    seen: list[dict[str, Any]] = []
    for url in destinations:
        peer = _destination_peer(url, config)
        if peer is None:
            continue  # external name: the internet rule (or network.egress) covers it
        rule = {"to": [peer], "ports": _ports([_port_of(url)])}
        if rule not in seen:
            seen.append(rule)
    rules += seen
    if spark is not None and spark.mode == "kubernetes":
        # The driver in the user's pod asks the API server for executor pods.
        api_cidrs = net.kubernetes_api_cidrs or list(ANY_ADDRESS.values())
        rules.append(
            {
                "to": [_ip_block(cidr, config) for cidr in api_cidrs],
                "ports": _ports(KUBERNETES_API_PORTS),
            }
        )
    for extra in net.egress:
        rules.append(_cidr_rule("to", extra.cidr, extra.ports, config))
    if net.internet:
        outside = [_ip_block(ANY_ADDRESS[4], config, net.private_cidrs)]
        if any(ipaddress.ip_network(c).version == 6 for c in net.private_cidrs):
            outside.append(_ip_block(ANY_ADDRESS[6], config, net.private_cidrs))
        rules.append({"to": outside})
    return rules


# -- peers -------------------------------------------------------------------------------------
def _namespace_peer(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NAME_LABEL: namespace}}}


def _destination_peer(url: str, config: PodlabConfig) -> dict[str, Any] | None:
    """An in-cluster Service's namespace, an IP address's block, or None (external name)."""
    host = (urlsplit(url).hostname or "").lower()
    if not host or host == "localhost":
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        labels = host.split(".")
        if len(labels) >= 3 and labels[2] == "svc":
            return _namespace_peer(labels[1])
        return None
    if address.is_loopback:
        return None
    network = ipaddress.ip_network(address)
    if any(_overlaps(network, blocked) for blocked in _always_blocked(config)):
        return None  # an integration pointing at a denied address stays denied
    return _ip_block(str(network), config)


def _port_of(url: str) -> int:
    parts = urlsplit(url)
    if parts.port:
        return parts.port
    return {"https": 443, "http": 80, "sc": 15002, "spark": 7077}.get(parts.scheme, 443)


def _cidr_rule(direction: str, cidr: str, ports: list[int], config: PodlabConfig) -> dict[str, Any]:
    rule: dict[str, Any] = {direction: [_ip_block(cidr, config)]}
    if ports:
        rule["ports"] = _ports(ports)
    return rule


def _ip_block(cidr: str, config: PodlabConfig, extra_except: Sequence[str] = ()) -> dict[str, Any]:
    """An ipBlock with every always-denied range (and `extra_except`) inside it cut out."""
    network = ipaddress.ip_network(cidr)
    cut: list[Network] = []
    candidates = [*_always_blocked(config), *map(ipaddress.ip_network, extra_except)]
    for candidate in candidates:
        if not _strictly_inside(candidate, network) or candidate in cut:
            continue
        if any(_strictly_inside(candidate, other) for other in candidates):
            continue  # already cut out with a larger range
        cut.append(candidate)
    block: dict[str, Any] = {"cidr": str(network)}
    if cut:
        block["except"] = [str(c) for c in cut]
    return {"ipBlock": block}


def _always_blocked(config: PodlabConfig) -> list[Network]:
    blocked = [ipaddress.ip_network(c) for c in METADATA_CIDRS]
    if config.network.database is not None:
        blocked.append(ipaddress.ip_network(config.network.database.cidr))
    return blocked


def _strictly_inside(inner: Network, outer: Network) -> bool:
    return _overlaps(inner, outer) and inner.prefixlen > outer.prefixlen


def _overlaps(a: Network, b: Network) -> bool:
    if isinstance(a, ipaddress.IPv4Network) and isinstance(b, ipaddress.IPv4Network):
        return a.overlaps(b)
    if isinstance(a, ipaddress.IPv6Network) and isinstance(b, ipaddress.IPv6Network):
        return a.overlaps(b)
    return False


def _ports(ports: Any) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": int(port)} for port in ports]
