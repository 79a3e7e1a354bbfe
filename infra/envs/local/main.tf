# A Kubernetes cluster on a developer's machine: kind (in Docker), ingress-nginx by Helm, and the
# agent installed from manifests/ pointed at this repository's Git remote; the agent then
# applies var.environment (hash-service and its monitoring) like it would on EKS.
#
# Two phases, because the kubernetes and helm providers need the cluster to exist at plan time:
# `terraform apply -target=kind_cluster.this` first, then `terraform apply` (infra/scripts/local.sh
# does both, with the image build and `kind load` in between).

resource "kind_cluster" "this" {
  name            = var.cluster_name
  node_image      = var.node_image
  wait_for_ready  = true
  kubeconfig_path = pathexpand("~/.kube/config")

  kind_config {
    kind        = "Cluster"
    api_version = "kind.x-k8s.io/v1alpha4"

    node {
      role = "control-plane"
      # ingress-nginx's kind recipe: the control plane takes ports 80/443 on localhost.
      kubeadm_config_patches = [
        "kind: InitConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n    node-labels: \"ingress-ready=true\"\n",
      ]
      extra_port_mappings {
        container_port = 80
        host_port      = 8080
        listen_address = "127.0.0.1"
      }
      extra_port_mappings {
        container_port = 443
        host_port      = 8443
        listen_address = "127.0.0.1"
      }
    }

    dynamic "node" {
      for_each = range(var.workers)
      content {
        role = "worker"
      }
    }
  }
}

provider "kubernetes" {
  host                   = kind_cluster.this.endpoint
  cluster_ca_certificate = kind_cluster.this.cluster_ca_certificate
  client_certificate     = kind_cluster.this.client_certificate
  client_key             = kind_cluster.this.client_key
}

provider "helm" {
  kubernetes {
    host                   = kind_cluster.this.endpoint
    cluster_ca_certificate = kind_cluster.this.cluster_ca_certificate
    client_certificate     = kind_cluster.this.client_certificate
    client_key             = kind_cluster.this.client_key
  }
}

resource "helm_release" "ingress_nginx" {
  name             = "ingress-nginx"
  repository       = "https://kubernetes.github.io/ingress-nginx"
  chart            = "ingress-nginx"
  version          = var.ingress_nginx_chart_version
  namespace        = "ingress-nginx"
  create_namespace = true
  wait             = true
  timeout          = 300

  values = [yamlencode({
    controller = {
      hostPort                 = { enabled = true }
      service                  = { type = "NodePort" }
      nodeSelector             = { "ingress-ready" = "true" }
      tolerations              = [{ key = "node-role.kubernetes.io/control-plane", operator = "Exists", effect = "NoSchedule" }]
      watchIngressWithoutClass = false
    }
  })]
}
