output "storage_class" {
  description = "Settings of the home-volume StorageClass (Kubernetes field names) for the chart."
  value = {
    name                 = var.storage_class_name
    provisioner          = "ebs.csi.aws.com"
    volumeBindingMode    = "WaitForFirstConsumer"
    reclaimPolicy        = "Retain"
    allowVolumeExpansion = true
    parameters = {
      type      = "gp3"
      encrypted = "true"
      kmsKeyId  = module.ebs_key.arn
      fsType    = "ext4"
    }
    allowedTopologies = [{
      matchLabelExpressions = [{
        key    = "topology.kubernetes.io/zone"
        values = var.zones
      }]
    }]
  }
}

output "ebs_kms_key_arn" {
  description = "KMS key of the home volumes."
  value       = module.ebs_key.arn
}

output "efs_file_system_id" {
  description = "ID of the EFS file system, or null when enable_efs is false."
  value       = var.enable_efs ? aws_efs_file_system.this[0].id : null
}

output "efs_storage_class" {
  description = "Settings of an EFS StorageClass (access-point provisioning), or null when enable_efs is false."
  value = var.enable_efs ? {
    name              = "${var.storage_class_name}-shared"
    provisioner       = "efs.csi.aws.com"
    reclaimPolicy     = "Retain"
    volumeBindingMode = "Immediate"
    parameters = {
      provisioningMode = "efs-ap"
      fileSystemId     = aws_efs_file_system.this[0].id
      directoryPerms   = "700"
      uid              = "1000"
      gid              = "100"
    }
  } : null
}
