"""Every container is hardened, sized and probed; nothing the chart renders can lose data.

Run against every example, so optional components (bundled PostgreSQL, Ingress, several
MLflow replicas) are covered too.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.helm import (
    DEFAULTS,
    RENDERS,
    by_component,
    is_hook,
    label,
    pod_specs,
    render_example,
)

LONG_RUNNING = ("Deployment", "StatefulSet")


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers", [])) + list(spec["containers"])


@pytest.mark.parametrize("name", RENDERS)
def test_every_container_runs_restricted(name):
    """Pod Security `restricted` and more: non-root, no escalation, no capabilities,
    RuntimeDefault seccomp, read-only root filesystem."""
    problems = []
    for obj, spec in pod_specs(render_example(name)):
        pod_ctx = spec.get("securityContext", {})
        for container in _containers(spec):
            ctx = {**pod_ctx, **container.get("securityContext", {})}
            where = f"{label(obj)}/{container['name']}"
            if ctx.get("runAsNonRoot") is not True or int(ctx.get("runAsUser", 0)) == 0:
                problems.append(f"{where}: may run as root")
            if ctx.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation allowed")
            if ctx.get("privileged"):
                problems.append(f"{where}: privileged")
            if container.get("securityContext", {}).get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: capabilities not dropped")
            if ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                problems.append(f"{where}: no RuntimeDefault seccomp profile")
            if container.get("securityContext", {}).get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: writable root filesystem")
        if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
            problems.append(f"{label(obj)}: shares a host namespace")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", RENDERS)
def test_every_container_has_requests_and_limits(name):
    problems = []
    for obj, spec in pod_specs(render_example(name)):
        for container in _containers(spec):
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(kind, {}):
                        problems.append(f"{label(obj)}/{container['name']}: no {kind}.{resource}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", RENDERS)
def test_every_long_running_container_has_probes(name):
    """Init containers, Jobs and test pods run to completion; everything else is probed."""
    problems = []
    long_running = 0
    for obj, spec in pod_specs(render_example(name)):
        if obj["kind"] not in LONG_RUNNING:
            continue
        for container in spec["containers"]:
            long_running += 1
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in container:
                    problems.append(f"{label(obj)}/{container['name']}: no {probe}")
    assert long_running >= 3
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", RENDERS)
def test_only_the_hub_gets_a_kubernetes_api_token(name):
    for obj, spec in pod_specs(render_example(name)):
        wanted = obj["metadata"]["labels"]["app.kubernetes.io/component"] == "hub"
        assert spec.get("automountServiceAccountToken") is wanted, label(obj)


@pytest.mark.parametrize("name", RENDERS)
def test_images_are_pinned(name):
    for obj, spec in pod_specs(render_example(name)):
        for container in _containers(spec):
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1], f"{label(obj)}: {image} has no tag"
            assert not image.endswith(":latest"), f"{label(obj)}: {image} floats"


def test_hub_is_a_single_replica_replaced_not_rolled():
    hub = by_component(render_example("production-eks"), "Deployment", "hub")
    assert hub["spec"]["replicas"] == 1
    assert hub["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize("name", RENDERS)
def test_helm_never_owns_a_volume_with_user_data(name):
    """Home PVCs are created by the hub in user namespaces, never by Helm, so no upgrade or
    uninstall can delete them; the bundled database's volume comes from a StatefulSet claim
    template that is retained when the StatefulSet goes; the one claim Helm renders (MLflow's
    artifacts without a bucket) carries resource-policy keep."""
    objects = render_example(name)
    volumes = [o for o in objects if o["kind"] in ("PersistentVolumeClaim", "PersistentVolume")]
    assert [label(o) for o in volumes] in ([], ["PersistentVolumeClaim/podlab-mlflow-artifacts"])
    for claim in volumes:
        assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for obj in objects:
        if obj["kind"] == "StatefulSet" and obj["spec"].get("volumeClaimTemplates"):
            assert obj["spec"]["persistentVolumeClaimRetentionPolicy"] == {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            }, label(obj)
    for _obj, spec in pod_specs(objects):
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume


@pytest.mark.parametrize(
    ("sets", "strategy", "claim"),
    [
        ((), "Recreate", "podlab-mlflow-artifacts"),
        (("mlflow.artifacts.volume.accessModes=[\"ReadWriteMany\"]",), "RollingUpdate",
         "podlab-mlflow-artifacts"),
        (('mlflow.artifacts.volume={"existingClaim": "restored"}',), "Recreate", "restored"),
        (('mlflow.artifacts.destination="s3://bucket/mlflow"',), "RollingUpdate", None),
    ],
)  # fmt: skip
def test_mlflow_artifacts_volume_or_bucket(sets, strategy, claim):
    """Without a bucket, artifacts live on a claim mounted where the server writes them; a
    ReadWriteOnce claim attaches to one node, so the old pod must go first (Recreate)."""
    objects = render_example(DEFAULTS, *sets)
    mlflow = by_component(objects, "Deployment", "mlflow")
    assert mlflow["spec"]["strategy"]["type"] == strategy
    spec = mlflow["spec"]["template"]["spec"]
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in spec["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ([claim] if claim else [])
    rendered = [o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"]
    assert rendered == ([claim] if claim == "podlab-mlflow-artifacts" else [])
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    destination = env["PODLAB_MLFLOW_ARTIFACTS_DESTINATION"]
    assert destination == "s3://bucket/mlflow" if claim is None else destination in mounts
    assert (
        spec["securityContext"]["fsGroup"] == spec["containers"][0]["securityContext"]["runAsUser"]
    )


def test_bundled_database_password_outlives_the_release():
    """The password is baked into the kept data volume: its Secret is kept too."""
    objects = render_example("minimal")
    secret = by_component(objects, "Secret", "postgresql")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    statefulset = by_component(objects, "StatefulSet", "postgresql")
    assert statefulset["spec"]["replicas"] == 1


def test_bundled_database_is_off_unless_asked_for():
    for name in ("production-eks", "gpu-heavy"):
        kinds = {
            (o["kind"], o["metadata"]["labels"]["app.kubernetes.io/component"])
            for o in render_example(name)
        }
        assert ("StatefulSet", "postgresql") not in kinds


@pytest.mark.parametrize("name", RENDERS)
def test_disruption_budgets_cover_every_deployment(name):
    objects = render_example(name)
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        selector = obj["spec"]["selector"]["matchLabels"]
        assert any(b["spec"]["selector"]["matchLabels"] == selector for b in budgets), label(obj)


@pytest.mark.parametrize("name", RENDERS)
def test_helm_tests_check_hub_api_and_mlflow_health_through_services(name):
    objects = render_example(name)
    tests = [o for o in objects if o["kind"] == "Pod" and is_hook(o)]
    assert all(o["metadata"]["annotations"]["helm.sh/hook"] == "test" for o in tests)
    urls = {o["spec"]["containers"][0]["command"][3] for o in tests}
    services = {o["metadata"]["name"] for o in objects if o["kind"] == "Service"}
    hub, mlflow = (
        by_component(objects, "Service", c)["metadata"]["name"] for c in ("hub", "mlflow")
    )
    assert f"http://{hub}.podlab.svc:8081/hub/api/" in urls
    assert f"http://{mlflow}.podlab.svc:5000/health" in urls
    for url in urls:
        assert url.split("//", 1)[1].split(".", 1)[0] in services, url
