variable "name" {
  description = "Name prefix of the roles, e.g. sextant-dev (roles are <name>-<purpose>)."
  type        = string
}

variable "cluster_name" {
  description = "The EKS cluster: cluster-autoscaler may only scale groups tagged as owned by it, the LB controller only touch its resources."
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

variable "service_accounts" {
  description = "namespace/name of the ServiceAccount each IRSA role trusts; keys: cluster-autoscaler, aws-load-balancer-controller, external-dns, cert-manager, agent, app, auxiliary-service, external-secrets."
  type = map(object({
    namespace = string
    name      = string
  }))
  default = {
    cluster-autoscaler           = { namespace = "kube-system", name = "cluster-autoscaler" }
    aws-load-balancer-controller = { namespace = "kube-system", name = "aws-load-balancer-controller" }
    external-dns                 = { namespace = "external-dns", name = "external-dns" }
    cert-manager                 = { namespace = "cert-manager", name = "cert-manager" }
    agent                        = { namespace = "sextant-system", name = "sextant" }
    app                          = { namespace = "hash-service", name = "hash-service" }
    auxiliary-service            = { namespace = "auxiliary-service", name = "auxiliary-service" }
    external-secrets             = { namespace = "external-secrets", name = "external-secrets" }
  }

  validation {
    condition = length(setsubtract(
      ["cluster-autoscaler", "aws-load-balancer-controller", "external-dns", "cert-manager", "agent", "app", "auxiliary-service", "external-secrets"],
      keys(var.service_accounts)
    )) == 0
    error_message = "service_accounts must name the ServiceAccount of cluster-autoscaler, aws-load-balancer-controller, external-dns, cert-manager, agent, app, auxiliary-service and external-secrets."
  }
}

variable "route53_zone_arn" {
  description = "The hosted zone external-dns and cert-manager (DNS-01) may change."
  type        = string
}

variable "ecr_repository_arns" {
  description = "ECR repositories the agent may read (digest verification)."
  type        = list(string)
}

variable "app_bucket_arn" {
  description = "The app's S3 bucket (app-data module); the app reads its own prefix only."
  type        = string
}

variable "app_bucket_prefix" {
  description = "The prefix of the app's objects in that bucket, without slashes at either end (e.g. hash-service)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9._-]*$", var.app_bucket_prefix))
    error_message = "app_bucket_prefix must be one path segment (letters, digits, . _ -)."
  }
}

variable "app_ssm_path" {
  description = "The app's SSM parameter path, /<project>/<env>/ (app-data module output ssm_path)."
  type        = string

  validation {
    condition     = can(regex("^/[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+)*/$", var.app_ssm_path))
    error_message = "app_ssm_path must start and end with a slash, e.g. /sextant/dev/."
  }
}

variable "platform_ssm_path" {
  description = "The platform's secret parameters' path, /<project>/platform/<env>/ (app-data module output platform_ssm_path): External Secrets reads it."
  type        = string

  validation {
    condition     = can(regex("^/[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+)*/$", var.platform_ssm_path))
    error_message = "platform_ssm_path must start and end with a slash, e.g. /sextant/platform/dev/."
  }
}

variable "app_kms_key_arn" {
  description = "KMS key of the app's bucket and SecureString parameters, the platform's included (decrypt only)."
  type        = string
}

variable "sops_kms_key_arn" {
  description = "KMS key of the environment's SOPS-encrypted values files: the agent decrypts with it."
  type        = string
}

variable "github_repository" {
  description = "The GitHub repository whose workflows may assume the CI roles, owner/name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "github_oidc_provider_arn" {
  description = "ARN of the account's token.actions.githubusercontent.com provider (infra/envs/shared creates it)."
  type        = string

  validation {
    condition     = can(regex("^arn:[a-z-]+:iam::[0-9]+:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "github_oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "github_apply_environment" {
  description = "The GitHub environment (with its protection rules) whose jobs may assume terraform-apply."
  type        = string
}

variable "state_bucket_arn" {
  description = "The Terraform state bucket (state module output bucket_arn)."
  type        = string
}

variable "state_kms_key_arn" {
  description = "The state bucket's KMS key (state module output kms_key_arn)."
  type        = string
}

variable "apply_policy_arns" {
  description = "Managed policies of terraform-apply besides the IAM scoped to this project (e.g. PowerUserAccess)."
  type        = list(string)
}

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}
