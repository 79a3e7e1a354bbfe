variable "project" {
  description = "Project name, the first part of every resource name (e.g. sextant)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.project))
    error_message = "project must be 2-21 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (dev, prod): the second part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,10}$", var.environment))
    error_message = "environment must be 2-11 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "vpc_cidr" {
  description = "The VPC's IPv4 CIDR block, /16 to /20."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "azs" {
  description = "The three availability zones to use."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (dev) instead of one per zone (prod)."
  type        = bool
}

variable "kubernetes_version" {
  description = "EKS version, major.minor, 1.29 or later."
  type        = string

  validation {
    condition     = try(tonumber(split(".", var.kubernetes_version)[0]) == 1 && tonumber(split(".", var.kubernetes_version)[1]) >= 29, false)
    error_message = "kubernetes_version must be 1.29 or later, written major.minor."
  }
}

variable "public_endpoint_cidrs" {
  description = "CIDRs allowed to reach a public API endpoint; empty keeps the endpoint private only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.public_endpoint_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "public_endpoint_cidrs must be valid IPv4 CIDR blocks, and not 0.0.0.0/0."
  }
}

variable "node_groups" {
  description = "Managed node groups, as the eks module takes them (one ON_DEMAND, one SPOT)."
  type = map(object({
    capacity_type  = string
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size_gib  = optional(number, 50)
    labels         = optional(map(string), {})
    taints = optional(list(object({
      key    = string
      value  = string
      effect = string
    })), [])
  }))
}

variable "addon_versions" {
  description = "Pinned versions of vpc-cni, coredns, kube-proxy and eks-pod-identity-agent."
  type        = map(string)
}

variable "access_entries" {
  description = "Cluster access: name => principal ARN, EKS access policy, optional namespaces."
  type = map(object({
    principal_arn = string
    policy        = string
    namespaces    = optional(list(string), [])
  }))
  default = {}
}

variable "domain" {
  description = "The environment's DNS domain (service.<domain> is the app)."
  type        = string
}

variable "create_zone" {
  description = "Create the hosted zone for domain (false: use the existing one)."
  type        = bool
  default     = true
}

variable "ecr_repositories" {
  description = "ECR repositories (infra/envs/shared creates them) the agent may read to verify digests."
  type        = set(string)
  default     = ["sextant", "hash-service", "main-api", "auxiliary-service"]
}

variable "app_parameters" {
  description = "The app's non-secret SSM parameters under /<project>/<env>/."
  type        = map(string)
  default     = {}
}

variable "app_secret_parameters" {
  description = "Names of the app's secret SSM parameters (values set out of band)."
  type        = set(string)
  default     = []
}

variable "platform_secret_parameters" {
  description = "Names of the platform's secret SSM parameters under /<project>/platform/<env>/ (values set out of band; helm/platform's ExternalSecrets read them)."
  type        = set(string)
  default     = []
}

variable "github_repository" {
  description = "owner/name of the repository whose workflows assume the CI roles."
  type        = string
}

variable "state_bucket" {
  description = "Name of this environment's state bucket (bootstrap output state_bucket)."
  type        = string
}

variable "state_kms_key_arn" {
  description = "ARN of the state bucket's KMS key (bootstrap output state_kms_key_arn)."
  type        = string
}

variable "apply_policy_arns" {
  description = "Managed policies of the terraform-apply role (IAM on the project's own resources is added)."
  type        = list(string)
}

variable "loki_s3" {
  description = "Create Loki's S3 buckets and IRSA role (an environment whose values/loki.yaml stores on s3)."
  type        = bool
  default     = false
}

variable "loki_retention_days" {
  description = "Loki's retention in days (values/loki.yaml limits_config.retention_period)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}
