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
  description = "Every IRSA role ARN by purpose (cluster-autoscaler, aws-load-balancer-controller, external-dns, cert-manager, agent, app)."
  value       = module.platform.irsa_role_arns
}

output "github_role_arns" {
  description = "Roles the workflows assume: ecr-push (AWS_ECR_PUSH_ROLE_ARN), terraform-plan and terraform-apply (iac.yml)."
  value       = module.platform.github_role_arns
}

output "ecr_repository_urls" {
  description = "ECR repository URLs: sextant is the agent's image in manifests/05-deployment.yaml, hash-service the app's."
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

output "dns_name_servers" {
  description = "Delegate the domain to these from its parent zone."
  value       = module.platform.dns_name_servers
}

output "service_fqdn" {
  description = "The app's public name."
  value       = module.platform.service_fqdn
}
