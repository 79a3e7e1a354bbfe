# GitHub Actions OIDC: the provider (once per account) and three roles, each trusting one kind of
# workflow token of var.github_repository only:
#   ecr-push         the main branch (refs/heads/main) — push images
#   terraform-plan   pull requests — read-only, plans with -lock=false
#   terraform-apply  jobs in the GitHub environment var.github_apply_environment, whose
#                    protection rules (main only, required reviewers for prod) gate the apply

locals {
  github_issuer       = "token.actions.githubusercontent.com"
  github_provider_arn = var.github_oidc_provider_arn != "" ? var.github_oidc_provider_arn : aws_iam_openid_connect_provider.github[0].arn
  github_subjects = {
    ecr-push        = "repo:${var.github_repository}:ref:refs/heads/main"
    terraform-plan  = "repo:${var.github_repository}:pull_request"
    terraform-apply = "repo:${var.github_repository}:environment:${var.github_apply_environment}"
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.github_oidc_provider_arn == "" ? 1 : 0

  url            = "https://${local.github_issuer}"
  client_id_list = ["sts.amazonaws.com"]
  # IAM verifies GitHub's certificate through its own trusted CAs; the thumbprint is required by
  # the API but not used for this issuer.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1"]
  tags            = merge(var.tags, { Name = "github-actions" })
}

data "aws_iam_policy_document" "github_assume" {
  for_each = local.github_subjects

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.github_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.github_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.github_issuer}:sub"
      values   = [each.value]
    }
  }
}

resource "aws_iam_role" "github" {
  for_each = local.github_subjects

  name                 = "${var.name}-${each.key}"
  description          = "GitHub Actions: ${each.value}"
  assume_role_policy   = data.aws_iam_policy_document.github_assume[each.key].json
  max_session_duration = 3600
  tags                 = var.tags
}

# -- ecr-push ----------------------------------------------------------------------------------

# What app.yml's release job does with this role, and the ECR action each registry call needs:
#   docker push of the tested image (by its commit tag): BatchCheckLayerAvailability (blob HEAD),
#     InitiateLayerUpload + UploadLayerPart + CompleteLayerUpload (blob upload), PutImage (the
#     manifest); a buildx or containerd push also HEADs the manifest first (BatchGetImage);
#   cosign sign / attest (v3, OCI 1.1 referrers): BatchGetImage (the subject's manifest), the same
#     blob uploads and PutImage for the referrer manifest, by digest;
#   cosign verify / verify-attestation: BatchGetImage (referrers list and referrer manifests),
#     GetDownloadUrlForLayer (the signature and attestation bundles are layers).
# Nothing lists, describes, deletes or retags images, and only the repositories the pipeline
# pushes to (var.ecr_push_repository_arns) are in reach.
data "aws_iam_policy_document" "ecr_push" {
  statement {
    sid = "PushSignVerifyOwnRepositories"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
      "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
    ]
    resources = var.ecr_push_repository_arns
  }

  # GetAuthorizationToken is account-wide (it accepts no resource); the token opens only what
  # the statement above allows.
  statement {
    sid       = "RegistryToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "ecr_push" {
  name   = "ecr-push"
  role   = aws_iam_role.github["ecr-push"].id
  policy = data.aws_iam_policy_document.ecr_push.json
}

# -- terraform-plan: read-only, and state read (plans run with -lock=false) ---------------------

resource "aws_iam_role_policy_attachment" "plan_read_only" {
  role       = aws_iam_role.github["terraform-plan"].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

data "aws_iam_policy_document" "plan_state" {
  statement {
    sid       = "ReadState"
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [var.state_bucket_arn, "${var.state_bucket_arn}/*"]
  }

  statement {
    sid       = "DecryptState"
    actions   = ["kms:Decrypt"]
    resources = [var.state_kms_key_arn]
  }

  # ReadOnlyAccess can read parameter values and objects; a plan needs neither the app's
  # secrets nor its data.
  statement {
    sid       = "NoAppSecretsOrData"
    effect    = "Deny"
    actions   = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "s3:GetObject"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${trimsuffix(var.app_ssm_path, "/")}/*", "${var.app_bucket_arn}/*"]
  }
}

resource "aws_iam_role_policy" "plan_state" {
  name   = "terraform-state-read"
  role   = aws_iam_role.github["terraform-plan"].id
  policy = data.aws_iam_policy_document.plan_state.json
}

# -- terraform-apply ---------------------------------------------------------------------------

resource "aws_iam_role_policy_attachment" "apply" {
  for_each = toset(var.apply_policy_arns)

  role       = aws_iam_role.github["terraform-apply"].name
  policy_arn = each.value
}

# PowerUserAccess excludes IAM; apply gets IAM only on this project's own roles, policies and
# OIDC providers (names start with var.name), plus the service-linked roles EKS and ELB create.
data "aws_iam_policy_document" "apply_iam" {
  statement {
    sid     = "OwnIamOnly"
    actions = ["iam:*"]
    resources = [
      "arn:${local.partition}:iam::${local.account}:role/${var.name}-*",
      "arn:${local.partition}:iam::${local.account}:policy/${var.name}-*",
      "arn:${local.partition}:iam::${local.account}:instance-profile/${var.name}-*",
      "arn:${local.partition}:iam::${local.account}:oidc-provider/*",
    ]
  }

  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["eks.amazonaws.com", "eks-nodegroup.amazonaws.com", "elasticloadbalancing.amazonaws.com", "autoscaling.amazonaws.com", "spot.amazonaws.com"]
    }
  }

  statement {
    sid       = "State"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]
    resources = [var.state_bucket_arn, "${var.state_bucket_arn}/*"]
  }
}

resource "aws_iam_role_policy" "apply_iam" {
  name   = "terraform-apply-iam"
  role   = aws_iam_role.github["terraform-apply"].id
  policy = data.aws_iam_policy_document.apply_iam.json
}
