#!/usr/bin/env bash
# Tests of the delivery pipelines' shared stages (scripts/ci/) and of `make pipeline`, run here
# without Docker, kind or GitHub:
#   - set-image.py (the dev bump) on a copy of the repository: exactly the digest line changes,
#     every comment stays, a bad digest or an unexpected file shape is refused and nothing written;
#   - kind-env.sh: the scratch environment renders 10 replicas of the image under test;
#   - integration-test.sh against the hash-service binary run on 127.0.0.1, and against a server
#     that answers wrongly or not at all; service-smoke.sh against main-api (no aux behind it) and
#     auxiliary-service (on moto's server) run on 127.0.0.1, and against the wrong service;
#   - load-verdict.py on hey reports, chaos.sh against a fake kubectl, alert-failure.sh against a
#     fake `gh`, wait-synced.sh against a fake /status;
#   - `make pipeline` fails at once, before any work, naming every missing tool;
#   - the workflows and the pipeline call the same scripts; a workflow that pushes to ECR gives
#     images only per-commit tags, which the immutable repositories of infra/ accept
#     (scripts/lib/image_tags_check.py and its tests); the apps' Dockerfiles' base images are
#     pinned by digest; shellcheck on every script in scripts/.
# Every server it starts listens on 127.0.0.1, runs in its own process group bounded by `timeout`
# (scripts/lib/procs.sh), and every group is stopped on every exit path (EXIT trap; INT and TERM
# exit through it); the last step fails if any of their processes is left. Quiet on success; on
# failure prints each failing step with its output.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
ci="$root/scripts/ci"
python="$root/.tools/venv/bin/python"
[ -x "$python" ] || python=python3

# shellcheck source=scripts/lib/check.sh
source "$root/scripts/lib/check.sh"

# Servers started here: each in its own process group, all stopped on exit, then $work removed.
# shellcheck source=scripts/lib/procs.sh
source "$root/scripts/lib/procs.sh"
# shellcheck disable=SC2016 # $work is expanded when the trap runs
on_exit 'rm -rf "$work"'

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start SECONDS CMD...: runs CMD in its own process group, at most SECONDS (scripts/lib/procs.sh).
start() {
  local limit="$1"; shift
  spawn "$limit" "$work/servers.log" "$@"
}
# Succeeds only if the command fails and its output contains the text.
fails_with() {
  local text="$1" out; shift
  if out="$("$@" 2>&1)"; then echo "succeeded, but must fail: $*"; echo "$out"; return 1; fi
  grep -qF -- "$text" <<<"$out" || { echo "failed without saying '$text': $*"; echo "$out"; return 1; }
}
copy_repo() { "$ci/copy-tree.py" "$1"; }

digest_a="sha256:$(printf 'a%.0s' {1..64})"
values=environments/dev/values/hash-service.yaml
local_values=environments/local/values/hash-service.yaml

# -- set-image.py: the dev bump -------------------------------------------------------------------
copy_repo "$work/repo"
bump() { "$ci/set-image.py" --repo "$work/repo" --env dev --release hash-service "$@"; }
only_digest_changed() {
  "$python" - "$root/$values" "$work/repo/$values" "$digest_a" <<'PY'
import sys
old_path, new_path, digest = sys.argv[1:4]
old = open(old_path, encoding="utf-8").read().splitlines()
new = open(new_path, encoding="utf-8").read().splitlines()
problems = []
if len(old) != len(new):
    problems.append(f"line count {len(old)} -> {len(new)}")
changed = [i for i, (a, b) in enumerate(zip(old, new)) if a != b]
if len(changed) != 1:
    problems.append(f"{len(changed)} lines changed, want exactly 1: {[i + 1 for i in changed]}")
for i in changed:
    prefix = old[i][: old[i].find("digest: ") + len("digest: ")]
    if "digest: " not in old[i] or new[i] != prefix + digest:
        problems.append(f"line {i + 1} is not the digest line with only its value replaced: {new[i]!r}")
def comments(lines):
    return [line[line.index("#"):] for line in lines if "#" in line]
if comments(old) != comments(new):
    problems.append("a comment changed or went missing")
import yaml
a, b = yaml.safe_load("\n".join(old)), yaml.safe_load("\n".join(new))
a["image"]["digest"] = digest
if a != b:
    problems.append("the parsed values differ in more than image.digest")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
}
step "set-image: bumps dev's digest" bump --digest "$digest_a"
step "set-image: exactly the digest line changes, every comment stays" only_digest_changed
step "set-image: a second run writes nothing" sh -c '"$@" | grep -q "already pins"' _ \
  "$ci/set-image.py" --repo "$work/repo" --env dev --release hash-service --digest "$digest_a"

