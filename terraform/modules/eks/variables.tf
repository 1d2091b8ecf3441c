variable "cluster_name" {
  description = "Name of the EKS cluster."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane, e.g. \"1.33\"."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (at least two AZs) for the control-plane ENIs."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint. Empty: the endpoint is private only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "public_access_cidrs must be IPv4 CIDRs narrower than 0.0.0.0/0 (leave it empty for a private-only endpoint)."
  }
}

variable "admin_principal_arns" {
  description = "IAM roles or users that get cluster-admin through EKS access entries."
  type        = list(string)
}

variable "log_retention_days" {
  description = "Days to keep control-plane logs."
  type        = number
  default     = 365
}

variable "addon_versions" {
  description = "Pinned add-on versions by add-on name; a missing name uses the default version for the cluster."
  type        = map(string)
  default     = {}
}

variable "compute_ready" {
  description = "Node group IDs. Add-ons that run Deployments (coredns, aws-ebs-csi-driver) wait for them, so they do not sit DEGRADED on a cluster without nodes."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
