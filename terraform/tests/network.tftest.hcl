# network module: subnets over several AZs with load-balancer role tags, NAT, S3 gateway
# endpoint, flow logs, a default security group that allows nothing.

mock_provider "aws" {
  source = "./tests/mocks"
}

run "network_spans_zones_with_lb_tags" {
  command = plan

  module {
    source = "./modules/network"
  }

  variables {
    name               = "podlab"
    cluster_name       = "podlab"
    cidr               = "10.40.0.0/16"
    availability_zones = ["us-east-1a", "us-east-1b", "us-east-1c"]
  }

  assert {
    condition     = length(aws_subnet.private) == 3 && length(aws_subnet.public) == 3
    error_message = "one private and one public subnet per AZ expected"
  }

  assert {
    condition     = alltrue([for s in aws_subnet.public : s.tags["kubernetes.io/role/elb"] == "1" && !s.map_public_ip_on_launch])
    error_message = "public subnets need the elb role tag and no automatic public IPs"
  }

  assert {
    condition     = alltrue([for s in aws_subnet.private : s.tags["kubernetes.io/role/internal-elb"] == "1" && s.tags["kubernetes.io/cluster/podlab"] == "shared"])
    error_message = "private subnets need the internal-elb role tag and the cluster tag"
  }

  assert {
    condition     = length(distinct([for s in aws_subnet.private : s.availability_zone])) == 3
    error_message = "private subnets must be in distinct AZs"
  }

  assert {
    condition     = length(aws_subnet.database) == 3 && alltrue([for s in aws_subnet.database : cidrsubnet(output.database_cidr, 3, index(["us-east-1a", "us-east-1b", "us-east-1c"], s.availability_zone)) == s.cidr_block])
    error_message = "one database subnet per AZ, all inside database_cidr"
  }

  assert {
    condition     = output.database_cidr == "10.40.232.0/21" && !contains([for s in aws_subnet.private : cidrhost(s.cidr_block, 0)], "10.40.232.0")
    error_message = "the database block must not overlap the pod subnets"
  }

  assert {
    condition     = aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3.service_name == "com.amazonaws.us-east-1.s3"
    error_message = "an S3 gateway endpoint is expected"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_route.private_nat) == 3
    error_message = "default: one NAT gateway routed from every private subnet"
  }


  assert {
    condition     = aws_flow_log.this.traffic_type == "ALL"
    error_message = "VPC flow logs must record all traffic"
  }
}

run "network_nat_per_az" {
  command = plan

  module {
    source = "./modules/network"
  }

  variables {
    name               = "podlab"
    cluster_name       = "podlab"
    cidr               = "10.40.0.0/16"
    availability_zones = ["us-east-1a", "us-east-1b"]
    single_nat_gateway = false
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 2
    error_message = "single_nat_gateway = false must create one NAT gateway per AZ"
  }
}
