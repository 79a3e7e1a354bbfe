variable "domain" {
  description = "The platform's DNS domain, e.g. dev.sextant.example.com."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a lower-case DNS name such as dev.sextant.example.com."
  }
}

variable "create_zone" {
  description = "Create the public hosted zone for var.domain; false looks up an existing one of that name."
  type        = bool
  default     = true
}

variable "records" {
  description = "Further records: key => name (relative to the domain), type, ttl and values."
  type = map(object({
    name   = string
    type   = string
    ttl    = optional(number, 300)
    values = list(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for r in values(var.records) : contains(["A", "AAAA", "CNAME", "TXT", "MX", "CAA"], r.type)])
    error_message = "records type must be A, AAAA, CNAME, TXT, MX or CAA."
  }
}

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}
