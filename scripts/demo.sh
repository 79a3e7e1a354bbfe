#!/usr/bin/env bash
# `make demo`: the agent's main job on this repository's `local` environment (local charts only:
# the namespaces with their Pod Security labels, hash-service with its HPA, PDB and dashboard),
# with no cluster and no internet: the test API server (kube-testkit) stands in for Kubernetes,
# the real kubectl looks at it. dev and prod use upstream charts that cannot be fetched here
# (docs/platform.md): `ENV=dev make demo` works only where they can, or through chart mirrors.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.tools/bin:$PATH"
env="${ENV:-local}"
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
sextant="$bin/sextant"
work="$(mktemp -d)"
kubeconfig="$work/kubeconfig"
export SEXTANT_CACHE_DIR="$work/cache"

"$bin/kube-testkit" serve --addr 127.0.0.1:0 --kubeconfig "$kubeconfig" >"$work/testkit.log" 2>&1 &
testkit=$!
agent=""
cleanup() {
  [ -n "$agent" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  kill "$testkit" 2>/dev/null; wait "$testkit" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -s "$kubeconfig" ] && break; sleep 0.1; done
[ -s "$kubeconfig" ] || { echo "kube-testkit did not start: $(cat "$work/testkit.log")" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "sextant plan --env $env"
"$sextant" plan --env "$env"

step "sextant apply --env $env   (against the test API server: $(grep server: "$kubeconfig" | awk '{print $2}'))"
"$sextant" apply --env "$env" --kubeconfig "$kubeconfig"

step "kubectl get — what the agent applied, with its labels"
kubectl --kubeconfig "$kubeconfig" get namespaces,deployments,services,hpa,pdb,configmaps -A -l app.kubernetes.io/managed-by=sextant

step "sextant apply again — nothing changed, nothing written"
"$sextant" apply --env "$env" --kubeconfig "$kubeconfig" | tail -n 1

step "sextant diff — in sync (exit 0)"
"$sextant" diff --env "$env" --kubeconfig "$kubeconfig" && echo "in sync"

step "someone runs: kubectl patch hpa/hash-service -n hash-service (maxReplicas 9)"
kubectl --kubeconfig "$kubeconfig" patch hpa/hash-service -n hash-service --type merge -p '{"spec":{"maxReplicas":9}}'

step "sextant diff — drift (exit 1)"
"$sextant" diff --env "$env" --kubeconfig "$kubeconfig" || echo "(exit $?: out of sync)"

step "sextant apply — kubectl now owns spec.maxReplicas: a conflict, reported with the field"
"$sextant" apply --env "$env" --kubeconfig "$kubeconfig" | tail -n 3 || true

step "sextant apply --force-conflicts — Git wins"
"$sextant" apply --env "$env" --kubeconfig "$kubeconfig" --force-conflicts | tail -n 1
"$sextant" diff --env "$env" --kubeconfig "$kubeconfig" && echo "in sync again"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
step "sextant run --repo-path . — the agent in local mode on this working tree ($env)"
KUBECONFIG="$kubeconfig" SEXTANT_ENVIRONMENTS="$env" SEXTANT_LISTEN_ADDR="127.0.0.1:$port" \
  SEXTANT_LEADER_ELECTION=false SEXTANT_LOG_FORMAT=pretty RUST_LOG="${RUST_LOG:-info}" \
  "$sextant" run --repo-path "$root" 2>"$work/agent.log" &
agent=$!
for _ in $(seq 300); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
  kill -0 "$agent" 2>/dev/null || { cat "$work/agent.log" >&2; exit 1; }
  sleep 0.1
done
echo "status:  http://127.0.0.1:$port/status"
echo "metrics: http://127.0.0.1:$port/metrics"
curl -s "http://127.0.0.1:$port/status" | python3 "$root/scripts/status-summary.py"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^sextant_sync_total' | sed 's/^/  /'

step "while the agent watches: kubectl patch hpa/hash-service maxReplicas 9 again ($env: drift.policy heal)"
kubectl --kubeconfig "$kubeconfig" patch hpa/hash-service -n hash-service --type merge -p '{"spec":{"maxReplicas":9}}'
start="$(date +%s%N)"
heals() { curl -s "http://127.0.0.1:$port/metrics" | awk '/^sextant_drift_heals_total/ && /succeeded/ {s += $2} END {print s + 0}'; }
for _ in $(seq 400); do [ "$(heals)" != 0 ] && break; sleep 0.01; done
echo "healed $(( ($(date +%s%N) - start) / 1000000 )) ms after the patch: maxReplicas is $(kubectl --kubeconfig "$kubeconfig" get hpa/hash-service -n hash-service -o jsonpath='{.spec.maxReplicas}') again"
grep -E 'drift detected|drift healed' "$work/agent.log" | sed -E 's/\x1b\[[0-9;]*m//g; s/^/  /' || true
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^sextant_drift_(detected|heals)_total' | sed 's/^/  /'
if [ -t 0 ] && [ -z "${DEMO_SECONDS:-}" ]; then
  echo "Edit environments/*/values/*.yaml: the agent re-syncs on save (its log: $work/agent.log). Ctrl-C stops it."
  tail -f "$work/agent.log" &
  wait "$agent"
else
  sleep "${DEMO_SECONDS:-3}"
  echo "(non-interactive: stopping the agent after ${DEMO_SECONDS:-3} s; DEMO_SECONDS sets how long)"
fi
