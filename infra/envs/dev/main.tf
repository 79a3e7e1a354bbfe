# dev: cheap. One NAT gateway, small nodes, mostly spot (one small on-demand node for the
# system pods and the agent), the API endpoint private unless public_endpoint_cidrs says.

data "aws_availability_zones" "available" {
  # checkov:skip=CKV_AWS_394:The VPC takes the first three names only (slice below), so a zone AWS adds later does not change the set.
  state = "available"
}

data "aws_partition" "current" {}

module "platform" {
  source = "../../modules/platform"

  project     = var.project
  environment = "dev"

  vpc_cidr           = "10.20.0.0/16"
  azs                = slice(data.aws_availability_zones.available.names, 0, 3)
  single_nat_gateway = true

  kubernetes_version    = "1.31"
  public_endpoint_cidrs = var.public_endpoint_cidrs
  # Check with `aws eks describe-addon-versions --kubernetes-version 1.31 --addon-name <name>`
  # before raising kubernetes_version.
  addon_versions = {
    vpc-cni                = "v1.19.2-eksbuild.1"
    coredns                = "v1.11.4-eksbuild.2"
    kube-proxy             = "v1.31.3-eksbuild.2"
    eks-pod-identity-agent = "v1.3.4-eksbuild.1"
  }
  node_groups = {
    system = {
      capacity_type  = "ON_DEMAND"
      instance_types = ["t3.medium"]
      min_size       = 1
      max_size       = 2
      desired_size   = 1
      labels         = { "sextant.io/pool" = "system" }
    }
    spot = {
      capacity_type  = "SPOT"
      instance_types = ["t3.medium", "t3a.medium", "t3.large", "t3a.large"]
      min_size       = 1
      max_size       = 6
      desired_size   = 2
      labels         = { "sextant.io/pool" = "workload" }
      taints         = [{ key = "sextant.io/spot", value = "true", effect = "PREFER_NO_SCHEDULE" }]
    }
  }
  access_entries = { for i, arn in var.admin_principal_arns : "admin-${i}" => {
    principal_arn = arn
    policy        = "AmazonEKSClusterAdminPolicy"
  } }

  domain = var.domain

  github_repository = var.github_repository
  state_bucket      = var.state_bucket
  state_kms_key_arn = var.state_kms_key_arn
  apply_policy_arns = ["arn:${data.aws_partition.current.partition}:iam::aws:policy/PowerUserAccess"]

  # The platform's secrets, values put out of band (docs/secrets.md, "External Secrets"); the
  # ExternalSecrets of environments/dev/values/platform.yaml read them.
  platform_secret_parameters = [
    "grafana/admin-password",
    "alertmanager/slack-url",
    "sextant/forge-token",
  ]

  app_parameters = {
    "hash-service/log-level" = "debug"
  }
}
