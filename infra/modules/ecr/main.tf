# Container repositories: immutable tags (a tag names one image forever; environments pin
# digests anyway), scan on push, KMS encryption with a key of their own, and a lifecycle policy
# that expires untagged leftovers fast and keeps the newest tagged images.
#
# Immutable without exceptions: the pipelines push only per-commit tags (the full commit SHA) and
# deploy by digest, never a moving tag such as `latest`, whose second push ECR would refuse.
# cosign's signatures and attestations are OCI 1.1 referrers pushed by digest (cosign v3's
# default bundle format; ECR serves the referrers API), so they need no mutable tag either.
# IMMUTABLE_WITH_EXCLUSION (image_tag_mutability_exclusion_filter) needs hashicorp/aws >= 6.8;
# versions.tf pins 5.x. scripts/lib/image_tags_check.py (scripts/checks/pipelines.sh) fails on a
# workflow that pushes a tag these repositories would refuse.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

resource "aws_kms_key" "ecr" {
  description         = "ECR repositories of ${var.name}"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
  tags                = var.tags
}

# Who may pull or push is decided by IAM (the agent and ecr-push roles), through ECR.
data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:A key policy: "*" is this key; the account-root statement is AWS's default key policy, delegating to IAM.
  # checkov:skip=CKV_AWS_111:A key policy: "*" is this key; the account-root statement is AWS's default key policy, delegating to IAM.
  # checkov:skip=CKV_AWS_356:A key policy: "*" is this key; the account-root statement is AWS's default key policy, delegating to IAM.
  statement {
    sid       = "AccountAdministersTheKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_alias" "ecr" {
  name          = "alias/${var.name}-ecr"
  target_key_id = aws_kms_key.ecr.key_id
}

resource "aws_ecr_repository" "this" {
  for_each = var.repositories

  name                 = each.key
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.ecr.arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Untagged images expire after ${var.untagged_expiry_days} days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_expiry_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest ${var.keep_tagged_images} tagged images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.keep_tagged_images
        }
        action = { type = "expire" }
      },
    ]
  })
}
