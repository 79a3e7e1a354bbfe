output "irsa_role_arns" {
  description = "IRSA role ARN by purpose (cluster-autoscaler, aws-load-balancer-controller, external-dns, cert-manager, agent, app): each ServiceAccount's eks.amazonaws.com/role-arn annotation."
  value       = { for k, r in aws_iam_role.irsa : k => r.arn }
}

output "agent_role_arn" {
  description = "IRSA role of the agent (ServiceAccount sextant-system/sextant): ECR read."
  value       = aws_iam_role.irsa["agent"].arn
}

output "github_role_arns" {
  description = "GitHub OIDC role ARN by purpose (ecr-push, terraform-plan, terraform-apply): the repository variables the workflows assume."
  value       = { for k, r in aws_iam_role.github : k => r.arn }
}

output "github_oidc_provider_arn" {
  description = "The GitHub Actions OIDC provider (created here, or the one passed in)."
  value       = local.github_provider_arn
}
