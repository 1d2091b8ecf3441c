variable "cluster_name" {
  description = "Name of the EKS cluster the groups join."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes version of the nodes (the control-plane version)."
  type        = string
}

variable "subnet_ids_by_az" {
  description = "Private subnet ID per availability zone."
  type        = map(string)

  validation {
    condition     = length(var.subnet_ids_by_az) >= 2
    error_message = "subnet_ids_by_az must hold at least two availability zones."
  }
}

variable "system" {
  description = "System group (hub, proxy, MLflow, add-ons): one group spanning every AZ."
  type = object({
    instance_types = list(string)
    min_size       = number
    desired_size   = number
    max_size       = number
    disk_size_gib  = optional(number, 50)
  })
}

variable "cpu" {
  description = "CPU user-server groups, one per AZ. Sizes are per AZ."
  type = object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    disk_size_gib  = optional(number, 100)
    capacity_type  = optional(string, "ON_DEMAND")
  })
}

variable "gpu" {
  description = "GPU user-server groups, one per AZ, scaling from zero. Sizes are per AZ."
  type = object({
    instance_types = list(string)
    max_size       = number
    disk_size_gib  = optional(number, 200)
    capacity_type  = optional(string, "ON_DEMAND")
  })

  validation {
    condition = alltrue([
      for t in var.gpu.instance_types : can(regex("^(g4dn|g5|g6|g6e|gr6|g6f|p4d|p4de|p5|p5e|p5en)\\.", t))
    ])
    error_message = "gpu.instance_types must be NVIDIA GPU x86_64 instance types supported by the AL2023 NVIDIA AMI (families g4dn, g5, g6, g6e, gr6, g6f, p4d, p4de, p5, p5e, p5en)."
  }
}

variable "user_node_azs" {
  description = "AZs that get CPU and GPU user groups (default: every AZ of subnet_ids_by_az). Home volumes are only created in these zones."
  type        = list(string)
  default     = null
}

variable "root_volume_kms_key_arn" {
  description = "KMS key for node root volumes; null uses the account's default EBS key (aws/ebs)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
