variable "name" {
  description = "Name prefix and DB instance identifier (the cluster name)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Database subnets (at least two AZs) of the DB subnet group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must list private subnets in at least two AZs."
  }
}

variable "engine_version" {
  description = "PostgreSQL major version (RDS picks the newest minor; minor upgrades are automatic)."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^1[4-9]$", var.engine_version))
    error_message = "engine_version must be a PostgreSQL major version from 14 to 19, for example \"16\"."
  }
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage_gib" {
  description = "Initial storage in GiB (gp3)."
  type        = number
  default     = 20
}

variable "max_allocated_storage_gib" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 200
}

variable "multi_az" {
  description = "Standby replica in a second AZ."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35 (0 would disable automated backups)."
  }
}

variable "databases" {
  description = "Logical databases by component (names match the chart's defaults). The first (hub) is created with the instance; create the others once with the master credentials (see the README)."
  type        = map(string)
  default = {
    hub    = "jupyterhub"
    mlflow = "mlflow"
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
