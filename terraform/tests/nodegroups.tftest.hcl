# nodegroups module: IMDSv2 with hop limit 1, encrypted root volumes, the GPU groups (AL2023
# NVIDIA AMI, taint, label, scale from zero) and one user group per AZ.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  cluster_name       = "podlab"
  kubernetes_version = "1.33"
  subnet_ids_by_az = {
    "us-east-1a" = "subnet-0a"
    "us-east-1b" = "subnet-0b"
  }
  system = { instance_types = ["m6i.large"], min_size = 2, desired_size = 2, max_size = 4 }
  cpu    = { instance_types = ["m6i.2xlarge"], min_size = 0, max_size = 5 }
  gpu    = { instance_types = ["g5.xlarge"], max_size = 2 }
}

run "nodegroups_hardened_launch_templates" {
  command = plan

  module {
    source = "./modules/nodegroups"
  }

  assert {
    condition     = length(aws_launch_template.this) == 5
    error_message = "one launch template per node group (system + cpu and gpu per AZ)"
  }

  assert {
    condition     = alltrue([for lt in aws_launch_template.this : lt.metadata_options[0].http_tokens == "required"])
    error_message = "every launch template must require IMDSv2"
  }

  assert {
    condition     = alltrue([for lt in aws_launch_template.this : lt.metadata_options[0].http_put_response_hop_limit == 1])
    error_message = "every launch template must set the IMDS hop limit to 1 (pods cannot reach node credentials)"
  }

  assert {
    condition     = alltrue([for lt in aws_launch_template.this : alltrue([for b in lt.block_device_mappings : b.ebs[0].encrypted == "true"])])
    error_message = "every root volume must be encrypted"
  }

  assert {
    condition     = length(aws_eks_node_group.this) == 5 && alltrue([for k, ng in aws_eks_node_group.this : length(ng.launch_template) == 1])
    error_message = "every node group uses its launch template"
  }
}

run "nodegroups_gpu_groups" {
  command = plan

  module {
    source = "./modules/nodegroups"
  }

  assert {
    condition     = toset([for k, ng in aws_eks_node_group.this : k if startswith(k, "gpu-")]) == toset(["gpu-us-east-1a", "gpu-us-east-1b"])
    error_message = "one GPU group per AZ, so a node can start in the zone of a user's home volume"
  }

  assert {
    condition     = alltrue([for k, ng in aws_eks_node_group.this : ng.ami_type == "AL2023_x86_64_NVIDIA" if startswith(k, "gpu-")])
    error_message = "GPU groups must use the AL2023 NVIDIA AMI"
  }

  assert {
    condition = alltrue([for k, ng in aws_eks_node_group.this : anytrue([
      for t in ng.taint : t.key == "nvidia.com/gpu" && t.value == "true" && t.effect == "NO_SCHEDULE"
    ]) if startswith(k, "gpu-")])
    error_message = "GPU groups must be tainted nvidia.com/gpu=true:NoSchedule"
  }

  assert {
    condition     = alltrue([for k, ng in aws_eks_node_group.this : ng.labels["podlab.io/node-pool"] == "gpu" if startswith(k, "gpu-")])
    error_message = "GPU groups must be labelled podlab.io/node-pool=gpu"
  }

  assert {
    condition     = alltrue([for k, ng in aws_eks_node_group.this : ng.scaling_config[0].min_size == 0 && ng.scaling_config[0].desired_size == 0 if startswith(k, "gpu-")])
    error_message = "GPU groups must scale from zero"
  }

  assert {
    condition     = alltrue([for k, ng in aws_eks_node_group.this : length(ng.subnet_ids) == 1 if k != "system"])
    error_message = "user groups must each live in a single AZ"
  }

  assert {
    condition     = length(aws_eks_node_group.this["system"].taint) == 0 && length(aws_eks_node_group.this["system"].subnet_ids) == 2
    error_message = "the system group spans every AZ and carries no taint"
  }

  assert {
    condition     = aws_autoscaling_group_tag.scale_from_zero["gpu-us-east-1a/taint/nvidia.com/gpu"].tag[0].value == "true:NoSchedule"
    error_message = "GPU ASGs carry the autoscaler's scale-from-zero taint hint"
  }
}

run "nodegroups_reject_cpu_type_for_gpu" {
  command = plan

  module {
    source = "./modules/nodegroups"
  }

  variables {
    gpu = { instance_types = ["m6i.xlarge"], max_size = 2 }
  }

  expect_failures = [var.gpu]
}
