# The authority: RDS MySQL 8.0, Multi-AZ (a synchronous standby in another zone; failover in
# about a minute, during which holds and checkouts get 503 and the crowd retries). The password
# is RDS's own managed secret in Secrets Manager, never in Terraform state.
resource "aws_db_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_db_parameter_group" "mysql" {
  name   = "${local.name}-mysql80"
  family = "mysql8.0"
  # boxoffice sets READ COMMITTED and strict mode per session; these are server-wide choices.
  parameter {
    name  = "max_connections"
    value = "4000"
  }
  parameter {
    name  = "innodb_lock_wait_timeout"
    value = "10"
  }
  parameter {
    name  = "slow_query_log"
    value = "1"
  }
  parameter {
    name  = "long_query_time"
    value = "0.2"
  }
}

resource "aws_db_instance" "main" {
  #checkov:skip=CKV_AWS_161:boxoffice connects with a password in DATABASE_URL; IAM tokens expire every 15 minutes and the connection pool has no token provider
  #checkov:skip=CKV2_AWS_69:boxoffice's database driver is built without TLS today (Cargo.toml: sqlx without a TLS feature); traffic stays in private subnets behind the db security group. Follow-up: enable sqlx TLS and require_secure_transport
  identifier                            = local.name
  engine                                = "mysql"
  engine_version                        = "8.0"
  instance_class                        = var.db_instance_class
  allocated_storage                     = var.db_allocated_storage_gb
  max_allocated_storage                 = var.db_allocated_storage_gb * 5
  storage_type                          = "gp3"
  storage_encrypted                     = true
  kms_key_id                            = aws_kms_key.main.arn
  db_name                               = "boxoffice"
  username                              = "boxoffice"
  manage_master_user_password           = true
  master_user_secret_kms_key_id         = aws_kms_key.main.arn
  multi_az                              = true
  db_subnet_group_name                  = aws_db_subnet_group.main.name
  vpc_security_group_ids                = [aws_security_group.db.id]
  parameter_group_name                  = aws_db_parameter_group.mysql.name
  publicly_accessible                   = false
  backup_retention_period               = 14
  backup_window                         = "03:00-04:00"
  maintenance_window                    = "sun:04:30-sun:05:30"
  auto_minor_version_upgrade            = true
  deletion_protection                   = true
  skip_final_snapshot                   = false
  final_snapshot_identifier             = "${local.name}-final"
  copy_tags_to_snapshot                 = true
  enabled_cloudwatch_logs_exports       = ["error", "slowquery"]
  monitoring_interval                   = 15
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.main.arn
  performance_insights_retention_period = 7
  apply_immediately                     = false
}

# The fan-out: Redis pub/sub, one primary and one replica in another zone with automatic
# failover. A Redis outage stops only the cross-instance push: sales go on, and every map is
# healed by the instances' reconciliation within seconds (README.md).
resource "aws_elasticache_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_elasticache_replication_group" "redis" {
  #checkov:skip=CKV_AWS_30:boxoffice's Redis client is built without TLS today (Cargo.toml); see transit_encryption_enabled below
  #checkov:skip=CKV_AWS_31:an auth token needs in-transit encryption, which the client cannot speak yet (CKV_AWS_30)
  replication_group_id       = local.name
  description                = "boxoffice seat fan-out and waiting-room counters"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.main.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn
  # boxoffice's Redis client is built without TLS today (Cargo.toml: redis without a TLS
  # feature), so in-transit encryption would leave it unable to connect. Traffic stays inside
  # the VPC's private subnets and the security group admits only the instances.
  transit_encryption_enabled = false
  snapshot_retention_limit   = 1
  auto_minor_version_upgrade = true
  apply_immediately          = false
  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.redis.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "engine-log"
  }
}

resource "aws_cloudwatch_log_group" "redis" {
  name              = "/boxoffice/${var.environment}/redis"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}
