#!/usr/bin/env bash
# `make demo`: the agent's main job on this repository's `local` environment (local charts only:
# the namespaces with their Pod Security labels, hash-service with its HPA, PDB and dashboard),
# with no cluster and no internet: the test API server (kube-testkit) stands in for Kubernetes,
# the real kubectl looks at it. dev and prod use upstream charts that cannot be fetched here
# (docs/platform.md): `ENV=dev make demo` works only where they can, or through chart mirrors.
# Then Git as the meeting point, in a deploy repository holding dev and prod in a fake GitHub
# (`fake-github`, served to the agents by `git daemon`), each environment's cluster a test API
# server of its own, and the real registry (`registry-testkit`: docker-registry with pushed
# images):
# - a preview (docs/preview.md): a pull request for 4 replicas in prod, the comment prod's agent
#   posts on it (what it would do to prod's cluster, the values key that moves it) and the
#   sextant/preview/prod status on its head, nothing applied;
# - the drift pull request: a `kubectl scale` in prod, the pull request prod's agent opens
#   (title, body, values diff, read back from the fake's API), its merge, prod syncing it;
# - a promotion (docs/promotion.md): prod takes only digests signed keyless by the app workflow
#   (signed here by sigstore-js against @sigstore/mock); an unsigned digest in dev soaks and is
#   refused (`unverified`); CI's bump of dev (`sextant set-image`, a push) to a signed one, dev's
#   gate from progressing through soaking to qualified, the digest verified in the registry and
#   its signature verified, the pull request dev's agent opens for prod, its merge, prod verifying
#   the signature again and running the digest;
# - a rollback: a digest prod's cluster keeps unready, promoted and merged the same way, rolled
#   back by prod's agent at once while Git still says it, the revert pull request with
#   rejected.yaml, and dev's gate reading `rejected` once it is merged.
# Every server runs in a process group of its own, bounded in time, and is stopped on every way
# out (scripts/lib/procs.sh); at the end nothing the demo started may still run
# (scripts/lib/leftovers.py, as `make test` checks).
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
# Everything the demo starts inherits this marker; at the end, nothing carrying it may still run.
MAKE_DEMO_RUN="$$-$(date +%s%N)"
export MAKE_DEMO_RUN
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

# wait_file FILE LOG WHAT [SECONDS]: until the server WHAT, just spawned, has written FILE
# (within SECONDS, default 10); else its log.
wait_file() {
  for _ in $(seq $((${4:-10} * 10))); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "$3 did not start: $(cat "$2")" >&2
  exit 1
}
# start_testkit KUBECONFIG LOG: a test API server, its kubeconfig written once it listens.
start_testkit() {
  spawn "$limit" "$2" "$bin/kube-testkit" serve --addr 127.0.0.1:0 --kubeconfig "$1"
  wait_file "$1" "$2" kube-testkit
}
# ms_since START: milliseconds since START (`date +%s%N`).
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
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
echo "healed $(ms_since "$start") ms after the patch: maxReplicas is $(kubectl --kubeconfig "$kubeconfig" get hpa/hash-service -n hash-service -o jsonpath='{.spec.maxReplicas}') again"
grep -E 'drift detected|drift healed' "$work/agent.log" | sed -E 's/\x1b\[[0-9;]*m//g; s/^/  /' || true
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^sextant_drift_(detected|heals)_total' | sed 's/^/  /'

# --- Git as the meeting point: a deploy repository with dev and prod -------------------------
deploy="$work/deploy"
seed="$deploy/seed"
mkdir -p "$seed/helm" "$seed/environments/dev/values" "$seed/environments/prod/values"
cp -R helm/hash-service "$seed/helm/"

