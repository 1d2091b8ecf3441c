output "cluster_name" {
  description = "Name of the EKS cluster, available once the CNI, kube-proxy and Pod Identity agent add-ons are in (node groups join only then)."
  value       = aws_eks_cluster.this.name

  depends_on = [
    aws_eks_addon.vpc_cni,
    aws_eks_addon.kube_proxy,
    aws_eks_addon.pod_identity_agent,
  ]
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority" {
  description = "Base64 CA certificate of the API endpoint."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_version" {
  description = "Kubernetes version of the control plane."
  value       = aws_eks_cluster.this.version
}

output "cluster_security_group_id" {
  description = "The EKS-managed cluster security group (attached to the control plane and every managed node)."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "secrets_kms_key_arn" {
  description = "KMS key encrypting Kubernetes secrets."
  value       = module.secrets_key.arn
}

output "ebs_csi_role_arn" {
  description = "IAM role of the EBS CSI controller (needs use of the storage KMS key)."
  value       = aws_iam_role.ebs_csi.arn
}

output "addons" {
  description = "Installed add-on name => version."
  value = {
    for a in [aws_eks_addon.vpc_cni, aws_eks_addon.kube_proxy, aws_eks_addon.pod_identity_agent, aws_eks_addon.coredns, aws_eks_addon.ebs_csi] :
    a.addon_name => a.addon_version
  }
}
