"""The `helm_values` and `kubernetes_manifests` outputs, rendered with mock AWS values.

The helm_values run of terraform/tests/helm_values.tftest.hcl applies the stack against the
mock provider and prints its state (-verbose); these tests read both outputs from it, check
their shape, and render charts/podlab with them (`helm template`, which enforces the chart's
values.schema.json and its own validation).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from podlab.localstack.paths import REPO_ROOT, SETUP_HINT, tool
from tests.terraform.harness import HELM_VALUES_TEST, TestReport

RUN = "helm_values_render"
CHART = REPO_ROOT / "charts" / "podlab"
# The chart's own trial example supplies what Terraform cannot know (the login method).
CHART_EXAMPLE = CHART / "examples" / "minimal.yaml"


@pytest.fixture(scope="module")
def outputs(tf_test_report: TestReport) -> dict[str, Any]:
    status = tf_test_report.runs().get((HELM_VALUES_TEST, RUN))
    assert status == "pass", tf_test_report.describe()
    return tf_test_report.state_outputs(HELM_VALUES_TEST, RUN)


@pytest.fixture(scope="module")
def helm_values_yaml(outputs: dict[str, Any]) -> str:
    assert outputs["helm_values"]["sensitive"] is False
    text = outputs["helm_values"]["value"]
    assert isinstance(text, str)
    return text


@pytest.fixture(scope="module")
def helm_values(helm_values_yaml: str) -> dict[str, Any]:
    document = yaml.safe_load(helm_values_yaml)
    assert isinstance(document, dict), helm_values_yaml
    return document


@pytest.fixture(scope="module")
def manifests(outputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(outputs["kubernetes_manifests"]["value"]) if d]
    return {d["kind"]: d for d in documents}


def test_podlab_section(helm_values):
    podlab = helm_values["podlab"]
    assert podlab["storage"] == {"home_size": "30Gi", "storage_class": "podlab-home"}
    assert podlab["integrations"]["s3"] == {
        "region": "us-east-1",
        "shared_bucket": "podlab-shared-123456789012-us-east-1",
        "endpoint_url": None,
    }
    assert podlab["network"]["database"] == {"cidr": "10.40.232.0/21", "port": 5432}


def test_mlflow_artifacts_and_service_account(helm_values):
    mlflow = helm_values["mlflow"]
    assert mlflow["artifacts"] == {
        "destination": "s3://podlab-artifacts-123456789012-us-east-1/mlflow",
        "region": "us-east-1",
    }
    assert mlflow["serviceAccount"] == {
        "create": True,
        "name": "podlab-mlflow",
        "annotations": {"podlab.io/aws-role-arn": "arn:aws:iam::123456789012:role/podlab-mlflow"},
    }


def test_service_accounts_hub_has_no_aws_role(helm_values):
    assert helm_values["hub"]["serviceAccount"] == {"annotations": {}}
    assert helm_values["podlab"]["user_service_account"] == {
        "annotations": {"podlab.io/aws-role-arn": "arn:aws:iam::123456789012:role/podlab-user"}
    }


@pytest.mark.parametrize(("component", "database"), [("hub", "jupyterhub"), ("mlflow", "mlflow")])
def test_database_connection_and_secret(helm_values, component, database):
    assert helm_values[component]["db"] == {
        "host": "podlab.abcdefghijkl.us-east-1.rds.amazonaws.com",
        "port": 5432,
        "name": database,
        "user": "podlab_admin",
        "existingSecret": "podlab-database",
        "passwordKey": "password",
    }


def test_storage_class_manifest(manifests, helm_values):
    storage_class = manifests["StorageClass"]
    assert storage_class["metadata"]["name"] == helm_values["podlab"]["storage"]["storage_class"]
    assert storage_class["provisioner"] == "ebs.csi.aws.com"
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    assert storage_class["reclaimPolicy"] == "Retain"
    assert storage_class["parameters"]["type"] == "gp3"
    assert storage_class["parameters"]["encrypted"] == "true"
    assert storage_class["parameters"]["kmsKeyId"].startswith("arn:aws:kms:")
    assert storage_class["allowedTopologies"][0]["matchLabelExpressions"][0] == {
        "key": "topology.kubernetes.io/zone",
        "values": ["us-east-1a", "us-east-1b", "us-east-1c"],
    }


def test_database_secret_is_synced_from_the_rds_master_secret(manifests, helm_values):
    external = manifests["ExternalSecret"]
    assert external["spec"]["target"]["name"] == helm_values["hub"]["db"]["existingSecret"]
    (item,) = external["spec"]["data"]
    assert item["secretKey"] == helm_values["hub"]["db"]["passwordKey"]
    assert item["remoteRef"]["key"].startswith("arn:aws:secretsmanager:us-east-1:")
    assert manifests["SecretStore"]["spec"]["provider"]["aws"]["service"] == "SecretsManager"


def _render(
    values_yaml: str, tmp_path: Path, site_values: Path | None = None
) -> list[dict[str, Any]]:
    """helm template with a site file first and terraform's values last, as documented."""
    helm = tool("helm")
    if not (CHART / "Chart.yaml").is_file():
        pytest.fail(f"{CHART} is missing: the chart issue provides it", pytrace=False)
    if site_values is None:
        example = yaml.safe_load(CHART_EXAMPLE.read_text())
        site_values = tmp_path / "login.yaml"
        site_values.write_text(yaml.safe_dump({"hub": {"auth": example["hub"]["auth"]}}))
    values = tmp_path / "terraform-values.yaml"
    values.write_text(values_yaml)
    argv = [helm, "template", "podlab", str(CHART), "--namespace", "podlab",
            "-f", str(site_values), "-f", str(values)]  # fmt: skip
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError:
        pytest.fail(f"helm not found. What to do: {SETUP_HINT}", pytrace=False)
    assert proc.returncode == 0, f"helm template refused the values:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def test_chart_renders_with_helm_values(helm_values_yaml, manifests, tmp_path):
    """`helm template` accepts the values, and the rendered pods match what AWS expects."""
    rendered = _render(helm_values_yaml, tmp_path)
    workloads = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        | {"labels": d["spec"]["template"]["metadata"]["labels"]}
        for d in rendered
        if d["kind"] in {"Deployment", "Job"}
    }
    mlflow = workloads["podlab-mlflow"]
    # EKS Pod Identity binds the artifacts role to exactly this service account name.
    assert mlflow["serviceAccountName"] == "podlab-mlflow"
    # The database admits only pods carrying the SecurityGroupPolicy's group.
    selector = manifests["SecurityGroupPolicy"]["spec"]["podSelector"]["matchExpressions"][0]
    db_clients = {
        name
        for name, spec in workloads.items()
        if "podlab.abcdefghijkl.us-east-1.rds.amazonaws.com" in yaml.safe_dump(spec)
    }
    assert {"podlab-hub", "podlab-mlflow"} <= db_clients
    for name in db_clients:
        component = workloads[name]["labels"]["app.kubernetes.io/component"]
        assert component in selector["values"], f"{name} reaches the database but is not selected"


def test_production_example_with_helm_values_uses_what_terraform_created(
    helm_values_yaml, helm_values, manifests, tmp_path
):
    """The documented production command (-f production-eks.yaml -f terraform's values):
    the database Secret keys are the ones the ExternalSecret writes, the bucket is terraform's,
    and no IRSA annotation competes with EKS Pod Identity."""
    rendered = _render(helm_values_yaml, tmp_path, CHART / "examples" / "production-eks.yaml")
    synced = {item["secretKey"] for item in manifests["ExternalSecret"]["spec"]["data"]}
    secret = manifests["ExternalSecret"]["spec"]["target"]["name"]
    refs = set()
    for doc in rendered:
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] == secret:
                    refs.add(ref["key"])
                if env["name"] == "PODLAB_MLFLOW_ARTIFACTS_DESTINATION":
                    assert env["value"] == helm_values["mlflow"]["artifacts"]["destination"]
    assert refs == synced, f"the pods read {refs} from {secret}, terraform syncs {synced}"
    assert "eks.amazonaws.com/role-arn" not in yaml.safe_dump_all(rendered)
