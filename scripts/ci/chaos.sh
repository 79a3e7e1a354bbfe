#!/usr/bin/env bash
# Voluntary disruption while scripts/ci/load-test.sh runs: every INTERVAL seconds, for DURATION
# seconds, evict one random hash-service pod through the Eviction API (the path a node drain or an
# autoscaler takes, which the PodDisruptionBudget governs), and sample the Deployment's ready
# replicas every second. Passes when at least one pod was evicted and ready replicas never fell
# below DESIRED - maxUnavailable of the PDB: evictions that would break the budget must be refused
# by the API server (HTTP 429), which is counted and reported, not treated as an error.
#
#   scripts/ci/chaos.sh NAMESPACE DEPLOYMENT [DURATION_SECONDS] [INTERVAL_SECONDS]
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 NAMESPACE DEPLOYMENT [DURATION_SECONDS] [INTERVAL_SECONDS]" >&2; exit 2; }
ns="$1" deploy="$2" duration="${3:-30}" interval="${4:-4}"
# shellcheck disable=SC2016 # a Go template for kubectl, not shell
selector="$(kubectl -n "$ns" get deployment "$deploy" -o go-template='{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}')"
selector="${selector%,}"
desired="$(kubectl -n "$ns" get deployment "$deploy" -o jsonpath='{.spec.replicas}')"
max_unavailable="$(kubectl -n "$ns" get pdb -o jsonpath='{.items[0].spec.maxUnavailable}')"
[[ "$max_unavailable" =~ ^[0-9]+$ ]] || { echo "chaos: no PDB with a whole-number maxUnavailable in $ns (got '$max_unavailable')" >&2; exit 1; }
floor=$((desired - max_unavailable))
echo "chaos: $ns/$deploy: $desired replicas, PDB maxUnavailable $max_unavailable, so never fewer than $floor ready"

evicted=0 refused=0 min_ready="$desired"
next_eviction=$SECONDS
deadline=$((SECONDS + duration))
while [ "$SECONDS" -lt "$deadline" ]; do
  ready="$(kubectl -n "$ns" get deployment "$deploy" -o jsonpath='{.status.readyReplicas}')"
  ready="${ready:-0}"
  [ "$ready" -lt "$min_ready" ] && min_ready="$ready"
  if [ "$SECONDS" -ge "$next_eviction" ]; then
    next_eviction=$((SECONDS + interval))
    pod="$(kubectl -n "$ns" get pods -l "$selector" --field-selector=status.phase=Running -o name | shuf -n 1)"
    if [ -n "$pod" ]; then
      body="{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"${pod#pod/}\",\"namespace\":\"$ns\"}}"
      if out="$(kubectl create --raw "/api/v1/namespaces/$ns/pods/${pod#pod/}/eviction" -f - <<<"$body" 2>&1)"; then
        evicted=$((evicted + 1)); echo "chaos: evicted $pod (ready was $ready)"
      elif grep -q "disruption budget" <<<"$out"; then
        refused=$((refused + 1)); echo "chaos: eviction of $pod refused by the PDB (ready $ready)"
      else
        echo "chaos: eviction of $pod failed: $out" >&2; exit 1
      fi
    fi
  fi
  sleep 1
done
echo "chaos: $evicted evicted, $refused refused by the PDB, fewest ready replicas seen: $min_ready"
[ "$evicted" -ge 1 ] || { echo "chaos: FAILED: no pod was evicted" >&2; exit 1; }
[ "$min_ready" -ge "$floor" ] || { echo "chaos: FAILED: ready replicas fell to $min_ready, under $floor" >&2; exit 1; }
