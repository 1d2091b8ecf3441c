# EKS Pod Identity: which pod may do what on AWS.
#   MLflow server     -> read/write the artifacts bucket (users never touch it: MLflow proxies
#                        artifacts).
#   user pods         -> the shared bucket: their own users/<namespace>/ prefix read/write, the
#                        shared/ prefix read-only. One role for all users; the per-user scope
#                        comes from the kubernetes-namespace session tag that Pod Identity sets.
#   secret sync       -> read the RDS master secret (the External Secrets Operator copies it
#                        into the Kubernetes Secret the hub and MLflow read).
#   hub               -> nothing on AWS (no association at all).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition     = data.aws_partition.current.partition
  account_id    = data.aws_caller_identity.current.account_id
  sa            = var.service_accounts
  artifacts_arn = "arn:${local.partition}:s3:::${var.artifacts_bucket}"
  shared_arn    = "arn:${local.partition}:s3:::${var.shared_bucket}"
  # Pod Identity tags every session with the pod's namespace; IAM substitutes it per request.
  # ($${...} is an IAM policy variable, not a Terraform interpolation.)
  own_prefix = "${var.user_prefix}/$${aws:PrincipalTag/kubernetes-namespace}"
  s3_via     = "s3.${data.aws_region.current.name}.amazonaws.com"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:eks:${data.aws_region.current.name}:${local.account_id}:cluster/${var.cluster_name}"]
    }
  }
}

# Both roles reach SSE-KMS buckets: the bucket key, used through S3 only.
data "aws_iam_policy_document" "use_bucket_key" {
  statement {
    sid       = "UseBucketKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.s3_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via]
    }
  }
}

# -- MLflow: artifacts bucket ------------------------------------------------------------------
data "aws_iam_policy_document" "mlflow" {
  source_policy_documents = [data.aws_iam_policy_document.use_bucket_key.json]

  statement {
    sid       = "ListArtifacts"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.artifacts_arn]
  }

  statement {
    sid       = "ReadWriteArtifacts"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${local.artifacts_arn}/*"]
  }
}

resource "aws_iam_role" "mlflow" {
  name_prefix        = "${var.cluster_name}-mlflow-"
  description        = "podlab MLflow server: read/write the artifacts bucket"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "mlflow" {
  name   = "artifacts-read-write"
  role   = aws_iam_role.mlflow.id
  policy = data.aws_iam_policy_document.mlflow.json
}

resource "aws_eks_pod_identity_association" "mlflow" {
  cluster_name    = var.cluster_name
  namespace       = var.namespace
  service_account = local.sa.mlflow
  role_arn        = aws_iam_role.mlflow.arn
  tags            = var.tags
}

# -- user pods: own prefix + shared read-only prefix -------------------------------------------
data "aws_iam_policy_document" "user" {
  source_policy_documents = [data.aws_iam_policy_document.use_bucket_key.json]

  statement {
    sid       = "ListOwnAndSharedPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [local.shared_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        "${local.own_prefix}/*",
        "${local.own_prefix}/",
        "${var.shared_read_only_prefix}/*",
        "${var.shared_read_only_prefix}/",
      ]
    }
  }

  statement {
    sid       = "BucketLocation"
    actions   = ["s3:GetBucketLocation"]
    resources = [local.shared_arn]
  }

  statement {
    sid = "ReadWriteOwnPrefix"
    actions = [
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${local.shared_arn}/${local.own_prefix}/*"]
  }

  statement {
    sid       = "ReadSharedPrefix"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.shared_arn}/${var.shared_read_only_prefix}/*"]
  }
}

resource "aws_iam_role" "user" {
  name_prefix        = "${var.cluster_name}-user-"
  description        = "podlab user pods: own prefix of the shared bucket, shared prefix read-only"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "user" {
  name   = "shared-bucket-own-prefix"
  role   = aws_iam_role.user.id
  policy = data.aws_iam_policy_document.user.json
}

resource "aws_eks_pod_identity_association" "user" {
  for_each = var.user_namespaces

  cluster_name    = var.cluster_name
  namespace       = each.value
  service_account = local.sa.user
  role_arn        = aws_iam_role.user.arn
  tags            = var.tags
}

# -- database secret reader --------------------------------------------------------------------
data "aws_iam_policy_document" "db_secrets" {
  statement {
    sid       = "ReadMasterSecret"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [var.database_secret_arn]
  }

  statement {
    sid       = "DecryptMasterSecret"
    actions   = ["kms:Decrypt"]
    resources = [var.database_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "db_secrets" {
  name_prefix        = "${var.cluster_name}-db-secrets-"
  description        = "podlab: read the RDS master secret to sync it into Kubernetes"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "db_secrets" {
  name   = "read-master-secret"
  role   = aws_iam_role.db_secrets.id
  policy = data.aws_iam_policy_document.db_secrets.json
}

resource "aws_eks_pod_identity_association" "db_secrets" {
  cluster_name    = var.cluster_name
  namespace       = var.db_secret_reader.namespace
  service_account = var.db_secret_reader.service_account
  role_arn        = aws_iam_role.db_secrets.arn
  tags            = var.tags
}
