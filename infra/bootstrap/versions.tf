terraform {
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80.0, < 6.0.0"
    }
  }

  # The state bucket cannot hold its own creation: this root keeps a local state, one
  # workspace per environment (terraform.tfstate.d/<env>/, git-ignored). After the first apply,
  # docs/infra.md shows how to move it into the bucket it created.
  backend "local" {}
}
