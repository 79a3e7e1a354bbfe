provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = var.project
      environment = "shared"
      managed-by  = "terraform"
      repository  = var.github_repository
    }
  }
}
