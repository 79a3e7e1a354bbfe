output "irsa_role_arns" {
  description = "IRSA role ARN by purpose (cluster-autoscaler, aws-load-balancer-controller, external-dns, cert-manager, agent, app, auxiliary-service, external-secrets): each ServiceAccount's eks.amazonaws.com/role-arn annotation."
  value       = { for k, r in aws_iam_role.irsa : k => r.arn }
}

output "agent_role_arn" {
  description = "IRSA role of the agent (ServiceAccount sextant-system/sextant): ECR read."
  value       = aws_iam_role.irsa["agent"].arn
}

output "github_role_arns" {
  description = "GitHub OIDC role ARN by purpose (terraform-plan, terraform-apply): the repository variables iac.yml assumes."
  value       = { for k, r in aws_iam_role.github : k => r.arn }
}

output "permissions_boundary_arn" {
  description = "The boundary every workload role of this environment carries (boundary.tf)."
  value       = aws_iam_policy.boundary.arn
}
