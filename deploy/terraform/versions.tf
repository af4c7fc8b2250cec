# boxoffice on AWS, as the product brief draws it: CloudFront and S3 in front, an ALB over an
# Auto Scaling group of instances running the container image, RDS MySQL (Multi-AZ) as the
# authority and ElastiCache Redis for the seat fan-out. See deploy/README.md.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Application = "boxoffice"
      Environment = var.environment
    }
  }
}

# CloudFront's certificate and web ACL must live in us-east-1, whatever the region.
provider "aws" {
  alias  = "global"
  region = "us-east-1"
  default_tags {
    tags = {
      Application = "boxoffice"
      Environment = var.environment
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name       = "boxoffice-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  azs        = var.availability_zones
  # The drain, in seconds, everywhere it matters: the server's BOXOFFICE_DRAIN_DELAY_MS, the
  # target group's deregistration delay, and the container's stop timeout.
  drain_seconds = var.drain_delay_seconds
}
