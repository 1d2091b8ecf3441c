output "arn" {
  description = "ARN of the key."
  value       = aws_kms_key.this.arn
}

output "key_id" {
  description = "Id of the key."
  value       = aws_kms_key.this.key_id
}

output "rotation_enabled" {
  description = "Whether yearly rotation is on (always: tests assert it)."
  value       = aws_kms_key.this.enable_key_rotation
}
