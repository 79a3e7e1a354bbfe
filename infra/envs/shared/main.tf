# What one AWS account holds once, whatever environments run in it: the GitHub Actions OIDC
# provider (IAM allows one per issuer and account), the ECR repositories (dev and prod run the
# same digests: promotion moves a digest, never rebuilds), and the ecr-push role the app and
# release pipelines assume. Applied by an administrator, before dev and prod (`make deploy
# ENV=shared`, docs/platform.md "Bring-up"); dev and prod look these up by name, so they fail at
# plan, naming the missing provider or repository, if this was not applied. It is not in
# iac.yml: the roles CI assumes trust this provider, so CI does not manage it.

locals {
  github_issuer = "token.actions.githubusercontent.com"
}

resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://${local.github_issuer}"
  client_id_list = ["sts.amazonaws.com"]
  # IAM verifies GitHub's certificate through its own trusted CAs; the thumbprint is required by
  # the API but not used for this issuer.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1"]
  tags            = { Name = "github-actions" }
}

module "ecr" {
  source = "../../modules/ecr"

  name         = var.project
  repositories = var.ecr_repositories
}

# -- ecr-push: the main branch's workflows (app.yml, release.yml) -------------------------------
# scripts/lib/oidc_check.py checks that every job assuming it runs on refs/heads/main, in no
# GitHub environment (an environment would change the token's subject).

data "aws_iam_policy_document" "ecr_push_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.github_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.github_issuer}:sub"
      values   = ["repo:${var.github_repository}:ref:refs/heads/main"]
    }
  }
}

resource "aws_iam_role" "ecr_push" {
  name                 = "${var.project}-ecr-push"
  description          = "GitHub Actions: repo:${var.github_repository}:ref:refs/heads/main"
  assume_role_policy   = data.aws_iam_policy_document.ecr_push_assume.json
  max_session_duration = 3600
}

# What the pipelines do with this role, and the ECR action each registry call needs:
#   docker push of the tested image (by its commit tag): BatchCheckLayerAvailability (blob HEAD),
#     InitiateLayerUpload + UploadLayerPart + CompleteLayerUpload (blob upload), PutImage (the
#     manifest); a buildx or containerd push also HEADs the manifest first (BatchGetImage);
#   cosign sign / attest (v3, OCI 1.1 referrers): BatchGetImage (the subject's manifest), the same
#     blob uploads and PutImage for the referrer manifest, by digest;
#   cosign verify / verify-attestation: BatchGetImage (referrers list and referrer manifests),
#     GetDownloadUrlForLayer (the signature and attestation bundles are layers).
# Nothing lists, describes, deletes or retags images, and only the repositories a pipeline
# pushes to (var.ecr_push_repositories) are in reach.
data "aws_iam_policy_document" "ecr_push" {
  statement {
    sid = "PushSignVerifyOwnRepositories"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
      "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
    ]
    resources = [for r in sort(var.ecr_push_repositories) : module.ecr.repository_arns[r]]
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
  role   = aws_iam_role.ecr_push.id
  policy = data.aws_iam_policy_document.ecr_push.json
}
