"""`podlab render`: KubeSpawner's real pod and PVC plus the namespace objects, without a cluster.

What the render shows is what the hub creates (same `PodlabKubeSpawner`, same traitlets), so
the checks here are the checks on production pods: strict schema validity, GPU placement,
Pod Security `restricted` rule by rule, and the integration environment per mode.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml

from podlab.config import load_config
from podlab.k8s import namespace_objects
from podlab.render import RENDER_API_TOKEN
from tests.hub.k8s_helpers import (
    EXAMPLE_CONFIG,
    PODLAB_CLI,
    make_config,
    pod_env,
    rendered,
    schema_versions,
    validate_strict,
    write_yaml,
)

EXAMPLE = load_config(EXAMPLE_CONFIG)


@pytest.fixture(scope="module")
def example_renders():
    return {p.slug: rendered(EXAMPLE, p.slug, "Alice.Smith@Example.com") for p in EXAMPLE.profiles}


# -- schema ------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", schema_versions())
@pytest.mark.parametrize("profile", [p.slug for p in EXAMPLE.profiles])
def test_every_profile_renders_strictly_valid_objects(example_renders, profile, version):
    objects = example_renders[profile]
    assert list(objects) == [
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "Pod",
    ]
    for manifest in objects.values():
        validate_strict(manifest, version)


def test_strict_validation_rejects_unknown_fields():
    """The validator really is strict: a misspelt field fails (so passing means something)."""
    import kubernetes_validate

    pod = copy.deepcopy(rendered(EXAMPLE, "small")["Pod"])
    pod["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strict(pod, schema_versions()[-1])


def test_render_matches_the_namespace_builders(example_renders):
    objects = example_renders["small"]
    namespace = objects["Namespace"]["metadata"]["name"]
    expected = namespace_objects(
        EXAMPLE,
        username="Alice.Smith@Example.com",
        namespace_name=namespace,
        platform_namespace="podlab",
    )
    assert [objects[o["kind"]] for o in expected] == expected
    assert objects["Pod"]["metadata"]["namespace"] == namespace
    assert objects["PersistentVolumeClaim"]["metadata"]["namespace"] == namespace


# -- profiles ----------------------------------------------------------------------------------
def _container(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod["spec"]["containers"]
    return dict(container)


def test_gpu_profile_has_limit_node_selector_and_toleration(example_renders):
    pod = example_renders["gpu-1"]["Pod"]
    resources = _container(pod)["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "1"
    assert resources["requests"]["nvidia.com/gpu"] == "1"
    assert pod["spec"]["nodeSelector"] == {"podlab.io/node-pool": "gpu"}
    assert pod["spec"]["tolerations"] == [
        {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}
    ]
    assert _container(pod)["image"] == "ghcr.io/podlab/singleuser-gpu:0.1.0"


@pytest.mark.parametrize("profile", ["small", "large"])
def test_cpu_profiles_request_no_gpu(example_renders, profile):
    pod = example_renders[profile]["Pod"]
    resources = _container(pod)["resources"]
    for section in ("limits", "requests"):
        assert not [r for r in resources[section] if "gpu" in r]
    assert "nodeSelector" not in pod["spec"]
    assert "tolerations" not in pod["spec"]
    assert _container(pod)["image"] == "ghcr.io/podlab/singleuser:0.1.0"


def test_cpu_and_memory_come_from_the_profile(example_renders):
    resources = _container(example_renders["large"]["Pod"])["resources"]
    assert resources["requests"]["cpu"] == 4
    assert resources["limits"]["cpu"] == 8
    assert resources["requests"]["memory"] == 16 * 2**30
    assert resources["limits"]["memory"] == 32 * 2**30


def test_home_pvc_from_storage_config(example_renders):
    pvc = example_renders["small"]["PersistentVolumeClaim"]
    assert pvc["metadata"]["name"] == "home"
    assert pvc["spec"]["storageClassName"] == "gp3"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = example_renders["small"]["Pod"]
    assert pod["spec"]["volumes"] == [
        {"name": "home", "persistentVolumeClaim": {"claimName": "home"}}
    ]
    assert _container(pod)["volumeMounts"] == [{"mountPath": "/home/jovyan", "name": "home"}]


def test_default_storage_class_is_left_to_the_cluster():
    config = make_config(storage={"home_size": "5Gi"})
    pvc = rendered(config, "cpu-small")["PersistentVolumeClaim"]
    assert "storageClassName" not in pvc["spec"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"


# -- Pod Security `restricted`, rule by rule --------------------------------------------------
ALLOWED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The Pod Security Standards `restricted` profile (baseline included), one check per rule."""
    spec = pod["spec"]
    psc = spec.get("securityContext") or {}
    containers = (
        spec.get("containers", [])
        + spec.get("initContainers", [])
        + spec.get("ephemeralContainers", [])
    )
    out = []
    # baseline: host namespaces
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            out.append(f"{field} is true")
    # baseline: HostProcess
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        out.append("pod windowsOptions.hostProcess")
    # baseline: sysctls
    for sysctl in psc.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            out.append(f"unsafe sysctl {sysctl['name']}")
    # baseline: SELinux
    for ctx_name, ctx in [("pod", psc)] + [
        (c["name"], c.get("securityContext") or {}) for c in containers
    ]:
        selinux = ctx.get("seLinuxOptions") or {}
        if selinux.get("type") not in (
            None,
            "",
            "container_t",
            "container_init_t",
            "container_kvm_t",
        ):
            out.append(f"{ctx_name}: seLinux type")
        if selinux.get("user") or selinux.get("role"):
            out.append(f"{ctx_name}: seLinux user/role")
        apparmor = (ctx.get("appArmorProfile") or {}).get("type")
        if apparmor not in (None, "RuntimeDefault", "Localhost"):
            out.append(f"{ctx_name}: appArmor {apparmor}")
    # restricted: volume types (baseline: no hostPath)
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if "hostPath" in kinds:
            out.append(f"hostPath volume {volume['name']}")
        if not kinds <= ALLOWED_VOLUME_TYPES:
            out.append(f"volume {volume['name']} of type {kinds - ALLOWED_VOLUME_TYPES}")
    # restricted: seccomp on the pod or on every container
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        out.append(f"pod seccomp {pod_seccomp}")
    # restricted: runAsNonRoot on the pod or every container; runAsUser never 0
    if psc.get("runAsUser") == 0:
        out.append("pod runAsUser 0")
    for container in containers:
        name = container["name"]
        sc = container.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f"{name}: privileged")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            out.append(f"{name}: hostProcess")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"{name}: procMount {sc['procMount']}")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                out.append(f"{name}: hostPort {port['hostPort']}")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation must be false")
        if sc.get("runAsNonRoot") is False or not (
            sc.get("runAsNonRoot") or psc.get("runAsNonRoot")
        ):
            out.append(f"{name}: runAsNonRoot must be true")
        if sc.get("runAsUser") == 0:
            out.append(f"{name}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{name}: seccomp must be RuntimeDefault or Localhost, is {seccomp}")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{name}: capabilities must drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{name}: adds capabilities {caps['add']}")
    return out


