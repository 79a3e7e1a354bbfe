#!/usr/bin/env bash
# `make pipeline`: the app pipeline on a developer's machine, against the kind cluster of
# infra/envs/local (`make local-up`). The same stages as .github/workflows/app.yml up to the
# registry, then a deploy and the checks of e2e-kind.yml:
#
#   1. build      docker build of app/Dockerfile, tagged with the full commit SHA (no `latest`:
#                 images are deployed by digest, as app.yml does)
#   2. test       scripts/ci/integration-test.sh against a container of that image
#   3. publish    push to a local registry the cluster pulls from (scripts/ci/kind-registry.sh),
#                 which yields the digest environments pin (kind load keeps no registry digest)
#   4. deploy     `sextant apply` of the scratch environment `kind` (scripts/ci/kind-env.sh:
#                 dev plus 10 fixed replicas of the image under test) from a copy of this tree
#   5. verify     10 ready replicas, the contract through the Service, and >= 100 requests/s
#                 (scripts/ci/load-test.sh, bounded in time)
#
# Every tool it needs is checked first and all missing ones are named at once, before any work.
# The one local process it starts (kubectl port-forward) runs in its own process group, bounded by
# `timeout`, and the group is stopped on every exit (the EXIT trap; INT and TERM exit through it).
# Settings: KIND_CLUSTER (default sextant-local), LOAD_DURATION (default 20s), MIN_RPS (100).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
ci="$root/scripts/ci"
cluster="${KIND_CLUSTER:-sextant-local}"
context="kind-$cluster"
registry=localhost:5001
namespace=hash-service
replicas=10

say() { printf '\n\033[1m== pipeline: %s\033[0m\n' "$*"; }
die() { echo "pipeline: FAILED: $*" >&2; exit 1; }

# -- 0. preflight: every missing tool, named at once ----------------------------------------------
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 ($2)"); }
need docker "https://docs.docker.com/engine/install/"
need kind "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
need kubectl "https://kubernetes.io/docs/tasks/tools/"
need hey "the load tool: go install github.com/rakyll/hey@v0.1.4"
need curl "your package manager"
need git "your package manager"
need python3 "your package manager"
need timeout "GNU coreutils"
need setsid "util-linux"
need cargo "https://rustup.rs (builds sextant when target/debug/sextant is missing)"
[ -x "$root/.tools/bin/helm" ] || missing+=("helm in .tools/bin (run: make tools)")
# A docker CLI without an engine behind it is as good as no docker.
if command -v docker >/dev/null 2>&1 && ! engine="$(docker info --format '{{.ServerVersion}}' 2>&1)"; then
  missing+=("a running Docker engine (the docker CLI is installed, but: $(tail -n 1 <<<"$engine"))")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "pipeline: cannot start; missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
kind get clusters 2>/dev/null | grep -qx "$cluster" ||
  die "no kind cluster '$cluster' (create it with: make local-up; or set KIND_CLUSTER)"

revision="$(git rev-parse HEAD)"
tag="$revision"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  # The image holds uncommitted changes, so the commit's SHA alone would name the wrong code.
  tag="$revision-dirty"
  echo "pipeline: the working tree has uncommitted changes; the image is tagged $tag"
fi

work="$(mktemp -d)"
container="" agent_replicas=""
# shellcheck source=scripts/lib/procs.sh
source "$root/scripts/lib/procs.sh"
cleanup() {
  [ -n "$container" ] && docker rm -f "$container" >/dev/null 2>&1
  if [ -n "$agent_replicas" ]; then
    echo "pipeline: giving the cluster back to the agent ($agent_replicas replicas); it re-syncs from Git"
    kubectl --context "$context" -n sextant-system scale deployment/sextant --replicas="$agent_replicas" >/dev/null || true
  fi
  rm -rf "$work"
}
on_exit cleanup

# -- 1. build --------------------------------------------------------------------------------------
say "1/5 build hash-service:$tag"
docker build -f app/Dockerfile -t "hash-service:$tag" \
  --label "org.opencontainers.image.revision=$revision" . || die "docker build failed"

# -- 2. integration test against a container -------------------------------------------------------
say "2/5 integration test against a container of hash-service:$tag"
container="$(docker run -d -p 127.0.0.1::8080 "hash-service:$tag")" || die "the container did not start"
port="$(docker port "$container" 8080/tcp | head -n 1)"
port="${port##*:}"
"$ci/integration-test.sh" "http://127.0.0.1:$port" || {
  docker logs "$container" >&2 || true
  die "the image does not answer the contract"
}
docker rm -f "$container" >/dev/null
container=""

