output "arn" {
  description = "ARN of the log group."
  value       = aws_cloudwatch_log_group.this.arn
}

output "name" {
  description = "Name of the log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "retention_in_days" {
  description = "How long events are kept."
  value       = aws_cloudwatch_log_group.this.retention_in_days
}

output "key_rotation_enabled" {
  description = "Whether the group's key rotates."
  value       = module.key.rotation_enabled
}
