output "service_accounts" {
  description = "Service account name => {role_arn (null: no AWS access), namespace}."
  value = {
    hub        = { name = local.sa.hub, namespace = var.namespace, role_arn = null }
    mlflow     = { name = local.sa.mlflow, namespace = var.namespace, role_arn = aws_iam_role.mlflow.arn }
    db_secrets = { name = var.db_secret_reader.service_account, namespace = var.db_secret_reader.namespace, role_arn = aws_iam_role.db_secrets.arn }
    user       = { name = local.sa.user, namespace = "${var.user_namespace_prefix}*", role_arn = aws_iam_role.user.arn }
  }
}

output "user_role_arn" {
  description = "Role for user pods; associate it with <namespace>/<user service account> for each new user."
  value       = aws_iam_role.user.arn
}

output "user_s3_prefix" {
  description = "Per-user prefix of the shared bucket, as an IAM policy variable."
  value       = "${local.own_prefix}/"
}

output "shared_read_only_prefix" {
  description = "Prefix of the shared bucket every user may read."
  value       = "${var.shared_read_only_prefix}/"
}

output "mlflow_role_arn" {
  description = "Role of the MLflow server."
  value       = aws_iam_role.mlflow.arn
}
