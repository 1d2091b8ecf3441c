"""The `terraform test` files (mock AWS provider, plan-time assertions), one pytest test per run.

Every run block of terraform/tests/*.tftest.hcl is listed here with what it proves, so a
failure names the property that broke and a new run block must be described before it counts.
"""

from __future__ import annotations

import pytest

from tests.terraform.harness import ROOT_TEST, TestReport

RUNS: dict[tuple[str, str], str] = {
    ("tests/helm_values.tftest.hcl", "helm_values_render"): (
        "helm_values renders (apply on mocks) with buckets, secret, role annotations, StorageClass"
    ),
    (
        "tests/network.tftest.hcl",
        "network_spans_zones_with_lb_tags",
    ): "subnets in every AZ with elb/internal-elb role tags, NAT, S3 gateway endpoint, flow logs",
    (
        "tests/network.tftest.hcl",
        "network_nat_per_az",
    ): "single_nat_gateway=false gives one NAT gateway per AZ",
    (
        "tests/eks.tftest.hcl",
        "eks_private_encrypted_cluster",
    ): "KMS-encrypted secrets, private endpoint, admin access entries, the five add-ons, "
    "vpc-cni enableNetworkPolicy",
    (
        "tests/eks.tftest.hcl",
        "eks_public_endpoint_limited_to_cidrs",
    ): "the optional public endpoint is limited to the given CIDRs",
    (
        "tests/nodegroups.tftest.hcl",
        "nodegroups_hardened_launch_templates",
    ): "IMDSv2 required with hop limit 1 and encrypted root volumes on every launch template",
    (
        "tests/nodegroups.tftest.hcl",
        "nodegroups_gpu_groups",
    ): "GPU groups: AL2023 NVIDIA AMI, nvidia.com/gpu=true:NoSchedule taint, "
    "podlab.io/node-pool=gpu label, scale from 0, one group per AZ",
    (
        "tests/nodegroups.tftest.hcl",
        "nodegroups_reject_cpu_type_for_gpu",
    ): "the nodegroups module itself refuses a non-GPU type for the GPU group",
    (
        "tests/storage.tftest.hcl",
        "storage_class_encrypted_gp3_wait_for_first_consumer",
    ): "encrypted gp3 StorageClass, WaitForFirstConsumer, Retain, user AZs only",
    (
        "tests/storage.tftest.hcl",
        "storage_optional_efs_encrypted",
    ): "optional EFS is encrypted, mounted in every AZ, NFS from the cluster group only",
    (
        "tests/database.tftest.hcl",
        "database_private_encrypted_protected",
    ): "RDS private, encrypted, deletion-protected, rds.force_ssl=1, managed password, "
    "backups, reachable only from the db-clients group, hub and mlflow databases",
    (
        "tests/database.tftest.hcl",
        "database_rejects_disabled_backups",
    ): "backup retention 0 (no automated backups) is refused",
    (
        "tests/s3.tftest.hcl",
        "s3_buckets_locked_down",
    ): "SSE-KMS, versioning, public access blocked, insecure transport denied, "
    "noncurrent versions expire",
    (
        "tests/identity.tftest.hcl",
        "identity_user_pods_own_prefix_only",
    ): "user pods: read/write only users/${aws:PrincipalTag/kubernetes-namespace}/*, "
    "shared/ read-only, nothing on the artifacts bucket",
    (
        "tests/identity.tftest.hcl",
        "identity_mlflow_artifacts_and_hub_nothing",
    ): "MLflow reads/writes the artifacts bucket only; the hub has no AWS identity",
    (
        "tests/root.tftest.hcl",
        "root_plans_with_defaults",
    ): "the composed stack plans with its defaults",
    (
        "tests/root.tftest.hcl",
        "rejects_cpu_instance_type_for_gpu_group",
    ): "a non-GPU instance type for the GPU group is rejected",
    ("tests/root.tftest.hcl", "rejects_invalid_vpc_cidr"): "an invalid VPC CIDR is rejected",
    (
        "tests/root.tftest.hcl",
        "rejects_invalid_public_access_cidr",
    ): "an invalid API access CIDR is rejected",
    (
        "tests/root.tftest.hcl",
        "rejects_single_availability_zone",
    ): "a single availability zone is rejected",
}

# Rejected inputs must fail with their own validation message, not with any error.
VALIDATION_MESSAGES = {
    "rejects_cpu_instance_type_for_gpu_group": (
        "var.gpu_instance_types",
        "gpu_instance_types must be NVIDIA GPU instance types",
    ),
    "rejects_invalid_vpc_cidr": (
        "var.vpc_cidr",
        "vpc_cidr must be a valid IPv4 CIDR from /16 to /20",
    ),
    "rejects_invalid_public_access_cidr": (
        "var.cluster_public_access_cidrs",
        "cluster_public_access_cidrs must contain valid IPv4 CIDRs",
    ),
    "rejects_single_availability_zone": (
        "var.availability_zones",
        "availability_zones must list at least two distinct zones",
    ),
}


@pytest.mark.parametrize(("testfile", "run"), list(RUNS), ids=[run for _, run in RUNS])
def test_run_block_passes(tf_test_report: TestReport, testfile: str, run: str):
    status = tf_test_report.runs().get((testfile, run))
    assert status == "pass", (
        f"{testfile} run {run!r} ({RUNS[(testfile, run)]}) ended {status!r}\n"
        + tf_test_report.describe()
    )


def test_every_run_block_is_described(tf_test_report: TestReport):
    found = set(tf_test_report.runs())
    assert found == set(RUNS), (
        f"run blocks not described in RUNS: {sorted(found - set(RUNS))}; "
        f"described but not run: {sorted(set(RUNS) - found)}\n{tf_test_report.describe()}"
    )
    assert tf_test_report.retcode == 0, tf_test_report.describe()


@pytest.mark.parametrize("run", list(VALIDATION_MESSAGES))
def test_bad_input_rejected_with_its_validation_message(tf_test_report: TestReport, run: str):
    variable, message = VALIDATION_MESSAGES[run]
    diagnostics = tf_test_report.diagnostics(ROOT_TEST, run)
    matching = [
        d
        for d in diagnostics
        if d.get("summary") == "Invalid value for variable"
        and message in " ".join(str(d.get("detail", "")).split())
        and any(v.get("traversal") == variable for v in d.get("snippet", {}).get("values", []))
    ]
    assert len(matching) == 1, (
        f"expected exactly one validation error of {variable} saying {message!r}, got {diagnostics}"
    )
