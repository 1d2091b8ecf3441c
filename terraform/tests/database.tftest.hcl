# database module: private, encrypted, deletion-protected PostgreSQL with TLS enforced,
# managed master password, automated backups, reachable only from the db-clients group.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  name       = "podlab"
  vpc_id     = "vpc-0123456789abcdef0"
  subnet_ids = ["subnet-0a", "subnet-0b"]
}

run "database_private_encrypted_protected" {
  command = plan

  module {
    source = "./modules/database"
  }

  assert {
    condition     = !aws_db_instance.this.publicly_accessible
    error_message = "the database must not be publicly accessible"
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted && aws_db_instance.this.performance_insights_enabled
    error_message = "the database storage must be encrypted"
  }

  assert {
    condition     = aws_db_instance.this.deletion_protection && !aws_db_instance.this.skip_final_snapshot
    error_message = "the database must be deletion-protected and keep a final snapshot"
  }

  assert {
    condition     = anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "rds.force_ssl" && p.value == "1"])
    error_message = "rds.force_ssl must be 1"
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password && aws_db_instance.this.password == null
    error_message = "the master password must be managed by RDS in Secrets Manager"
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period >= 7
    error_message = "automated backups must be kept at least a week"
  }

  assert {
    condition     = aws_db_instance.this.engine == "postgres" && aws_db_subnet_group.this.subnet_ids == toset(["subnet-0a", "subnet-0b"])
    error_message = "PostgreSQL in the given private subnets"
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.database_from_clients.from_port == 5432 && aws_vpc_security_group_ingress_rule.database_from_clients.cidr_ipv4 == null && aws_vpc_security_group_ingress_rule.database_from_clients.cidr_ipv6 == null
    error_message = "the database admits 5432 from the clients security group only, never from a CIDR"
  }

  assert {
    condition     = output.databases["hub"] == "jupyterhub" && output.databases["mlflow"] == "mlflow" && aws_db_instance.this.db_name == "jupyterhub"
    error_message = "databases for the hub and MLflow"
  }
}

run "database_rejects_disabled_backups" {
  command = plan

  module {
    source = "./modules/database"
  }

  variables {
    backup_retention_days = 0
  }

  expect_failures = [var.backup_retention_days]
}
