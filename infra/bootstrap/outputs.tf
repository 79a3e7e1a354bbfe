output "state_bucket" {
  description = "The environment's state bucket: `-backend-config=bucket=...` and the env's var.state_bucket."
  value       = module.state.bucket
}

output "state_kms_key_arn" {
  description = "The state's KMS key: `-backend-config=kms_key_id=...` and the env's var.state_kms_key_arn."
  value       = module.state.kms_key_arn
}

output "region" {
  description = "Region of the bucket: `-backend-config=region=...`."
  value       = var.region
}
