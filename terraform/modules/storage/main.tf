# Storage for home directories: a customer-managed KMS key and the settings of an encrypted gp3
# StorageClass that binds WaitForFirstConsumer (the volume is created in the zone of the node
# the pod landed on) and retains volumes (a home is never deleted with its claim). The chart
# creates the StorageClass from the `storage_class` output; no Kubernetes provider is needed.
# Optionally an encrypted EFS file system for ReadWriteMany team volumes.

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
}

module "ebs_key" {
  source = "../kms-key"

  description = "${var.name} home volumes (EBS)"
  alias       = "${var.name}-home-volumes"
  tags        = var.tags
  statements = [
    {
      Sid       = "EbsCsiUsesKeyThroughEc2"
      Effect    = "Allow"
      Principal = { AWS = var.ebs_csi_role_arn }
      Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
      Resource  = "*"
      Condition = {
        StringEquals = { "kms:ViaService" = "ec2.${local.region}.amazonaws.com" }
      }
    },
    {
      Sid       = "EbsCsiGrantsToEc2"
      Effect    = "Allow"
      Principal = { AWS = var.ebs_csi_role_arn }
      Action    = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
      Resource  = "*"
      Condition = {
        Bool = { "kms:GrantIsForAWSResource" = "true" }
      }
    },
  ]
}

# -- optional EFS ------------------------------------------------------------------------------
module "efs_key" {
  source = "../kms-key"
  count  = var.enable_efs ? 1 : 0

  description = "${var.name} shared file system (EFS)"
  tags        = var.tags
}

resource "aws_efs_file_system" "this" {
  count = var.enable_efs ? 1 : 0

  creation_token   = "${var.name}-shared"
  encrypted        = true
  kms_key_id       = module.efs_key[0].arn
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }

  tags = merge(var.tags, { Name = "${var.name}-shared" })
}

resource "aws_efs_backup_policy" "this" {
  count = var.enable_efs ? 1 : 0

  file_system_id = aws_efs_file_system.this[0].id
  backup_policy {
    status = "ENABLED"
  }
}

resource "aws_security_group" "efs" {
  count = var.enable_efs ? 1 : 0

  name_prefix = "${var.name}-efs-"
  description = "NFS from the cluster nodes to the podlab EFS mount targets"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-efs" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "efs_nfs" {
  count = var.enable_efs ? 1 : 0

  security_group_id            = aws_security_group.efs[0].id
  description                  = "NFS from cluster nodes"
  ip_protocol                  = "tcp"
  from_port                    = 2049
  to_port                      = 2049
  referenced_security_group_id = var.client_security_group_id
}

resource "aws_efs_mount_target" "this" {
  for_each = var.enable_efs ? var.subnet_ids_by_az : {}

  file_system_id  = aws_efs_file_system.this[0].id
  subnet_id       = each.value
  security_groups = [aws_security_group.efs[0].id]
}

data "aws_iam_policy_document" "pod_identity_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "efs_csi" {
  count = var.enable_efs ? 1 : 0

  name_prefix        = "${var.name}-efs-csi-"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "efs_csi" {
  count = var.enable_efs ? 1 : 0

  role       = aws_iam_role.efs_csi[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"
}

resource "terraform_data" "compute_ready" {
  input = var.compute_ready
}

resource "aws_eks_addon" "efs_csi" {
  count = var.enable_efs ? 1 : 0

  cluster_name                = var.cluster_name
  addon_name                  = "aws-efs-csi-driver"
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  tags                        = var.tags

  pod_identity_association {
    role_arn        = aws_iam_role.efs_csi[0].arn
    service_account = "efs-csi-controller-sa"
  }

  depends_on = [terraform_data.compute_ready, aws_iam_role_policy_attachment.efs_csi]
}
