variable "name" {
  description = "Name prefix of the KMS key and alias, e.g. sextant-dev."
  type        = string
}

variable "repositories" {
  description = "ECR repositories to create (e.g. sextant, hash-service)."
  type        = set(string)

  validation {
    condition     = length(var.repositories) > 0 && alltrue([for r in var.repositories : can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", r))])
    error_message = "repositories must be non-empty valid ECR repository names (lower case, digits, . _ - /)."
  }
}

variable "keep_tagged_images" {
  description = "How many tagged images each repository keeps (older ones expire)."
  type        = number
  default     = 50

  validation {
    condition     = var.keep_tagged_images >= 5
    error_message = "keep_tagged_images must be at least 5 (the digests environments pin must survive)."
  }
}

variable "untagged_expiry_days" {
  description = "Days after which untagged images (build leftovers) expire."
  type        = number
  default     = 7

  validation {
    condition     = var.untagged_expiry_days >= 1
    error_message = "untagged_expiry_days must be at least 1."
  }
}

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}
