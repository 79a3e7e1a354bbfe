#!/usr/bin/env bash
# Load benchmark of hash-service on loopback, run by hand (not by `make test`):
#   bash app/benches/load.sh            # ~60 s of load after the release build
# Builds the release binary, starts it on 127.0.0.1 (a free port), checks the contract answer,
# then drives GET /hash/abc123 with wrk: a short sweep over connection counts to find the maximum
# throughput, then a 30 s sustained run at the best one. Prints max req/s, p99 latency and errors,
# and fails if the sustained run saw any error or fewer than MIN_RPS requests/second.
# Needs wrk (Debian: apt-get install wrk). Client and server share this machine's cores, so the
# figures are a floor for the service on its own, not a capacity plan.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/app/benches"
target="${CARGO_TARGET_DIR:-$root/target}"
SWEEP_CONNECTIONS="${SWEEP_CONNECTIONS:-1 8 32 128}"
SWEEP_SECONDS="${SWEEP_SECONDS:-5}"
SUSTAIN_SECONDS="${SUSTAIN_SECONDS:-30}"
MIN_RPS="${MIN_RPS:-100}"
THREADS="${THREADS:-2}"
EXPECTED=6367c48dd193d56ea7b0baad25b19455e529f5ee

command -v wrk >/dev/null || { echo "load.sh: wrk not found (Debian: apt-get install wrk)" >&2; exit 2; }

echo "== building release binary (CARGO_TARGET_DIR=$target)" >&2
CARGO_TARGET_DIR="$target" cargo build --quiet --release -p hash-service --bin hash-service

log="$(mktemp)"
LISTEN_ADDR=127.0.0.1:0 LOG_LEVEL=info SHUTDOWN_DELAY_SECONDS=0 \
  "$target/release/hash-service" >"$log" 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"' EXIT

addr=""
for _ in $(seq 100); do # up to 10 s
  addr="$(sed -n 's/.*"message":"listening","addr":"\([^"]*\)".*/\1/p' "$log" | head -1)"
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
case "$addr" in
  127.0.0.1:*) ;;
  *) echo "load.sh: service did not report a 127.0.0.1 address (got '$addr')" >&2; exit 1 ;;
esac
url="http://$addr/hash/abc123"
answer="$(curl -fsS --max-time 5 "$url")"
[ "$answer" = "$EXPECTED" ] || { echo "load.sh: wrong answer '$answer' from $url" >&2; exit 1; }

# run SECONDS CONNECTIONS -> prints wrk's RESULT line
run() {
  local threads=$((THREADS < $2 ? THREADS : $2))
  timeout $(($1 + 15)) wrk --threads "$threads" --connections "$2" --duration "${1}s" --timeout 5s \
    --latency --script "$here/report.lua" "$url" | grep '^RESULT'
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "== $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), target $url" >&2
printf '%-9s %11s %9s %9s %9s %7s\n' phase connections req/s p50_ms p99_ms errors
best_rps=0
best_c=""
for c in $SWEEP_CONNECTIONS; do
  r="$(run "$SWEEP_SECONDS" "$c")"
  printf '%-9s %11s %9s %9s %9s %7s\n' sweep "$c" "$(field rps "$r")" "$(field p50_ms "$r")" \
    "$(field p99_ms "$r")" "$(field errors "$r")"
  if [ "$(field rps "$r")" -gt "$best_rps" ]; then best_rps="$(field rps "$r")"; best_c="$c"; fi
done

r="$(run "$SUSTAIN_SECONDS" "$best_c")"
rps="$(field rps "$r")"
errors="$(field errors "$r")"
printf '%-9s %11s %9s %9s %9s %7s\n' sustained "$best_c" "$rps" "$(field p50_ms "$r")" \
  "$(field p99_ms "$r")" "$errors"
echo
[ "$rps" -gt "$best_rps" ] && best_rps="$rps"
echo "max throughput: $best_rps req/s (best of sweep and sustained runs; $best_c connections)"
echo "sustained ${SUSTAIN_SECONDS}s: $rps req/s, p99 $(field p99_ms "$r") ms, $errors errors ($(field requests "$r") requests)"

if [ "$errors" -ne 0 ] || [ "$rps" -lt "$MIN_RPS" ]; then
  echo "load.sh: FAILED: need >= $MIN_RPS req/s with 0 errors over ${SUSTAIN_SECONDS}s" >&2
  exit 1
fi