# The real registry, four hash-service images pushed: both environments run the first; the
# second is promoted; the third is promoted too, but prod's cluster keeps it unready; the fourth
# is unsigned. TMPDIR: its storage is made under $work, so it goes with it. Without
# docker-registry (`make tools` installs it as root) there is no promotion: prod runs a made-up
# ECR digest, as a drift demo needs no more.
registry=""
image_repo=123456789012.dkr.ecr.eu-west-1.amazonaws.com/hash-service
running=sha256:f25476cba5a0a0629c26e808206428b2ec0b9b8c03a37a410a921aa3efea0ef2
promotion=""
if [ -x /usr/bin/docker-registry ] || [ -x /usr/sbin/docker-registry ]; then
  spawn "$limit" "$work/registry.log" env TMPDIR="$deploy" "$bin/registry-testkit" serve \
    --push hash-service --push hash-service --push hash-service --push hash-service \
    --info-file "$deploy/registry.json"
  wait_file "$deploy/registry.json" "$work/registry.log" registry-testkit 60
  registry="$(json 'd["host"]' <"$deploy/registry.json")"
  image_repo="$(json 'd["images"][0]["repository"]' <"$deploy/registry.json")"
  read -r running promoted failing unsigned < <(json '" ".join(i["digest"] for i in d["images"])' <"$deploy/registry.json")
  # The pipeline's keyless signatures of the first three, made by sigstore-js against
  # @sigstore/mock's Fulcio, Rekor and timestamp authority (scripts/sigstore/sign.cjs, installed
  # by make tools), attached in the registry; the trusted root it writes is the agents'.
  workflow=https://github.com/acme/deploy/.github/workflows/app.yml@refs/heads/main
  issuer=https://token.actions.githubusercontent.com
  python3 - "$image_repo" "$workflow" "$issuer" "$deploy/trusted_root.json" "$running" "$promoted" "$failing" >"$deploy/sign.json" <<'PY'
import json, sys
image, identity, issuer, root, *digests = sys.argv[1:]
print(json.dumps({"trustedRoot": root, "jobs": [
    {"image": image, "digest": d, "identity": identity, "issuer": issuer} for d in digests]}))
