variable "name" {
  description = "Name prefix, <project>-<env>: buckets <name>-loki-{chunks,ruler}-<account id>, role <name>-loki."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider (eks module output oidc_provider_arn)."
  type        = string
}

variable "oidc_issuer_url" {
  description = "The cluster's OIDC issuer URL (eks module output oidc_issuer_url)."
  type        = string

  validation {
    condition     = startswith(var.oidc_issuer_url, "https://")
    error_message = "oidc_issuer_url must be the https:// issuer URL."
  }
}

variable "service_account" {
  description = "namespace/name of Loki's ServiceAccount (the chart's default for release loki in monitoring)."
  type = object({
    namespace = string
    name      = string
  })
  default = { namespace = "monitoring", name = "loki" }
}

variable "permissions_boundary_arn" {
  description = "The boundary the role carries (iam module output permissions_boundary_arn)."
  type        = string
}

variable "retention_days" {
  description = "Loki's retention_period in days (values/loki.yaml); objects expire a day later."
  type        = number
  default     = 30

  validation {
    condition     = var.retention_days >= 1
    error_message = "retention_days must be at least 1."
  }
}

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}
