# Addresses before the kms-key / encrypted-log-group modules existed: an existing state keeps
# its keys (destroying a KMS key would make everything encrypted with it unreadable).

moved {
  from = aws_kms_key.this
  to   = module.key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.this
  to   = module.key.aws_kms_alias.this[0]
}
