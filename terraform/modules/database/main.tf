# PostgreSQL for the hub and MLflow: private subnets only, encrypted with a customer-managed
# key, TLS enforced (rds.force_ssl), master password managed by RDS in Secrets Manager,
# deletion protection, automated backups.
#
# Reachability: the database security group admits port 5432 only from a dedicated "clients"
# security group. The chart attaches that group to the hub and MLflow pods alone through a
# SecurityGroupPolicy (security groups for pods, enabled on the VPC CNI by the eks module), so
# no other pod and no node can open a connection.

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  port      = 5432
  first_db  = var.databases[sort(keys(var.databases))[0]]
}

module "key" {
  source = "../kms-key"

  description = "${var.name} database storage, master secret and Performance Insights"
  alias       = "${var.name}-database"
  tags        = var.tags
}

resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.name}-"
  description = "podlab database, private database subnets only"
  subnet_ids  = var.subnet_ids
  tags        = var.tags
}

# -- security groups ---------------------------------------------------------------------------
resource "aws_security_group" "clients" {
  name_prefix = "${var.name}-db-clients-"
  description = "Attached to the hub and MLflow pods (SecurityGroupPolicy); the only way into the database"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-db-clients" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "database" {
  name_prefix = "${var.name}-db-"
  description = "PostgreSQL, reachable only from the db-clients security group"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-db" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "database_from_clients" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from hub and MLflow pods"
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
  referenced_security_group_id = aws_security_group.clients.id
}

resource "aws_vpc_security_group_egress_rule" "clients_to_database" {
  security_group_id            = aws_security_group.clients.id
  description                  = "PostgreSQL to the podlab database"
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
  referenced_security_group_id = aws_security_group.database.id
}

# -- parameters --------------------------------------------------------------------------------
resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-pg${var.engine_version}-"
  family      = "postgres${var.engine_version}"
  description = "podlab: TLS only, connection and slow-query logging"
  tags        = var.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# -- enhanced monitoring role ------------------------------------------------------------------
data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name_prefix        = "${var.name}-rds-monitoring-"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# -- the instance ------------------------------------------------------------------------------
resource "aws_db_instance" "this" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = local.first_db
  username       = "podlab_admin"
  port           = local.port

  manage_master_user_password   = true
  master_user_secret_kms_key_id = module.key.arn

  allocated_storage     = var.allocated_storage_gib
  max_allocated_storage = var.max_allocated_storage_gib
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = module.key.arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false
  multi_az               = var.multi_az
  parameter_group_name   = aws_db_parameter_group.this.name

  iam_database_authentication_enabled = true
  deletion_protection                 = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${var.name}-final"
  copy_tags_to_snapshot               = true
  delete_automated_backups            = false
  backup_retention_period             = var.backup_retention_days
  backup_window                       = "03:00-04:00"
  maintenance_window                  = "sun:04:30-sun:05:30"
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = module.key.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.monitoring.arn

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.monitoring]
}
