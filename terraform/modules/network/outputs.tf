output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "availability_zones" {
  description = "The zones the subnets span, in input order."
  value       = local.azs
}

output "private_subnet_ids" {
  description = "Private subnet IDs, in the order of availability_zones."
  value       = [for az in local.azs : aws_subnet.private[az].id]
}

output "private_subnet_ids_by_az" {
  description = "Private subnet ID per availability zone (for per-AZ node groups)."
  value       = { for az in local.azs : az => aws_subnet.private[az].id }
}

output "database_subnet_ids" {
  description = "Database subnet IDs (no route out of the VPC), in the order of availability_zones."
  value       = [for az in local.azs : aws_subnet.database[az].id]
}

output "database_cidr" {
  description = "One CIDR covering every database subnet (for NetworkPolicies)."
  value       = local.database_block
}

output "public_subnet_ids" {
  description = "Public subnet IDs (internet-facing load balancers), in the order of availability_zones."
  value       = [for az in local.azs : aws_subnet.public[az].id]
}

output "private_route_table_ids" {
  description = "Route tables of the private subnets."
  value       = [for az in local.azs : aws_route_table.private[az].id]
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint."
  value       = aws_vpc_endpoint.s3.id
}
