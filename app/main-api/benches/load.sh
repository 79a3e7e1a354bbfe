#!/usr/bin/env bash
# Load benchmark of the two-service pattern on loopback, run by hand (not by `make test`):
#   bash app/main-api/benches/load.sh        # ~90 s of load after the release builds
# Builds main-api and auxiliary-service (release), starts moto's server (`make tools`), aux on it
# and main on aux, all on 127.0.0.1 (free ports); puts one bucket and one SecureString in moto
# (requests moto's server accepts unsigned), checks one answer of each route, then drives
# each route with wrk: a short sweep over connection counts, then a sustained run at the best.
# Prints req/s, p50 and p99 per route, and fails if a sustained run saw an error or fewer than
# MIN_RPS requests/second. moto (Python) answers every request behind main → aux, so these
# figures are the chain's on this machine with moto as the floor, not AWS's latency; client,
# both services and moto share this machine's cores.
# Needs wrk (Debian: apt-get install wrk). Reports with app/benches/report.lua (hash-service's).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
report="$root/app/benches/report.lua"
target="${CARGO_TARGET_DIR:-$root/target}"
moto="${MOTO_SERVER:-$root/.tools/bin/moto_server}"
SWEEP_CONNECTIONS="${SWEEP_CONNECTIONS:-1 8 32}"
SWEEP_SECONDS="${SWEEP_SECONDS:-5}"
SUSTAIN_SECONDS="${SUSTAIN_SECONDS:-20}"
MIN_RPS="${MIN_RPS:-20}"
THREADS="${THREADS:-2}"
PATH_PREFIX=/sextant/bench/

command -v wrk >/dev/null || { echo "load.sh: wrk not found (Debian: apt-get install wrk)" >&2; exit 2; }
[ -x "$moto" ] || { echo "load.sh: $moto not found (make tools)" >&2; exit 2; }

echo "== building release binaries (CARGO_TARGET_DIR=$target)" >&2
CARGO_TARGET_DIR="$target" cargo build --quiet --release -p main-api -p auxiliary-service

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
logs="$(mktemp -d)"
pids=()
# shellcheck disable=SC2317 # run by the EXIT trap
stop() {
  local p
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$logs"
}
trap stop EXIT
# start NAME CMD...: in its own process group, bounded by timeout (the whole run fits in it).
start() {
  local name="$1"; shift
  setsid timeout 900 "$@" >"$logs/$name.log" 2>&1 &
  pids+=("$!")
}
# wait_for WHAT URL: until URL answers 2xx, at most 30 s.
wait_for() {
  for _ in $(seq 300); do
    curl -sf -o /dev/null --max-time 2 "$2" && return 0
    sleep 0.1
  done
  echo "load.sh: $1 did not answer $2 within 30 s" >&2
  tail -n 20 "$logs"/*.log >&2
  exit 1
}

moto_port="$(free_port)"; aux_port="$(free_port)"; main_port="$(free_port)"
start moto "$moto" -H 127.0.0.1 -p "$moto_port"
wait_for "moto's server" "http://127.0.0.1:$moto_port/moto-api/"
curl -sf -o /dev/null -X PUT "http://127.0.0.1:$moto_port/bench-bucket"
# moto takes the region from the credential scope (it checks no signature); without one, us-east-1.
curl -sf -o /dev/null -X POST "http://127.0.0.1:$moto_port/" -H 'Content-Type: application/x-amz-json-1.1' \
  -H 'X-Amz-Target: AmazonSSM.PutParameter' \
  -H 'Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/ssm/aws4_request, SignedHeaders=host, Signature=0' \
  -d "{\"Name\": \"${PATH_PREFIX}db/password\", \"Value\": \"bench-secret\", \"Type\": \"SecureString\"}"

LISTEN_ADDR="127.0.0.1:$aux_port" LOG_LEVEL=warn SHUTDOWN_DELAY_SECONDS=0 \
  AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_REGION=eu-west-1 AWS_ACCESS_KEY_ID=testing \
  AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true PARAMETER_PATH="$PATH_PREFIX" \
  start aux "$target/release/auxiliary-service"
LISTEN_ADDR="127.0.0.1:$main_port" LOG_LEVEL=warn SHUTDOWN_DELAY_SECONDS=0 \
  AUXILIARY_SERVICE_URL="http://127.0.0.1:$aux_port" start main "$target/release/main-api"
wait_for auxiliary-service "http://127.0.0.1:$aux_port/readyz"
wait_for main-api "http://127.0.0.1:$main_port/readyz"

base="http://127.0.0.1:$main_port"
routes=(/api/s3-buckets /api/parameters /api/parameters/db/password)
for r in "${routes[@]}"; do
  answer="$(curl -fsS --max-time 15 "$base$r")" || { echo "load.sh: GET $r failed" >&2; exit 1; }
  case "$answer" in
    *'"main_api_version":'*'"auxiliary_service_version":'* | *'"auxiliary_service_version":'*'"main_api_version":'*) ;;
    *) echo "load.sh: GET $r answered without both versions: $answer" >&2; exit 1 ;;
  esac
done

# run SECONDS CONNECTIONS ROUTE -> prints wrk's RESULT line
run() {
  local threads=$((THREADS < $2 ? THREADS : $2))
  timeout $(($1 + 15)) wrk --threads "$threads" --connections "$2" --duration "${1}s" --timeout 15s \
    --latency --script "$report" "$base$3" | grep '^RESULT'
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "== $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), main-api → auxiliary-service → moto" >&2
printf '%-28s %-9s %11s %9s %9s %9s %7s\n' route phase connections req/s p50_ms p99_ms errors
failed=0
for r in "${routes[@]}"; do
  best_rps=0; best_c=1
  for c in $SWEEP_CONNECTIONS; do
    out="$(run "$SWEEP_SECONDS" "$c" "$r")"
    printf '%-28s %-9s %11s %9s %9s %9s %7s\n' "$r" sweep "$c" "$(field rps "$out")" \
      "$(field p50_ms "$out")" "$(field p99_ms "$out")" "$(field errors "$out")"
    if [ "$(field rps "$out")" -gt "$best_rps" ]; then best_rps="$(field rps "$out")"; best_c="$c"; fi
  done
  out="$(run "$SUSTAIN_SECONDS" "$best_c" "$r")"
  rps="$(field rps "$out")"; errors="$(field errors "$out")"
  printf '%-28s %-9s %11s %9s %9s %9s %7s\n' "$r" sustained "$best_c" "$rps" \
    "$(field p50_ms "$out")" "$(field p99_ms "$out")" "$errors"
  if [ "$errors" -ne 0 ] || [ "$rps" -lt "$MIN_RPS" ]; then
    echo "load.sh: FAILED on $r: need >= $MIN_RPS req/s with 0 errors over ${SUSTAIN_SECONDS}s" >&2
    failed=1
  fi
done
exit "$failed"
