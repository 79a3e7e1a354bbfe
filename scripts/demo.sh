#!/usr/bin/env bash
# `make demo`: the agent's main job on this repository's own environments, with no cluster:
# the test API server (kube-testkit) stands in for Kubernetes, the real kubectl looks at it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.tools/bin:$PATH"
env="${ENV:-prod}"
sextant="$root/target/debug/sextant"
work="$(mktemp -d)"
kubeconfig="$work/kubeconfig"
export SEXTANT_CACHE_DIR="$work/cache"

"$root/target/debug/kube-testkit" serve --addr 127.0.0.1:0 --kubeconfig "$kubeconfig" >"$work/testkit.log" 2>&1 &
testkit=$!
trap 'kill "$testkit" 2>/dev/null; wait "$testkit" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$kubeconfig" ] && break; sleep 0.1; done
[ -s "$kubeconfig" ] || { echo "kube-testkit did not start: $(cat "$work/testkit.log")" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "sextant plan --env $env"
"$sextant" plan --env "$env"

step "sextant apply --env $env   (against the test API server: $(grep server: "$kubeconfig" | awk '{print $2}'))"
"$sextant" apply --env "$env" --kubeconfig "$kubeconfig"

step "kubectl get — what the agent applied, with its labels"
kubectl --kubeconfig "$kubeconfig" get deployments,services,ingresses -A -l app.kubernetes.io/managed-by=sextant

step "sextant apply again — nothing changed, nothing written"
"$sextant" apply --env "$env" --kubeconfig "$kubeconfig" | tail -n 1

step "sextant diff — in sync (exit 0)"
"$sextant" diff --env "$env" --kubeconfig "$kubeconfig" && echo "in sync"

step "someone runs: kubectl scale deployment/monitoring -n monitoring --replicas=5"
kubectl --kubeconfig "$kubeconfig" scale deployment/monitoring -n monitoring --replicas=5

step "sextant diff — drift (exit 1)"
"$sextant" diff --env "$env" --kubeconfig "$kubeconfig" || echo "(exit $?: out of sync)"

step "sextant apply — kubectl now owns spec.replicas: a conflict, reported with the field"
"$sextant" apply --env "$env" --kubeconfig "$kubeconfig" | tail -n 3 || true

step "sextant apply --force-conflicts — Git wins"
"$sextant" apply --env "$env" --kubeconfig "$kubeconfig" --force-conflicts | tail -n 1
"$sextant" diff --env "$env" --kubeconfig "$kubeconfig" && echo "in sync again"
