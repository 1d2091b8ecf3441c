variable "name" {
  description = "Name prefix (the cluster name)."
  type        = string
}

variable "storage_class_name" {
  description = "Name of the home-volume StorageClass the chart creates."
  type        = string
  default     = "podlab-home"
}

variable "zones" {
  description = "AZs where home volumes may be created (the AZs with user node groups)."
  type        = list(string)
}

variable "ebs_csi_role_arn" {
  description = "IAM role of the EBS CSI controller; the key policy lets it use the home-volume key."
  type        = string
}

variable "enable_efs" {
  description = "Also create an encrypted EFS file system (shared ReadWriteMany volumes) and its CSI driver add-on."
  type        = bool
  default     = false
}

variable "cluster_name" {
  description = "EKS cluster (for the EFS CSI add-on)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the EFS mount targets."
  type        = string
}

variable "subnet_ids_by_az" {
  description = "Private subnet per AZ for the EFS mount targets."
  type        = map(string)
}

variable "client_security_group_id" {
  description = "Security group allowed to mount EFS (the cluster security group on every node)."
  type        = string
}

variable "compute_ready" {
  description = "Node group IDs; the EFS CSI add-on waits for them."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
