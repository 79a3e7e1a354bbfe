output "bucket" {
  description = "Name of the state bucket: the `bucket` of every S3 backend in this environment."
  value       = aws_s3_bucket.state.id
}

output "bucket_arn" {
  description = "ARN of the state bucket, for the IAM policies of the roles that plan and apply."
  value       = aws_s3_bucket.state.arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts state (the backend's `kms_key_id`)."
  value       = aws_kms_key.state.arn
}

output "backend_config" {
  description = "The S3 backend settings for `terraform init -backend-config=...` (the key is per root module)."
  value = {
    bucket       = aws_s3_bucket.state.id
    region       = aws_s3_bucket.state.region
    encrypt      = true
    kms_key_id   = aws_kms_key.state.arn
    use_lockfile = true
  }
}