cp "$work/repo/$values" "$work/before.yaml"
unchanged() { cmp -s "$work/before.yaml" "$work/repo/$values" || { echo "$values was written"; return 1; }; }
step "set-image: refuses a short digest" fails_with "is not an image digest" bump --digest sha256:abc
step "set-image: refuses an upper-case digest" \
  fails_with "is not an image digest" bump --digest "sha256:$(printf 'A%.0s' {1..64})"
step "set-image: refuses a tag instead of a digest" fails_with "is not an image digest" bump --digest 0.1.0
step "set-image: a refused digest writes nothing" unchanged
step "set-image: names a missing values file" fails_with "environments/qa/values/hash-service.yaml" \
  "$ci/set-image.py" --repo "$work/repo" --env qa --release hash-service --digest "$digest_a"

# Shapes the step must keep byte for byte, or refuse: quotes, a trailing comment, CRLF.
mkdir -p "$work/shapes/environments/x/values"
shape="$work/shapes/environments/x/values/app.yaml"
printf '# head\r\nimage:\r\n  # the pin\r\n  digest: "sha256:%s"   # set by CI\r\n  nested:\r\n    digest: keep\r\nother: 1\r\n' \
  "$(printf 'f%.0s' {1..64})" >"$shape"
shaped() { "$ci/set-image.py" --repo "$work/shapes" --env x --release app --digest "$digest_a"; }
expect_shape() {
  local want
  want="$(printf '# head\r\nimage:\r\n  # the pin\r\n  digest: "%s"   # set by CI\r\n  nested:\r\n    digest: keep\r\nother: 1\r\n' "$digest_a")"
  [ "$(cat "$shape")" = "$want" ] || { echo "got:"; cat -A "$shape"; return 1; }
}
step "set-image: keeps quotes, a trailing comment and CRLF line endings" shaped
step "set-image: only the value bytes changed, the nested digest untouched" expect_shape
printf 'image: {repository: r, digest: "sha256:%s"}\n' "$(printf 'f%.0s' {1..64})" >"$shape"
step "set-image: refuses a flow-style image mapping" fails_with "block mapping" shaped
printf 'image:\n  repository: r\n' >"$shape"
step "set-image: refuses a file without image.digest" fails_with "no \`image.digest:\`" shaped

# -- kind-env.sh: the scratch environment of e2e-kind.yml and `make pipeline` ------------------------
sextant="${AGENT_BINARY:-${CARGO_TARGET_DIR:-$root/target}/debug/sextant}"
[ -x "$sextant" ] || cargo build --quiet -p sextant
copy_repo "$work/kind"
step "kind-env: writes environments/kind" "$ci/kind-env.sh" "$work/kind" localhost:5001/hash-service "$digest_a"
kind_renders() {
  "$sextant" render --env kind --repo "$work/kind" --helm "$root/.tools/bin/helm" >"$work/kind.yaml"
  "$python" - "$work/kind.yaml" "localhost:5001/hash-service:0.1.0@$digest_a" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
deps = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "hash-service"]
problems = []
if len(deps) != 1:
    sys.exit("no hash-service Deployment rendered")
dep = deps[0]
if dep["spec"].get("replicas") != 10:
    problems.append(f"replicas {dep['spec'].get('replicas')}, want 10")
image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
if image != sys.argv[2]:
    problems.append(f"image {image}, want {sys.argv[2]}")
if any(d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["namespace"] == "hash-service" for d in docs):
    problems.append("an HPA still owns the replicas")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
}
step "kind-env: renders 10 replicas of the image under test, no HPA" kind_renders
step "kind-env: leaves the repository's own environments alone" \
  cmp -s "$root/$local_values" "$work/kind/$local_values"

