variable "region" {
  description = "AWS region of the environment (and of its state bucket)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "project" {
  description = "Project name, the first part of the bucket's name."
  type        = string
  default     = "sextant"
}

variable "environment" {
  description = "The environment whose state this bucket holds (dev or prod)."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}
