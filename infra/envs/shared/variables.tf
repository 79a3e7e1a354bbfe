variable "region" {
  description = "AWS region of the ECR repositories (the environments' region), e.g. eu-west-1."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "project" {
  description = "Project name: the ECR key's alias and the ecr-push role's prefix."
  type        = string
  default     = "sextant"
}

variable "github_repository" {
  description = "owner/name of this repository on GitHub (the ecr-push role trusts its main branch only)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "ecr_repositories" {
  description = "ECR repositories to create: the agent's image and the apps' (hash-service, main-api, auxiliary-service)."
  type        = set(string)
  default     = ["sextant", "hash-service", "main-api", "auxiliary-service"]
}

variable "ecr_push_repositories" {
  description = "Which of ecr_repositories the ecr-push role may push to: app.yml pushes hash-service, main-api and auxiliary-service, release.yml sextant."
  type        = set(string)
  default     = ["sextant", "hash-service", "main-api", "auxiliary-service"]

  validation {
    condition     = length(var.ecr_push_repositories) > 0 && length(setsubtract(var.ecr_push_repositories, var.ecr_repositories)) == 0
    error_message = "ecr_push_repositories must be a non-empty subset of ecr_repositories."
  }
}
