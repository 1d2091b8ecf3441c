output "node_group_ids" {
  description = "IDs of every node group (pass to the eks module's compute_ready)."
  value       = [for g in aws_eks_node_group.this : g.id]
}

output "node_groups" {
  description = "Node group key => {pool, ami_type, instance_types, subnet_ids}."
  value = {
    for k, g in local.groups : k => {
      pool           = g.pool
      ami_type       = g.ami_type
      instance_types = g.instance_types
      subnet_ids     = g.subnet_ids
    }
  }
}

output "user_node_azs" {
  description = "AZs with CPU and GPU user groups; home volumes must be created in these zones."
  value       = local.user_azs
}

output "node_role_arn" {
  description = "IAM role of the nodes."
  value       = aws_iam_role.node.arn
}

output "autoscaler_role_arn" {
  description = "IAM role of the cluster autoscaler (service account kube-system/cluster-autoscaler)."
  value       = aws_iam_role.autoscaler.arn
}

output "gpu_node_selector" {
  description = "Node selector for GPU profiles."
  value       = { (local.pool_label) = "gpu" }
}

output "gpu_toleration" {
  description = "Toleration for GPU profiles."
  value       = { key = local.gpu_taint_key, operator = "Equal", value = "true", effect = "NoSchedule" }
}
