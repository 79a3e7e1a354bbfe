# An EKS control plane: private endpoint (public optional and CIDR-restricted), Secrets encrypted
# with a KMS key of its own, all control-plane log types, access entries (API authentication,
# no aws-auth ConfigMap), the IAM OIDC provider for IRSA, the core add-ons at pinned versions,
# and managed node groups (node-groups.tf).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  log_group = "/aws/eks/${var.name}/cluster"
}

resource "aws_kms_key" "eks" {
  description         = "EKS ${var.name}: Kubernetes Secrets and control-plane logs"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
  tags                = var.tags
}

resource "aws_kms_alias" "eks" {
  name          = "alias/${var.name}-eks"
  target_key_id = aws_kms_key.eks.key_id
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
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsTheClusterLogGroup"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${data.aws_region.current.name}:${local.account}:log-group:${local.log_group}"]
    }
  }
}

# Created before the cluster so that EKS does not create it unencrypted and without retention.
resource "aws_cloudwatch_log_group" "cluster" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.eks.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "cluster_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name                 = "${var.name}-eks-cluster"
  assume_role_policy   = data.aws_iam_policy_document.cluster_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "this" {
  # checkov:skip=CKV_AWS_39:The public endpoint is off unless var.public_endpoint; when on, a precondition requires CIDRs and the variable rejects 0.0.0.0/0.
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = var.public_endpoint
    # Only read when the public endpoint is on; an empty list would mean 0.0.0.0/0 to EKS.
    public_access_cidrs = var.public_endpoint ? var.public_endpoint_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.eks.arn
    }
  }

  access_config {
    authentication_mode = "API"
    # Whoever runs terraform gets no hidden admin entry: admins are var.access_entries.
    bootstrap_cluster_creator_admin_permissions = false
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = !var.public_endpoint || length(var.public_endpoint_cidrs) > 0
      error_message = "public_endpoint is on but public_endpoint_cidrs is empty (EKS would open it to 0.0.0.0/0)."
    }
  }

  depends_on = [aws_iam_role_policy_attachment.cluster, aws_cloudwatch_log_group.cluster]
}

# -- access entries ----------------------------------------------------------------------------

resource "aws_eks_access_entry" "this" {
  for_each = var.access_entries

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value.principal_arn
  type          = "STANDARD"
  tags          = var.tags
}

resource "aws_eks_access_policy_association" "this" {
  for_each = var.access_entries

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value.principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/${each.value.policy}"

  access_scope {
    type       = length(each.value.namespaces) > 0 ? "namespace" : "cluster"
    namespaces = length(each.value.namespaces) > 0 ? each.value.namespaces : null
  }

  depends_on = [aws_eks_access_entry.this]
}

# -- IRSA: the cluster's OIDC issuer as an IAM identity provider --------------------------------

data "tls_certificate" "oidc" {
  url = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

resource "aws_iam_openid_connect_provider" "this" {
  url             = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = [data.tls_certificate.oidc.certificates[length(data.tls_certificate.oidc.certificates) - 1].sha1_fingerprint]
  tags            = merge(var.tags, { Name = "${var.name}-irsa" })
}

# -- core add-ons, pinned ----------------------------------------------------------------------

resource "aws_eks_addon" "this" {
  for_each = toset(["vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns"])

  cluster_name  = aws_eks_cluster.this.name
  addon_name    = each.key
  addon_version = var.addon_versions[each.key]
  # The VPC CNI enforces NetworkPolicies only with its network policy agent on (v1.14 and later):
  # https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html
  configuration_values        = each.key == "vpc-cni" ? jsonencode({ enableNetworkPolicy = "true" }) : null
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  tags                        = var.tags

  # coredns needs nodes to become ACTIVE; the others are DaemonSets and settle with the nodes.
  depends_on = [aws_eks_node_group.this]
}
