# The app's data: one private, versioned, KMS-encrypted, TLS-only bucket and its SSM parameters
# under /<project>/<env>/, all encrypted with this module's key (the app's IRSA role may
# decrypt with it, nothing else of the app's may). Beside them, the platform's own secrets under
# /<project>/platform/<env>/ (Grafana's admin password, Alertmanager's receivers, the agent's
# forge token), which External Secrets reads: a path of their own, outside the app's, because
# auxiliary-service answers any parameter under the app's path to main-api's public route.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  ssm_path          = "/${var.project}/${var.environment}/"
  platform_ssm_path = "/${var.project}/platform/${var.environment}/"
  # What a secret parameter holds until someone puts its value (helm/platform's ExternalSecrets
  # refuse to copy it into a Secret: externalSecrets.placeholder in helm/platform/values.yaml).
  placeholder = "set-out-of-band"
}

resource "aws_kms_key" "app" {
  description         = "App data of ${var.project}-${var.environment}"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
  tags                = var.tags
}

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

resource "aws_kms_alias" "app" {
  name          = "alias/${var.project}-${var.environment}-app-data"
  target_key_id = aws_kms_key.app.key_id
}

# SOPS-encrypted values files in Git (docs/secrets.md): the key their data keys are encrypted
# with. The agent's role may decrypt with it (infra/modules/iam); who may encrypt is IAM's
# (the account's administrators, through the same account-root key policy).
resource "aws_kms_key" "sops" {
  description         = "SOPS data keys of ${var.project}-${var.environment}'s values files"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
  tags                = var.tags
}

resource "aws_kms_alias" "sops" {
  name          = "alias/${var.project}-${var.environment}-sops"
  target_key_id = aws_kms_key.sops.key_id
}

resource "aws_s3_bucket" "app" {
  # checkov:skip=CKV_AWS_18:Access logging needs a log bucket per environment; CloudTrail data events audit reads of app data.
  # checkov:skip=CKV_AWS_144:The app's data is reproducible configuration and content; versioning covers mistakes, cross-region replication is not worth a second bucket.
  # checkov:skip=CKV2_AWS_62:No consumer of object events exists.
  bucket = var.bucket_name
  tags   = var.tags
}

resource "aws_s3_bucket_ownership_controls" "app" {
  bucket = aws_s3_bucket.app.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "app" {
  bucket                  = aws_s3_bucket.app.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "app" {
  bucket = aws_s3_bucket.app.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "app" {
  bucket = aws_s3_bucket.app.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.app.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "app" {
  bucket = aws_s3_bucket.app.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.app]
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.app.arn, "${aws_s3_bucket.app.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "app" {
  bucket = aws_s3_bucket.app.id
  policy = data.aws_iam_policy_document.bucket.json

  depends_on = [aws_s3_bucket_public_access_block.app]
}

resource "aws_ssm_parameter" "config" {
  for_each = var.parameters

  name   = "${local.ssm_path}${each.key}"
  type   = "SecureString"
  key_id = aws_kms_key.app.arn
  value  = each.value
  tags   = var.tags
}

resource "aws_ssm_parameter" "secret" {
  for_each = var.secret_parameters

  name   = "${local.ssm_path}${each.key}"
  type   = "SecureString"
  key_id = aws_kms_key.app.arn
  # A placeholder: the real value is put out of band and Terraform never reads or resets it.
  value = local.placeholder
  tags  = var.tags

  lifecycle {
    ignore_changes = [value]
  }
}

# The platform's secrets: placeholders like the app's, their values put out of band
# (docs/secrets.md, "External Secrets"), read by the external-secrets IRSA role only.
resource "aws_ssm_parameter" "platform" {
  for_each = var.platform_secret_parameters

  name   = "${local.platform_ssm_path}${each.key}"
  type   = "SecureString"
  key_id = aws_kms_key.app.arn
  value  = local.placeholder
  tags   = var.tags

  lifecycle {
    ignore_changes = [value]
  }
}
