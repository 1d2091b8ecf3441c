variable "description" {
  description = "What the key encrypts (shown in the KMS console)."
  type        = string
}

variable "alias" {
  description = "Alias name without the alias/ prefix; null: no alias."
  type        = string
  default     = null
}

variable "statements" {
  description = "Key-policy statements for the key's users, after the account-administers one."
  type        = any
  default     = []
}

variable "tags" {
  description = "Tags of the key."
  type        = map(string)
  default     = {}
}
