output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API server endpoint."
  value       = module.eks.cluster_endpoint
}

output "oidc_issuer_url" {
  description = "The cluster's OIDC issuer URL."
  value       = module.eks.oidc_issuer_url
}

output "oidc_provider_arn" {
  description = "IAM OIDC provider ARN of the cluster (IRSA)."
  value       = module.eks.oidc_provider_arn
}

output "node_group_asg_names" {
  description = "Node group => Auto Scaling group name."
  value       = module.eks.node_group_asg_names
}

output "irsa_role_arns" {
  description = "IRSA role ARN by purpose, for each ServiceAccount's eks.amazonaws.com/role-arn."
  value       = module.iam.irsa_role_arns
}

output "agent_role_arn" {
  description = "The agent's IRSA role (manifests/01-serviceaccount.yaml)."
  value       = module.iam.agent_role_arn
}

output "github_role_arns" {
  description = "GitHub OIDC roles: ecr-push, terraform-plan, terraform-apply."
  value       = module.iam.github_role_arns
}

output "ecr_repository_urls" {
  description = "ECR repository name => URL (infra/envs/shared's repositories)."
  value       = { for k, r in data.aws_ecr_repository.this : k => r.repository_url }
}

output "dns_zone_id" {
  description = "The hosted zone's ID (external-dns --zone-id-filter, the ClusterIssuer's hostedZoneID)."
  value       = module.dns.zone_id
}

output "vpc_cidr" {
  description = "The VPC's CIDR (the internal Gateway's sourceRanges)."
  value       = var.vpc_cidr
}

output "loki" {
  description = "Loki's buckets and IRSA role, when loki_s3: {bucket_names = {chunks, ruler}, role_arn}; else null."
  value       = var.loki_s3 ? { bucket_names = module.loki_storage[0].bucket_names, role_arn = module.loki_storage[0].role_arn } : null
}

output "app_bucket" {
  description = "The app's S3 bucket."
  value       = module.app_data.bucket
}

output "app_ssm_path" {
  description = "The app's SSM path, /<project>/<env>/."
  value       = module.app_data.ssm_path
}

output "platform_ssm_path" {
  description = "The platform's secret parameters' path, /<project>/platform/<env>/."
  value       = module.app_data.platform_ssm_path
}

output "sops_kms_key_arn" {
  description = "KMS key of the environment's SOPS-encrypted values files (sops --kms)."
  value       = module.app_data.sops_kms_key_arn
}

output "dns_name_servers" {
  description = "Name servers to delegate the domain to."
  value       = module.dns.name_servers
}

output "service_fqdn" {
  description = "service.<domain>."
  value       = module.dns.service_fqdn
}

output "vpc_id" {
  description = "The VPC."
  value       = module.vpc.vpc_id
}
