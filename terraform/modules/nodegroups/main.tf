# Managed node groups: "system" for the platform (spans all AZs), "cpu" and "gpu" for user
# servers.
#
# Zones: a user's home is an EBS volume, and an EBS volume lives in one AZ. The StorageClass
# binds volumes WaitForFirstConsumer, so the first volume is created where the first pod lands;
# afterwards the PV's node affinity pins the user to that AZ. A node group whose ASG spans
# several AZs cannot be told "add a node in us-east-1b", so the cluster autoscaler could add a
# GPU node in the wrong zone forever. User groups are therefore one node group per AZ (the
# autoscaler's documented setup for zonal volumes, with --balance-similar-node-groups), each
# scaling from zero, so a node can always be started in the volume's zone.

data "aws_partition" "current" {}

locals {
  partition     = data.aws_partition.current.partition
  user_azs      = var.user_node_azs == null ? sort(keys(var.subnet_ids_by_az)) : var.user_node_azs
  gpu_taint_key = "nvidia.com/gpu"
  pool_label    = "podlab.io/node-pool"

  groups = merge(
    {
      system = {
        pool           = "system"
        subnet_ids     = [for az in sort(keys(var.subnet_ids_by_az)) : var.subnet_ids_by_az[az]]
        ami_type       = "AL2023_x86_64_STANDARD"
        instance_types = var.system.instance_types
        capacity_type  = "ON_DEMAND"
        min_size       = var.system.min_size
        desired_size   = var.system.desired_size
        max_size       = var.system.max_size
        disk_size_gib  = var.system.disk_size_gib
        taints         = []
      }
    },
    {
      for az in local.user_azs : "cpu-${az}" => {
        pool           = "cpu"
        subnet_ids     = [var.subnet_ids_by_az[az]]
        ami_type       = "AL2023_x86_64_STANDARD"
        instance_types = var.cpu.instance_types
        capacity_type  = var.cpu.capacity_type
        min_size       = var.cpu.min_size
        desired_size   = var.cpu.min_size
        max_size       = var.cpu.max_size
        disk_size_gib  = var.cpu.disk_size_gib
        taints         = []
      }
    },
    {
      for az in local.user_azs : "gpu-${az}" => {
        pool           = "gpu"
        subnet_ids     = [var.subnet_ids_by_az[az]]
        ami_type       = "AL2023_x86_64_NVIDIA"
        instance_types = var.gpu.instance_types
        capacity_type  = var.gpu.capacity_type
        min_size       = 0
        desired_size   = 0
        max_size       = var.gpu.max_size
        disk_size_gib  = var.gpu.disk_size_gib
        taints         = [{ key = local.gpu_taint_key, value = "true", effect = "NO_SCHEDULE" }]
      }
    },
  )

  # Scale-from-zero hints for the cluster autoscaler: with no node running it reads the labels
  # and taints of a group from these ASG tags (or from eks:DescribeNodegroup).
  asg_tags = merge([
    for key, g in local.groups : merge(
      {
        "${key}/enabled" = { group = key, tag = "k8s.io/cluster-autoscaler/enabled", value = "true" }
        "${key}/owned"   = { group = key, tag = "k8s.io/cluster-autoscaler/${var.cluster_name}", value = "owned" }
        "${key}/pool"    = { group = key, tag = "k8s.io/cluster-autoscaler/node-template/label/${local.pool_label}", value = g.pool }
      },
      {
        for t in g.taints : "${key}/taint/${t.key}" => {
          group = key
          tag   = "k8s.io/cluster-autoscaler/node-template/taint/${t.key}"
          value = "${t.value}:NoSchedule"
        }
      },
    ) if g.pool != "system"
  ]...)
}

# -- node IAM role -----------------------------------------------------------------------------
data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name_prefix        = "${var.cluster_name}-node-"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
    "AmazonSSMManagedInstanceCore",
  ])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

# -- launch templates: IMDSv2 only, hop limit 1 (pods cannot reach the node's credentials),
# encrypted gp3 root volumes -------------------------------------------------------------------
resource "aws_launch_template" "this" {
  for_each = local.groups

  name_prefix            = "${var.cluster_name}-${each.key}-"
  description            = "podlab ${each.value.pool} nodes of ${var.cluster_name}"
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = each.value.disk_size_gib
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = var.root_volume_kms_key_arn
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-${each.key}", (local.pool_label) = each.value.pool })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-${each.key}" })
  }

  tags = var.tags
}

resource "aws_eks_node_group" "this" {
  for_each = local.groups

  cluster_name    = var.cluster_name
  node_group_name = each.key
  version         = var.kubernetes_version
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = each.value.subnet_ids
  ami_type        = each.value.ami_type
  instance_types  = each.value.instance_types
  capacity_type   = each.value.capacity_type

  labels = {
    (local.pool_label) = each.value.pool
  }

  dynamic "taint" {
    for_each = each.value.taints
    content {
      key    = taint.value.key
      value  = taint.value.value
      effect = taint.value.effect
    }
  }

  scaling_config {
    min_size     = each.value.min_size
    desired_size = each.value.desired_size
    max_size     = each.value.max_size
  }

  update_config {
    max_unavailable = 1
  }

  launch_template {
    id      = aws_launch_template.this[each.key].id
    version = aws_launch_template.this[each.key].latest_version
  }

  tags = merge(var.tags, { (local.pool_label) = each.value.pool })

  lifecycle {
    # The cluster autoscaler owns the current size.
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}

resource "aws_autoscaling_group_tag" "scale_from_zero" {
  for_each = local.asg_tags

  autoscaling_group_name = aws_eks_node_group.this[each.value.group].resources[0].autoscaling_groups[0].name

  tag {
    key                 = each.value.tag
    value               = each.value.value
    propagate_at_launch = false
  }
}

# -- cluster autoscaler identity (the autoscaler itself is installed with its Helm chart) -------
data "aws_iam_policy_document" "autoscaler_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "autoscaler" {
  statement {
    sid = "Discover"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "ReadOwnNodegroups"
    actions   = ["eks:DescribeNodegroup"]
    resources = ["arn:${local.partition}:eks:*:*:nodegroup/${var.cluster_name}/*/*"]
  }

  statement {
    sid       = "ScaleOwnGroups"
    actions   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    resources = ["arn:${local.partition}:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/eks-*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
      values   = ["owned"]
    }
  }
}

resource "aws_iam_role" "autoscaler" {
  name_prefix        = "${var.cluster_name}-autoscaler-"
  assume_role_policy = data.aws_iam_policy_document.autoscaler_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "autoscaler" {
  name   = "cluster-autoscaler"
  role   = aws_iam_role.autoscaler.id
  policy = data.aws_iam_policy_document.autoscaler.json
}

resource "aws_eks_pod_identity_association" "autoscaler" {
  cluster_name    = var.cluster_name
  namespace       = "kube-system"
  service_account = "cluster-autoscaler"
  role_arn        = aws_iam_role.autoscaler.arn
  tags            = var.tags
}
