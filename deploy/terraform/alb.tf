# The ALB: HTTPS from CloudFront only, health checks on /readyz, and timeouts for live maps.
resource "aws_lb" "main" {
  name                       = local.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  # SSE and WebSocket maps stay open for the whole sale. SSE sends a keep-alive every 15 s; a
  # quiet WebSocket sends nothing until a seat changes, so the idle timeout is an hour (a cut
  # connection only costs the browser a reconnect and a snapshot).
  idle_timeout = 3600
  access_logs {
    bucket  = aws_s3_bucket.logs.id
    prefix  = "alb"
    enabled = true
  }
}

resource "aws_lb_target_group" "app" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; the hop to the instances is inside private subnets, and boxoffice does not terminate TLS itself (README.md)
  name                 = local.name
  port                 = 8080
  protocol             = "HTTP"
  vpc_id               = aws_vpc.main.id
  target_type          = "instance"
  deregistration_delay = local.drain_seconds
  # Least outstanding requests: a new instance gets work at once, a slow one less of it. (AWS
  # allows no slow start with this algorithm.)
  load_balancing_algorithm_type = "least_outstanding_requests"
  health_check {
    # Redis is optional for readiness: a Redis outage must not take every instance out.
    path                = "/readyz?optional=redis"
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 5
    timeout             = 3
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
  stickiness {
    type    = "lb_cookie"
    enabled = false
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.alb_certificate_arn
  # Only CloudFront may use the ALB: it adds this header, and anything without it gets 403.
  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "Forbidden"
      status_code  = "403"
    }
  }
}

resource "aws_lb_listener_rule" "from_cloudfront" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10
  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }
  condition {
    http_header {
      http_header_name = "X-Origin-Verify"
      values           = [random_password.origin_verify.result]
    }
  }
}

resource "random_password" "origin_verify" {
  length  = 40
  special = false
}

resource "aws_wafv2_web_acl_association" "alb" {
  resource_arn = aws_lb.main.arn
  web_acl_arn  = aws_wafv2_web_acl.regional.arn
}
