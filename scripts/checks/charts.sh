#!/usr/bin/env bash
# Lints the monitoring add-on chart: `helm lint --strict` with the chart defaults and with every
# environment's values, yamllint on those values files, and checkov on the rendered manifests.
# Quiet on success; on failure prints the failing tool's output and exits non-zero.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 1
bin="$root/.tools/bin"
chart=helm/monitoring
ns=monitoring

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failed=0

# run <label> <cmd...>: run quietly, show the output only if it fails.
run() {
  local label="$1"; shift
  if ! "$@" >"$tmp/out" 2>&1; then
    echo "charts.sh: FAILED: $label" >&2
    cat "$tmp/out" >&2
    failed=1
    return 1
  fi
}

shopt -s nullglob
env_values=(environments/*/values/monitoring.yaml)

mkdir -p "$tmp/rendered"
# Default values first (label "defaults"), then each environment's overrides.
for values in "" "${env_values[@]}"; do
  if [ -n "$values" ]; then
    label="$(basename "$(dirname "$(dirname "$values")")")"
    args=(-f "$values")
  else
    label=defaults
    args=()
  fi
  run "helm lint --strict $chart ($label)" "$bin/helm" lint --strict "$chart" "${args[@]}" || continue
  if ! "$bin/helm" template monitoring "$chart" -n "$ns" --include-crds "${args[@]}" \
    >"$tmp/rendered/monitoring-$label.yaml" 2>"$tmp/out"; then
    echo "charts.sh: FAILED: helm template $chart ($label)" >&2
    cat "$tmp/out" >&2
    rm -f "$tmp/rendered/monitoring-$label.yaml"
    failed=1
  fi
done

if [ ${#env_values[@]} -gt 0 ]; then
  run "yamllint ${env_values[*]}" "$bin/yamllint" -s -d relaxed "${env_values[@]}"
fi

# --skip-download: no network calls to the Prisma Cloud guidelines API (offline-safe, faster).
if compgen -G "$tmp/rendered/*.yaml" >/dev/null; then
  run "checkov on rendered $chart" "$bin/checkov" -d "$tmp/rendered" --framework kubernetes \
    --quiet --compact --skip-download
fi

exit "$failed"
