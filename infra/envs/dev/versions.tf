terraform {
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80.0, < 6.0.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = ">= 4.0.5, < 5.0.0"
    }
  }

  # Partial configuration: bucket, region and kms_key_id come from the bootstrap's outputs
  # (`terraform init -backend-config=...`, as infra/scripts/deploy.sh and iac.yml do), so no
  # account or region is written here. The lock is S3's native lockfile next to the state.
  backend "s3" {
    key          = "envs/dev/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
