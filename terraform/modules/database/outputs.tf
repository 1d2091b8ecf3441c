output "host" {
  description = "Hostname of the database."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the database."
  value       = aws_db_instance.this.port
}

output "databases" {
  description = "Logical database names by component (hub, mlflow)."
  value       = var.databases
}

output "master_username" {
  description = "Master user name (the password is in the master secret)."
  value       = aws_db_instance.this.username
}

output "master_secret_arn" {
  description = "Secrets Manager secret (JSON with username and password) managed and rotated by RDS."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "kms_key_arn" {
  description = "KMS key of the storage and of the master secret (readers need kms:Decrypt)."
  value       = module.key.arn
}

output "client_security_group_id" {
  description = "Security group to attach to the hub and MLflow pods; the only source the database accepts."
  value       = aws_security_group.clients.id
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.database.id
}
