# One environment of the platform: the modules wired together. The root modules under
# infra/envs/ only choose the settings (dev is cheap, prod is resilient); this is the one place
# where the modules meet, so dev and prod cannot drift apart in shape.

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
  tags                  = var.tags
}

module "ecr" {
  source = "../ecr"

  name         = local.name
  repositories = var.ecr_repositories
  tags         = var.tags
}

module "dns" {
  source = "../dns"

  domain           = var.domain
  create_zone      = var.create_zone
  ingress_hostname = var.ingress_hostname
  tags             = var.tags
}

module "app_data" {
  source = "../app-data"

  project           = var.project
  environment       = var.environment
  bucket_name       = "${local.name}-app-data-${local.account}"
  parameters        = var.app_parameters
  secret_parameters = var.app_secret_parameters
  tags              = var.tags
}

module "iam" {
  source = "../iam"

  name                     = local.name
  cluster_name             = module.eks.cluster_name
  oidc_provider_arn        = module.eks.oidc_provider_arn
  oidc_issuer_url          = module.eks.oidc_issuer_url
  route53_zone_arn         = module.dns.zone_arn
  ecr_repository_arns      = values(module.ecr.repository_arns)
  ecr_push_repository_arns = [for r in sort(var.ecr_push_repositories) : module.ecr.repository_arns[r]]
  app_bucket_arn           = module.app_data.bucket_arn
  app_bucket_prefix        = "hash-service"
  app_ssm_path             = module.app_data.ssm_path
  app_kms_key_arn          = module.app_data.kms_key_arn
  github_repository        = var.github_repository
  github_oidc_provider_arn = var.github_oidc_provider_arn
  github_apply_environment = var.environment
  state_bucket_arn         = "arn:${data.aws_partition.current.partition}:s3:::${var.state_bucket}"
  state_kms_key_arn        = var.state_kms_key_arn
  apply_policy_arns        = var.apply_policy_arns
  tags                     = var.tags
}
