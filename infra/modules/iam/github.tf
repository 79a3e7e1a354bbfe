# Two roles for GitHub Actions, each trusting only the workflow tokens of var.github_repository
# whose subject (`sub`) is listed here. The account's GitHub OIDC provider is infra/envs/shared's
# (one per account): its ARN comes in as var.github_oidc_provider_arn. The ecr-push role, which
# app.yml and release.yml assume, is account-wide too: it is infra/envs/shared's.
#   terraform-plan   pull requests, and the main branch: iac.yml plans on both (read-only,
#                    -lock=false); the saved main-branch plan is what the apply job applies
#   terraform-apply  jobs in the GitHub environment var.github_apply_environment, whose
#                    protection rules (main only, required reviewers for prod) gate the apply
# scripts/lib/oidc_check.py (scripts/checks/infra.sh) fails when a workflow job that assumes one
# of these roles would present a subject its trust policy does not list.

locals {
  github_issuer = "token.actions.githubusercontent.com"
  own_iam = [
    "arn:${local.partition}:iam::${local.account}:role/${var.name}-*",
    "arn:${local.partition}:iam::${local.account}:policy/${var.name}-*",
    "arn:${local.partition}:iam::${local.account}:instance-profile/${var.name}-*",
    "arn:${local.partition}:iam::${local.account}:oidc-provider/*",
    "arn:${local.partition}:iam::aws:policy/*",
  ]
  github_subjects = {
    terraform-plan = [
      "repo:${var.github_repository}:pull_request",
      "repo:${var.github_repository}:ref:refs/heads/main",
    ]
    terraform-apply = ["repo:${var.github_repository}:environment:${var.github_apply_environment}"]
  }
}

data "aws_iam_policy_document" "github_assume" {
  for_each = local.github_subjects

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.github_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.github_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.github_issuer}:sub"
      values   = each.value
    }
  }
}

resource "aws_iam_role" "github" {
  for_each = local.github_subjects

  name                 = "${var.name}-${each.key}"
  description          = "GitHub Actions: ${join(", ", each.value)}"
  assume_role_policy   = data.aws_iam_policy_document.github_assume[each.key].json
  max_session_duration = 3600
  tags                 = var.tags
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
  # secrets nor its data, nor the platform's secrets.
  statement {
    sid     = "NoAppSecretsOrData"
    effect  = "Deny"
    actions = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "s3:GetObject"]
    resources = [
      "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${trimsuffix(var.app_ssm_path, "/")}/*",
      "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${trimsuffix(var.platform_ssm_path, "/")}/*",
      "${var.app_bucket_arn}/*",
    ]
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

# PowerUserAccess excludes IAM. apply gets IAM on this project's own roles and policies only
# (names start with var.name), and cannot escalate through them: a role it creates, or whose
# policies it changes, must carry the permissions boundary (boundary.tf), which grants no IAM
# writes; the CI roles themselves and the boundary are out of its reach (Deny), so changing them
# takes an administrator (docs/platform.md, "Bring-up"). It may also manage the clusters' IRSA
# OIDC providers (oidc.eks.*), and create the service-linked roles EKS and ELB need.
data "aws_iam_policy_document" "apply_iam" {
  statement {
    sid = "ReadOwnIam"
    actions = [
      "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole", "iam:GetPolicy", "iam:GetPolicyVersion",
      "iam:ListPolicyVersions", "iam:ListEntitiesForPolicy", "iam:GetOpenIDConnectProvider",
      "iam:GetInstanceProfile",
    ]
    resources = local.own_iam
  }

  statement {
    sid = "WriteOwnRolesWithinTheBoundary"
    actions = [
      "iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary",
    ]
    resources = ["arn:${local.partition}:iam::${local.account}:role/${var.name}-*"]
    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.boundary.arn]
    }
  }

  statement {
    sid = "ChangeOwnRoles"
    actions = [
      "iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateRole",
      "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:PassRole",
    ]
    resources = ["arn:${local.partition}:iam::${local.account}:role/${var.name}-*"]
  }

  statement {
    sid = "OwnPoliciesAndInstanceProfiles"
    actions = [
      "iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
      "iam:TagPolicy", "iam:UntagPolicy", "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile",
      "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile",
    ]
    resources = [
      "arn:${local.partition}:iam::${local.account}:policy/${var.name}-*",
      "arn:${local.partition}:iam::${local.account}:instance-profile/${var.name}-*",
    ]
  }

  statement {
    sid = "ClusterOidcProviders"
    actions = [
      "iam:CreateOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider",
      "iam:TagOpenIDConnectProvider", "iam:UntagOpenIDConnectProvider",
      "iam:UpdateOpenIDConnectProviderThumbprint",
    ]
    resources = ["arn:${local.partition}:iam::${local.account}:oidc-provider/oidc.eks.*"]
  }

  # No write to itself, the plan role or the boundary: what it could escalate through. Reads stay
  # (a plan refreshes them).
  statement {
    sid    = "NotTheCiRolesOrTheBoundary"
    effect = "Deny"
    actions = [
      "iam:Add*", "iam:Attach*", "iam:Create*", "iam:Delete*", "iam:Detach*", "iam:PassRole",
      "iam:Put*", "iam:Remove*", "iam:Set*", "iam:Tag*", "iam:Untag*", "iam:Update*",
    ]
    resources = [
      "arn:${local.partition}:iam::${local.account}:role/${var.name}-terraform-apply",
      "arn:${local.partition}:iam::${local.account}:role/${var.name}-terraform-plan",
      "arn:${local.partition}:iam::${local.account}:policy/${var.name}-boundary",
    ]
  }

  statement {
    sid       = "NoBoundaryRemoval"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary"]
    resources = ["*"]
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
