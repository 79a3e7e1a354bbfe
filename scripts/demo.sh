#!/usr/bin/env bash
# `make demo`: the agent's main job on this repository's `local` environment (local charts only:
# the namespaces with their Pod Security labels, hash-service with its HPA, PDB and dashboard),
# with no cluster and no internet: the test API server (kube-testkit) stands in for Kubernetes,
# the real kubectl looks at it. dev and prod use upstream charts that cannot be fetched here
# (docs/platform.md): `ENV=dev make demo` works only where they can, or through chart mirrors.
# Then the drift pull request: a prod-shaped repository in a fake GitHub (`fake-github`, served to
# the agent by `git daemon`), its own test API server as prod's cluster, a `kubectl scale` there,
# the pull request the agent opens (title, body, values diff, read back from the fake's API), its
# merge, and the agent syncing the merge commit until prod is in sync.
# Every server runs in a process group of its own, bounded in time, and is stopped on every way
# out (scripts/lib/procs.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.tools/bin:$PATH"
# shellcheck source=scripts/lib/procs.sh
source "$root/scripts/lib/procs.sh"
env="${ENV:-local}"
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
sextant="$bin/sextant"
work="$(mktemp -d)"
kubeconfig="$work/kubeconfig"
export SEXTANT_CACHE_DIR="$work/cache"
interactive=""
if [ -t 0 ] && [ -z "${DEMO_SECONDS:-}" ]; then interactive=1; fi
# How long any server may live: until Ctrl-C on a terminal, else well past the demo's own waits.
limit=600
[ -z "$interactive" ] || limit=86400
follow=""
cleanup() {
  [ -z "$follow" ] || kill "$follow" 2>/dev/null || true
  rm -rf "$work"
}
on_exit cleanup

# start_testkit KUBECONFIG LOG: a test API server, its kubeconfig written once it listens.
start_testkit() {
  spawn "$limit" "$2" "$bin/kube-testkit" serve --addr 127.0.0.1:0 --kubeconfig "$1"
  for _ in $(seq 100); do [ -s "$1" ] && break; sleep 0.1; done
  [ -s "$1" ] || { echo "kube-testkit did not start: $(cat "$2")" >&2; exit 1; }
}
# json EXPR: the Python expression EXPR over the JSON document on stdin (`d`): a string printed
# as it is, anything else as JSON; fails when it is false or null.
json() {
  python3 -c '
import base64, json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1])
out = v if isinstance(v, str) else json.dumps(v)
sys.stdout.write(out if out.endswith("\n") else out + "\n")
sys.exit(0 if v is not None and v is not False else 1)' "$1"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_ready PORT PID LOG: until the agent's /readyz answers 200 (its log shown if it exits).
wait_ready() {
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ] && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3" >&2; exit 1; }
    sleep 0.1
  done
  echo "the agent was not ready in 60 s: $(tail -n 20 "$3")" >&2
  exit 1
}

start_testkit "$kubeconfig" "$work/testkit.log"

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

port="$(free_port)"
step "sextant run --repo-path . — the agent in local mode on this working tree ($env)"
spawn "$limit" "$work/agent.log" env KUBECONFIG="$kubeconfig" SEXTANT_ENVIRONMENTS="$env" \
  SEXTANT_LISTEN_ADDR="127.0.0.1:$port" SEXTANT_LEADER_ELECTION=false SEXTANT_LOG_FORMAT=pretty \
  RUST_LOG="${RUST_LOG:-info}" "$sextant" run --repo-path "$root"
agent=$spawned
wait_ready "$port" "$agent" "$work/agent.log"
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

# --- Drift as a pull request (prod's drift.policy is pull-request) ----------------------------
prod="$work/prod"
seed="$prod/seed"
mkdir -p "$seed/helm" "$seed/environments/prod/values"
cp -R helm/hash-service "$seed/helm/"
# A prod holding hash-service alone, whose drift becomes a pull request at once (delay 0 s).
cat >"$seed/environments/prod/environment.yaml" <<'YAML'
apiVersion: sextant.io/v1alpha1
kind: Environment
metadata:
  name: prod
spec:
  releases:
    - {name: hash-service, namespace: hash-service, chart: helm/hash-service, values: [values/hash-service.yaml]}
  drift:
    policy: pull-request
    pullRequest:
      delay: 0s
      labels: [prod]