# -- 3. publish to the cluster's registry ----------------------------------------------------------
say "3/5 publish to $registry (the registry cluster $cluster pulls from)"
"$ci/kind-registry.sh" "$cluster" || die "no registry for cluster $cluster"
docker tag "hash-service:$tag" "$registry/hash-service:$tag"
docker push --quiet "$registry/hash-service:$tag" >/dev/null || die "docker push to $registry failed"
ref="$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$registry/hash-service:$tag" |
  grep -m 1 "^$registry/hash-service@")" || die "no digest recorded for $registry/hash-service:$tag"
digest="${ref#*@}"
echo "pipeline: $registry/hash-service@$digest"

# -- 4. deploy ------------------------------------------------------------------------------------
say "4/5 deploy: sextant apply --env kind ($replicas replicas of @$digest) to $context"
sextant="$root/target/debug/sextant"
[ -x "$sextant" ] || cargo build --quiet -p sextant || die "cargo build -p sextant failed"
# The scratch environment lives in a copy of this working tree (tracked and new files), never here.
"$ci/copy-tree.py" "$work"
ingress=true
if ! kubectl --context "$context" -n ingress-nginx get deployment ingress-nginx-controller >/dev/null 2>&1; then
  ingress=false
  echo "pipeline: no ingress-nginx in $context; the kind environment drops local's Ingress"
fi
KIND_ENV_INGRESS="$ingress" "$ci/kind-env.sh" "$work" "$registry/hash-service" "$digest"
# An agent installed by infra/envs/local would put the cluster back to Git mid-check: pause it, and
# give it back on exit.
current="$(kubectl --context "$context" -n sextant-system get deployment sextant -o jsonpath='{.spec.replicas}' 2>/dev/null || true)"
if [ -n "$current" ] && [ "$current" != 0 ]; then
  echo "pipeline: pausing the in-cluster agent (sextant-system/sextant) during the checks"
  agent_replicas="$current"
  kubectl --context "$context" -n sextant-system scale deployment/sextant --replicas=0 >/dev/null
  kubectl --context "$context" -n sextant-system wait --for=delete pod -l app.kubernetes.io/name=sextant --timeout=90s >/dev/null || true
fi
"$sextant" apply --env kind --repo "$work" --helm "$root/.tools/bin/helm" --context "$context" ||
  die "sextant apply --env kind did not succeed (its output above names the object and wave)"

# -- 5. verify ------------------------------------------------------------------------------------
say "5/5 verify: $replicas ready replicas, the contract through the Service, >= ${MIN_RPS:-100} requests/s"
kubectl --context "$context" -n "$namespace" rollout status deployment/hash-service --timeout=180s ||
  die "deployment/hash-service did not roll out"
ready="$(kubectl --context "$context" -n "$namespace" get deployment hash-service -o jsonpath='{.status.readyReplicas}')"
[ "${ready:-0}" -eq "$replicas" ] || die "$namespace/hash-service has ${ready:-0} ready replicas, want $replicas"
echo "pipeline: $ready/$replicas replicas ready"
# The contract (/readyz included, which the Ingress does not publish) through the Service.
local_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# In its own process group, bounded at 300 s, stopped on exit (scripts/lib/procs.sh).
spawn 300 "$work/port-forward.log" \
  kubectl --context "$context" -n "$namespace" port-forward svc/hash-service "$local_port:80" --address 127.0.0.1
"$ci/integration-test.sh" "http://127.0.0.1:$local_port" || die "the Service does not answer the contract"
# The load through ingress-nginx, which spreads it over every replica (infra/envs/local maps the
# controller's port 80 to 127.0.0.1:8080; INGRESS_URL overrides); without one, port-forward, which
# reaches a single pod.
if [ "$ingress" = true ]; then
  load=("${INGRESS_URL:-http://127.0.0.1:8080}/hash/abc123" hash.dev.sextant.example.com)
else
  load=("http://127.0.0.1:$local_port/hash/abc123")
fi
LOAD_DURATION="${LOAD_DURATION:-20s}" "$ci/load-test.sh" "${load[@]}" || die "the service did not hold the load"
say "passed: hash-service:$tag (@$digest) runs $replicas replicas on $context and holds the load"
