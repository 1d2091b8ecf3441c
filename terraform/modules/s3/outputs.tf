output "artifacts_bucket" {
  description = "Name of the MLflow artifacts bucket."
  value       = aws_s3_bucket.this["artifacts"].bucket
}

output "artifacts_bucket_arn" {
  description = "ARN of the MLflow artifacts bucket."
  value       = aws_s3_bucket.this["artifacts"].arn
}

output "shared_bucket" {
  description = "Name of the shared data bucket (users/<namespace>/ per user, shared/ read-only)."
  value       = aws_s3_bucket.this["shared"].bucket
}

output "shared_bucket_arn" {
  description = "ARN of the shared data bucket."
  value       = aws_s3_bucket.this["shared"].arn
}

output "kms_key_arn" {
  description = "KMS key of both buckets (readers and writers need it)."
  value       = module.key.arn
}

output "region" {
  description = "Region of the buckets."
  value       = data.aws_region.current.name
}