YAML
# prod's values, with autoscaling off (with the HPA on, a scale is the HPA's business, not
# drift) and without what needs CRDs the test API server does not serve.
cat >"$seed/environments/prod/values/hash-service.yaml" <<'YAML'
---
# prod overrides for helm/hash-service (release hash-service, namespace hash-service).
image:
  repository: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/hash-service
  tag: "0.1.0"
  digest: sha256:f25476cba5a0a0629c26e808206428b2ec0b9b8c03a37a410a921aa3efea0ef2

# Fixed size while the load test runs; the HPA comes back after it.
replicaCount: 3   # one per zone
logLevel: info
autoscaling:
  enabled: false
resources:
  requests: {cpu: 200m, memory: 64Mi}
  limits: {cpu: 200m, memory: 64Mi}
ingress:
  enabled: false
route:
  enabled: false
serviceMonitor:
  enabled: false
prometheusRule:
  enabled: false
dashboard:
  enabled: false
YAML

step "drift as a pull request: prod's repository in a fake GitHub, prod's cluster a second test API server"
prodconfig="$prod/kubeconfig"
start_testkit "$prodconfig" "$work/prod-testkit.log"
# TMPDIR: the fake's bare repository is made under $work, so it goes with it.
spawn "$limit" "$work/fake-github.log" env TMPDIR="$prod" "$bin/fake-github" serve \
  --repository acme/deploy --seed "$seed" --seed-message "prod: hash-service, drift as pull requests" \
  --token-file "$prod/token" --info-file "$prod/github.json"
for _ in $(seq 100); do [ -s "$prod/github.json" ] && break; sleep 0.1; done
[ -s "$prod/github.json" ] || { echo "fake-github did not start: $(cat "$work/fake-github.log")" >&2; exit 1; }
gh_url="$(json 'd["url"]' <"$prod/github.json")"
git_base="$(json 'd["git_base"]' <"$prod/github.json")"
token="$(cat "$prod/token")"
gitport="$(free_port)"
spawn "$limit" "$work/git-daemon.log" git daemon --reuseaddr --export-all --listen=127.0.0.1 \
  --port="$gitport" --base-path="$git_base" "$git_base"
repo_url="git://127.0.0.1:$gitport/deploy.git"
for _ in $(seq 100); do git ls-remote "$repo_url" main >/dev/null 2>&1 && break; sleep 0.1; done
echo "fake GitHub: $gh_url (acme/deploy, main at $(json 'd["head"][:12]' <"$prod/github.json")); Git: $repo_url"
# api PATH: the fake's REST API, with its token.
api() { curl -sf -H "Authorization: Bearer $token" -H 'Accept: application/vnd.github+json' "$gh_url/repos/acme/deploy/$1" "${@:2}"; }

prodport="$(free_port)"
spawn "$limit" "$work/prod-agent.log" env KUBECONFIG="$prodconfig" SEXTANT_CACHE_DIR="$prod/cache" \
  SEXTANT_REPO_URL="$repo_url" SEXTANT_BRANCH=main SEXTANT_POLL_INTERVAL=1s SEXTANT_ENVIRONMENTS=prod \
  SEXTANT_LISTEN_ADDR="127.0.0.1:$prodport" SEXTANT_LEADER_ELECTION=false SEXTANT_POD_NAME=demo-prod \
  SEXTANT_FORGE_API_URL="$gh_url" SEXTANT_FORGE_REPOSITORY=acme/deploy \
  SEXTANT_FORGE_TOKEN_FILE="$prod/token" SEXTANT_LOG_FORMAT=pretty RUST_LOG="${RUST_LOG:-info}" \
  "$sextant" run
prodagent=$spawned
wait_ready "$prodport" "$prodagent" "$work/prod-agent.log"
pstatus() { curl -s "http://127.0.0.1:$prodport/status"; }
# until SECONDS WHAT CMD...: CMD until it succeeds, at most SECONDS; else the prod agent's log.
until_true() {
  local seconds="$1" what="$2" n=0
  shift 2
  until "$@"; do
    n=$((n + 1))
    if [ "$n" -gt $((seconds * 10)) ]; then
      echo "not within $seconds s: $what" >&2
      tail -n 30 "$work/prod-agent.log" >&2
      exit 1
    fi
    kill -0 "$prodagent" 2>/dev/null || { echo "the prod agent exited" >&2; tail -n 30 "$work/prod-agent.log" >&2; exit 1; }
    sleep 0.1
  done
}
# prod_at REV: prod in sync (and at REV, when given).
prod_at() {
  pstatus | json "d['environments']['prod']['drift']['state'] == 'in-sync' and '$1' in ('', d['environments']['prod']['revision'])" >/dev/null 2>&1
}
until_true 60 "prod applied and watched" prod_at ""
pstatus | python3 "$root/scripts/status-summary.py"
kubectl --kubeconfig "$prodconfig" get deployment/hash-service -n hash-service

