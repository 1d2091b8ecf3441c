# podlab on AWS: network -> EKS -> node groups -> storage, database, buckets -> pod identities.
# Module boundaries are transparent to Terraform's graph, so the eks module's Deployment
# add-ons can wait for the node groups without a dependency cycle.

locals {
  user_node_azs = coalesce(var.user_node_azs, var.availability_zones)
}

module "network" {
  source = "./modules/network"

  name               = var.name
  cluster_name       = var.name
  cidr               = var.vpc_cidr
  availability_zones = var.availability_zones
  single_nat_gateway = var.single_nat_gateway
}

module "eks" {
  source = "./modules/eks"

  cluster_name         = var.name
  kubernetes_version   = var.kubernetes_version
  subnet_ids           = module.network.private_subnet_ids
  public_access_cidrs  = var.cluster_public_access_cidrs
  admin_principal_arns = var.admin_principal_arns
  compute_ready        = module.nodegroups.node_group_ids
}

module "nodegroups" {
  source = "./modules/nodegroups"

  cluster_name       = module.eks.cluster_name
  kubernetes_version = var.kubernetes_version
  subnet_ids_by_az   = module.network.private_subnet_ids_by_az
  user_node_azs      = local.user_node_azs

  system = {
    instance_types = var.system_instance_types
    min_size       = var.system_node_count.min
    desired_size   = var.system_node_count.desired
    max_size       = var.system_node_count.max
  }

  cpu = {
    instance_types = var.cpu_instance_types
    min_size       = var.cpu_nodes_per_az.min
    max_size       = var.cpu_nodes_per_az.max
  }

  gpu = {
    instance_types = var.gpu_instance_types
    max_size       = var.gpu_max_nodes_per_az
  }
}

module "storage" {
  source = "./modules/storage"

  name                     = var.name
  cluster_name             = module.eks.cluster_name
  zones                    = local.user_node_azs
  ebs_csi_role_arn         = module.eks.ebs_csi_role_arn
  enable_efs               = var.enable_efs
  vpc_id                   = module.network.vpc_id
  subnet_ids_by_az         = module.network.private_subnet_ids_by_az
  client_security_group_id = module.eks.cluster_security_group_id
  compute_ready            = module.nodegroups.node_group_ids
}

module "database" {
  source = "./modules/database"

  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.database_subnet_ids
  instance_class            = var.db_instance_class
  allocated_storage_gib     = var.db_allocated_storage_gib
  max_allocated_storage_gib = var.db_allocated_storage_gib * 10
  multi_az                  = var.db_multi_az
  backup_retention_days     = var.db_backup_retention_days
}

module "s3" {
  source = "./modules/s3"

  name = var.name
}

module "identity" {
  source = "./modules/identity"

  cluster_name         = module.eks.cluster_name
  namespace            = var.namespace
  user_namespaces      = var.user_namespaces
  artifacts_bucket     = module.s3.artifacts_bucket
  shared_bucket        = module.s3.shared_bucket
  s3_kms_key_arn       = module.s3.kms_key_arn
  database_secret_arn  = module.database.master_secret_arn
  database_kms_key_arn = module.database.kms_key_arn
}
