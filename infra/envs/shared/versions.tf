terraform {
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80.0, < 6.0.0"
    }
  }

  # Partial configuration, as in dev and prod: bucket, region and kms_key_id are the outputs of
  # infra/bootstrap's workspace "shared" (make deploy ENV=shared passes them).
  backend "s3" {
    key          = "envs/shared/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
