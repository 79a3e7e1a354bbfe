# What the agent's install (infra/scripts/deploy.sh, docs/infra.md) and the workflows read.

output "cluster_name" {
  description = "EKS cluster name: `aws eks update-kubeconfig --name <this>`."
  value       = module.platform.cluster_name
}

output "cluster_endpoint" {
  description = "EKS API server endpoint."
  value       = module.platform.cluster_endpoint
}

output "oidc_issuer_url" {
  description = "The cluster's OIDC issuer (IRSA)."
  value       = module.platform.oidc_issuer_url
}

output "agent_role_arn" {
  description = "The agent's IRSA role: the eks.amazonaws.com/role-arn of manifests/01-serviceaccount.yaml."
  value       = module.platform.agent_role_arn
}

output "irsa_role_arns" {
  description = "Every IRSA role ARN by purpose (cluster-autoscaler, aws-load-balancer-controller, external-dns, cert-manager, agent, app, auxiliary-service, external-secrets)."
  value       = module.platform.irsa_role_arns
}

output "github_role_arns" {
  description = "Roles iac.yml assumes: terraform-plan (TF_PLAN_ROLE_ARN_<ENV>) and terraform-apply (TF_APPLY_ROLE_ARN_<ENV>)."
  value       = module.platform.github_role_arns
}

output "ecr_repository_urls" {
  description = "ECR repository URLs (infra/envs/shared's): sextant is the agent's image in manifests/05-deployment.yaml; hash-service, main-api and auxiliary-service the apps'."
  value       = module.platform.ecr_repository_urls
}

output "app_bucket" {
  description = "The app's S3 bucket."
  value       = module.platform.app_bucket
}

output "app_ssm_path" {
  description = "The app's SSM parameter path."
  value       = module.platform.app_ssm_path
}

output "platform_ssm_path" {
  description = "The platform's secret parameters' path: External Secrets' ClusterSecretStore prefix (make configure)."
  value       = module.platform.platform_ssm_path
}

output "sops_kms_key_arn" {
  description = "KMS key of the environment's SOPS-encrypted values files: sops --kms <this> (docs/secrets.md)."
  value       = module.platform.sops_kms_key_arn
}

output "dns_name_servers" {
  description = "Delegate the domain to these from its parent zone."
  value       = module.platform.dns_name_servers
}

output "service_fqdn" {
  description = "The app's public name."
  value       = module.platform.service_fqdn
}

output "dns_zone_id" {
  description = "The hosted zone's ID: external-dns --zone-id-filter and the ClusterIssuer's hostedZoneID (make configure)."
  value       = module.platform.dns_zone_id
}

output "vpc_cidr" {
  description = "The VPC's CIDR: the internal Gateway's sourceRanges (make configure)."
  value       = module.platform.vpc_cidr
}

output "loki" {
  description = "Loki's S3 buckets and IRSA role when the environment stores on S3, else null (make configure)."
  value       = module.platform.loki
}

output "region" {
  description = "The environment's region (make configure)."
  value       = var.region
}

output "domain" {
  description = "The environment's DNS domain: every hostname of its values (make configure)."
  value       = var.domain
}
