variable "name" {
  description = "The cluster's name, e.g. sextant-dev."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,99}$", var.name))
    error_message = "name must start with a letter and hold only letters, digits and hyphens (at most 100)."
  }
}

variable "kubernetes_version" {
  description = "The EKS Kubernetes version, major.minor (1.29 or later)."
  type        = string

  validation {
    condition = (
      can(regex("^1\\.[0-9]+$", var.kubernetes_version)) &&
      try(tonumber(split(".", var.kubernetes_version)[1]) >= 29, false)
    )
    error_message = "kubernetes_version must be 1.29 or later, written major.minor (e.g. \"1.31\")."
  }
}

variable "vpc_id" {
  description = "The VPC the cluster runs in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (at least two zones) for the control plane's interfaces and the nodes."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must hold at least two subnets in different zones."
  }
}

variable "public_endpoint" {
  description = "Also expose the API server endpoint publicly (restricted to public_endpoint_cidrs). The private endpoint is always on."
  type        = bool
  default     = false
}

variable "public_endpoint_cidrs" {
  description = "Source CIDRs allowed to reach the public endpoint, when it is enabled. Never 0.0.0.0/0."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.public_endpoint_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "public_endpoint_cidrs must be valid IPv4 CIDR blocks, and not 0.0.0.0/0."
  }
}

variable "log_retention_days" {
  description = "Days the control-plane logs (audit included) are kept in CloudWatch Logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "access_entries" {
  description = "IAM principals given cluster access: name => principal ARN, the EKS access policy (e.g. AmazonEKSClusterAdminPolicy) and its scope (cluster, or a list of namespaces)."
  type = map(object({
    principal_arn = string
    policy        = string
    namespaces    = optional(list(string), [])
  }))
  default = {}

  validation {
    condition = alltrue([for e in values(var.access_entries) : contains(
      ["AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSViewPolicy"], e.policy
    )])
    error_message = "access_entries policy must be one of AmazonEKSClusterAdminPolicy, AmazonEKSAdminPolicy, AmazonEKSEditPolicy, AmazonEKSViewPolicy."
  }
}

variable "node_groups" {
  description = "Managed node groups: name => capacity type (ON_DEMAND or SPOT), instance types (several for spot), sizes, labels, taints, disk size in GiB."
  type = map(object({
    capacity_type  = string
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    disk_size_gib  = optional(number, 50)
    labels         = optional(map(string), {})
    taints = optional(list(object({
      key    = string
      value  = string
      effect = string
    })), [])
  }))

  validation {
    condition     = alltrue([for g in values(var.node_groups) : contains(["ON_DEMAND", "SPOT"], g.capacity_type)])
    error_message = "node_groups capacity_type must be ON_DEMAND or SPOT."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : g.min_size <= g.desired_size && g.desired_size <= g.max_size && g.max_size >= 1])
    error_message = "node_groups sizes must satisfy min_size <= desired_size <= max_size, max_size >= 1."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : g.capacity_type != "SPOT" || length(g.instance_types) >= 2])
    error_message = "a SPOT node group needs at least two instance types, so one exhausted spot pool does not stop it."
  }

  validation {
    condition = alltrue(flatten([for g in values(var.node_groups) : [
      for t in g.taints : contains(["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"], t.effect)
    ]]))
    error_message = "node_groups taint effect must be NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE."
  }
}

variable "addon_versions" {
  description = "Pinned versions of the core add-ons: vpc-cni, coredns, kube-proxy, eks-pod-identity-agent (from `aws eks describe-addon-versions`)."
  type        = map(string)

  validation {
    condition = alltrue([
      for a in ["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"] : can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+-eksbuild\\.[0-9]+$", lookup(var.addon_versions, a, "")))
    ])
    error_message = "addon_versions must pin vpc-cni, coredns, kube-proxy and eks-pod-identity-agent, each as vX.Y.Z-eksbuild.N."
  }
}

variable "permissions_boundary_arn" {
  description = "The permissions boundary the cluster and node roles carry (iam module output permissions_boundary_arn)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource, on top of the provider's default_tags."
  type        = map(string)
  default     = {}
}
