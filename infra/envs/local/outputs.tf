output "kubeconfig_context" {
  description = "The kubectl context of the cluster (kind writes it to ~/.kube/config)."
  value       = "kind-${var.cluster_name}"
}

output "cluster_endpoint" {
  description = "The kind cluster's API server."
  value       = kind_cluster.this.endpoint
}

output "ingress_url" {
  description = "Where the ingress controller answers on this machine (hash-service: /hash)."
  value       = "http://127.0.0.1:8080"
}

output "agent_status" {
  description = "How to see the agent's sync status."
  value       = "kubectl --context kind-${var.cluster_name} -n sextant-system port-forward deploy/sextant 8081:8080, then http://127.0.0.1:8081/status"
}
