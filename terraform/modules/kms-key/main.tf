# A customer-managed KMS key that rotates yearly and is administered by the account, plus the
# statements its users need. Every podlab key (EBS, EFS, S3, RDS, EKS secrets, logs) is one.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# Key policies are resource policies: "*" means this key. They are written with jsonencode
# (not aws_iam_policy_document) so IAM-identity-policy linters do not misread them.
resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid       = "AccountAdministers"
          Effect    = "Allow"
          Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
          Action    = "kms:*"
          Resource  = "*"
        },
      ],
      var.statements,
    )
  })
  tags = var.tags
}

resource "aws_kms_alias" "this" {
  count = var.alias == null ? 0 : 1

  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
