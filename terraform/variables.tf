# Inputs of the podlab AWS stack. Every input has a default except admin_principal_arns; the
# validation messages say what an acceptable value looks like.

variable "name" {
  description = "Name of the EKS cluster and prefix of every resource."
  type        = string
  default     = "podlab"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of lowercase letters, digits and dashes, starting with a letter (it prefixes bucket names)."
  }
}

variable "region" {
  description = "AWS region of the whole stack."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as us-east-1 or eu-west-2."
  }
}

variable "availability_zones" {
  description = "Availability zones of the region to use (at least two). User node groups and home volumes live in these zones."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b", "us-east-1c"]

  validation {
    condition     = length(distinct(var.availability_zones)) >= 2
    error_message = "availability_zones must list at least two distinct zones (EKS and RDS need two; a single AZ is not supported)."
  }

  validation {
    condition     = alltrue([for az in var.availability_zones : startswith(az, var.region)])
    error_message = "availability_zones must all belong to var.region (for example us-east-1a for us-east-1)."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC (/16 to /20). Pods take VPC addresses, so prefer a /16."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && can(regex("^[0-9.]+/(1[6-9]|20)$", var.vpc_cidr))
    error_message = "vpc_cidr must be a valid IPv4 CIDR from /16 to /20, for example 10.40.0.0/16."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by all AZs (cheaper) instead of one per AZ (survives an AZ outage)."
  type        = bool
  default     = true
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "cluster_public_access_cidrs" {
  description = "CIDRs that may reach the Kubernetes API from the internet. Empty (default): private endpoint only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.cluster_public_access_cidrs : can(cidrhost(c, 0))])
    error_message = "cluster_public_access_cidrs must contain valid IPv4 CIDRs such as 203.0.113.0/24."
  }

  validation {
    condition     = !contains(var.cluster_public_access_cidrs, "0.0.0.0/0")
    error_message = "cluster_public_access_cidrs must not contain 0.0.0.0/0: list your office or VPN ranges, or leave it empty."
  }
}

variable "admin_principal_arns" {
  description = "IAM role or user ARNs that get cluster-admin (include the principal that runs terraform and helm)."
  type        = list(string)

  validation {
    condition     = length(var.admin_principal_arns) > 0
    error_message = "admin_principal_arns must list at least one IAM principal, or nobody can reach the cluster."
  }

  validation {
    condition     = alltrue([for a in var.admin_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "admin_principal_arns must be IAM role or user ARNs like arn:aws:iam::123456789012:role/platform-admin (not assumed-role session ARNs)."
  }
}

# -- node groups -----------------------------------------------------------------------------
variable "system_instance_types" {
  description = "Instance types of the system group (hub, proxy, MLflow, add-ons)."
  type        = list(string)
  default     = ["m6i.large"]

  validation {
    condition     = length(var.system_instance_types) > 0 && alltrue([for t in var.system_instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "system_instance_types must list EC2 instance types such as m6i.large."
  }
}

variable "system_node_count" {
  description = "Size of the system group: min, desired and max nodes over all AZs."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 2, desired = 2, max = 4 }

  validation {
    condition     = var.system_node_count.min >= 1 && var.system_node_count.min <= var.system_node_count.desired && var.system_node_count.desired <= var.system_node_count.max
    error_message = "system_node_count needs 1 <= min <= desired <= max."
  }
}

variable "cpu_instance_types" {
  description = "Instance types of the CPU user groups."
  type        = list(string)
  default     = ["m6i.2xlarge"]

  validation {
    condition     = length(var.cpu_instance_types) > 0 && alltrue([for t in var.cpu_instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "cpu_instance_types must list EC2 instance types such as m6i.2xlarge."
  }
}

variable "cpu_nodes_per_az" {
  description = "Min and max CPU user nodes in each AZ."
  type        = object({ min = number, max = number })
  default     = { min = 0, max = 5 }

  validation {
    condition     = var.cpu_nodes_per_az.min >= 0 && var.cpu_nodes_per_az.max >= 1 && var.cpu_nodes_per_az.min <= var.cpu_nodes_per_az.max
    error_message = "cpu_nodes_per_az needs 0 <= min <= max and max >= 1."
  }
}

variable "gpu_instance_types" {
  description = "Instance types of the GPU user groups (NVIDIA, x86_64, supported by the AL2023 NVIDIA AMI)."
  type        = list(string)
  default     = ["g5.xlarge"]

  validation {
    condition = length(var.gpu_instance_types) > 0 && alltrue([
      for t in var.gpu_instance_types : can(regex("^(g4dn|g5|g6|g6e|gr6|p4d|p4de|p5|p5e|p5en)\\.[0-9]*x?large$", t))
    ])
    error_message = "gpu_instance_types must be NVIDIA GPU instance types from the families g4dn, g5, g6, g6e, gr6, p4d, p4de, p5, p5e or p5en (for example g5.xlarge); see \"Add a GPU type\" in docs/admin-guide.md."
  }
}

variable "gpu_max_nodes_per_az" {
  description = "Upper bound of GPU nodes in each AZ (the groups scale from 0). Bounds GPU spend."
  type        = number
  default     = 2

  validation {
    condition     = var.gpu_max_nodes_per_az >= 1 && var.gpu_max_nodes_per_az <= 50 && floor(var.gpu_max_nodes_per_az) == var.gpu_max_nodes_per_az
    error_message = "gpu_max_nodes_per_az must be a whole number from 1 to 50."
  }
}

variable "user_node_azs" {
  description = "AZs that get CPU/GPU user groups (null: all availability_zones). Restrict it to zones that offer your GPU type."
  type        = list(string)
  default     = null

  validation {
    condition     = var.user_node_azs == null ? true : length(var.user_node_azs) >= 1 && alltrue([for az in var.user_node_azs : contains(var.availability_zones, az)])
    error_message = "user_node_azs must be a non-empty subset of availability_zones."
  }
}

# -- storage ---------------------------------------------------------------------------------
variable "home_volume_size" {
  description = "Size of each user's home volume (Kubernetes quantity)."
  type        = string
  default     = "20Gi"

  validation {
    condition     = can(regex("^[1-9][0-9]*Gi$", var.home_volume_size))
    error_message = "home_volume_size must be a whole number of Gi, such as 20Gi."
  }
}

variable "enable_efs" {
  description = "Create an encrypted EFS file system for shared ReadWriteMany volumes."
  type        = bool
  default     = false
}

# -- database --------------------------------------------------------------------------------
variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL server."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must be an RDS instance class such as db.t4g.medium."
  }
}

variable "db_allocated_storage_gib" {
  description = "Initial database storage in GiB (autoscales up to 10x)."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage_gib >= 20 && var.db_allocated_storage_gib <= 6000
    error_message = "db_allocated_storage_gib must be between 20 and 6000."
  }
}

variable "db_multi_az" {
  description = "Run a standby database in a second AZ."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35."
  }
}

# -- chart wiring ----------------------------------------------------------------------------
variable "namespace" {
  description = "Kubernetes namespace of the podlab release."
  type        = string
  default     = "podlab"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a valid Kubernetes namespace name."
  }
}

variable "user_namespaces" {
  description = "Existing user namespaces (podlab-<user>) to associate with the user-pod role."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.user_namespaces : startswith(n, "podlab-")])
    error_message = "user_namespaces must be podlab-<user> namespaces."
  }
}

variable "tags" {
  description = "Tags added to every AWS resource."
  type        = map(string)
  default     = {}
}