PY
  node scripts/sigstore/sign.cjs <"$deploy/sign.json" >/dev/null
  # prod takes dev's digests after a short soak, once signed by the app workflow on main.
  promotion="  promotion:
    from: dev
    soak: 3s
    images:
      - release: hash-service
        path: image.digest
        repository: \"$image_repo\"
        verify:
          signature:
            keyless: {issuer: \"$issuer\", subject: \"$workflow\"}"
fi

cat >"$seed/environments/dev/environment.yaml" <<'YAML'
apiVersion: sextant.io/v1alpha1
kind: Environment
metadata:
  name: dev
spec:
  releases:
    - {name: hash-service, namespace: hash-service, chart: helm/hash-service, values: [values/hash-service.yaml]}
  drift:
    policy: heal
YAML
# prod holds hash-service alone; its drift becomes a pull request at once (delay 0 s).
cat >"$seed/environments/prod/environment.yaml" <<YAML
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
  # Every pull request touching prod: a preview comment and a sextant/preview/prod status.
  preview:
    enabled: true
$promotion
YAML
# values_file ENV REPLICAS: hash-service's values in ENV, on the first image, with autoscaling
# off (with the HPA on, a scale is the HPA's business, not drift) and without what needs CRDs
# the test API server does not serve.
values_file() {
  cat <<YAML
---
# $1 overrides for helm/hash-service (release hash-service, namespace hash-service).
image:
  repository: $image_repo
  tag: "0.1.0"
  digest: $running

# Fixed size while the load test runs; the HPA comes back after it.
replicaCount: $2
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
}
values_file dev 1 >"$seed/environments/dev/values/hash-service.yaml"
values_file prod "3   # one per zone" >"$seed/environments/prod/values/hash-service.yaml"
values=environments/prod/values/hash-service.yaml

step "drift as a pull request: dev and prod's repository in a fake GitHub, prod's cluster a second test API server"
prodconfig="$deploy/prod.kubeconfig"
start_testkit "$prodconfig" "$work/prod-testkit.log"
# TMPDIR: the fake's bare repository is made under $work, so it goes with it.
spawn "$limit" "$work/fake-github.log" env TMPDIR="$deploy" "$bin/fake-github" serve \
  --repository acme/deploy --seed "$seed" --seed-message "dev and prod: hash-service" \
  --token-file "$deploy/token" --info-file "$deploy/github.json"
wait_file "$deploy/github.json" "$work/fake-github.log" fake-github
gh_url="$(json 'd["url"]' <"$deploy/github.json")"
git_base="$(json 'd["git_base"]' <"$deploy/github.json")"
bare="$(json 'd["repository_path"]' <"$deploy/github.json")"
token="$(cat "$deploy/token")"
gitport="$(free_port)"
spawn "$limit" "$work/git-daemon.log" git daemon --reuseaddr --export-all --listen=127.0.0.1 \
  --port="$gitport" --base-path="$git_base" "$git_base"
repo_url="git://127.0.0.1:$gitport/deploy.git"
for _ in $(seq 100); do git ls-remote "$repo_url" main >/dev/null 2>&1 && break; sleep 0.1; done
echo "fake GitHub: $gh_url (acme/deploy, main at $(json 'd["head"][:12]' <"$deploy/github.json")); Git: $repo_url"
# api PATH [CURL ARGS]: the fake's REST API, with its token.
api() { curl -sf -H "Authorization: Bearer $token" -H 'Accept: application/vnd.github+json' "$gh_url/repos/acme/deploy/$1" "${@:2}"; }
# file_at REF PATH: PATH at REF as the fake's contents API serves it; nothing when it is not there.
file_at() {
  local got
  got="$(api "contents/$2?ref=$1")" || return 0
  json 'base64.b64decode(d["content"]).decode()' <<<"$got"
}
# show_pull N: pull request N as the fake serves it: title, branch, labels, body.
show_pull() {
  api "pulls/$1" | json '"\n".join(["title:  " + d["title"], "branch: " + d["head"]["ref"] + " → " + d["base"]["ref"], "labels: " + ", ".join(l["name"] for l in d["labels"]), "", d["body"]])' | sed 's/^/  /'
}
# show_changes N PATH...: each PATH on pull request N's branch against main's.
show_changes() {
  local head
  head="$(api "pulls/$1" | json 'd["head"]["ref"]')"
  shift
  for path in "$@"; do
    file_at main "$path" >"$deploy/main.file"
    file_at "$head" "$path" >"$deploy/branch.file"
    if cmp -s "$deploy/main.file" "$deploy/branch.file"; then
      echo "  $path: the same on both"
    else
      diff -u --label "main:$path" --label "$head:$path" "$deploy/main.file" "$deploy/branch.file" | sed 's/^/  /' || true
    fi
  done
}
# merge N: a reviewer merges pull request N (GitHub's PUT …/pulls/N/merge); prints the commit.
merge() { api "pulls/$1/merge" -X PUT -d '{"merge_method": "merge"}' | json 'd["sha"]'; }

# The agents until_true watches: "PID LOG NAME" each.
agents=()
# spawn_agent ENV KUBECONFIG PORT: ENV's agent in ENV's cluster, following the deploy repository,
# with the forge and the registry; its log $work/ENV-agent.log; sets $agent_pid.
spawn_agent() {
  spawn "$limit" "$work/$1-agent.log" env KUBECONFIG="$2" SEXTANT_CACHE_DIR="$deploy/cache-$1" \
    SEXTANT_REPO_URL="$repo_url" SEXTANT_BRANCH=main SEXTANT_POLL_INTERVAL=1s SEXTANT_ENVIRONMENTS="$1" \
    SEXTANT_LISTEN_ADDR="127.0.0.1:$3" SEXTANT_LEADER_ELECTION=false SEXTANT_POD_NAME="demo-$1" \
    SEXTANT_FORGE_API_URL="$gh_url" SEXTANT_FORGE_REPOSITORY=acme/deploy \
    SEXTANT_FORGE_TOKEN_FILE="$deploy/token" SEXTANT_REGISTRY_INSECURE="$registry" \
    ${registry:+SEXTANT_REGISTRY_TRUST_ROOT="$deploy/trusted_root.json"} \
    SEXTANT_LOG_FORMAT=pretty RUST_LOG="${RUST_LOG:-info}" "$sextant" run
  agent_pid=$spawned
  agents+=("$agent_pid $work/$1-agent.log $1")
  wait_ready "$3" "$agent_pid" "$work/$1-agent.log"
}
# until_true SECONDS WHAT CMD...: CMD until it succeeds, at most SECONDS; else the agents' logs.
until_true() {
  local seconds="$1" what="$2" deadline failed a pid log name
  shift 2
  deadline=$(($(date +%s) + seconds))
  until "$@"; do
    failed=""
    [ "$(date +%s)" -lt "$deadline" ] || failed="not within $seconds s: $what"
    for a in "${agents[@]}"; do
      read -r pid log name <<<"$a"
      kill -0 "$pid" 2>/dev/null || failed="the $name agent exited"
    done
    if [ -n "$failed" ]; then
      echo "$failed" >&2
      for a in "${agents[@]}"; do
        read -r pid log name <<<"$a"
        echo "-- the $name agent's log, its last 30 lines:"
        tail -n 30 "$log"
      done >&2
      exit 1
    fi
    sleep 0.1
  done
}
prodport="$(free_port)"
spawn_agent prod "$prodconfig" "$prodport"
pstatus() { curl -s "http://127.0.0.1:$prodport/status"; }
# prod_at REV: prod in sync (and at REV, when given).
prod_at() {
  pstatus | json "d['environments']['prod']['drift']['state'] == 'in-sync' and '$1' in ('', d['environments']['prod']['revision'])" >/dev/null 2>&1
}
until_true 60 "prod applied and watched" prod_at ""
pstatus | python3 "$root/scripts/status-summary.py"
kubectl --kubeconfig "$prodconfig" get deployment/hash-service -n hash-service

step "before the merge: someone opens a pull request for 4 replicas in prod; prod's agent previews it"
contributor="$deploy/contributor"
git clone -q "$bare" "$contributor"
sed -i 's/^replicaCount: 3 /replicaCount: 4 /' "$contributor/$values"
git -C "$contributor" -c user.name=someone -c user.email=someone@example.com commit -qam "prod: 4 replicas"
git -C "$contributor" push -q origin HEAD:refs/heads/scale-prod
preview_head="$(git -C "$contributor" rev-parse HEAD)"
preview_pr="$(api pulls -X POST -d '{"title": "prod: 4 replicas", "head": "scale-prod", "base": "main"}' | json 'd["number"]')"
start="$(date +%s%N)"
echo "pull request #$preview_pr: scale-prod → main, head ${preview_head:0:12}"
marker='<!-- sextant:preview:prod -->'
preview_comment() { api "issues/$preview_pr/comments" | json "next((c['body'] for c in d if c['body'].startswith('$marker')), None)"; }
previewed() { preview_comment >/dev/null 2>&1; }
until_true 60 "prod's preview of #$preview_pr" previewed
echo "prod's agent commented $(ms_since "$start") ms after the pull request opened (GET .../issues/$preview_pr/comments):"
preview_comment | sed 's/^/  /'
echo "the head's status: $(api "commits/$preview_head/statuses" | json '"; ".join(s["context"] + " " + s["state"] + ": " + s["description"] for s in d if s["context"] == "sextant/preview/prod")')"
echo "nothing applied from a pull request: prod still runs $(kubectl --kubeconfig "$prodconfig" get deployment/hash-service -n hash-service -o jsonpath='{.spec.replicas}') replicas"
api "pulls/$preview_pr" -X PATCH -d '{"state": "closed"}' >/dev/null
echo "#$preview_pr is closed without merging"

step "someone runs, in prod: kubectl scale deployment/hash-service -n hash-service --replicas=5"
kubectl --kubeconfig "$prodconfig" scale deployment/hash-service -n hash-service --replicas=5
start="$(date +%s%N)"
pr_open() { pstatus | json "len(d['environments']['prod']['drift_requests']['open']) > 0" >/dev/null 2>&1; }
until_true 60 "the drift pull request" pr_open
opened="$(pstatus | json "d['environments']['prod']['drift_requests']['open'][0]")"
number="$(json 'd["number"]' <<<"$opened")"
echo "the agent opened pull request #$number $(ms_since "$start") ms after the scale: $(json 'd["url"]' <<<"$opened")"
echo "and left the live change alone (policy pull-request): replicas $(kubectl --kubeconfig "$prodconfig" get deployment/hash-service -n hash-service -o jsonpath='{.spec.replicas}')"

# Opened, then labelled: wait for both.
labelled() { api "pulls/$1" | json 'len(d["labels"]) > 0' >/dev/null 2>&1; }
until_true 20 "the pull request labelled" labelled "$number"

step "the pull request, as the fake GitHub serves it: GET /repos/acme/deploy/pulls/$number"
show_pull "$number"

step "the values file on its branch against main's (GET /repos/acme/deploy/contents/…?ref=…)"
show_changes "$number" "$values"

step "a reviewer merges it: PUT /repos/acme/deploy/pulls/$number/merge"
merged="$(merge "$number")"
echo "main is now $merged ($(api "pulls/$number" | json '"merged: %s, state: %s" % (json.dumps(d["merged"]), d["state"])'))"
start="$(date +%s%N)"
until_true 60 "prod at the merge commit and in sync" prod_at "$merged"
echo "the agent synced the merge $(ms_since "$start") ms after it"
echo "main's values: $(file_at main "$values" | grep '^replicaCount:'); live: replicas $(kubectl --kubeconfig "$prodconfig" get deployment/hash-service -n hash-service -o jsonpath='{.spec.replicas}')"
pstatus | python3 "$root/scripts/status-summary.py"
pstatus | json '"  drift: %s; open drift requests: %d" % (d["environments"]["prod"]["drift"]["state"], len(d["environments"]["prod"]["drift_requests"]["open"]))'

step "sextant diff --env prod on a clone of main — in sync (exit 0)"
git clone -q "$repo_url" "$deploy/clone"
"$sextant" diff --env prod --repo "$deploy/clone" --kubeconfig "$prodconfig" && echo "in sync"
grep -E 'drift|pull request' "$work/prod-agent.log" | sed -E 's/\x1b\[[0-9;]*m//g; s/^/  /' | head -n 12 || true

# --- Promotion dev → prod (docs/promotion.md) -------------------------------------------------
short() { echo "${1:0:19}…"; }
prod_image() { kubectl --kubeconfig "$prodconfig" get deployment/hash-service -n hash-service -o jsonpath='{.spec.template.spec.containers[0].image}'; }
prod_runs() { [[ "$(prod_image)" == *"@$1" ]]; }
show_prod() {
  kubectl --kubeconfig "$prodconfig" get deployment/hash-service -n hash-service \
    -o custom-columns='NAME:.metadata.name,REPLICAS:.spec.replicas,READY:.status.readyReplicas,IMAGE:.spec.template.spec.containers[0].image' | sed 's/^/  /'
}
dstatus() { curl -s "http://127.0.0.1:$devport/status"; }
# gate_is STATE DIGEST [REQUEST]: dev's gate for prod's hash-service, in dev's /status on stdin,
# is in STATE on DIGEST (with its pull request open, when REQUEST is given).
gate_is() {
  json "any(p['target'] == 'prod' and p['state'] == '$1' and p['digest'] == '$2' and (p['request'] or not '${3:-}') for p in d['environments']['dev'].get('promotions', []))" >/dev/null 2>&1
}
# dev_gate_is STATE DIGEST: gate_is on dev's /status now.
dev_gate_is() { dstatus | gate_is "$@"; }
gate_line() { python3 "$root/scripts/status-summary.py" --promotions; }
# bump_dev DIGEST: what CI does for a new image: sextant set-image in a clone of main, a commit,
# a push (to the fake's bare repository: git daemon serves it read-only).
bump_dev() {
  rm -rf "$deploy/ci"
  git clone -q "$repo_url" "$deploy/ci"
  "$sextant" set-image --env dev --repo "$deploy/ci" --release hash-service --digest "$1" | sed 's/^/  /'
  git -C "$deploy/ci" -c user.name=ci -c user.email=ci@example.com commit -qam "dev: hash-service $(short "$1")"
  git -C "$deploy/ci" push -q "$bare" HEAD:main
  echo "  pushed $(git -C "$deploy/ci" log -1 --format='%h %s') to main"
}
# gate_changed DIGEST: prints dev's gate when it has changed since the last call (with the time
# since $gate_start); succeeds once it is qualified for DIGEST and its pull request is open.
gate_changed() {
  local now line
  now="$(dstatus)"
  line="$(gate_line <<<"$now")"
  [ "$line" = "$gate_last" ] || printf '  +%5d ms %s\n' "$(ms_since "$gate_start")" "${line#  prod/hash-service: }"
  gate_last="$line"
  gate_is qualified "$1" request <<<"$now"
}
# watch_gate DIGEST: dev's gate, a line each time it changes, until it is qualified for DIGEST
# and its pull request is open; sets $number to that pull request.
watch_gate() {
  gate_start="$(date +%s%N)"
  gate_last=""
  until_true 60 "dev's gate qualified for $(short "$1"), its pull request open" gate_changed "$1"
  number="$(dstatus | json "[p for p in d['environments']['dev']['promotions'] if p['target'] == 'prod'][0]['request'].rsplit('/', 1)[1]")"
}

# demo_promotion: dev's agent beside prod's; CI's bump of dev; the gate; the pull request; its
# merge; prod running the digest.
demo_promotion() {
  step "promotion dev → prod: dev's cluster a third test API server, dev's agent proposes, prod's applies"
  echo "registry: $registry (docker-registry), $image_repo holding four pushed images, the first three"
  echo "signed keyless by $workflow (sigstore-js against @sigstore/mock):"
  echo "  $running  (dev and prod run it)"
  echo "  $promoted"
  echo "  $failing"
  echo "  $unsigned  (unsigned)"
  echo "prod's environment.yaml declares what it takes, and from where:"
  sed -n '/^  promotion:/,$p' "$seed/environments/prod/environment.yaml" | sed 's/^/  /'
  devconfig="$deploy/dev.kubeconfig"
  start_testkit "$devconfig" "$work/dev-testkit.log"
  devport="$(free_port)"
  spawn_agent dev "$devconfig" "$devport"
  until_true 60 "dev's gate: prod already runs dev's digest" dev_gate_is up-to-date "$running"
  echo "dev's agent is up: http://127.0.0.1:$devport/status → .environments.dev.promotions:"
  dstatus | gate_line

  step "an unsigned image in dev: it runs and soaks, but its signature does not verify, so nothing is proposed"
  bump_dev "$unsigned"
  until_true 60 "dev's gate unverified for $(short "$unsigned")" dev_gate_is unverified "$unsigned"
  dstatus | gate_line
  curl -s "http://127.0.0.1:$devport/metrics" | grep -E '^sextant_promotion_verifications_total' | sed 's/^/  /'
  echo "  (open pull requests: $(api 'pulls?state=open' | json 'len(d)'))"

  step "CI bumps dev: sextant set-image --env dev --release hash-service --digest $(short "$promoted") in a clone, commit, push"
  bump_dev "$promoted"

  step "dev's gate (dev's /status), each change as it happens: applied, rolled out, soaking 3 s, verified (registry, signature), proposed"
  watch_gate "$promoted"

  step "the promotion pull request dev's agent opened: GET /repos/acme/deploy/pulls/$number"
  show_pull "$number"
  echo "  (open pull requests labelled sextant-promotion: $(api 'pulls?state=open' | json 'len([p for p in d if any(l["name"] == "sextant-promotion" for l in p["labels"])])'))"

  step "what it changes: prod's values on its branch against main's — image.digest only"
  show_changes "$number" "$values" environments/dev/values/hash-service.yaml

  step "a reviewer merges it: PUT /repos/acme/deploy/pulls/$number/merge"
  merged="$(merge "$number")"
  echo "main is now $merged"
  start="$(date +%s%N)"
  until_true 60 "prod running $(short "$promoted")" prod_runs "$promoted"
  until_true 60 "prod at the merge commit and in sync" prod_at "$merged"
  echo "prod's agent applied it $(ms_since "$start") ms after the merge; in prod's cluster (kubectl get):"
  show_prod
  until_true 30 "dev's gate: prod up to date" dev_gate_is up-to-date "$promoted"
  echo "dev's gate:"
  dstatus | gate_line
  curl -s "http://127.0.0.1:$devport/metrics" | grep -E '^sextant_(promotions_total|registry_requests_total)' | sed 's/^/  /'
  curl -s "http://127.0.0.1:$prodport/metrics" | grep -E '^sextant_promotion_lead_time_seconds_(sum|count)' | sed 's/^/  /'

}

# --- Rollback in prod ------------------------------------------------------------------------
# demo_rollback: a digest prod's cluster keeps unready, promoted and merged; prod's rollback, the
# revert pull request, its merge, dev's gate rejecting the digest.
demo_rollback() {
  step "a digest prod's cluster keeps unready: PUT /testkit/fail-readiness-images on prod's test API server (dev's cluster runs it)"
  printf '["%s"]\n' "$failing" >"$deploy/failing.json"
  kubectl --kubeconfig "$prodconfig" replace --raw /testkit/fail-readiness-images -f "$deploy/failing.json" >/dev/null
  echo "prod's cluster keeps unready: $(kubectl --kubeconfig "$prodconfig" get --raw /testkit/fail-readiness-images)"
  bump_dev "$failing"
  watch_gate "$failing"
  echo "  pull request #$number: $(api "pulls/$number" | json 'd["title"]')"
  merged="$(merge "$number")"
  echo "a reviewer merges it: main is now $merged"

  step "prod applies it; its Deployment never becomes ready (ProgressDeadlineExceeded): prod rolls back at once, Git still saying the bad digest"
  start="$(date +%s%N)"
  rolled_back() { pstatus | json "d['environments']['prod'].get('rollback', {}).get('rolled_back') == True" >/dev/null 2>&1; }
  until_true 60 "prod rolled back" rolled_back
  until_true 30 "prod running $(short "$promoted") again" prod_runs "$promoted"
  echo "rolled back $(ms_since "$start") ms after the merge; prod's /status → .environments.prod.rollback:"
  pstatus | json '(lambda r: "\n".join(["from revision %s to %s at %s: %s" % (r["from"][:12], r["to"][:12], r["at"], r["reason"])] + ["%s: %s → %s" % (x["release"], x["bad"], x["previous"]) for x in r["releases"]]))(d["environments"]["prod"]["rollback"])' | sed 's/^/  /'
  grep -E 'rolled back to the last good rendering' "$work/prod-agent.log" | sed -E 's/\x1b\[[0-9;]*m//g; s/^/  /'
  echo "main still says: $(file_at main "$values" | grep 'digest:' | sed 's/^ *//'); in prod's cluster:"
  show_prod
  kubectl --kubeconfig "$prodconfig" get events.events.k8s.io -n hash-service \
    -o custom-columns='TYPE:.type,REASON:.reason,OBJECT:.regarding.kind,NAME:.regarding.name,NOTE:.note' | sed 's/^/  /'

  reverted() { pstatus | json "d['environments']['prod'].get('rollback', {}).get('reverted')" >/dev/null 2>&1; }
  until_true 60 "the revert pull request" reverted
  number="$(pstatus | json "d['environments']['prod']['rollback']['reverted'].rsplit('/', 1)[1]")"
  step "the revert pull request prod's agent opened: GET /repos/acme/deploy/pulls/$number"
  show_pull "$number"
  show_changes "$number" "$values" environments/prod/rejected.yaml

  step "a reviewer merges the revert: prod leaves the rollback, dev's gate reads rejected and proposes nothing"
  merged="$(merge "$number")"
  echo "main is now $merged"
  until_true 60 "prod at the revert and in sync" prod_at "$merged"
  until_true 30 "dev's gate: rejected" dev_gate_is rejected "$failing"
  dstatus | gate_line
  # /status leaves out .rollback once it is over.
  rollback_over() { pstatus | json "d['environments']['prod'].get('rollback') is None" >/dev/null 2>&1; }
  until_true 30 "prod's rollback over once Git moved on" rollback_over
  echo "  prod: no rollback in /status now; running $(prod_image)"
  echo "  open pull requests: $(api 'pulls?state=open' | json 'len(d)')"
}

if [ -n "$registry" ]; then
  demo_promotion
  demo_rollback
else
  step "promotion dev → prod: skipped — docker-registry is missing (as root: apt-get install docker-registry, or make tools)"
fi

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
env -u MAKE_DEMO_RUN python3 "$root/scripts/lib/leftovers.py" --variable MAKE_DEMO_RUN "$MAKE_DEMO_RUN" "$$"
