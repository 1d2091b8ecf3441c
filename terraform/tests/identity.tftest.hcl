# identity module: MLflow reads/writes the artifacts bucket, user pods get their own
# users/<namespace>/ prefix plus a read-only shared prefix, the hub gets nothing.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  cluster_name         = "podlab"
  artifacts_bucket     = "podlab-artifacts"
  shared_bucket        = "podlab-shared"
  s3_kms_key_arn       = "arn:aws:kms:us-east-1:123456789012:key/s3"
  database_secret_arn  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-x"
  database_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/db"
  user_namespaces      = ["podlab-alice"]
}

run "identity_user_pods_own_prefix_only" {
  command = plan

  module {
    source = "./modules/identity"
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.user.statement :
      contains(s.actions, "s3:PutObject") && toset(s.resources) == toset(["arn:aws:s3:::podlab-shared/users/$${aws:PrincipalTag/kubernetes-namespace}/*"])
    ])
    error_message = "user pods may write only under users/$${aws:PrincipalTag/kubernetes-namespace}/"
  }

  assert {
    condition = alltrue(flatten([for s in data.aws_iam_policy_document.user.statement : [
      for r in s.resources : startswith(r, "arn:aws:s3:::podlab-shared/users/$${aws:PrincipalTag/kubernetes-namespace}/")
      ] if anytrue([for a in s.actions : contains(["s3:PutObject", "s3:DeleteObject"], a)])
    ]))
    error_message = "no write permission outside the user's own prefix"
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.user.statement :
      toset(s.resources) == toset(["arn:aws:s3:::podlab-shared/shared/*"]) && toset(s.actions) == toset(["s3:GetObject", "s3:GetObjectVersion"])
    ])
    error_message = "the shared/ prefix is read-only for users"
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.user.statement :
      contains(s.actions, "s3:ListBucket") && anytrue([for c in s.condition :
        c.variable == "s3:prefix" && contains(c.values, "users/$${aws:PrincipalTag/kubernetes-namespace}/*")
      ])
    ])
    error_message = "listing is limited to the user's prefix and the shared prefix"
  }

  assert {
    condition     = alltrue(flatten([for s in data.aws_iam_policy_document.user.statement : [for r in s.resources : !strcontains(r, "podlab-artifacts")]]))
    error_message = "user pods get nothing on the artifacts bucket"
  }

  assert {
    condition     = aws_eks_pod_identity_association.user["podlab-alice"].service_account == "podlab-user"
    error_message = "listed user namespaces are associated with the user role"
  }
}

run "identity_mlflow_artifacts_and_hub_nothing" {
  command = plan

  module {
    source = "./modules/identity"
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.mlflow.statement :
      toset(s.resources) == toset(["arn:aws:s3:::podlab-artifacts/*"]) && contains(s.actions, "s3:PutObject") && contains(s.actions, "s3:GetObject")
    ])
    error_message = "MLflow reads and writes the artifacts bucket"
  }

  assert {
    condition     = alltrue(flatten([for s in data.aws_iam_policy_document.mlflow.statement : [for r in s.resources : !strcontains(r, "podlab-shared")]]))
    error_message = "MLflow gets nothing on the shared bucket"
  }

  assert {
    condition     = aws_eks_pod_identity_association.mlflow.namespace == "podlab" && aws_eks_pod_identity_association.mlflow.service_account == "podlab-mlflow"
    error_message = "the MLflow service account is associated with its role"
  }

  assert {
    condition = !anytrue(concat(
      [aws_eks_pod_identity_association.mlflow.service_account == "podlab-hub"],
      [aws_eks_pod_identity_association.db_secrets.service_account == "podlab-hub"],
      [for a in aws_eks_pod_identity_association.user : a.service_account == "podlab-hub"],
    )) && output.service_accounts.hub.role_arn == null
    error_message = "the hub must have no AWS identity"
  }
}
