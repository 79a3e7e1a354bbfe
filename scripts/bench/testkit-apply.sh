#!/usr/bin/env bash
# The test API server on a large chart: the first apply of the upstream-shaped test chart (three
# Prometheus-Operator-sized CRDs, 35 custom resources) as a ratio of the first apply of this
# repository's prod environment, each on a fresh server (median of 3), and a LIST of the 35
# custom resources. Release builds of both binaries; helm and kubectl from `make tools`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cargo build --release -q -p sextant -p sextant-testkit
work="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill -- "-$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# The test chart in a repository of its own.
mkdir -p "$work/repo/charts" "$work/repo/environments/corpus"
cp -r agent/tests/fixtures/charts/upstream-shaped "$work/repo/charts/"
cat > "$work/repo/environments/corpus/environment.yaml" <<'YAML'
apiVersion: sextant.io/v1alpha1
kind: Environment
metadata: {name: corpus}
spec:
  releases:
    - {name: demo, namespace: corpus, chart: charts/upstream-shaped}
  sync: {createNamespace: true, waveTimeout: 60s}
YAML

export SEXTANT_HELM="$root/.tools/bin/helm" SEXTANT_CACHE_DIR="$work/cache"
first_apply() { # env repo -> seconds
  rm -f "$work/kc"
  setsid timeout 120 target/release/kube-testkit serve --kubeconfig "$work/kc" --ready-delay-ms 20 >/dev/null 2>&1 &
  server=$!
  for _ in $(seq 100); do [ -s "$work/kc" ] && break; sleep 0.05; done
  local start end
  start=$(date +%s.%N)
  target/release/sextant apply --env "$1" --repo "$2" --kubeconfig "$work/kc" >/dev/null
  end=$(date +%s.%N)
  if [ "$1" = corpus ]; then
    local l0 l1
    l0=$(date +%s.%N)
    "$root/.tools/bin/kubectl" --kubeconfig "$work/kc" get rules.monitoring.example.com -A -o json >/dev/null
    l1=$(date +%s.%N)
    echo "$l0 $l1" > "$work/list"
  fi
  kill -- "-$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
  echo "$end - $start" | bc
}
median() { sort -n | sed -n 2p; }
# Warm helm's cache of both renders first, so the apply is what is measured.
for _ in 1 2 3; do first_apply prod "$root"; done | median > "$work/prod"
for _ in 1 2 3; do first_apply corpus "$work/repo"; done | median > "$work/corpus"
read -r l0 l1 < "$work/list"
prod=$(cat "$work/prod"); corpus=$(cat "$work/corpus")
printf 'test server, first apply: prod %.2f s, upstream-shaped chart %.2f s, ratio %.2f\n' \
  "$prod" "$corpus" "$(echo "$corpus / $prod" | bc -l)"
printf 'test server, LIST of 35 custom resources (kubectl): %.0f ms\n' "$(echo "($l1 - $l0) * 1000" | bc -l)"
