# Loki's object storage (prod's values/loki.yaml: storage.type s3): a chunks and a ruler bucket,
# private, KMS-encrypted, TLS-only, objects expiring a day after Loki's own retention; and the
# IRSA role of Loki's ServiceAccount, which may read and write those two buckets only.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  issuer  = trimprefix(var.oidc_issuer_url, "https://")
  account = data.aws_caller_identity.current.account_id
}

resource "aws_kms_key" "loki" {
  description         = "Loki storage of ${var.name}"
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
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account}:root"]
    }
  }
}

resource "aws_kms_alias" "loki" {
  name          = "alias/${var.name}-loki"
  target_key_id = aws_kms_key.loki.key_id
}

resource "aws_s3_bucket" "loki" {
  # checkov:skip=CKV_AWS_18:Access logging needs a log bucket per environment; Loki's own logs and CloudTrail cover access.
  # checkov:skip=CKV_AWS_144:Logs are kept var.retention_days and are not worth a second region.
  # checkov:skip=CKV2_AWS_62:No consumer of object events exists.
  # checkov:skip=CKV_AWS_21:Loki writes each chunk once and expires it itself; versions would only keep deleted logs.
  for_each = toset(["chunks", "ruler"])

  bucket = "${var.name}-loki-${each.key}-${local.account}"
  tags   = var.tags
}

resource "aws_s3_bucket_ownership_controls" "loki" {
  for_each = toset(["chunks", "ruler"])

  bucket = aws_s3_bucket.loki[each.key].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "loki" {
  for_each = toset(["chunks", "ruler"])

  bucket                  = aws_s3_bucket.loki[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "loki" {
  for_each = toset(["chunks", "ruler"])

  bucket = aws_s3_bucket.loki[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.loki.arn
    }
    bucket_key_enabled = true
  }
}

# Loki's compactor deletes past its retention; this catches what it leaves (a day later).
resource "aws_s3_bucket_lifecycle_configuration" "loki" {
  for_each = toset(["chunks", "ruler"])

  bucket = aws_s3_bucket.loki[each.key].id

  rule {
    id     = "expire-after-retention"
    status = "Enabled"
    filter {}
    expiration {
      days = var.retention_days + 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "bucket" {
  for_each = toset(["chunks", "ruler"])

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.loki[each.key].arn, "${aws_s3_bucket.loki[each.key].arn}/*"]
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

resource "aws_s3_bucket_policy" "loki" {
  for_each = toset(["chunks", "ruler"])

  bucket = aws_s3_bucket.loki[each.key].id
  policy = data.aws_iam_policy_document.bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.loki]
}

# -- IRSA: Loki's ServiceAccount --------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["system:serviceaccount:${var.service_account.namespace}:${var.service_account.name}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "loki" {
  name                 = "${var.name}-loki"
  description          = "IRSA: ${var.service_account.namespace}/${var.service_account.name}"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "loki" {
  statement {
    sid       = "ListOwnBuckets"
    actions   = ["s3:ListBucket"]
    resources = [for b in aws_s3_bucket.loki : b.arn]
  }

  statement {
    sid       = "ReadWriteOwnObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [for b in aws_s3_bucket.loki : "${b.arn}/*"]
  }

  statement {
    sid       = "UseOwnKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.loki.arn]
  }
}

resource "aws_iam_role_policy" "loki" {
  name   = "loki"
  role   = aws_iam_role.loki.id
  policy = data.aws_iam_policy_document.loki.json
}
