#!/usr/bin/env bash
# make local-up / make local-down: a kind cluster on this machine with the agent following this
# repository (infra/envs/local).
#
#   up:   1. terraform apply -target=kind_cluster.this (the providers need the cluster to plan)
#         2. docker build -f agent/Dockerfile -t sextant:local ., then kind load docker-image
#         3. terraform apply: ingress-nginx and the agent, which then syncs the environment
#   down: terraform destroy (the cluster, and everything in it, goes with it)
#
# Needs: Docker (running), kind, terraform >= 1.10 or OpenTofu, git; kubectl for looking.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck source=infra/scripts/require.sh
source "$root/infra/scripts/require.sh"

action="${1:-}"
case "$action" in up | down) ;; *) echo "usage: local.sh up|down" >&2; exit 2 ;; esac
me="make local-$action"

need_tf
need docker "Docker, running (kind's nodes are containers): https://docs.docker.com/engine/install/"
need kind "kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
require_all "$me"
if ! docker info >/dev/null 2>&1; then
  echo "$me: Docker is installed but not running (docker info failed)" >&2
  exit 2
fi

dir=(-chdir=infra/envs/local)
cluster="${LOCAL_CLUSTER:-sextant-local}"
repo_url="${REPO_URL:-$(git remote get-url origin 2>/dev/null || true)}"
repo_url="${repo_url/#git@github.com:/https://github.com/}"
vars=(-var="cluster_name=$cluster" -var="repo_url=$repo_url")

"$tf" "${dir[@]}" init -input=false >/dev/null
if [ "$action" = up ]; then
  [ -n "$repo_url" ] || { echo "$me: no origin remote; set REPO_URL=https://... (the repository the agent follows)" >&2; exit 2; }
  echo "== 1/3 kind cluster $cluster"
  "$tf" "${dir[@]}" apply -input=false -auto-approve -target=kind_cluster.this "${vars[@]}"
  echo "== 2/3 agent image sextant:local"
  docker build -f agent/Dockerfile -t sextant:local .
  kind load docker-image sextant:local --name "$cluster"
  echo "== 3/3 ingress-nginx and the agent (following $repo_url)"
  "$tf" "${dir[@]}" apply -input=false -auto-approve "${vars[@]}"
  "$tf" "${dir[@]}" output
else
  "$tf" "${dir[@]}" destroy -input=false -auto-approve "${vars[@]}"
fi
