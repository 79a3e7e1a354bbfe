variable "project" {
  description = "Project name: the first segment of the SSM path /<project>/<env>/."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.project))
    error_message = "project must be 2-31 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name: the second segment of the SSM path /<project>/<env>/."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 lower-case letters, digits or hyphens, starting with a letter."
  }

  # /<project>/platform/ holds every environment's platform secrets.
  validation {
    condition     = var.environment != "platform"
    error_message = "environment may not be \"platform\": /<project>/platform/ is the platform secrets' path."
  }
}

variable "bucket_name" {
  description = "The app's bucket name, globally unique (e.g. <project>-<env>-app-data-<account id>)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name."
  }
}

variable "parameters" {
  description = "Configuration parameters, name (under /<project>/<env>/) => value; stored as SecureString. Not for secrets: their values would be in state and tfvars."
  type        = map(string)
  default     = {}
}

variable "secret_parameters" {
  description = "Secret parameter names (under /<project>/<env>/): created with a placeholder, their values set out of band (`aws ssm put-parameter --overwrite`) and never read back by Terraform."
  type        = set(string)
  default     = []
}

variable "platform_secret_parameters" {
  description = "The platform's secret parameter names (under /<project>/platform/<env>/, e.g. grafana/admin-password): created with a placeholder, their values set out of band and never read back by Terraform; External Secrets copies them into Secrets."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.platform_secret_parameters : can(regex("^[a-zA-Z0-9_.-]+(/[a-zA-Z0-9_.-]+)*$", p))])
    error_message = "platform_secret_parameters must be names under the path: segments of a-zA-Z0-9_.- separated by single slashes, no leading or trailing slash."
  }
}

variable "noncurrent_version_days" {
  description = "Days a superseded object version is kept."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}
