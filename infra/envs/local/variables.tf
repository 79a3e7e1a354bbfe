variable "cluster_name" {
  description = "Name of the kind cluster (and of its kubeconfig context, kind-<name>)."
  type        = string
  default     = "sextant-local"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,40}$", var.cluster_name))
    error_message = "cluster_name must be lower-case letters, digits and hyphens."
  }
}

variable "node_image" {
  description = "kindest/node image, pinned by digest (the Kubernetes version of the cluster)."
  type        = string
  default     = "kindest/node:v1.31.6@sha256:28b7cbb993dfe093c76641a0c95807637213c9109b761f1d422c2400e22b8e87"

  validation {
    condition     = can(regex("^kindest/node:v1\\.(29|[3-9][0-9])\\.[0-9]+@sha256:[0-9a-f]{64}$", var.node_image))
    error_message = "node_image must be kindest/node:v1.29 or later, pinned by @sha256 digest."
  }
}

variable "workers" {
  description = "Worker nodes besides the control plane (hash-service runs 10 replicas across them)."
  type        = number
  default     = 2

  validation {
    condition     = var.workers >= 1 && var.workers <= 5
    error_message = "workers must be between 1 and 5."
  }
}

variable "agent_image" {
  description = "The agent's image as loaded into kind (infra/scripts/local.sh builds agent/Dockerfile and runs `kind load`)."
  type        = string
  default     = "sextant:local"
}

variable "repo_url" {
  description = "The Git repository the agent follows: this repository's remote (local.sh passes `git remote get-url origin`)."
  type        = string

  validation {
    condition     = can(regex("^https://", var.repo_url))
    error_message = "repo_url must be an https:// Git URL (the agent's token auth is HTTPS)."
  }
}

variable "branch" {
  description = "The branch the agent follows."
  type        = string
  default     = "main"
}

variable "environment" {
  description = "The environment under environments/ that the agent applies to this cluster."
  type        = string
  default     = "local"
}

variable "git_token" {
  description = "A read-only token for a private repository (TF_VAR_git_token); empty for a public one."
  type        = string
  default     = ""
  sensitive   = true
}

variable "ingress_nginx_chart_version" {
  description = "ingress-nginx Helm chart version (the environments' Ingresses use class nginx)."
  type        = string
  default     = "4.12.1"
}