@pytest.mark.parametrize("profile", [p.slug for p in EXAMPLE.profiles])
def test_pods_satisfy_pod_security_restricted(example_renders, profile):
    pod = example_renders[profile]["Pod"]
    assert restricted_violations(pod) == []
    sc = _container(pod)["securityContext"]
    assert sc["runAsUser"] == 1000
    assert sc["runAsGroup"] == 100
    assert sc["runAsNonRoot"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["spec"]["securityContext"]["fsGroup"] == 100
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize(
    ("mutate", "violation"),
    [
        (lambda p: p["spec"].update(hostNetwork=True), "hostNetwork is true"),
        (lambda p: p["spec"].update(hostPID=True), "hostPID is true"),
        (lambda p: p["spec"].update(hostIPC=True), "hostIPC is true"),
        (
            lambda p: p["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
            "hostPath volume h",
        ),
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(privileged=True),
            "notebook: privileged",
        ),
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(
                allowPrivilegeEscalation=True
            ),
            "notebook: allowPrivilegeEscalation must be false",
        ),
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(
                capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}
            ),
            "notebook: adds capabilities ['SYS_ADMIN']",
        ),
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(
                seccompProfile={"type": "Unconfined"}
            ),
            "notebook: seccomp must be RuntimeDefault or Localhost, is Unconfined",
        ),
        (
            lambda p: p["spec"]["containers"][0]["ports"][0].update(hostPort=8888),
            "notebook: hostPort 8888",
        ),
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(runAsNonRoot=False),
            "notebook: runAsNonRoot must be true",
        ),
    ],
)
def test_restricted_checker_catches_each_violation(example_renders, mutate, violation):
    """Each rule above really fires: the passing pods pass because they comply."""
    pod = copy.deepcopy(example_renders["small"]["Pod"])
    mutate(pod)
    assert violation in restricted_violations(pod)


