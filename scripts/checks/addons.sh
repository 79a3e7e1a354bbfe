#!/usr/bin/env bash
# The platform's environments and add-on values, checked without the network (run by `make test`):
#  - every environment.yaml against docs/environment.schema.json (check-jsonschema);
#  - every values file of an upstream chart against the key index of its pinned version
#    (environments/chart-keys/, scripts/lib/values_keys.py): keys that exist, no typo. The charts
#    themselves cannot be fetched here, so this is a check of key names, not a render; the render
#    of dev and prod against the real charts is done through chart mirrors (docs/platform.md);
#  - the local charts helm/platform and helm/policies: `helm lint --strict` and `helm template`
#    with every environment's values; checkov on what they render;
#  - yamllint on every values file and environment.
# Quiet on success; on failure prints each failing step with its output and exits 1.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib/check.sh
source "$root/scripts/lib/check.sh"
bin="$root/.tools/bin"
py="$root/.tools/venv/bin/python"   # has PyYAML (a checkov dependency)

shopt -s nullglob
envs=(environments/*/environment.yaml)
step "environments match docs/environment.schema.json" \
  "$bin/check-jsonschema" --schemafile docs/environment.schema.json "${envs[@]}"
step "upstream values use only their pinned chart's keys" "$py" scripts/lib/values_keys.py "$root"
# The check itself: a misspelt key in a copy of the repository must be refused, with its path.
typo_refused() {
  mkdir -p "$work/typo"
  cp -R environments "$work/typo/"
  sed -i 's/serviceMonitorSelectorNilUsesHelmValues:/serviceMonitorSelectorNilUsesHelmValue:/' \
    "$work/typo/environments/prod/values/kube-prometheus-stack.yaml"
  if out="$("$py" scripts/lib/values_keys.py "$work/typo" 2>&1)"; then
    echo "a misspelt key was accepted"; return 1
  fi
  grep -qF 'prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValue` is not a value of kube-prometheus-stack 88.5.3' <<<"$out" ||
    { echo "refused without naming the key: $out"; return 1; }
}
step "a misspelt upstream values key is refused" typo_refused
step "yamllint environments" "$bin/yamllint" -s -d '{extends: relaxed, rules: {line-length: {max: 140}}}' \
  environments/*/environment.yaml environments/*/values/*.yaml

mkdir -p "$work/rendered"
for chart in platform policies; do
  for values in environments/*/values/"$chart".yaml; do
    env_name="$(basename "$(dirname "$(dirname "$values")")")"
    step "helm lint --strict helm/$chart ($env_name)" "$bin/helm" lint --strict "helm/$chart" -f "$values"
    step "helm template helm/$chart ($env_name)" sh -c \
      "'$bin/helm' template '$chart' 'helm/$chart' -n '$chart' -f '$values' > '$work/rendered/$chart-$env_name.yaml'"
  done
done
# --skip-download: no network calls (offline-safe). Namespaces and Gatekeeper/Gateway objects
# hold no workload; checkov's Kubernetes checks look at those it knows.
step "checkov on helm/platform and helm/policies" "$bin/checkov" -d "$work/rendered" \
  --framework kubernetes --quiet --compact --skip-download
exit "$failed"
