# Logs, alarms and the on-sale dashboard. Alarms go to one SNS topic (subscribe the on-call).
resource "aws_cloudwatch_log_group" "app" {
  name              = "/boxoffice/${var.environment}/app"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

# The CloudWatch agent's Prometheus scrape writes its embedded-metric-format events here.
resource "aws_cloudwatch_log_group" "metrics" {
  #checkov:skip=CKV_AWS_338:raw embedded-metric events, one per scrape per instance; the metrics made from them are kept by CloudWatch for 15 months
  name              = "/boxoffice/${var.environment}/prometheus"
  retention_in_days = 30
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "oncall" {
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alb_dimensions = { LoadBalancer = aws_lb.main.arn_suffix }
  tg_dimensions = {
    LoadBalancer = aws_lb.main.arn_suffix
    TargetGroup  = aws_lb_target_group.app.arn_suffix
  }
  # One alarm per entry; every entry has the same attributes, so that for_each sees a map.
  alarms = {
    "alb-5xx" = {
      namespace   = "AWS/ApplicationELB"
      metric      = "HTTPCode_Target_5XX_Count"
      statistic   = "Sum"
      dimensions  = tomap(local.tg_dimensions)
      comparison  = "GreaterThanThreshold"
      threshold   = 50
      periods     = 3
      description = "Instances answer 5xx (503s from the load shedder count too)"
    }
    "alb-no-healthy-targets" = {
      namespace   = "AWS/ApplicationELB"
      metric      = "HealthyHostCount"
      statistic   = "Minimum"
      dimensions  = tomap(local.tg_dimensions)
      comparison  = "LessThanThreshold"
      threshold   = 1
      periods     = 1
      description = "No instance passes /readyz: the database is down or every instance is draining"
    }
    "alb-unhealthy-targets" = {
      namespace   = "AWS/ApplicationELB"
      metric      = "UnHealthyHostCount"
      statistic   = "Maximum"
      dimensions  = tomap(local.tg_dimensions)
      comparison  = "GreaterThanThreshold"
      threshold   = 0
      periods     = 3
      description = "Some instance fails /readyz for three minutes"
    }
    "alb-latency-p99" = {
      namespace   = "AWS/ApplicationELB"
      metric      = "TargetResponseTime"
      statistic   = "p99"
      dimensions  = tomap(local.tg_dimensions)
      comparison  = "GreaterThanThreshold"
      threshold   = 1.0
      periods     = 3
      description = "p99 over 1 s (streams excluded: they answer at once)"
    }
    "alb-rejected-connections" = {
      namespace   = "AWS/ApplicationELB"
      metric      = "RejectedConnectionCount"
      statistic   = "Sum"
      dimensions  = tomap(local.alb_dimensions)
      comparison  = "GreaterThanThreshold"
      threshold   = 0
      periods     = 1
      description = "The ALB refuses connections"
    }
    "asg-at-max" = {
      namespace   = "AWS/AutoScaling"
      metric      = "GroupInServiceInstances"
      statistic   = "Minimum"
      dimensions  = tomap({ AutoScalingGroupName = local.name })
      comparison  = "GreaterThanOrEqualToThreshold"
      threshold   = var.max_instances
      periods     = 5
      description = "The group is at its maximum for five minutes: raise max_instances or look at the database"
    }
    "db-cpu" = {
      namespace   = "AWS/RDS"
      metric      = "CPUUtilization"
      statistic   = "Average"
      dimensions  = tomap({ DBInstanceIdentifier = aws_db_instance.main.identifier })
      comparison  = "GreaterThanThreshold"
      threshold   = 80
      periods     = 3
      description = "The database is the ceiling (docs/capacity.md): the fleet cannot add sales past it"
    }
    "db-connections" = {
      namespace   = "AWS/RDS"
      metric      = "DatabaseConnections"
      statistic   = "Maximum"
      dimensions  = tomap({ DBInstanceIdentifier = aws_db_instance.main.identifier })
      comparison  = "GreaterThanThreshold"
      threshold   = 3200
      periods     = 2
      description = "80% of max_connections: instances x BOXOFFICE_DB_POOL_SIZE is near the limit"
    }
    "db-free-storage" = {
      namespace   = "AWS/RDS"
      metric      = "FreeStorageSpace"
      statistic   = "Minimum"
      dimensions  = tomap({ DBInstanceIdentifier = aws_db_instance.main.identifier })
      comparison  = "LessThanThreshold"
      threshold   = 10737418240
      periods     = 1
      description = "Less than 10 GiB free"
    }
    "db-replica-lag" = {
      namespace   = "AWS/RDS"
      metric      = "ReplicaLag"
      statistic   = "Maximum"
      dimensions  = tomap({ DBInstanceIdentifier = aws_db_instance.main.identifier })
      comparison  = "GreaterThanThreshold"
      threshold   = 30
      periods     = 3
      description = "Read replica lag (if one is added for reporting)"
    }
    "redis-cpu" = {
      namespace   = "AWS/ElastiCache"
      metric      = "EngineCPUUtilization"
      statistic   = "Average"
      dimensions  = tomap({ ReplicationGroupId = aws_elasticache_replication_group.redis.id })
      comparison  = "GreaterThanThreshold"
      threshold   = 75
      periods     = 3
      description = "Redis is single-threaded: past this, fan-out lag grows"
    }
    "redis-memory" = {
      namespace   = "AWS/ElastiCache"
      metric      = "DatabaseMemoryUsagePercentage"
      statistic   = "Maximum"
      dimensions  = tomap({ ReplicationGroupId = aws_elasticache_replication_group.redis.id })
      comparison  = "GreaterThanThreshold"
      threshold   = 80
      periods     = 3
      description = "Waiting-room lines and rate-limit counters fill Redis"
    }
    "app-redis-subscription" = {
      namespace   = "Boxoffice/Prometheus"
      metric      = "boxoffice_redis_connected"
      statistic   = "Minimum"
      dimensions  = tomap({ AutoScalingGroupName = local.name })
      comparison  = "LessThanThreshold"
      threshold   = 1
      periods     = 2
      description = "Some instance lost its Redis subscription: live maps heal by reconciliation only"
    }
    "app-db-waiting" = {
      namespace   = "Boxoffice/Prometheus"
      metric      = "boxoffice_db_pool_waiting"
      statistic   = "Maximum"
      dimensions  = tomap({ AutoScalingGroupName = local.name })
      comparison  = "GreaterThanThreshold"
      threshold   = 16
      periods     = 3
      description = "Requests queue for database connections: the database, not the fleet, is the limit"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "main" {
  for_each            = local.alarms
  alarm_name          = "${local.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = startswith(each.value.statistic, "p") ? null : each.value.statistic
  extended_statistic  = startswith(each.value.statistic, "p") ? each.value.statistic : null
  dimensions          = each.value.dimensions
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  evaluation_periods  = each.value.periods
  period              = 60
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_dashboard" "onsale" {
  dashboard_name = "${local.name}-onsale"
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Requests and errors (ALB)"
          region = local.region
          stat   = "Sum"
          period = 60
          metrics = [
            ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", aws_lb.main.arn_suffix],
            [".", "HTTPCode_Target_5XX_Count", "TargetGroup", aws_lb_target_group.app.arn_suffix, "LoadBalancer", aws_lb.main.arn_suffix],
            [".", "HTTPCode_Target_4XX_Count", ".", ".", ".", "."],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Latency p50 / p99 (ALB)"
          region = local.region
          period = 60
          metrics = [
            ["AWS/ApplicationELB", "TargetResponseTime", "TargetGroup", aws_lb_target_group.app.arn_suffix, "LoadBalancer", aws_lb.main.arn_suffix, { stat = "p50" }],
            ["...", { stat = "p99" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 8, height = 6
        properties = {
          title  = "Instances"
          region = local.region
          stat   = "Maximum"
          period = 60
          metrics = [
            ["AWS/AutoScaling", "GroupDesiredCapacity", "AutoScalingGroupName", local.name],
            [".", "GroupInServiceInstances", ".", "."],
            ["AWS/ApplicationELB", "HealthyHostCount", "TargetGroup", aws_lb_target_group.app.arn_suffix, "LoadBalancer", aws_lb.main.arn_suffix],
          ]
        }
      },
      {
        type = "metric", x = 8, y = 6, width = 8, height = 6
        properties = {
          title  = "Per instance: requests in flight, open streams"
          region = local.region
          stat   = "Average"
          period = 60
          metrics = [
            ["Boxoffice/Prometheus", "boxoffice_http_requests_in_flight", "AutoScalingGroupName", local.name],
            [".", "boxoffice_open_streams", ".", "."],
          ]
        }
      },
      {
        type = "metric", x = 16, y = 6, width = 8, height = 6
        properties = {
          title  = "Waiting room: in line (max over instances)"
          region = local.region
          stat   = "Maximum"
          period = 60
          metrics = [
            ["Boxoffice/Prometheus", "boxoffice_waiting_room_queue_length", "AutoScalingGroupName", local.name],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 8, height = 6
        properties = {
          title  = "Database (RDS)"
          region = local.region
          stat   = "Average"
          period = 60
          metrics = [
            ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", aws_db_instance.main.identifier],
            [".", "DatabaseConnections", ".", ".", { yAxis = "right" }],
            [".", "WriteIOPS", ".", ".", { yAxis = "right" }],
          ]
        }
      },
      {
        type = "metric", x = 8, y = 12, width = 8, height = 6
        properties = {
          title  = "Database pool: waiting for a connection (max per instance)"
          region = local.region
          stat   = "Maximum"
          period = 60
          metrics = [
            ["Boxoffice/Prometheus", "boxoffice_db_pool_waiting", "AutoScalingGroupName", local.name],
          ]
        }
      },
      {
        type = "metric", x = 16, y = 12, width = 8, height = 6
        properties = {
          title  = "Redis (ElastiCache) and fan-out"
          region = local.region
          stat   = "Average"
          period = 60
          metrics = [
            ["AWS/ElastiCache", "EngineCPUUtilization", "ReplicationGroupId", aws_elasticache_replication_group.redis.id],
            ["Boxoffice/Prometheus", "boxoffice_redis_connected", "AutoScalingGroupName", local.name, { stat = "Minimum", yAxis = "right" }],
          ]
        }
      },
    ]
  })
}
