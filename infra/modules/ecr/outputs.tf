output "repository_urls" {
  description = "Repository name => URL (<registry>/<name>): the image repository of the agent's Deployment and the app's values."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "repository_arns" {
  description = "Repository name => ARN, for the IAM policies that read or push."
  value       = { for k, r in aws_ecr_repository.this : k => r.arn }
}

output "registry_id" {
  description = "The registry (account) the repositories live in."
  value       = one(distinct([for r in aws_ecr_repository.this : r.registry_id]))
}