def test_net_bind_service_is_the_one_capability_allowed(example_renders):
    pod = copy.deepcopy(example_renders["small"]["Pod"])
    pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert restricted_violations(pod) == []


# -- integration environment -----------------------------------------------------------------
SQL = {
    "trino": {"engine": "trino", "host": "trino.analytics.svc", "port": 8080, "catalog": "hive"},
    "presto": {
        "engine": "presto",
        "host": "presto.example.com",
        "port": 443,
        "http_scheme": "https",
    },
}


def test_mlflow_token_is_the_servers_hub_token_and_no_static_aws_keys(example_renders):
    env = pod_env(example_renders["small"]["Pod"])
    assert env["JUPYTERHUB_API_TOKEN"] == RENDER_API_TOKEN
    assert env["MLFLOW_TRACKING_TOKEN"] == env["JUPYTERHUB_API_TOKEN"]
    assert env["MLFLOW_TRACKING_URI"] == "http://podlab-mlflow.podlab.svc.cluster.local:5000"
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["PODLAB_S3_SHARED_BUCKET"] == "podlab-shared-data"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert key not in env
    assert env["PODLAB_POD"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}


def test_s3_endpoint_for_compatible_stores():
    env = pod_env(rendered(make_config(), "cpu-small")["Pod"])
    assert env["AWS_ENDPOINT_URL_S3"] == "http://10.0.9.9:9000"


@pytest.mark.parametrize("engine", ["trino", "presto"])
def test_sql_environment_per_engine(engine):
    env = pod_env(rendered(make_config(integrations={"sql": SQL[engine]}), "cpu-small")["Pod"])
    prefix = engine.upper()
    other = "PRESTO" if engine == "trino" else "TRINO"
    assert env[f"{prefix}_HOST"] == SQL[engine]["host"]
    assert env[f"{prefix}_PORT"] == str(SQL[engine]["port"])
    assert env[f"{prefix}_USER"] == "alice"
    assert env["PODLAB_SQL_ENGINE"] == engine
    assert not [k for k in env if k.startswith(f"{other}_")]


def test_no_sql_no_spark_means_no_such_variables():
    env = pod_env(rendered(make_config(), "cpu-small")["Pod"])
    assert not [k for k in env if k.startswith(("TRINO_", "PRESTO_", "SPARK_", "PODLAB_SPARK"))]


