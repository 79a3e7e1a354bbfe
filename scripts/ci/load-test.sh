#!/usr/bin/env bash
# A bounded load against hash-service with `hey`, judged by two numbers: the rate of successful
# (2xx) answers must reach MIN_RPS, and failed requests (non-2xx and transport errors) must stay
# within ERROR_BUDGET (a fraction of all requests). Shared by `make pipeline` and
# .github/workflows/e2e-kind.yml, which runs scripts/ci/chaos.sh beside it.
#
#   scripts/ci/load-test.sh URL [HOST_HEADER]
#   LOAD_DURATION (default 30s)  LOAD_WORKERS (20)  LOAD_QPS_PER_WORKER (10, so 200 req/s offered)
#   MIN_RPS (100)  ERROR_BUDGET (0.01)  LOAD_REPORT (a file to keep hey's report in)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ $# -lt 1 ] || [ $# -gt 2 ]; then echo "usage: $0 URL [HOST_HEADER]" >&2; exit 2; fi
url="$1" host="${2:-}"
duration="${LOAD_DURATION:-30s}"
workers="${LOAD_WORKERS:-20}"
qps="${LOAD_QPS_PER_WORKER:-10}"
min_rps="${MIN_RPS:-100}"
budget="${ERROR_BUDGET:-0.01}"
[[ "$duration" =~ ^[0-9]+s$ ]] || { echo "load-test: LOAD_DURATION must be whole seconds, e.g. 30s" >&2; exit 2; }
command -v hey >/dev/null || { echo "load-test: hey not found (go install github.com/rakyll/hey@v0.1.4)" >&2; exit 1; }

report="${LOAD_REPORT:-$(mktemp)}"
args=(-z "$duration" -c "$workers" -q "$qps" -t 5)
[ -n "$host" ] && args+=(-host "$host")
echo "load-test: hey ${args[*]} $url (bounded: $duration)"
# hey stops itself after -z; the outer timeout is the bound if it hangs.
timeout "$(( ${duration%s} + 30 ))" hey "${args[@]}" "$url" >"$report"
python3 "$here/load-verdict.py" "$report" "$min_rps" "$budget"
