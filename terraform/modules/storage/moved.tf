# Addresses before the kms-key / encrypted-log-group modules existed: an existing state keeps
# its keys (destroying a KMS key would make everything encrypted with it unreadable).

moved {
  from = aws_kms_key.ebs
  to   = module.ebs_key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.ebs
  to   = module.ebs_key.aws_kms_alias.this[0]
}

moved {
  from = aws_kms_key.efs[0]
  to   = module.efs_key[0].aws_kms_key.this
}
