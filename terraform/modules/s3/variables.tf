variable "name" {
  description = "Name prefix of the buckets (the cluster name)."
  type        = string
}

variable "bucket_suffix" {
  description = "Suffix making bucket names globally unique; null uses <account id>-<region>."
  type        = string
  default     = null
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept before it expires."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "access_log_bucket" {
  description = "Existing bucket that receives S3 server access logs; null disables access logging."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
