"""The MLflow migration Job runs before the new server version, and only needs what exists.

Helm creates hook objects before the release's own objects. A pre-install hook that mounted
a Secret or used a ServiceAccount rendered by the release would wait forever on first
install; so the Job may only reference objects that are hooks of an earlier weight or that
exist outside the release (the database Secret terraform created).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.helm import RENDERS, by_component, is_hook, label, render_example


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("annotations", {}))


def _references(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every object a pod spec needs to start."""
    refs: set[tuple[str, str]] = set()
    if spec.get("serviceAccountName"):
        refs.add(("ServiceAccount", spec["serviceAccountName"]))
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            refs.add(("Secret", volume["secret"]["secretName"]))
        if "configMap" in volume:
            refs.add(("ConfigMap", volume["configMap"]["name"]))
        if "persistentVolumeClaim" in volume:
            refs.add(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]))
    for container in spec.get("initContainers", []) + spec["containers"]:
        for item in container.get("env", []):
            source = item.get("valueFrom", {})
            if "secretKeyRef" in source:
                refs.add(("Secret", source["secretKeyRef"]["name"]))
            if "configMapKeyRef" in source:
                refs.add(("ConfigMap", source["configMapKeyRef"]["name"]))
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                refs.add(("Secret", source["secretRef"]["name"]))
            if "configMapRef" in source:
                refs.add(("ConfigMap", source["configMapRef"]["name"]))
    return refs


@pytest.mark.parametrize("name", ["production-eks", "gpu-heavy"])
def test_migration_runs_before_install_and_upgrade(name):
    job = by_component(render_example(name), "Job", "mlflow-migrate")
    annotations = _annotations(job)
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "podlab-mlflow",
        "migrate",
    ]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["activeDeadlineSeconds"] > 0


def test_with_the_bundled_database_mlflow_migrates_it_first_and_the_hook_runs_on_upgrades():
    """The bundled database is part of the release: it does not exist before the first install,
    and `helm install --wait` waits for MLflow before post-install hooks run (a post-install
    migration deadlocked it; tests/chart/test_bundled_install.py installs for real). MLflow's
    init container migrates on the first install; the hook runs before upgrades."""
    objects = render_example("minimal")
    job = by_component(objects, "Job", "mlflow-migrate")
    assert _annotations(job)["helm.sh/hook"] == "pre-upgrade"
    pod = by_component(objects, "Deployment", "mlflow")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    job_container = job["spec"]["template"]["spec"]["containers"][0]
    for key in ("image", "command", "env", "securityContext"):
        assert init[key] == job_container[key], key
    # With an external database nothing changes: the hook migrates before install.
    external = by_component(render_example("production-eks"), "Deployment", "mlflow")
    assert "initContainers" not in external["spec"]["template"]["spec"]


@pytest.mark.parametrize("name", RENDERS)
def test_hook_deletion_policy(name):
    """A new run replaces the previous Job; a succeeded Job is removed; a failed one stays
    (with its pod and logs) until the next attempt, for `kubectl logs job/...`."""
    for obj in render_example(name):
        if not is_hook(obj):
            continue
        policy = set(_annotations(obj)["helm.sh/hook-delete-policy"].split(","))
        assert "before-hook-creation" in policy, label(obj)
        assert "hook-failed" not in policy, label(obj)
        if obj["kind"] in ("Job", "Pod"):
            assert "hook-succeeded" in policy, label(obj)


@pytest.mark.parametrize("name", RENDERS)
def test_hook_dependencies_exist_before_the_hook(name):
    objects = render_example(name)
    release = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    for obj in objects:
        if not is_hook(obj) or obj["kind"] != "Job":
            continue
        phases = set(_annotations(obj)["helm.sh/hook"].split(","))
        weight = int(_annotations(obj).get("helm.sh/hook-weight", "0"))
        for ref in _references(obj["spec"]["template"]["spec"]):
            dependency = release.get(ref)
            if dependency is None:
                continue  # outside the release (e.g. terraform's database Secret)
            if is_hook(dependency):
                assert int(_annotations(dependency).get("helm.sh/hook-weight", "0")) < weight
                continue
            assert "pre-install" not in phases, (
                f"{label(obj)} runs before install but needs {ref}, which the release "
                "creates only after its pre-install hooks"
            )


@pytest.mark.parametrize("name", RENDERS)
def test_only_migration_and_tests_are_hooks(name):
    """Everything else is a release object: deleted with the release, diffed on upgrade."""
    hooks = {
        (o["kind"], o["metadata"]["labels"]["app.kubernetes.io/component"])
        for o in render_example(name)
        if is_hook(o)
    }
    assert hooks <= {("Job", "mlflow-migrate"), ("Pod", "test")}
