# The agent, from the same manifests/ an EKS cluster gets (infra/scripts/deploy.sh), with the
# local differences made here rather than in copies: the image is the locally built one, the
# repository is var.repo_url, and the two Secrets are created (a generated webhook secret, the
# optional Git token). ServiceMonitor and PrometheusRule (09, 10) need the monitoring CRDs,
# which the agent itself installs with the monitoring release, so they are left out.

locals {
  manifests = "${path.module}/../../../manifests"

  # Every document of the plain manifests, keyed kind/name.
  plain_files = ["01-serviceaccount.yaml", "02-rbac-cluster.yaml", "03-rbac-namespace.yaml",
  "06-poddisruptionbudget.yaml", "07-service.yaml", "08-networkpolicy.yaml", "11-grafana-dashboard.yaml"]
  plain_docs = merge([for f in local.plain_files : {
    for d in [for raw in split("\n---\n", file("${local.manifests}/${f}")) : yamldecode(raw) if trimspace(raw) != ""] :
    "${d.kind}/${d.metadata.name}" => d
  }]...)

  config_map = yamldecode(file("${local.manifests}/04-configmap.yaml"))
  config     = yamldecode(local.config_map.data["config.yaml"])
  local_config = merge(local.config, {
    repo = merge(
      { url = var.repo_url, branch = var.branch },
      var.git_token == "" ? {} : { auth = local.config.repo.auth },
    )
    environments = [var.environment]
  })

  deployment = yamldecode(file("${local.manifests}/05-deployment.yaml"))
  pod        = local.deployment.spec.template.spec
  container  = merge(local.pod.containers[0], { image = var.agent_image, imagePullPolicy = "IfNotPresent" })
}

resource "kubernetes_manifest" "namespace" {
  manifest = yamldecode(file("${local.manifests}/00-namespace.yaml"))
}

resource "random_password" "webhook" {
  length  = 48
  special = false
}

resource "kubernetes_secret_v1" "webhook" {
  metadata {
    name      = "sextant-webhook"
    namespace = "sextant-system"
  }
  data       = { secret = random_password.webhook.result }
  depends_on = [kubernetes_manifest.namespace]
}

resource "kubernetes_secret_v1" "git" {
  metadata {
    name      = "sextant-git"
    namespace = "sextant-system"
  }
  data       = { token = var.git_token }
  depends_on = [kubernetes_manifest.namespace]
}

resource "kubernetes_manifest" "plain" {
  for_each   = local.plain_docs
  manifest   = each.value
  depends_on = [kubernetes_manifest.namespace]
}

resource "kubernetes_manifest" "config" {
  manifest = merge(local.config_map, {
    data = { "config.yaml" = yamlencode(local.local_config) }
  })
  depends_on = [kubernetes_manifest.namespace]
}

resource "kubernetes_manifest" "agent" {
  manifest = merge(local.deployment, {
    spec = merge(local.deployment.spec, {
      template = merge(local.deployment.spec.template, {
        spec = merge(local.pod, { containers = [local.container] })
      })
    })
  })

  wait {
    rollout = true
  }

  depends_on = [kubernetes_manifest.plain, kubernetes_manifest.config, kubernetes_secret_v1.git, kubernetes_secret_v1.webhook]
}
