# Step 1 of `make deploy ENV=<env>`: the environment's state bucket (and its KMS key). Locking is
# the S3 native lockfile, so there is nothing else to create.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      project     = var.project
      environment = var.environment
      managed-by  = "terraform"
      stack       = "bootstrap"
    }
  }
}

data "aws_caller_identity" "current" {}

module "state" {
  source = "../modules/state"

  # The account ID makes the globally unique name without writing an account anywhere.
  name = "${var.project}-${var.environment}-tfstate-${data.aws_caller_identity.current.account_id}"
}
