# Addresses before the kms-key / encrypted-log-group modules existed: an existing state keeps
# its keys (destroying a KMS key would make everything encrypted with it unreadable).

moved {
  from = aws_kms_key.flow_logs
  to   = module.flow_logs.module.key.aws_kms_key.this
}

moved {
  from = aws_cloudwatch_log_group.flow_logs
  to   = module.flow_logs.aws_cloudwatch_log_group.this
}
