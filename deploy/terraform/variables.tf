variable "region" {
  description = "AWS region for everything but CloudFront's certificate and web ACL."
  type        = string
  default     = "eu-west-1"
}

variable "availability_zones" {
  description = "Three zones of var.region, named explicitly so that the layout never moves when AWS adds one."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}

variable "environment" {
  description = "Short name of this deployment (production, staging, ...)."
  type        = string
  default     = "production"
}

variable "domain_name" {
  description = "The buyers' host name, served by CloudFront."
  type        = string
  default     = "tickets.example.com"
}

variable "cloudfront_certificate_arn" {
  description = "ACM certificate (in us-east-1) for domain_name."
  type        = string
}

variable "alb_certificate_arn" {
  description = "ACM certificate (in var.region) for the ALB's origin host name."
  type        = string
}

variable "origin_domain_name" {
  description = "Host name CloudFront uses for the ALB origin (a DNS record for the ALB, covered by alb_certificate_arn)."
  type        = string
  default     = "origin.tickets.example.com"
}

variable "image" {
  description = "The container image (deploy/container/Dockerfile), by digest: REPOSITORY@sha256:..."
  type        = string
}

variable "instance_type" {
  description = "One boxoffice per instance; BENCHMARKS.md measured on two cores."
  type        = string
  default     = "c7i.large"
}

variable "instance_architecture" {
  description = "arm64 for Graviton instance types, x86_64 otherwise (must match the image)."
  type        = string
  default     = "x86_64"
}

variable "min_instances" {
  type    = number
  default = 3
}

variable "max_instances" {
  type    = number
  default = 60
}

variable "drain_delay_seconds" {
  description = "How long a stopping instance keeps serving with /readyz failing (BOXOFFICE_DRAIN_DELAY_MS / 1000)."
  type        = number
  default     = 15
}

variable "requests_per_target_per_minute" {
  description = "Target tracking goal for ALBRequestCountPerTarget (see docs/capacity.md)."
  type        = number
  default     = 30000
}

variable "cpu_target_percent" {
  type    = number
  default = 60
}

variable "in_flight_target" {
  description = "Target tracking goal for the average boxoffice_http_requests_in_flight per instance."
  type        = number
  default     = 200
}

variable "opening_time" {
  description = "A known opening (RFC 3339, UTC), for the scheduled pre-scale; null for none."
  type        = string
  default     = null
}

variable "opening_instances" {
  description = "Instances to have running from 30 minutes before the opening until two hours after it."
  type        = number
  default     = 40
}

variable "db_instance_class" {
  type    = string
  default = "db.r7g.2xlarge"
}

variable "db_allocated_storage_gb" {
  type    = number
  default = 200
}

variable "redis_node_type" {
  type    = string
  default = "cache.r7g.large"
}

variable "alarm_email" {
  description = "Where CloudWatch alarms are sent (confirm the SNS subscription once)."
  type        = string
  default     = "oncall@example.com"
}

variable "log_retention_days" {
  type    = number
  default = 365
}
