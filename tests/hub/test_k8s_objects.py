"""The per-user namespace objects, from the pure builders: schema-valid, and saying what we mean.

No cluster: the NetworkPolicy is checked with a small evaluator of its ipBlock/port rules, so
"the metadata endpoint and the hub database are unreachable" is asserted as behaviour, not as
the presence of a particular YAML line.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from podlab.config import ConfigError, PodlabConfig, parse_config
from podlab.k8s import namespace_objects
from podlab.k8s.objects import POD_SECURITY_LABELS, envelope
from tests.hub.k8s_helpers import config_data, make_config, schema_versions, validate_strict

NS = "podlab-alice"

SPARK_MODES: dict[str, dict[str, Any]] = {
    "none": {},
    "connect": {"spark": {"mode": "connect", "url": "sc://spark-connect.spark.svc:15002"}},
    "standalone": {"spark": {"mode": "standalone", "url": "spark://10.0.7.7:7077"}},
    "kubernetes": {"spark": {"mode": "kubernetes", "executor_instances": 3}},
}


def objects_for(
    config: PodlabConfig, username: str = "alice", namespace: str = NS
) -> dict[str, Any]:
    return {
        o["kind"]: o
        for o in namespace_objects(
            config, username=username, namespace_name=namespace, platform_namespace="podlab"
        )
    }


@pytest.mark.parametrize("version", schema_versions())
@pytest.mark.parametrize("mode", sorted(SPARK_MODES))
def test_objects_pass_strict_schema_validation(mode, version):
    config = make_config(integrations=SPARK_MODES[mode])
    objects = namespace_objects(
        config, username="Alice.Smith@Example.com", namespace_name=NS, platform_namespace="podlab"
    )
    assert [o["kind"] for o in objects] == [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
    ]
    for manifest in objects:
        validate_strict(manifest, version)


def test_schema_versions_cover_newest_and_1_31():
    versions = schema_versions()
    assert "1.31.0" in versions
    assert len(versions) == 2


def test_builders_are_pure_and_deterministic():
    config = make_config(integrations=SPARK_MODES["kubernetes"])
    first = objects_for(config)
    second = objects_for(make_config(integrations=SPARK_MODES["kubernetes"]))
    assert first == second
    for manifest in first.values():
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == NS


def test_namespace_enforces_restricted_pod_security():
    labels = objects_for(make_config())["Namespace"]["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest"
    assert set(POD_SECURITY_LABELS) <= set(labels)


def test_service_account_has_no_automatic_token():
    sa = objects_for(make_config())["ServiceAccount"]
    assert sa["metadata"]["name"] == "podlab-user"
    assert sa["automountServiceAccountToken"] is False


def test_service_account_annotations_cannot_hide_the_owner():
    annotations = {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/u", "podlab.io/username": "x"}
    objects = namespace_objects(
        make_config(),
        username="alice",
        namespace_name=NS,
        platform_namespace="podlab",
        service_account_annotations=annotations,
    )
    sa = next(o for o in objects if o["kind"] == "ServiceAccount")
    assert sa["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/u",
        "podlab.io/username": "alice",
    }


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        (None, {}),
        ({}, {}),
        ({"eks.amazonaws.com/role-arn": "arn:r"}, {"eks.amazonaws.com/role-arn": "arn:r"}),
        ({"note": ""}, {"note": ""}),
        ({"Example.COM/Role_ARN.v1": "x"}, {"Example.COM/Role_ARN.v1": "x"}),
    ],
)  # fmt: skip
def test_service_account_annotations_parse(annotations, expected):
    """podlab.user_service_account.annotations, validated with the rest of the config."""
    section = {} if annotations is None else {"user_service_account": {"annotations": annotations}}
    config = parse_config({**config_data(), **section})
    assert config.user_service_account.annotations == expected


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ({"a": 1}, "annotations.a: Input should be a valid string"),
        ({"bad key": "x"}, "'bad key' is not a valid annotation key"),
        ({"/foo": "y"}, "is not a valid annotation key"),
        ({"foo\n": "y"}, "is not a valid annotation key"),
        ({"a/b/c": "y"}, "is not a valid annotation key"),
        ({"-x.example.com/y": "y"}, "is not a valid annotation key"),
        ({"a/": "y"}, "is not a valid annotation key"),
        ({"n" * 64: "y"}, "is not a valid annotation key"),
        (["a"], "annotations: Input should be a valid dictionary"),
    ],
)
def test_bad_service_account_annotations_name_the_setting(annotations, message):
    section = {"user_service_account": {"annotations": annotations}}
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        parse_config({**config_data(), **section})
    assert "podlab.user_service_account.annotations" in str(err.value)


def _grants(role: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (resource, verb)
        for rule in role["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        if rule["apiGroups"] == [""]
    }


def test_role_lets_the_user_see_and_enter_pods_only():
    grants = _grants(objects_for(make_config())["Role"])
    assert grants == {
        ("pods", "get"),
        ("pods", "list"),
        ("pods", "watch"),
        ("pods/log", "get"),
        ("pods/log", "list"),
        ("pods/log", "watch"),
        ("pods/exec", "create"),
        ("pods/exec", "get"),
        ("pods/portforward", "create"),
        ("pods/portforward", "get"),
    }


@pytest.mark.parametrize("mode", ["connect", "standalone"])
def test_role_without_spark_on_kubernetes_cannot_create_pods(mode):
    grants = _grants(objects_for(make_config(integrations=SPARK_MODES[mode]))["Role"])
    assert ("pods", "create") not in grants
    assert not {r for r, _ in grants} & {"services", "configmaps", "persistentvolumeclaims"}


def test_role_with_spark_on_kubernetes_manages_executors():
    grants = _grants(objects_for(make_config(integrations=SPARK_MODES["kubernetes"]))["Role"])
    for resource in ("pods", "services", "configmaps", "persistentvolumeclaims"):
        for verb in ("get", "list", "watch", "create", "patch", "delete", "deletecollection"):
            assert (resource, verb) in grants
    assert ("secrets", "get") not in grants


def test_role_binding_binds_the_users_service_account():
    binding = objects_for(make_config())["RoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "podlab-user",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "podlab-user", "namespace": NS}
    ]


def test_quota_is_the_largest_profile_per_dimension():
    config = make_config()
    hard = objects_for(config)["ResourceQuota"]["spec"]["hard"]
    assert hard == {
        "pods": "1",
        "requests.cpu": "4",
        "limits.cpu": "8",
        "requests.memory": "30Gi",
        "limits.memory": "60Gi",
        "persistentvolumeclaims": "1",
        "requests.storage": "20Gi",
        "requests.nvidia.com/gpu": "1",
        "services": "0",
    }
    env = envelope(config.profiles)
    assert (env.cpu_limit, env.gpus) == (8.0, {"nvidia.com/gpu": 1})


def test_quota_mixes_dimensions_of_different_profiles():
    data_profiles = [
        {
            "slug": "wide",
            "display_name": "Many CPUs",
            "cpu": {"guarantee": 6, "limit": 16},
            "memory": {"guarantee": "4Gi", "limit": "8Gi"},
        },
        {
            "slug": "tall",
            "display_name": "Much memory, two GPUs",
            "cpu": {"guarantee": 1, "limit": 2},
            "memory": {"guarantee": "100Gi", "limit": "200Gi"},
            "gpu": {"count": 2, "resource": "amd.com/gpu"},
        },
    ]
    hard = objects_for(make_config(profiles=data_profiles))["ResourceQuota"]["spec"]["hard"]
    assert hard["requests.cpu"] == "6"
    assert hard["limits.cpu"] == "16"
    assert hard["requests.memory"] == "100Gi"
    assert hard["limits.memory"] == "200Gi"
    assert hard["requests.amd.com/gpu"] == "2"
    assert "requests.nvidia.com/gpu" not in hard


def test_quota_without_gpu_profiles_forbids_gpus():
    profiles = [make_config().profiles[0].model_dump(by_alias=True, exclude_none=True)]
    hard = objects_for(make_config(profiles=profiles))["ResourceQuota"]["spec"]["hard"]
    assert hard["requests.nvidia.com/gpu"] == "0"
    assert hard["limits.cpu"] == "2"


def test_quota_with_spark_executors_doubles_cpu_memory_not_gpus():
    hard = objects_for(make_config(integrations=SPARK_MODES["kubernetes"]))["ResourceQuota"][
        "spec"
    ]["hard"]
    assert hard["pods"] == "4"  # the server and three executors
    assert hard["limits.cpu"] == "16"
    assert hard["limits.memory"] == "120Gi"
    assert hard["requests.nvidia.com/gpu"] == "1"
    assert "services" not in hard


def test_limit_range_defaults_and_ceiling():
    (container, pvc) = objects_for(make_config())["LimitRange"]["spec"]["limits"]
    assert container == {
        "type": "Container",
        "max": {"cpu": "8", "memory": "60Gi"},
        "default": {"cpu": "8", "memory": "60Gi"},
        "defaultRequest": {"cpu": "500m", "memory": "2Gi"},
    }
    assert pvc == {"type": "PersistentVolumeClaim", "max": {"storage": "20Gi"}}


# -- NetworkPolicy -----------------------------------------------------------------------------
def _ports_match(rule: dict[str, Any], port: int, protocol: str = "TCP") -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports)


def egress_to_address_allowed(
    policy: dict[str, Any], address: str, port: int, protocol: str = "TCP"
) -> bool:
    """Whether any egress ipBlock rule lets traffic to address:port out."""
    ip = ipaddress.ip_address(address)
    for rule in policy["spec"]["egress"]:
        if not _ports_match(rule, port, protocol):
            continue
        for peer in rule.get("to", []):
            block = peer.get("ipBlock")
            if block is None:
                continue
            net = ipaddress.ip_network(block["cidr"])
            if ip.version != net.version or ip not in net:
                continue
            if any(ip in ipaddress.ip_network(e) for e in block.get("except", [])):
                continue
            return True
    return False


def egress_namespace_peers(policy: dict[str, Any]) -> list[tuple[str, Any, list[Any]]]:
    """(namespace, pod selector, ports) for every namespaceSelector peer."""
    out = []
    for rule in policy["spec"]["egress"]:
        for peer in rule.get("to", []):
            if "namespaceSelector" in peer:
                labels = peer["namespaceSelector"]["matchLabels"]
                out.append(
                    (
                        labels["kubernetes.io/metadata.name"],
                        peer.get("podSelector"),
                        sorted((p["protocol"], p["port"]) for p in rule.get("ports", [])),
                    )
                )
    return out


@pytest.mark.parametrize("mode", sorted(SPARK_MODES))
def test_metadata_endpoint_and_database_are_never_reachable(mode):
    policy = objects_for(make_config(integrations=SPARK_MODES[mode]))["NetworkPolicy"]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["podSelector"] == {}
    for port in (80, 443, 5432, 6443, 8080):
        assert not egress_to_address_allowed(policy, "169.254.169.254", port)
        assert not egress_to_address_allowed(policy, "10.0.48.17", port)  # database CIDR
        assert not egress_to_address_allowed(policy, "fd00:ec2::254", port)


def test_other_namespaces_and_private_addresses_are_denied():
    policy = objects_for(make_config())["NetworkPolicy"]
    # Another user's pod (pod IPs are VPC addresses on EKS) on the notebook port.
    assert not egress_to_address_allowed(policy, "10.12.3.4", 8888)
    assert not egress_to_address_allowed(policy, "192.168.1.10", 22)
    for rule in policy["spec"]["egress"] + policy["spec"]["ingress"]:
        for peer in rule.get("to", []) + rule.get("from", []):
            if "namespaceSelector" in peer:
                assert peer["namespaceSelector"]["matchLabels"], "empty selector = all namespaces"
            else:
                assert "ipBlock" in peer or peer == {"podSelector": {}}
    assert egress_to_address_allowed(policy, "52.95.110.1", 443)  # the internet: allowed


def test_integrations_are_allowed_on_their_ports_only():
    config = make_config(
        integrations={
            "sql": {"engine": "trino", "host": "trino.analytics.svc.cluster.local", "port": 8443},
            **SPARK_MODES["connect"],
        }
    )
    policy = objects_for(config)["NetworkPolicy"]
    assert egress_namespace_peers(policy) == [
        ("kube-system", {"matchLabels": {"k8s-app": "kube-dns"}}, [("TCP", 53), ("UDP", 53)]),
        ("podlab", None, [("TCP", 8081)]),  # hub API
        ("podlab", None, [("TCP", 5000)]),  # MLflow
        ("analytics", None, [("TCP", 8443)]),  # Trino
        ("spark", None, [("TCP", 15002)]),  # Spark Connect
    ]
    # The S3 endpoint is an IP inside the private ranges: open on its port only.
    assert egress_to_address_allowed(policy, "10.0.9.9", 9000)
    assert not egress_to_address_allowed(policy, "10.0.9.9", 22)


def test_ingress_from_the_proxy_and_own_namespace_only():
    policy = objects_for(make_config())["NetworkPolicy"]
    assert policy["spec"]["ingress"] == [
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "podlab"}}}
            ],
            "ports": [{"protocol": "TCP", "port": 8888}],
        },
        {"from": [{"podSelector": {}}]},
    ]


def test_spark_standalone_workers_may_connect_back_to_the_driver():
    policy = objects_for(make_config(integrations=SPARK_MODES["standalone"]))["NetworkPolicy"]
    assert {"from": [{"ipBlock": {"cidr": "10.0.7.7/32"}}]} in policy["spec"]["ingress"]
    assert egress_to_address_allowed(policy, "10.0.7.7", 7077)


def test_kubernetes_api_only_for_spark_on_kubernetes():
    without = objects_for(make_config())["NetworkPolicy"]
    assert not egress_to_address_allowed(without, "10.0.0.10", 443)
    network = {"platform_namespace": "podlab", "kubernetes_api_cidrs": ["10.0.0.0/28"]}
    with_api = objects_for(make_config(integrations=SPARK_MODES["kubernetes"], network=network))[
        "NetworkPolicy"
    ]
    assert egress_to_address_allowed(with_api, "10.0.0.10", 443)
    assert egress_to_address_allowed(with_api, "10.0.0.10", 6443)
    assert not egress_to_address_allowed(with_api, "10.0.0.10", 22)
    assert not egress_to_address_allowed(with_api, "10.0.0.99", 443)


def test_internet_can_be_closed_and_explicit_rules_added():
    network = {
        "platform_namespace": "podlab",
        "internet": False,
        "database": {"cidr": "10.0.48.0/24"},
        "egress": [{"cidr": "10.0.0.0/16", "ports": [8080]}],
    }
    policy = objects_for(make_config(network=network))["NetworkPolicy"]
    assert not egress_to_address_allowed(policy, "52.95.110.1", 443)
    assert egress_to_address_allowed(policy, "10.0.3.3", 8080)
    assert not egress_to_address_allowed(policy, "10.0.48.3", 8080)  # database cut out
