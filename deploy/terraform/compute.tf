# The instances: Amazon Linux 2023 running the container image under systemd, one boxoffice per
# instance, in an Auto Scaling group behind the ALB.
resource "aws_ecr_repository" "boxoffice" {
  name                 = "boxoffice"
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.instance_architecture}"
}

# The CloudWatch agent's configuration (deploy/cloudwatch/), which the agent reads from here.
resource "aws_ssm_parameter" "cloudwatch_agent" {
  name   = "/boxoffice/${var.environment}/cloudwatch-agent"
  type   = "SecureString"
  key_id = aws_kms_key.main.arn
  value  = replace(file("${path.module}/../cloudwatch/amazon-cloudwatch-agent.json"), "__ENVIRONMENT__", var.environment)
}

resource "aws_launch_template" "app" {
  name_prefix            = "${local.name}-"
  image_id               = data.aws_ssm_parameter.al2023.value
  instance_type          = var.instance_type
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.app.id]
  ebs_optimized          = true
  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
  }
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  monitoring {
    enabled = true
  }
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = 20
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = aws_kms_key.main.arn
      delete_on_termination = true
    }
  }
  user_data = base64encode(templatefile("${path.module}/user_data.sh.tftpl", {
    region                = local.region
    asg_name              = local.name
    image                 = var.image
    registry              = split("/", var.image)[0]
    drain_ms              = local.drain_seconds * 1000
    stop_timeout          = local.drain_seconds + 20
    db_secret_arn         = aws_db_instance.main.master_user_secret[0].secret_arn
    db_endpoint           = aws_db_instance.main.address
    db_name               = aws_db_instance.main.db_name
    redis_endpoint        = aws_elasticache_replication_group.redis.primary_endpoint_address
    server_secret_arn     = aws_secretsmanager_secret.app["server-secret"].arn
    metrics_token_arn     = aws_secretsmanager_secret.app["metrics-token"].arn
    stripe_secret_arn     = aws_secretsmanager_secret.app["stripe"].arn
    app_log_group         = aws_cloudwatch_log_group.app.name
    agent_config_param    = aws_ssm_parameter.cloudwatch_agent.name
    trusted_proxies       = aws_vpc.main.cidr_block
    prometheus_scrape_yml = file("${path.module}/../cloudwatch/prometheus.yaml")
  }))
  tag_specifications {
    resource_type = "instance"
    tags = {
      Name = local.name
    }
  }
}

resource "aws_autoscaling_group" "app" {
  name                      = local.name
  vpc_zone_identifier       = aws_subnet.private[*].id
  min_size                  = var.min_instances
  max_size                  = var.max_instances
  target_group_arns         = [aws_lb_target_group.app.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 90
  default_instance_warmup   = 60
  # New instances first: an instance refresh never leaves fewer than min_size serving.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 150
    }
  }
  launch_template {
    id      = aws_launch_template.app.id
    version = aws_launch_template.app.latest_version
  }
  enabled_metrics = [
    "GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances",
    "GroupTerminatingInstances", "GroupMaxSize", "GroupMinSize",
  ]
  tag {
    key                 = "Name"
    value               = local.name
    propagate_at_launch = true
  }
  # Scaling owns the desired capacity; Terraform must not reset it on every apply.
  lifecycle {
    ignore_changes = [desired_capacity]
  }
}

# Target tracking: requests per instance (the ALB's count, per minute), CPU, and the server's own
# requests in flight (from the CloudWatch agent's scrape of /metrics). The group follows
# whichever asks for the most instances, and scales in only when all three agree.
resource "aws_autoscaling_policy" "requests" {
  name                      = "requests-per-target"
  autoscaling_group_name    = aws_autoscaling_group.app.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = 60
  target_tracking_configuration {
    target_value = var.requests_per_target_per_minute
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.main.arn_suffix}/${aws_lb_target_group.app.arn_suffix}"
    }
  }
}

resource "aws_autoscaling_policy" "cpu" {
  name                      = "cpu"
  autoscaling_group_name    = aws_autoscaling_group.app.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = 60
  target_tracking_configuration {
    target_value = var.cpu_target_percent
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
  }
}

resource "aws_autoscaling_policy" "in_flight" {
  name                      = "requests-in-flight"
  autoscaling_group_name    = aws_autoscaling_group.app.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = 60
  target_tracking_configuration {
    target_value = var.in_flight_target
    customized_metric_specification {
      metric_name = "boxoffice_http_requests_in_flight"
      namespace   = "Boxoffice/Prometheus"
      statistic   = "Average"
      metric_dimension {
        name  = "AutoScalingGroupName"
        value = local.name
      }
    }
  }
}

# The pre-scale for a known opening: from 30 minutes before it, the group keeps at least
# opening_instances running (target tracking may add more); two hours after it the floor returns.
resource "aws_autoscaling_schedule" "opening_up" {
  count                  = var.opening_time == null ? 0 : 1
  scheduled_action_name  = "opening-prescale"
  autoscaling_group_name = aws_autoscaling_group.app.name
  start_time             = timeadd(var.opening_time, "-30m")
  min_size               = var.opening_instances
  max_size               = var.max_instances
  desired_capacity       = var.opening_instances
  time_zone              = "Etc/UTC"
}

resource "aws_autoscaling_schedule" "opening_down" {
  count                  = var.opening_time == null ? 0 : 1
  scheduled_action_name  = "opening-release"
  autoscaling_group_name = aws_autoscaling_group.app.name
  start_time             = timeadd(var.opening_time, "2h")
  min_size               = var.min_instances
  max_size               = var.max_instances
  desired_capacity       = -1
  time_zone              = "Etc/UTC"
}
