# A CloudWatch log group encrypted with its own KMS key, which only CloudWatch Logs may use
# and only for log groups matching `key_scope` (this group, or a family of them).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  region = data.aws_region.current.name
}

module "key" {
  source = "../kms-key"

  description = var.key_description
  tags        = var.tags
  statements = [
    {
      Sid       = "CloudWatchLogsEncrypt"
      Effect    = "Allow"
      Principal = { Service = "logs.${local.region}.amazonaws.com" }
      Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      Resource  = "*"
      Condition = {
        ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${local.region}:${data.aws_caller_identity.current.account_id}:log-group:${coalesce(var.key_scope, var.name)}" }
      }
    },
  ]
}

resource "aws_cloudwatch_log_group" "this" {
  name              = var.name
  retention_in_days = var.retention_in_days
  kms_key_id        = module.key.arn
  tags              = var.tags
}
