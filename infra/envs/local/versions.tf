terraform {
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    kind = {
      source  = "tehcyx/kind"
      version = ">= 0.6.0, < 1.0.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.35.0, < 3.0.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = ">= 2.17.0, < 3.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6.0, < 4.0.0"
    }
  }

  # A developer's machine: local state (terraform.tfstate, git-ignored) is the right place.
  backend "local" {}
}
