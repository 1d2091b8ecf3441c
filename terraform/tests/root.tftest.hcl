# Root module: the whole stack plans with defaults and bad inputs are rejected with their
# validation messages (tests/terraform checks the messages in the JSON diagnostics).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  admin_principal_arns = ["arn:aws:iam::123456789012:role/platform-admin"]
}

run "root_plans_with_defaults" {
  command = plan

  assert {
    condition     = output.region == "us-east-1"
    error_message = "the default region is us-east-1"
  }

  assert {
    condition     = output.shared_bucket == "podlab-shared-123456789012-us-east-1"
    error_message = "bucket names derive from name, account and region"
  }
}

run "rejects_cpu_instance_type_for_gpu_group" {
  command = plan

  variables {
    gpu_instance_types = ["m6i.xlarge"]
  }

  expect_failures = [var.gpu_instance_types]
}

run "rejects_invalid_vpc_cidr" {
  command = plan

  variables {
    vpc_cidr = "10.40.0.0/33"
  }

  expect_failures = [var.vpc_cidr]
}

run "rejects_invalid_public_access_cidr" {
  command = plan

  variables {
    cluster_public_access_cidrs = ["203.0.113.300/24"]
  }

  expect_failures = [var.cluster_public_access_cidrs]
}

run "rejects_single_availability_zone" {
  command = plan

  variables {
    availability_zones = ["us-east-1a"]
  }

  expect_failures = [var.availability_zones]
}