# -- integration-test.sh: against the binary, and against wrong or absent servers -------------------
target="${CARGO_TARGET_DIR:-$root/target}"
hash_service="$target/debug/hash-service"
[ -x "$hash_service" ] || [ -x "$target/release/hash-service" ] || cargo build --quiet -p hash-service
[ -x "$hash_service" ] || hash_service="$target/release/hash-service"
port="$(free_port)"
LISTEN_ADDR="127.0.0.1:$port" start 60 "$hash_service"
step "integration-test: passes against hash-service run directly" "$ci/integration-test.sh" "http://127.0.0.1:$port"

wrong="$work/wrong"
mkdir -p "$wrong/hash"
printf ready >"$wrong/readyz"
printf 0000000000000000000000000000000000000000 >"$wrong/hash/abc123"
wrong_port="$(free_port)"
start 60 python3 -m http.server --bind 127.0.0.1 --directory "$wrong" "$wrong_port"
step "integration-test: fails on a wrong hash, naming the expected one" \
  fails_with "want '6367c48dd193d56ea7b0baad25b19455e529f5ee'" \
  env INTEGRATION_WAIT_SECONDS=10 "$ci/integration-test.sh" "http://127.0.0.1:$wrong_port"
step "integration-test: gives up on a silent address within its bound" \
  fails_with "did not answer 200 within 1s" \
  env INTEGRATION_WAIT_SECONDS=1 timeout 15 "$ci/integration-test.sh" "http://127.0.0.1:$(free_port)"
step "integration-test: refuses a URL with a path" fails_with "BASE_URL must be" \
  "$ci/integration-test.sh" "http://127.0.0.1:$port/hash"

# -- service-smoke.sh: main-api with no aux behind it, auxiliary-service against moto's server ------
for b in main-api auxiliary-service; do
  [ -x "$target/debug/$b" ] || cargo build --quiet -p "$b"
done
moto_port="$(free_port)"
start 60 "$root/.tools/bin/moto_server" -H 127.0.0.1 -p "$moto_port"
main_port="$(free_port)"
LISTEN_ADDR="127.0.0.1:$main_port" AUXILIARY_SERVICE_URL="http://127.0.0.1:$(free_port)" \
  start 60 "$target/debug/main-api"
aux_port="$(free_port)"
LISTEN_ADDR="127.0.0.1:$aux_port" AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_REGION=eu-west-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true \
  PARAMETER_PATH=/sextant/ci/ start 60 "$target/debug/auxiliary-service"
moto_up() {
  local deadline=$((SECONDS + 30))
  until curl -sf -o /dev/null "http://127.0.0.1:$moto_port/moto-api/"; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "moto_server did not answer within 30s"; return 1; }
    sleep 0.2
  done
}
step "moto_server answers (for the auxiliary-service smoke test)" moto_up
step "service-smoke: passes against main-api run directly (502 naming aux)" \
  "$ci/service-smoke.sh" main-api "http://127.0.0.1:$main_port"
step "service-smoke: passes against auxiliary-service run directly, on moto" \
  "$ci/service-smoke.sh" auxiliary-service "http://127.0.0.1:$aux_port"
step "service-smoke: fails when the answer is not the service's (hash-service as main-api)" \
  fails_with "want 502" env SMOKE_WAIT_SECONDS=10 "$ci/service-smoke.sh" main-api "http://127.0.0.1:$port"

