# IRSA roles: each trusts exactly one ServiceAccount (sub) of this cluster's OIDC issuer, for the
# STS audience only, and holds only what its controller needs.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  issuer    = trimprefix(var.oidc_issuer_url, "https://")
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name

  irsa_policies = {
    cluster-autoscaler           = data.aws_iam_policy_document.cluster_autoscaler.json
    aws-load-balancer-controller = data.aws_iam_policy_document.lb_controller.json
    external-dns                 = data.aws_iam_policy_document.external_dns.json
    cert-manager                 = data.aws_iam_policy_document.cert_manager.json
    agent                        = data.aws_iam_policy_document.agent.json
    app                          = data.aws_iam_policy_document.app.json
    auxiliary-service            = data.aws_iam_policy_document.auxiliary_service.json
    external-secrets             = data.aws_iam_policy_document.external_secrets.json
  }
}

data "aws_iam_policy_document" "irsa_assume" {
  for_each = local.irsa_policies

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = ["system:serviceaccount:${var.service_accounts[each.key].namespace}:${var.service_accounts[each.key].name}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each = local.irsa_policies

  name                 = "${var.name}-${each.key}"
  description          = "IRSA: ${var.service_accounts[each.key].namespace}/${var.service_accounts[each.key].name}"
  assume_role_policy   = data.aws_iam_policy_document.irsa_assume[each.key].json
  permissions_boundary = aws_iam_policy.boundary.arn
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "irsa" {
  for_each = local.irsa_policies

  name   = each.key
  role   = aws_iam_role.irsa[each.key].id
  policy = each.value
}

# cluster-autoscaler: reads everywhere (the Describe APIs take no resource), scales only groups
# tagged as owned by this cluster.
data "aws_iam_policy_document" "cluster_autoscaler" {
  # checkov:skip=CKV_AWS_356:Only the Describe/Get discovery actions have "*" (they accept no resource); scaling is limited to groups tagged owned by this cluster.
  statement {
    sid = "Discover"
    actions = [
      "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
      "eks:DescribeNodegroup",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "ScaleOwnGroupsOnly"
    actions   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    resources = ["arn:${local.partition}:autoscaling:${local.region}:${local.account}:autoScalingGroup:*:autoScalingGroupName/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
      values   = ["owned"]
    }
  }
}

# The AWS load-balancer controller: the upstream policy's shape — read widely, create only with
# the cluster tag on the request, change or delete only what carries it.
data "aws_iam_policy_document" "lb_controller" {
  # checkov:skip=CKV_AWS_356:"*" only on Describe actions (no resource-level support) and on create/tag/modify actions bound by aws:RequestTag or aws:ResourceTag elbv2.k8s.aws/cluster, as the upstream controller policy does.
  statement {
    sid = "Discover"
    actions = [
      "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
      "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
      "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:GetCoipPoolUsage",
      "ec2:DescribeCoipPools", "ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools",
      "ec2:DescribeRouteTables",
      "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
      "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
      "elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
      "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
      "elasticloadbalancing:DescribeTrustStores", "elasticloadbalancing:DescribeListenerAttributes",
      "elasticloadbalancing:DescribeCapacityReservation",
      "acm:ListCertificates", "acm:DescribeCertificate",
      "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "waf-regional:GetWebACLForResource",
      "shield:GetSubscriptionState", "shield:DescribeProtection",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "ServiceLinkedRoleForElb"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid       = "CreateTaggedOnly"
    actions   = ["ec2:CreateSecurityGroup", "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }

  statement {
    sid       = "TagOnCreate"
    actions   = ["ec2:CreateTags", "elasticloadbalancing:AddTags"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }

  statement {
    sid = "ChangeOwnOnly"
    actions = [
      "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup",
      "ec2:CreateTags", "ec2:DeleteTags",
      "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
      "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
      "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
      "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:ModifyCapacityReservation",
      "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
      "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/elbv2.k8s.aws/cluster"
      values   = [var.cluster_name]
    }
  }

  # Listeners and rules carry no tag of their own at creation; they live on the controller's
  # load balancers only.
  statement {
    sid = "ListenersAndRules"
    actions = [
      "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
      "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
      "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule",
      "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
      "elasticloadbalancing:SetWebAcl",
    ]
    resources = [
      "arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account}:loadbalancer/*",
      "arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account}:listener/*",
      "arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account}:listener-rule/*",
    ]
  }
}

# external-dns: records in the one zone; listing zones and records takes no resource.
data "aws_iam_policy_document" "external_dns" {
  statement {
    sid       = "ChangeRecordsInTheZone"
    actions   = ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets", "route53:ListTagsForResource"]
    resources = [var.route53_zone_arn]
  }

  statement {
    sid       = "FindZones"
    actions   = ["route53:ListHostedZones"]
    resources = ["*"]
  }
}

# cert-manager DNS-01: only TXT records named _acme-challenge.* in the one zone.
data "aws_iam_policy_document" "cert_manager" {
  statement {
    sid       = "Dns01ChallengeRecordsOnly"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = [var.route53_zone_arn]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = ["TXT"]
    }
    condition {
      test     = "ForAllValues:StringLike"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      values   = ["_acme-challenge.*"]
    }
  }

  statement {
    sid       = "WaitForTheChange"
    actions   = ["route53:GetChange"]
    resources = ["arn:${local.partition}:route53:::change/*"]
  }

  statement {
    sid       = "FindTheZone"
    actions   = ["route53:ListHostedZonesByName"]
    resources = ["*"]
  }
}

# The agent: read image manifests to verify that a digest exists (no pull of layers, no push),
# and open the data keys of SOPS-encrypted values files.
data "aws_iam_policy_document" "agent" {
  statement {
    sid       = "ReadImageManifests"
    actions   = ["ecr:DescribeImages", "ecr:BatchGetImage", "ecr:ListImages"]
    resources = var.ecr_repository_arns
  }

  statement {
    sid       = "RegistryToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  # The data keys of SOPS-encrypted values files (docs/secrets.md): decrypt only.
  statement {
    sid       = "DecryptSopsDataKeys"
    actions   = ["kms:Decrypt"]
    resources = [var.sops_kms_key_arn]
  }
}

# The app: its own S3 prefix and SSM path, read only.
data "aws_iam_policy_document" "app" {
  statement {
    sid       = "ReadOwnObjects"
    actions   = ["s3:GetObject"]
    resources = ["${var.app_bucket_arn}/${var.app_bucket_prefix}/*"]
  }

  statement {
    sid       = "ListOwnPrefix"
    actions   = ["s3:ListBucket"]
    resources = [var.app_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.app_bucket_prefix}/*"]
    }
  }

  statement {
    sid     = "ReadOwnParameters"
    actions = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    # GetParametersByPath is authorised on the path itself, the others on each parameter.
    resources = [
      "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${trimsuffix(var.app_ssm_path, "/")}",
      "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${trimsuffix(var.app_ssm_path, "/")}/*",
    ]
  }

  statement {
    sid       = "DecryptOwnData"
    actions   = ["kms:Decrypt"]
    resources = [var.app_kms_key_arn]
  }
}

# auxiliary-service (helm/auxiliary-service): what its three routes call, nothing more. S3
# ListBuckets and SSM DescribeParameters authorise on "*" only (neither takes a resource); reads
# of values are limited to the app's parameter path, and decryption to SSM's use of the app-data
# key for a parameter under that path (its encryption context names the parameter's ARN).
data "aws_iam_policy_document" "auxiliary_service" {
  # checkov:skip=CKV_AWS_356:s3:ListAllMyBuckets and ssm:DescribeParameters have no resource-level permissions ("*" is the only resource they accept); every other action is bound to the app's path and key.
  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListAllMyBuckets"]
    resources = ["*"]
  }

  statement {
    sid       = "DescribeParameters"
    actions   = ["ssm:DescribeParameters"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadParametersUnderTheAppPath"
    actions   = ["ssm:GetParameter"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${trimsuffix(var.app_ssm_path, "/")}/*"]
  }

  statement {
    sid       = "DecryptThoseParametersThroughSsmOnly"
    actions   = ["kms:Decrypt"]
    resources = [var.app_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = ["arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${trimsuffix(var.app_ssm_path, "/")}/*"]
    }
  }
}

# External Secrets (its ClusterSecretStore in helm/platform): reads the platform's secret
# parameters, nothing of the app's path, and decrypts only through SSM for a parameter under the
# platform's path. GetParametersByPath is authorised on the path itself, the others on each
# parameter; no DescribeParameters, so no `find` by tag or name outside the path.
data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid     = "ReadThePlatformParameters"
    actions = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    resources = [
      "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${trimsuffix(var.platform_ssm_path, "/")}",
      "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${trimsuffix(var.platform_ssm_path, "/")}/*",
    ]
  }

  statement {
    sid       = "DecryptThoseParametersThroughSsmOnly"
    actions   = ["kms:Decrypt"]
    resources = [var.app_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = ["arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${trimsuffix(var.platform_ssm_path, "/")}/*"]
    }
  }
}