@pytest.mark.parametrize(
    ("spark", "expected"),
    [
        (
            {"mode": "connect", "url": "sc://spark-connect.spark.svc:15002"},
            {"SPARK_REMOTE": "sc://spark-connect.spark.svc:15002", "PODLAB_SPARK_MODE": "connect"},
        ),
        (
            {"mode": "standalone", "url": "spark://spark-master.spark.svc:7077"},
            {
                "PODLAB_SPARK_URL": "spark://spark-master.spark.svc:7077",
                "PODLAB_SPARK_MODE": "standalone",
            },
        ),
    ],
)
def test_spark_cluster_modes(spark, expected):
    pod = rendered(make_config(integrations={"spark": spark}), "cpu-small")["Pod"]
    env = pod_env(pod)
    for key, value in expected.items():
        assert env[key] == value
    assert env["SPARK_CONF_DIR"] == "/home/jovyan/.podlab/spark"
    assert "PODLAB_SPARK_NAMESPACE" not in env
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_spark_on_kubernetes_runs_executors_in_the_users_namespace():
    config = make_config(integrations={"spark": {"mode": "kubernetes", "executor_instances": 4}})
    objects = rendered(config, "cpu-small", user="Bob")
    pod = objects["Pod"]
    env = pod_env(pod)
    namespace = objects["Namespace"]["metadata"]["name"]
    assert env["PODLAB_SPARK_MODE"] == "kubernetes"
    assert env["PODLAB_SPARK_URL"] == "k8s://https://kubernetes.default.svc"
    assert env["PODLAB_SPARK_NAMESPACE"] == namespace == pod["metadata"]["namespace"]
    assert env["PODLAB_SPARK_SERVICE_ACCOUNT"] == pod["spec"]["serviceAccountName"] == "podlab-user"
    assert env["PODLAB_SPARK_EXECUTOR_INSTANCES"] == "4"
    assert env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert pod["spec"]["automountServiceAccountToken"] is True


# -- the command line --------------------------------------------------------------------------
def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_render_module_prints_multi_document_yaml():
    result = _run(
        [
            sys.executable,
            "-m",
            "podlab.render",
            "--config",
            str(EXAMPLE_CONFIG),
            "--profile",
            "gpu-1",
            "--user",
            "Alice.Smith@Example.com",
        ]
    )
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in documents][-2:] == ["PersistentVolumeClaim", "Pod"]
    assert documents[0]["metadata"]["name"] == "podlab-alice-smith-example-com---6af58c96"
    assert documents[-1]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_render_unknown_profile_exits_2_with_the_valid_slugs():
    result = _run(
        [PODLAB_CLI, "render", "--config", str(EXAMPLE_CONFIG), "--profile", "huge", "--user", "a"]
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "podlab render: unknown profile 'huge'; choose one of: small, large, gpu-1\n"
    )


def test_render_bad_config_exits_2_with_the_config_errors(tmp_path):
    data = load_config(EXAMPLE_CONFIG).model_dump(mode="json", by_alias=True, exclude_none=True)
    data["profiles"][0]["memory"]["limit"] = "8GB"
    path = write_yaml(tmp_path / "bad.yaml", {"podlab": data})
    result = _run(
        [PODLAB_CLI, "render", "--config", str(path), "--profile", "small", "--user", "a"]
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"invalid podlab config in {path}:",
        "  - podlab.profiles[0](small).memory.limit: expected a Kubernetes quantity such as "
        "512Mi, 8Gi or 1.5G (got '8GB')",
    ]


def test_render_shows_the_service_account_annotations_the_hub_applies():
    argv = [PODLAB_CLI, "render", "--config", str(EXAMPLE_CONFIG), "--profile", "small"]
    env = {
        **os.environ,
        "PODLAB_USER_SERVICE_ACCOUNT_ANNOTATIONS": '{"eks.amazonaws.com/role-arn": "arn:r"}',
    }
    result = subprocess.run(
        [*argv, "--user", "a"], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert result.returncode == 0, result.stderr
    account = next(d for d in yaml.safe_load_all(result.stdout) if d["kind"] == "ServiceAccount")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn:r"
    env["PODLAB_USER_SERVICE_ACCOUNT_ANNOTATIONS"] = '{"role arn": "x"}'
    bad = subprocess.run(
        [*argv, "--user", "a"], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert bad.returncode == 2
    assert "'role arn' is not a valid annotation key" in bad.stderr