# -- load-verdict.py: hey's report (format of rakyll/hey requester/print.go) ------------------------
hey_report() { # TOTAL_SECS OK_200 FAILED_502 TRANSPORT_ERRORS
  printf '\nSummary:\n  Total:\t%s secs\n  Slowest:\t0.0400 secs\n  Requests/sec:\t1.0\n' "$1"
  printf '\nResponse time histogram:\n  0.001 [1]\t|\n\nLatency distribution:\n  10%% in 0.0020 secs\n'
  printf '\nDetails (average, fastest, slowest):\n  DNS+dialup:\t 0.0001 secs, 0.0010 secs, 0.0400 secs'
  printf '\n\nStatus code distribution:\n  [200]\t%s responses\n' "$2"
  [ "$3" -gt 0 ] && printf '  [502]\t%s responses\n' "$3"
  [ "$4" -gt 0 ] && printf '\nError distribution:\n  [%s]\tGet "http://127.0.0.1:1/hash/abc123": EOF\n' "$4"
  printf '\n'
}
verdict() { "$ci/load-verdict.py" "$work/hey.txt" 100 0.01; }
hey_report 30.0 5990 4 6 >"$work/hey.txt"
step "load-verdict: 200 ok/s with 0.17% failures passes" verdict
hey_report 30.0 2900 0 0 >"$work/hey.txt"
step "load-verdict: under 100 successful requests/s fails" fails_with "is under 100" verdict
hey_report 30.0 5000 60 0 >"$work/hey.txt"
step "load-verdict: failures over the error budget fail" fails_with "over the 1.00% error budget" verdict
printf '\nError distribution:\n  [50]\tGet "x": dial tcp: connection refused\n\n' >"$work/hey.txt"
step "load-verdict: a run where nothing answered fails" fails_with "is under 100" verdict

# -- chaos.sh: evictions under the PDB, against a fake kubectl -----------------------------------------
mkdir -p "$work/chaos/bin"
cat >"$work/chaos/bin/kubectl" <<'SH'
#!/usr/bin/env bash
# A fake kubectl for chaos.sh: 10 replicas, PDB maxUnavailable 1, ready replicas read in turn from
# $FAKE_READY (the last one repeats), and every second eviction refused by the PDB.
state="$FAKE_STATE"
case "$*" in
  *"-o go-template="*) echo -n "app.kubernetes.io/name=hash-service," ;;
  *"jsonpath={.spec.replicas}"*) echo -n 10 ;;
  *"get pdb"*) echo -n 1 ;;
  *"jsonpath={.status.readyReplicas}"*)
    read -r -a ready <<<"$FAKE_READY"; n="$(cat "$state/reads" 2>/dev/null || echo 0)"
    echo $((n + 1)) >"$state/reads"
    i=$((n < ${#ready[@]} ? n : ${#ready[@]} - 1)); echo -n "${ready[$i]}" ;;
  *"get pods"*) printf 'pod/hash-service-a\npod/hash-service-b\n' ;;
  *"create --raw"*"/eviction"*)
    cat >/dev/null; n="$(cat "$state/evictions" 2>/dev/null || echo 0)"; echo $((n + 1)) >"$state/evictions"
    if [ $((n % 2)) -eq 1 ]; then
      echo "Error from server (TooManyRequests): Cannot evict pod as it would violate the pod's disruption budget." >&2
      exit 1
    fi
    echo '{"kind":"Status","status":"Success"}' ;;
  *) echo "fake kubectl: unexpected: $*" >&2; exit 1 ;;
esac
SH
chmod +x "$work/chaos/bin/kubectl"
chaos() { # READY_SEQUENCE
  rm -rf "$work/chaos/state" && mkdir -p "$work/chaos/state"
  env PATH="$work/chaos/bin:$PATH" FAKE_STATE="$work/chaos/state" FAKE_READY="$1" \
    timeout 20 "$ci/chaos.sh" hash-service hash-service 3 1
}
chaos_holds() {
  local out
  out="$(chaos "10 9 10 9 10")" || { echo "$out"; return 1; }
  for want in "refused by the PDB" "evicted pod/" "fewest ready replicas seen: 9"; do
    grep -q "$want" <<<"$out" || { echo "no '$want' in:"; echo "$out"; return 1; }
  done
}
step "chaos: evictions with the PDB holding (9 of 10 ready at worst) pass, refusals counted" chaos_holds
step "chaos: ready replicas under DESIRED - maxUnavailable fail" fails_with "ready replicas fell to 8, under 9" chaos "10 8 10"

