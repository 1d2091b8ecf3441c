"""The chart installed for real: `helm install` into the Kubernetes test bed (real API server,
admission and RBAC; the pod runner runs the chart's pods from their rendered specs), then
`helm test`, and the install-time checks against the server."""

from __future__ import annotations

import json
import urllib.request

import yaml

from podlab.localstack.process import free_port
from tests.support.kube import KubeCluster, get_json, new_namespace, wait_for
from tests.support.release import (
    CHART,
    INFRA_NAMESPACE,
    Release,
    missing_secret_commands,
    run_helm,
)

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def test_install_brings_up_every_component_from_the_charts_specs(podlab_release: Release):
    kube, namespace = podlab_release.kube, podlab_release.namespace
    for component in ("hub", "proxy", "mlflow"):
        deployment = get_json(kube, "deployment", f"podlab-{component}", "-n", namespace)
        assert deployment["status"].get("availableReplicas") == 1, component
    status = json.loads(
        podlab_release.helm("status", "podlab", "-n", namespace, "-o", "json").stdout
    )
    assert status["info"]["status"] == "deployed"
    # The pre-install hook ran for real: the migration Job completed.
    hooks = [h for h in status.get("hooks", []) if h["kind"] == "Job"]
    assert [h["name"] for h in hooks] == ["podlab-mlflow-migrate"]
    assert hooks[0]["last_run"]["phase"] == "Succeeded"

    # The hub runs the image's config with the chart's arguments and reaches the API server with
    # its own ServiceAccount: its log names podlab's spawner and shows the proxy routes added.
    # Ready comes before the end of start-up (the hub checks its services, MLflow may still
    # be starting), so the last line is waited for.
    def hub_log() -> str:
        return kube.kubectl("logs", "deployment/podlab-hub", "-c", "hub", "-n", namespace)

    wait_for("the hub's start-up", lambda: "JupyterHub is now running" in hub_log(), timeout=120)
    assert "Using Spawner: podlab.kubespawner_config.PodlabKubeSpawner" in hub_log()
    # Through the proxy's Service, as a load balancer would reach it.
    url = f"http://{podlab_release.service_ip('proxy-public')}/hub/api/"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert "version" in json.loads(response.read())


def test_helm_test_passes(podlab_release: Release):
    """Every test pod of the chart, run for real; the spawn test end to end with its scoped
    token (files/helm-test.py): hub API, a refusal outside the scope, a server spawned and
    reached through the proxy, MLflow's API and UI as a non-admin."""
    proc = podlab_release.helm(
        "test", "podlab", "-n", podlab_release.namespace, "--timeout", "6m", "--logs"
    )
    hooks = podlab_release.helm("get", "hooks", "podlab", "-n", podlab_release.namespace)
    pods = len(
        [h for h in yaml.safe_load_all(hooks.stdout)
         if h and h["kind"] == "Pod" and h["metadata"]["annotations"]["helm.sh/hook"] == "test"]
    )  # fmt: skip
    assert pods >= 4
    assert proc.stdout.count("Phase:          Succeeded") == pods, proc.stdout
    assert "Failed" not in proc.stdout
    for step in (
        "/hub/api/users -> 403",
        "/user/podlab-helm-test/api/status -> 200",
        "/api/2.0/mlflow/experiments/search?max_results=1 -> 200",
        "/services/mlflow/ -> 200",
        "OK: helm test podlab passed",
    ):
        assert step in proc.stdout, proc.stdout


def test_install_without_the_secrets_names_each_one_against_the_server(kube: KubeCluster):
    namespace = new_namespace(kube, "no-secrets")
    proc = run_helm(kube, "install", "podlab", str(CHART), "-n", namespace, check=False)
    assert proc.returncode != 0
    for secret in ("podlab-hub-db", "podlab-mlflow-db", "podlab-oidc"):
        assert f"Secret {secret} does not exist in namespace {namespace}" in proc.stderr
    assert len(missing_secret_commands(proc.stderr)) == 3
    assert kube.kubectl("get", "all", "-n", namespace, "-o", "name").strip() == ""


def test_bad_values_fail_before_anything_is_created(kube: KubeCluster):
    namespace = new_namespace(kube, "bad-values")
    proc = run_helm(
        kube, "install", "podlab", str(CHART), "-n", namespace,
        "--set", "podlab.profiles[0].slug=Not A Slug", check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "slug" in proc.stderr
    assert kube.kubectl("get", "all", "-n", namespace, "-o", "name").strip() == ""


def test_a_failing_migration_fails_the_install_and_its_log_says_why(kube: KubeCluster):
    """The pre-install hook really runs: with MLflow's database unreachable it fails, so
    `helm install --wait` fails naming the Job, nothing else is created, and the kept Job's
    log (what the admin guide says to read) gives the reason."""
    namespace = new_namespace(kube, "migration-fails", labels=RESTRICTED)
    nowhere = f"nowhere-{namespace}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": INFRA_NAMESPACE}})
    kube.apply({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": nowhere, "namespace": INFRA_NAMESPACE,
                     "annotations": {"podlab.io/forward-to": f"127.0.0.1:{free_port()}"}},
        "spec": {"ports": [{"port": 5432}]},
    })  # fmt: skip
    host = f"{nowhere}.{INFRA_NAMESPACE}.svc"
    secrets = {
        "podlab-hub-db": {"password": "p", "host": host},
        "podlab-mlflow-db": {"password": "p", "host": host},
        "podlab-oidc": {"client-secret": "s", "client-id": "podlab",
                        "authorize-url": "https://idp.podlab.test/authorize",
                        "token-url": "https://idp.podlab.test/token",
                        "userdata-url": "https://idp.podlab.test/userinfo"},
    }  # fmt: skip
    for name, data in secrets.items():
        literals = [f"--from-literal={key}={value}" for key, value in data.items()]
        kube.kubectl("create", "secret", "generic", name, "-n", namespace, *literals)
    try:
        proc = run_helm(kube, "install", "podlab", str(CHART), "-n", namespace,
                        "--wait", "--timeout", "4m", check=False)  # fmt: skip
        assert proc.returncode != 0
        assert "podlab-mlflow-migrate" in proc.stderr, proc.stderr
        assert kube.kubectl("get", "deployments", "-n", namespace, "-o", "name").strip() == ""
        log = kube.kubectl("logs", "-n", namespace, "job/podlab-mlflow-migrate")
        assert "cannot reach the database" in log, log
        assert f'connection to server at "{host}"' in log, log
    finally:
        kube.kubectl("delete", "service", nowhere, "-n", INFRA_NAMESPACE, check=False)
