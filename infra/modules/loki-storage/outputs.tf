output "bucket_names" {
  description = "Loki's buckets: chunks and ruler (values/loki.yaml loki.storage.bucketNames)."
  value       = { for k, b in aws_s3_bucket.loki : k => b.id }
}

output "role_arn" {
  description = "Loki's IRSA role (values/loki.yaml serviceAccount.annotations)."
  value       = aws_iam_role.loki.arn
}
