output "bucket" {
  description = "Name of the app's bucket."
  value       = aws_s3_bucket.app.id
}

output "bucket_arn" {
  description = "ARN of the app's bucket (the app's IRSA role reads its own prefix of it)."
  value       = aws_s3_bucket.app.arn
}

output "kms_key_arn" {
  description = "KMS key of the bucket and the parameters."
  value       = aws_kms_key.app.arn
}

output "sops_kms_key_arn" {
  description = "KMS key of the environment's SOPS-encrypted values files (sops --kms)."
  value       = aws_kms_key.sops.arn
}

output "ssm_path" {
  description = "The parameters' path, /<project>/<env>/."
  value       = local.ssm_path
}

output "platform_ssm_path" {
  description = "The platform's secret parameters' path, /<project>/platform/<env>/ (External Secrets' ClusterSecretStore prefix)."
  value       = local.platform_ssm_path
}

output "parameter_names" {
  description = "Full names of every parameter created (configuration, the app's and the platform's secret placeholders)."
  value = sort(concat(
    [for p in aws_ssm_parameter.config : p.name],
    [for p in aws_ssm_parameter.secret : p.name],
    [for p in aws_ssm_parameter.platform : p.name],
  ))
}
