# storage module: encrypted gp3 StorageClass settings that bind WaitForFirstConsumer in the
# user AZs and retain volumes; optional encrypted EFS.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name                     = "podlab"
  cluster_name             = "podlab"
  zones                    = ["us-east-1a", "us-east-1b"]
  ebs_csi_role_arn         = "arn:aws:iam::123456789012:role/podlab-ebs-csi"
  vpc_id                   = "vpc-0123456789abcdef0"
  subnet_ids_by_az         = { "us-east-1a" = "subnet-0a", "us-east-1b" = "subnet-0b" }
  client_security_group_id = "sg-0cluster0000000000"
}

run "storage_class_encrypted_gp3_wait_for_first_consumer" {
  command = plan

  module {
    source = "./modules/storage"
  }

  assert {
    condition     = output.storage_class.parameters.type == "gp3" && output.storage_class.parameters.encrypted == "true"
    error_message = "home volumes must be encrypted gp3"
  }

  assert {
    condition     = output.storage_class.volumeBindingMode == "WaitForFirstConsumer"
    error_message = "home volumes must bind WaitForFirstConsumer so they are created in the node's AZ"
  }

  assert {
    condition     = output.storage_class.reclaimPolicy == "Retain"
    error_message = "home volumes must outlive their claims"
  }

  assert {
    condition     = output.storage_class.allowedTopologies[0].matchLabelExpressions[0].values == tolist(["us-east-1a", "us-east-1b"])
    error_message = "home volumes may only be created in AZs that have user node groups"
  }

  assert {
    condition     = module.ebs_key.rotation_enabled
    error_message = "the home-volume key must rotate"
  }

  assert {
    condition     = length(aws_efs_file_system.this) == 0 && output.efs_storage_class == null
    error_message = "EFS is off by default"
  }
}

run "storage_optional_efs_encrypted" {
  command = plan

  module {
    source = "./modules/storage"
  }

  variables {
    enable_efs = true
  }

  assert {
    condition     = aws_efs_file_system.this[0].encrypted && length(aws_efs_mount_target.this) == 2
    error_message = "EFS must be encrypted and mounted in every AZ"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.efs_nfs[0].from_port == 2049 && aws_vpc_security_group_ingress_rule.efs_nfs[0].cidr_ipv4 == null
    error_message = "NFS is admitted from the cluster security group only"
  }
}