step "someone runs, in prod: kubectl scale deployment/hash-service -n hash-service --replicas=5"
kubectl --kubeconfig "$prodconfig" scale deployment/hash-service -n hash-service --replicas=5
start="$(date +%s%N)"
pr_open() { pstatus | json "len(d['environments']['prod']['drift_requests']['open']) > 0" >/dev/null 2>&1; }
until_true 60 "the drift pull request" pr_open
opened="$(pstatus | json "d['environments']['prod']['drift_requests']['open'][0]")"
number="$(json 'd["number"]' <<<"$opened")"
echo "the agent opened pull request #$number $(( ($(date +%s%N) - start) / 1000000 )) ms after the scale: $(json 'd["url"]' <<<"$opened")"
echo "and left the live change alone (policy pull-request): replicas $(kubectl --kubeconfig "$prodconfig" get deployment/hash-service -n hash-service -o jsonpath='{.spec.replicas}')"

# Opened, then labelled: wait for both.
labelled() { api "pulls/$number" | json 'len(d["labels"]) > 0' >/dev/null 2>&1; }
until_true 20 "the pull request labelled" labelled

step "the pull request, as the fake GitHub serves it: GET /repos/acme/deploy/pulls/$number"
pull="$(api "pulls/$number")"
json '"\n".join(["title:  " + d["title"], "branch: " + d["head"]["ref"] + " → " + d["base"]["ref"], "labels: " + ", ".join(l["name"] for l in d["labels"]), "", d["body"]])' <<<"$pull" | sed 's/^/  /'

step "the values file on its branch against main's (GET /repos/acme/deploy/contents/…?ref=…)"
values=environments/prod/values/hash-service.yaml
head_ref="$(json 'd["head"]["ref"]' <<<"$pull")"
api "contents/$values?ref=main" | json 'base64.b64decode(d["content"]).decode()' >"$prod/values.main.yaml"
api "contents/$values?ref=$head_ref" | json 'base64.b64decode(d["content"]).decode()' >"$prod/values.pr.yaml"
diff -u --label "main:$values" --label "$head_ref:$values" "$prod/values.main.yaml" "$prod/values.pr.yaml" | sed 's/^/  /' || true

step "a reviewer merges it: PUT /repos/acme/deploy/pulls/$number/merge"
merge="$(api "pulls/$number/merge" -X PUT -d '{"merge_method": "merge"}' | json 'd["sha"]')"
echo "main is now $merge ($(api "pulls/$number" | json '"merged: %s, state: %s" % (json.dumps(d["merged"]), d["state"])'))"
start="$(date +%s%N)"
until_true 60 "prod at the merge commit and in sync" prod_at "$merge"
echo "the agent synced the merge $(( ($(date +%s%N) - start) / 1000000 )) ms after it"
echo "main's values: $(api "contents/$values?ref=main" | json 'base64.b64decode(d["content"]).decode()' | grep '^replicaCount:'); live: replicas $(kubectl --kubeconfig "$prodconfig" get deployment/hash-service -n hash-service -o jsonpath='{.spec.replicas}')"
pstatus | python3 "$root/scripts/status-summary.py"
pstatus | json '"  drift: %s; open drift requests: %d" % (d["environments"]["prod"]["drift"]["state"], len(d["environments"]["prod"]["drift_requests"]["open"]))'

step "sextant diff --env prod on a clone of main — in sync (exit 0)"
git clone -q "$repo_url" "$prod/clone"
"$sextant" diff --env prod --repo "$prod/clone" --kubeconfig "$prodconfig" && echo "in sync"
grep -E 'drift|pull request' "$work/prod-agent.log" | sed -E 's/\x1b\[[0-9;]*m//g; s/^/  /' | head -n 12 || true

if [ -n "$interactive" ]; then
  step "the local agent keeps running"
  echo "Edit environments/*/values/*.yaml: the agent re-syncs on save (its log: $work/agent.log). Ctrl-C stops it."
  tail -f "$work/agent.log" &
  follow=$!
  while kill -0 "$agent" 2>/dev/null; do sleep 1; done
else
  sleep "${DEMO_SECONDS:-3}"
  echo "(non-interactive: stopping the agents after ${DEMO_SECONDS:-3} s; DEMO_SECONDS sets how long)"
fi
stop_spawned
spawned_gone