# -- alert-failure.sh: one open ci-failure issue per workflow --------------------------------------
mkdir -p "$work/gh/bin"
cat >"$work/gh/bin/gh" <<'SH'
#!/usr/bin/env bash
# A fake gh: records its arguments; `issue list` answers with $FAKE_GH_OPEN_ISSUES.
echo "gh $*" >>"$FAKE_GH_LOG"
if [ "$1 $2" = "issue list" ]; then
  jq_filter=""; while [ $# -gt 0 ]; do [ "$1" = --jq ] && jq_filter="$2"; shift; done
  printf '%s' "$FAKE_GH_OPEN_ISSUES" | python3 -c '
import json, sys
issues = json.load(sys.stdin)
title = sys.argv[1].split("select(.title == \"", 1)[1].split("\")", 1)[0]
for i in issues:
    if i["title"] == title:
        print(i["number"])' "$jq_filter"
fi
SH
chmod +x "$work/gh/bin/gh"
alert() {
  : >"$work/gh/log"
  env PATH="$work/gh/bin:$PATH" FAKE_GH_LOG="$work/gh/log" FAKE_GH_OPEN_ISSUES="$1" \
    GITHUB_REPOSITORY=o/r GITHUB_SERVER_URL=https://github.com GITHUB_RUN_ID=7 GITHUB_SHA=abc \
    "$ci/alert-failure.sh" app >/dev/null
}
opens_issue() {
  alert '[{"number": 3, "title": "CI failure: e2e-kind on main"}]'
  grep -q -- "^gh issue create --repo o/r --title CI failure: app on main --label ci-failure" "$work/gh/log" ||
    { cat "$work/gh/log"; return 1; }
  ! grep -q "issue comment" "$work/gh/log"
}
comments_on_open_issue() {
  alert '[{"number": 3, "title": "CI failure: e2e-kind on main"}, {"number": 9, "title": "CI failure: app on main"}]'
  grep -q -- "^gh issue comment 9 --repo o/r --body .*actions/runs/7" "$work/gh/log" || { cat "$work/gh/log"; return 1; }
  ! grep -q "issue create" "$work/gh/log"
}
step "alert-failure: opens an issue labelled ci-failure when none is open for the workflow" opens_issue
step "alert-failure: comments on the open issue instead of opening another" comments_on_open_issue

# -- wait-synced.sh: the agent's /status -------------------------------------------------------------
rev=1111111111111111111111111111111111111111
mkdir -p "$work/status"
status_port="$(free_port)"
start 60 python3 -m http.server --bind 127.0.0.1 --directory "$work/status" "$status_port"
printf '{"environments": {"kind": {"revision": "%s", "last_sync": {"result": "succeeded", "revision": "%s"}}}}' \
  "$rev" "$rev" >"$work/status/synced"
printf '{"environments": {"kind": {"revision": null, "last_sync": {"result": "failed", "revision": "%s", "error": "values.yaml:3: bad"}}}}' \
  "$rev" >"$work/status/failed"
step "wait-synced: passes once the revision is applied" \
  "$ci/wait-synced.sh" "http://127.0.0.1:$status_port/synced" kind "$rev" 20
step "wait-synced: fails at once on a failed sync, with its error" fails_with "values.yaml:3: bad" \
  "$ci/wait-synced.sh" "http://127.0.0.1:$status_port/failed" kind "$rev" 20

# -- make pipeline: every missing tool named at once, before any work -------------------------------
# A PATH with the basics only, and a docker CLI whose engine does not answer (as on this machine).
mkdir -p "$work/path/basic" "$work/path/stubs"
for tool in bash sh env make git python3 curl cargo dirname tail head grep sed cat mktemp rm timeout setsid sleep; do
  real="$(command -v "$tool" || true)"
  [ -n "$real" ] && ln -sf "$real" "$work/path/basic/$tool"
done
cat >"$work/path/stubs/docker" <<'SH'
#!/usr/bin/env bash
echo "docker $*" >>"$STUB_LOG"
[ "$1" = info ] && [ -z "${STUB_ENGINE:-}" ] && { echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1; }
exit 0
SH
chmod +x "$work/path/stubs/docker"
pipeline() {
  : >"$work/stub.log"
  env PATH="$work/path/stubs:$work/path/basic" STUB_LOG="$work/stub.log" "$@" \
    timeout 20 make --no-print-directory -C "$root" pipeline 2>&1
}
names_missing_tools() {
  local out started_at=$SECONDS
  if out="$(pipeline)"; then echo "make pipeline succeeded without its tools"; return 1; fi
  local wants=("missing:" "a running Docker engine" "Cannot connect to the Docker daemon")
  # The Makefile puts .tools/bin first on PATH: what `make tools` installed there is not missing.
  for tool in kind kubectl hey; do [ -x "$root/.tools/bin/$tool" ] || wants+=("- $tool ("); done
  for want in "${wants[@]}"; do
    grep -qF -- "$want" <<<"$out" || { echo "make pipeline did not name '$want':"; echo "$out"; return 1; }
  done
  ! grep -q "== pipeline: 1/5" <<<"$out" || { echo "a stage started:"; echo "$out"; return 1; }
  ! grep -qv "^docker info" "$work/stub.log" || { echo "docker was asked to work:"; cat "$work/stub.log"; return 1; }
  [ $((SECONDS - started_at)) -le 10 ] || { echo "took $((SECONDS - started_at))s, not at once"; return 1; }
}
names_missing_cluster() {
  local out
  for tool in kind kubectl hey; do
    cat >"$work/path/stubs/$tool" <<SH
#!/bin/sh
echo "$tool \$*" >>"\$STUB_LOG"
SH
    chmod +x "$work/path/stubs/$tool"
  done
  if out="$(pipeline STUB_ENGINE=1 KIND_CLUSTER=nowhere)"; then echo "make pipeline succeeded without a cluster"; return 1; fi
  grep -qF "no kind cluster 'nowhere'" <<<"$out" || { echo "$out"; return 1; }
  ! grep -q "^docker build" "$work/stub.log" || { echo "it built before checking the cluster"; return 1; }
}
step "make pipeline: fails at once, naming every missing tool, before any work" names_missing_tools
step "make pipeline: with every tool but no kind cluster, names the cluster before building" names_missing_cluster

# -- one set of stages: the workflows and the local pipeline call the same scripts -----------------
shares() { # FILE SCRIPT...
  local file="$1"; shift
  for s in "$@"; do grep -q "scripts/ci/$s\|\$ci/$s" "$file" || { echo "$file does not run scripts/ci/$s"; return 1; }; done
}
step "app.yml runs the shared integration and smoke tests, dev bump and alert" \
  shares .github/workflows/app.yml integration-test.sh service-smoke.sh set-image.py alert-failure.sh
step "e2e-kind.yml runs the shared kind, sync, load and chaos stages" \
  shares .github/workflows/e2e-kind.yml kind-registry.sh kind-env.sh wait-synced.sh integration-test.sh load-test.sh chaos.sh alert-failure.sh
step "make pipeline runs the shared stages" \
  shares scripts/pipeline.sh integration-test.sh kind-registry.sh kind-env.sh load-test.sh

# -- tags pushed to ECR: per-commit only, as the immutable repositories of infra/ require ----------
step "image tags: workflows push only per-commit tags to the immutable ECR repositories" \
  "$python" scripts/lib/image_tags_check.py .
step "image tags check: a moving latest, a retag, exclusions under aws 5.x, mutable tags, legacy cosign" \
  "$python" -m unittest -q scripts/lib/image_tags_check_test.py

# -- base images pinned by digest (Dependabot moves tag and digest together) ------------------------
step "app/Dockerfile pins every base image by digest" "$python" scripts/lib/dockerfile_pins.py app/Dockerfile

# -- shellcheck: every script in scripts/ (by extension or shebang) -----------------------------------
all_scripts() {
  find scripts -type f | sort | while read -r f; do
    case "$f" in
      *.sh) echo "$f" ;;
      *.py|*.txt|*.md) ;;
      *) head -n 1 "$f" | grep -qE '^#!.*\b(ba)?sh\b' && echo "$f" ;;
    esac
  done
}
run_shellcheck() {
  command -v shellcheck >/dev/null || { echo "shellcheck not found (make tools installs it)"; return 1; }
  mapfile -t files < <(all_scripts)
  # scripts/.shellcheckrc holds the settings (bash for sourced files, the one justified exclusion).
  shellcheck "${files[@]}"
}
step "shellcheck: every script in scripts/" run_shellcheck

# -- process hygiene: nothing this check started outlives it ------------------------------------
stop_spawned
step "every server this check started is stopped (no process left in their groups)" spawned_gone

exit "$failed"
