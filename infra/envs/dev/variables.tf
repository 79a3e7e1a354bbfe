variable "region" {
  description = "AWS region of the environment, e.g. eu-west-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "project" {
  description = "Project name, the first part of every resource name."
  type        = string
  default     = "sextant"
}

variable "domain" {
  description = "The environment's DNS domain, e.g. dev.sextant.example.com."
  type        = string
}

variable "github_repository" {
  description = "owner/name of this repository on GitHub (the CI roles trust its workflows only)."
  type        = string
}

variable "state_bucket" {
  description = "This environment's state bucket (bootstrap output state_bucket)."
  type        = string
}

variable "state_kms_key_arn" {
  description = "Its KMS key (bootstrap output state_kms_key_arn)."
  type        = string
}

variable "admin_principal_arns" {
  description = "IAM roles or users given cluster-admin through EKS access entries (e.g. an SSO admin role, the terraform-apply role)."
  type        = list(string)
  default     = []
}

variable "public_endpoint_cidrs" {
  description = "CIDRs that may reach the API server's public endpoint (e.g. an office or VPN egress); empty keeps it private."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.public_endpoint_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "public_endpoint_cidrs must be valid IPv4 CIDR blocks, and not 0.0.0.0/0."
  }
}
