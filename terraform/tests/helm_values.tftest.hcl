# helm_values renders, with mock values, to the chart-values shape (tests/terraform also
# parses the rendered YAML from the -verbose state). Runs `apply` against the mock provider so
# every computed value (database host, secret ARN, role ARNs) has a value.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  admin_principal_arns = ["arn:aws:iam::123456789012:role/platform-admin"]
}

run "helm_values_render" {
  # apply against the mock provider: every computed value gets a mock, so the YAML is complete.
  command = apply

  variables {
    home_volume_size = "30Gi"
  }

  override_resource {
    target = module.identity.aws_iam_role.mlflow
    values = {
      arn = "arn:aws:iam::123456789012:role/podlab-mlflow"
    }
  }

  override_resource {
    target = module.identity.aws_iam_role.user
    values = {
      arn = "arn:aws:iam::123456789012:role/podlab-user"
    }
  }

  assert {
    condition     = yamldecode(output.helm_values).podlab.storage == { home_size = "30Gi", storage_class = "podlab-home" }
    error_message = "podlab.storage must carry the home size and the StorageClass name"
  }

  assert {
    condition     = yamldecode(output.helm_values).podlab.integrations.s3.shared_bucket == "podlab-shared-123456789012-us-east-1"
    error_message = "podlab.integrations.s3 must name the shared bucket"
  }

  assert {
    condition     = yamldecode(output.helm_values).mlflow.artifacts.destination == "s3://podlab-artifacts-123456789012-us-east-1/mlflow"
    error_message = "mlflow.artifacts.destination must point into the artifacts bucket"
  }

  assert {
    condition     = yamldecode(output.helm_values).hub.db.existingSecret == "podlab-database" && yamldecode(output.helm_values).mlflow.db.existingSecret == "podlab-database"
    error_message = "hub and MLflow read the database password from the synced Secret"
  }

  assert {
    condition     = yamldecode(output.helm_values).hub.db.name == "jupyterhub" && yamldecode(output.helm_values).mlflow.db.name == "mlflow"
    error_message = "hub and MLflow use their own databases"
  }

  assert {
    condition     = yamldecode(output.helm_values).mlflow.serviceAccount.annotations["podlab.io/aws-role-arn"] == "arn:aws:iam::123456789012:role/podlab-mlflow"
    error_message = "the MLflow service account records the MLflow role"
  }

  assert {
    condition     = yamldecode(output.helm_values).podlab.user_service_account.annotations["podlab.io/aws-role-arn"] == "arn:aws:iam::123456789012:role/podlab-user"
    error_message = "the user service account records the user-pod role"
  }

  assert {
    condition     = length(yamldecode(output.helm_values).hub.serviceAccount.annotations) == 0
    error_message = "the hub service account carries no AWS role"
  }

  assert {
    condition     = strcontains(output.kubernetes_manifests, "WaitForFirstConsumer") && strcontains(output.kubernetes_manifests, "SecurityGroupPolicy")
    error_message = "kubernetes_manifests must hold the StorageClass and the SecurityGroupPolicy"
  }
}
