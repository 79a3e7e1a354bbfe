# One environment of the platform: the modules wired together. The root modules under
# infra/envs/ only choose the settings (dev is cheap, prod is resilient); this is the one place
# where the modules meet, so dev and prod cannot drift apart in shape.
#
# What is account-wide (the GitHub OIDC provider, the ECR repositories, the ecr-push role) is
# infra/envs/shared's, applied once per account before dev and prod; here it is looked up, so
# dev and prod in one account create nothing twice.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name    = "${var.project}-${var.environment}"
  account = data.aws_caller_identity.current.account_id
}

module "vpc" {
  source = "../vpc"

  name               = local.name
  cluster_name       = local.name
  cidr               = var.vpc_cidr
  azs                = var.azs
  single_nat_gateway = var.single_nat_gateway
  tags               = var.tags
}

module "eks" {
  source = "../eks"

  name                  = local.name
  kubernetes_version    = var.kubernetes_version
  vpc_id                = module.vpc.vpc_id
  subnet_ids            = module.vpc.private_subnet_ids
  public_endpoint       = length(var.public_endpoint_cidrs) > 0
  public_endpoint_cidrs = var.public_endpoint_cidrs
  access_entries        = var.access_entries
  node_groups           = var.node_groups
  addon_versions        = var.addon_versions
  # The boundary is the iam module's; only this attribute of it is read, so there is no cycle.
  permissions_boundary_arn = module.iam.permissions_boundary_arn
  tags                     = var.tags
}

data "aws_iam_openid_connect_provider" "github" {
  url = "https://token.actions.githubusercontent.com"
}

data "aws_ecr_repository" "this" {
  for_each = var.ecr_repositories

  name = each.key
}

module "dns" {
  source = "../dns"

  domain      = var.domain
  create_zone = var.create_zone
  tags        = var.tags
}

module "app_data" {
  source = "../app-data"

  project           = var.project
  environment       = var.environment
  bucket_name       = "${local.name}-app-data-${local.account}"
  parameters        = var.app_parameters
  secret_parameters = var.app_secret_parameters
  # The platform's secrets (External Secrets): docs/secrets.md, "External Secrets".
  platform_secret_parameters = var.platform_secret_parameters
  tags                       = var.tags
}

module "iam" {
  source = "../iam"

  name                     = local.name
  cluster_name             = module.eks.cluster_name
  oidc_provider_arn        = module.eks.oidc_provider_arn
  oidc_issuer_url          = module.eks.oidc_issuer_url
  route53_zone_arn         = module.dns.zone_arn
  ecr_repository_arns      = [for r in data.aws_ecr_repository.this : r.arn]
  app_bucket_arn           = module.app_data.bucket_arn
  app_bucket_prefix        = "hash-service"
  app_ssm_path             = module.app_data.ssm_path
  app_kms_key_arn          = module.app_data.kms_key_arn
  sops_kms_key_arn         = module.app_data.sops_kms_key_arn
  platform_ssm_path        = module.app_data.platform_ssm_path
  github_repository        = var.github_repository
  github_oidc_provider_arn = data.aws_iam_openid_connect_provider.github.arn
  github_apply_environment = var.environment
  state_bucket_arn         = "arn:${data.aws_partition.current.partition}:s3:::${var.state_bucket}"
  state_kms_key_arn        = var.state_kms_key_arn
  apply_policy_arns        = var.apply_policy_arns
  tags                     = var.tags
}

# Loki on S3 (prod): its buckets and IRSA role. dev keeps Loki on a volume.
module "loki_storage" {
  source = "../loki-storage"
  count  = var.loki_s3 ? 1 : 0

  name                     = local.name
  oidc_provider_arn        = module.eks.oidc_provider_arn
  oidc_issuer_url          = module.eks.oidc_issuer_url
  permissions_boundary_arn = module.iam.permissions_boundary_arn
  retention_days           = var.loki_retention_days
  tags                     = var.tags
}
