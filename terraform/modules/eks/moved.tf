# Addresses before the kms-key / encrypted-log-group modules existed: an existing state keeps
# its keys (destroying a KMS key would make everything encrypted with it unreadable).

moved {
  from = aws_kms_key.secrets
  to   = module.secrets_key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.secrets
  to   = module.secrets_key.aws_kms_alias.this[0]
}

moved {
  from = aws_kms_key.logs
  to   = module.logs.module.key.aws_kms_key.this
}

moved {
  from = aws_cloudwatch_log_group.cluster
  to   = module.logs.aws_cloudwatch_log_group.this
}
