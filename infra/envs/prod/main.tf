# prod: resilient. A NAT gateway per zone, on-demand nodes across the three zones for the
# baseline, and a spot group for burst, tainted so that only what tolerates it lands there
# (hash-service: environments/prod/values/hash-service.yaml) and grown first by cluster-
# autoscaler's priority expander (values/cluster-autoscaler.yaml); the API endpoint private
# unless public_endpoint_cidrs says.

data "aws_availability_zones" "available" {
  # checkov:skip=CKV_AWS_394:The VPC takes the first three names only (slice below), so a zone AWS adds later does not change the set.
  state = "available"
}

data "aws_partition" "current" {}

module "platform" {
  source = "../../modules/platform"

  project     = var.project
  environment = "prod"

  vpc_cidr           = "10.30.0.0/16"
  azs                = slice(data.aws_availability_zones.available.names, 0, 3)
  single_nat_gateway = false

  kubernetes_version    = "1.31"
  public_endpoint_cidrs = var.public_endpoint_cidrs
  # Check with `aws eks describe-addon-versions --kubernetes-version 1.31 --addon-name <name>`
  # before raising kubernetes_version; prod takes a version after dev ran it.
  addon_versions = {
    vpc-cni                = "v1.19.2-eksbuild.1"
    coredns                = "v1.11.4-eksbuild.2"
    kube-proxy             = "v1.31.3-eksbuild.2"
    eks-pod-identity-agent = "v1.3.4-eksbuild.1"
  }
  node_groups = {
    on-demand = {
      capacity_type  = "ON_DEMAND"
      instance_types = ["m6i.large"]
      min_size       = 3
      max_size       = 9
      desired_size   = 3
      labels         = { "sextant.io/pool" = "workload" }
    }
    spot-burst = {
      capacity_type  = "SPOT"
      instance_types = ["m6i.large", "m6a.large", "m5.large", "m5a.large", "m7i.large"]
      min_size       = 0
      max_size       = 12
      desired_size   = 0
      labels         = { "sextant.io/pool" = "burst" }
      taints         = [{ key = "sextant.io/spot", value = "true", effect = "NO_SCHEDULE" }]
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

  # Loki stores on S3 in prod (values/loki.yaml); 30 days, its retention_period.
  loki_s3             = true
  loki_retention_days = 30

  # The platform's secrets, values put out of band (docs/secrets.md, "External Secrets"); the
  # ExternalSecrets of environments/prod/values/platform.yaml read them.
  platform_secret_parameters = [
    "grafana/admin-password",
    "alertmanager/slack-url",
    "alertmanager/pagerduty-routing-key",
    "sextant/forge-token",
  ]

  app_parameters = {
    "hash-service/log-level" = "info"
  }
}
