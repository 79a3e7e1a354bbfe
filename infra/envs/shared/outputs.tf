output "github_oidc_provider_arn" {
  description = "The account's GitHub Actions OIDC provider (dev and prod look it up by its URL)."
  value       = aws_iam_openid_connect_provider.github.arn
}

output "ecr_repository_urls" {
  description = "ECR repository name => URL: the registry of every environment's images."
  value       = module.ecr.repository_urls
}

output "ecr_push_role_arn" {
  description = "The role app.yml and release.yml assume (repository variable AWS_ECR_PUSH_ROLE_ARN)."
  value       = aws_iam_role.ecr_push.arn
}
