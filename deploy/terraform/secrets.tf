# One customer-managed key for this deployment's secrets, logs, queues and data at rest.
resource "aws_kms_key" "main" {
  description         = "${local.name}: secrets, logs, database, cache and buckets"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:a key policy's "*" resource means this key only; the account statement is AWS's default key policy, without which the key cannot be administered
  #checkov:skip=CKV_AWS_356:as CKV_AWS_111: in a key policy the resource is always the key itself
  #checkov:skip=CKV_AWS_109:as CKV_AWS_111: the account root statement is what lets IAM policies grant use of the key at all
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/boxoffice/${var.environment}/*"]
    }
  }
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
  statement {
    sid       = "CloudFrontReadsTheSite"
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudfront_distribution.site.arn]
    }
  }
}

# The secrets the server needs, each its own (so that a policy can name exactly one). Their
# values are set out of band (aws secretsmanager put-secret-value), never in Terraform state:
#   server-secret   BOXOFFICE_SECRET, 32+ random bytes (signs ticket codes)
#   metrics-token   BOXOFFICE_METRICS_TOKEN, for the CloudWatch agent's scrape
#   stripe          JSON {"STRIPE_API_KEY": "sk_...", "STRIPE_PUBLISHABLE_KEY": "pk_...",
#                         "BOXOFFICE_WEBHOOK_SECRET": "whsec_..."}
# The database password is RDS's own managed secret (aws_db_instance.main.master_user_secret).
resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:rotating the server secret would invalidate every ticket code already issued; the Stripe keys rotate in Stripe's dashboard and the metrics token by hand (docs/runbook.md)
  for_each                = toset(["server-secret", "metrics-token", "stripe"])
  name                    = "boxoffice/${var.environment}/${each.key}"
  description             = "boxoffice ${var.environment}: ${each.key}"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 30
}
