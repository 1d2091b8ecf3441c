# eks module: KMS-encrypted secrets, private endpoint (public only when CIDRs are given),
# admin access entries, the add-ons and the VPC CNI network-policy setting.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  cluster_name         = "podlab"
  kubernetes_version   = "1.33"
  subnet_ids           = ["subnet-0a", "subnet-0b"]
  admin_principal_arns = ["arn:aws:iam::123456789012:role/platform-admin"]
}

run "eks_private_encrypted_cluster" {
  command = plan

  module {
    source = "./modules/eks"
  }

  assert {
    condition     = length(aws_eks_cluster.this.encryption_config) == 1 && contains(aws_eks_cluster.this.encryption_config[0].resources, "secrets")
    error_message = "Kubernetes secrets must be encrypted with KMS"
  }

  assert {
    condition     = module.secrets_key.rotation_enabled && module.logs.key_rotation_enabled
    error_message = "KMS keys must rotate"
  }

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_private_access && !aws_eks_cluster.this.vpc_config[0].endpoint_public_access
    error_message = "without public CIDRs the API endpoint must be private only"
  }

  assert {
    condition     = length(aws_eks_cluster.this.enabled_cluster_log_types) == 5 && module.logs.retention_in_days >= 365
    error_message = "all control-plane logs must be kept at least a year"
  }

  assert {
    condition     = aws_eks_cluster.this.access_config[0].authentication_mode == "API" && length(aws_eks_access_entry.admin) == 1
    error_message = "admins get access entries (API authentication mode)"
  }

  assert {
    condition     = aws_eks_access_policy_association.admin["arn:aws:iam::123456789012:role/platform-admin"].policy_arn == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    error_message = "admins get the cluster-admin access policy"
  }

  assert {
    condition     = jsondecode(aws_eks_addon.vpc_cni.configuration_values).enableNetworkPolicy == "true"
    error_message = "the VPC CNI must enforce NetworkPolicies (enableNetworkPolicy)"
  }

  assert {
    condition     = jsondecode(aws_eks_addon.vpc_cni.configuration_values).env.ENABLE_POD_ENI == "true"
    error_message = "security groups for pods must be enabled (database access from hub/MLflow pods only)"
  }

  assert {
    condition = toset([
      aws_eks_addon.vpc_cni.addon_name,
      aws_eks_addon.ebs_csi.addon_name,
      aws_eks_addon.pod_identity_agent.addon_name,
      aws_eks_addon.coredns.addon_name,
      aws_eks_addon.kube_proxy.addon_name,
    ]) == toset(["vpc-cni", "aws-ebs-csi-driver", "eks-pod-identity-agent", "coredns", "kube-proxy"])
    error_message = "the five managed add-ons must be installed"
  }

  assert {
    condition     = one([for p in aws_eks_addon.ebs_csi.pod_identity_association : p.service_account]) == "ebs-csi-controller-sa"
    error_message = "the EBS CSI controller gets its role through Pod Identity"
  }
}

run "eks_public_endpoint_limited_to_cidrs" {
  command = plan

  module {
    source = "./modules/eks"
  }

  variables {
    public_access_cidrs = ["203.0.113.0/24"]
  }

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_public_access && aws_eks_cluster.this.vpc_config[0].endpoint_private_access
    error_message = "with CIDRs the endpoint is public and private"
  }

  assert {
    condition     = toset(aws_eks_cluster.this.vpc_config[0].public_access_cidrs) == toset(["203.0.113.0/24"])
    error_message = "the public endpoint must be limited to the given CIDRs"
  }
}
