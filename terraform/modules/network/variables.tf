variable "name" {
  description = "Name prefix of every network resource (the cluster name)."
  type        = string
}

variable "cidr" {
  description = "IPv4 CIDR of the VPC. Each AZ gets one public and one private subnet carved from it."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr, 0)) && tonumber(try(split("/", var.cidr)[1], "0")) >= 16 && tonumber(try(split("/", var.cidr)[1], "0")) <= 20
    error_message = "cidr must be an IPv4 CIDR between /16 and /20, for example 10.40.0.0/16."
  }
}

variable "availability_zones" {
  description = "Availability zones to spread the subnets over (at least two)."
  type        = list(string)

  validation {
    condition     = length(distinct(var.availability_zones)) >= 2
    error_message = "availability_zones must list at least two distinct zones: EKS needs subnets in two AZs."
  }
}

variable "cluster_name" {
  description = "EKS cluster name, used in the kubernetes.io/cluster/<name> subnet tag."
  type        = string
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper) instead of one per AZ (survives an AZ outage)."
  type        = bool
  default     = true
}

variable "flow_log_retention_days" {
  description = "Days to keep VPC flow logs in CloudWatch."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
