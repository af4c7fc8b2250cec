output "cloudfront_domain_name" {
  description = "Point var.domain_name here (a CNAME or an alias record)."
  value       = aws_cloudfront_distribution.site.domain_name
}

output "alb_dns_name" {
  description = "Point var.origin_domain_name here."
  value       = aws_lb.main.dns_name
}

output "site_bucket" {
  description = "Upload `boxoffice export-static DIR` here (deploy/README.md)."
  value       = aws_s3_bucket.site.bucket
}

output "ecr_repository_url" {
  value = aws_ecr_repository.boxoffice.repository_url
}

output "secrets_to_fill" {
  description = "Secrets Manager secrets whose values are set by hand once."
  value       = { for k, s in aws_secretsmanager_secret.app : k => s.arn }
}

output "autoscaling_group" {
  value = aws_autoscaling_group.app.name
}
