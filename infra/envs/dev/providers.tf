provider "aws" {
  region = var.region

  # Every taggable resource gets these; modules add Name and their own on top.
  default_tags {
    tags = {
      project     = var.project
      environment = "dev"
      managed-by  = "terraform"
      repository  = var.github_repository
    }
  }
}
