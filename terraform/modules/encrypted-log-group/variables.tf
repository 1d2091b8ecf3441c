variable "name" {
  description = "Name of the log group."
  type        = string
}

variable "retention_in_days" {
  description = "How long events are kept."
  type        = number
}

variable "key_description" {
  description = "Description of the group's KMS key."
  type        = string
}

variable "key_scope" {
  description = "Log-group name pattern the key may encrypt for (e.g. /aws/vpc/podlab/*); null: this group only."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of the key and the group."
  type        = map(string)
  default     = {}
}
