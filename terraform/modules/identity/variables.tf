variable "cluster_name" {
  description = "EKS cluster the pod identity associations belong to."
  type        = string
}

variable "namespace" {
  description = "Namespace of the podlab release (hub, MLflow)."
  type        = string
  default     = "podlab"
}

variable "service_accounts" {
  description = "Service account names the chart uses."
  type = object({
    hub    = optional(string, "podlab-hub")
    mlflow = optional(string, "podlab-mlflow")
    user   = optional(string, "podlab-user")
  })
  default = {}
}

variable "db_secret_reader" {
  description = "Service account allowed to read the database master secret: by default the External Secrets Operator controller, which copies it into the Kubernetes Secret the chart reads."
  type = object({
    namespace       = string
    service_account = string
  })
  default = {
    namespace       = "external-secrets"
    service_account = "external-secrets"
  }
}

variable "user_namespace_prefix" {
  description = "Prefix of the per-user namespaces (podlab-<safe-username>)."
  type        = string
  default     = "podlab-"
}

variable "user_namespaces" {
  description = "User namespaces to associate with the user role now. New users are added later by an admin or automation (see the README); the role itself accepts any namespace with the prefix."
  type        = set(string)
  default     = []
}

variable "artifacts_bucket" {
  description = "Name of the MLflow artifacts bucket."
  type        = string
}

variable "shared_bucket" {
  description = "Name of the shared data bucket."
  type        = string
}

variable "shared_read_only_prefix" {
  description = "Prefix of the shared bucket every user may read (no trailing slash)."
  type        = string
  default     = "shared"
}

variable "user_prefix" {
  description = "Prefix of the per-user areas of the shared bucket; each user gets <user_prefix>/<namespace>/."
  type        = string
  default     = "users"
}

variable "s3_kms_key_arn" {
  description = "KMS key of the buckets."
  type        = string
}

variable "database_secret_arn" {
  description = "RDS-managed master secret; readable by the db-secrets service account only."
  type        = string
}

variable "database_kms_key_arn" {
  description = "KMS key of the master secret."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
