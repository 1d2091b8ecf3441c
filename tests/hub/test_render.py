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
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from podlab.config import DEFAULT_IMAGE, load_config
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
    assert _container(pod)["image"] == "podlab/singleuser-gpu:0.3.0"


@pytest.mark.parametrize("profile", ["small", "large"])
def test_cpu_profiles_request_no_gpu(example_renders, profile):
    pod = example_renders[profile]["Pod"]
    resources = _container(pod)["resources"]
    for section in ("limits", "requests"):
        assert not [r for r in resources[section] if "gpu" in r]
    assert "nodeSelector" not in pod["spec"]
    assert "tolerations" not in pod["spec"]
    assert _container(pod)["image"] == DEFAULT_IMAGE


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


# -- Pod Security `restricted`, by the real admission ----------------------------------------
@pytest.fixture(scope="module")
def restricted(kube: Any) -> Iterator[Any]:
    """A namespace enforcing Pod Security `restricted` on the bed's kube-apiserver 1.34, with
    the user ServiceAccount the rendered pods name. `admit(pod)` is the real admission chain
    (server-side dry run: nothing is created): None, or the API server's refusal."""
    from tests.support.kube import KubeError

    namespace = f"psa-{os.urandom(3).hex()}"
    kube.apply(
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": namespace,
                      "labels": {"pod-security.kubernetes.io/enforce": "restricted",
                                 "pod-security.kubernetes.io/enforce-version": "latest"}}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "podlab-user", "namespace": namespace}},
    )  # fmt: skip

    def admit(pod: dict[str, Any]) -> str | None:
        pod = copy.deepcopy(pod)
        pod["metadata"]["namespace"] = namespace
        try:
            kube.kubectl("create", "--dry-run=server", "-o", "name", "-f", "-",
                         input_text=yaml.safe_dump(pod))  # fmt: skip
        except KubeError as err:
            return str(err)
        return None

    yield admit
    kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.mark.parametrize("profile", [p.slug for p in EXAMPLE.profiles])
def test_pods_satisfy_pod_security_restricted(example_renders, restricted, profile):
    pod = example_renders[profile]["Pod"]
    assert restricted(pod) is None
    sc = _container(pod)["securityContext"]
    assert sc["runAsUser"] == 1000
    assert sc["runAsGroup"] == 100
    assert sc["runAsNonRoot"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["spec"]["securityContext"]["fsGroup"] == 100
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def _notebook(pod: dict[str, Any]) -> dict[str, Any]:
    return dict(pod["spec"]["containers"][0]["securityContext"])


@pytest.mark.parametrize(
    ("mutate", "violation"),
    [
        (lambda p: p["spec"].update(hostNetwork=True), "hostNetwork=true"),
        (lambda p: p["spec"].update(hostPID=True), "hostPID=true"),
        (lambda p: p["spec"].update(hostIPC=True), "hostIPC=true"),
        (
            lambda p: p["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
            'volume "h" uses restricted volume type "hostPath"',
        ),
        (
            # The bed's API server keeps kube-apiserver's default --allow-privileged=false:
            # validation refuses it before Pod Security does.
            lambda p: p["spec"]["containers"][0]["securityContext"].update(
                privileged=True, allowPrivilegeEscalation=True
            ),
            "securityContext.privileged: Forbidden: disallowed by cluster policy",
        ),
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(
                allowPrivilegeEscalation=True
            ),
            "allowPrivilegeEscalation != false",
        ),
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(
                capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}
            ),
            '"SYS_ADMIN"',
        ),
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(
                seccompProfile={"type": "Unconfined"}
            ),
            'seccompProfile (container "notebook" must not set securityContext.seccompProfile.'
            'type to "Unconfined")',
        ),
        (
            lambda p: p["spec"]["containers"][0]["ports"][0].update(hostPort=8888),
            'hostPort (container "notebook" uses hostPort 8888)',
        ),
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(runAsNonRoot=False),
            'runAsNonRoot != true (container "notebook"',
        ),
    ],
)
def test_the_api_server_refuses_each_violation(example_renders, restricted, mutate, violation):
    """Each change breaks `restricted` on the real API server: the rendered pods pass because
    they comply, not because nothing is checked."""
    pod = copy.deepcopy(example_renders["small"]["Pod"])
    mutate(pod)
    refusal = restricted(pod)
    assert refusal is not None
    assert "forbidden" in refusal.lower(), refusal
    assert violation in refusal, refusal
    if "cluster policy" not in violation:
        assert 'violates PodSecurity "restricted:latest"' in refusal


def test_net_bind_service_is_the_one_capability_allowed(example_renders, restricted):
    pod = copy.deepcopy(example_renders["small"]["Pod"])
    pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    assert restricted(pod) is None


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


def test_python_m_podlab_render_prints_multi_document_yaml():
    result = _run(
        [
            sys.executable,
            "-m",
            "podlab",
            "render",
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


def test_render_shows_the_service_account_annotations_the_hub_applies(tmp_path):
    """podlab.user_service_account.annotations: render reads them as the hub does."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    podlab = data.get("podlab", data)
    podlab["user_service_account"] = {"annotations": {"eks.amazonaws.com/role-arn": "arn:r"}}
    path = tmp_path / "podlab.yaml"
    path.write_text(yaml.safe_dump(data))
    argv = [PODLAB_CLI, "render", "--config", str(path), "--profile", "small"]
    result = subprocess.run(
        [*argv, "--user", "a"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    account = next(d for d in yaml.safe_load_all(result.stdout) if d["kind"] == "ServiceAccount")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn:r"
    podlab["user_service_account"] = {"annotations": {"role arn": "x"}}
    path.write_text(yaml.safe_dump(data))
    bad = subprocess.run(
        [*argv, "--user", "a"], capture_output=True, text=True, timeout=120, check=False
    )
    assert bad.returncode == 2
    assert "'role arn' is not a valid annotation key" in bad.stderr
