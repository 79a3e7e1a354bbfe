#!/usr/bin/env bash
# hash-service's contract over HTTP, against whatever serves BASE_URL: a container started from
# the image just built (.github/workflows/app.yml, `make pipeline`) or the binary run directly
# (scripts/checks/pipelines.sh). It waits for GET /readyz to answer 200 "ready" (bounded), then
# requires GET /hash/abc123 to answer 200 with the SHA-1 of "abc123" as plain text.
#
#   scripts/ci/integration-test.sh BASE_URL        e.g. http://127.0.0.1:8080
#   INTEGRATION_WAIT_SECONDS   how long to wait for readiness (default 30)
set -euo pipefail

readonly input=abc123
readonly want=6367c48dd193d56ea7b0baad25b19455e529f5ee

fail() { echo "integration-test: FAILED: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 BASE_URL" >&2; exit 2; }
base="${1%/}"
[[ "$base" =~ ^https?://[^/]+$ ]] || { echo "integration-test: BASE_URL must be http(s)://host[:port], got '$1'" >&2; exit 2; }
wait_seconds="${INTEGRATION_WAIT_SECONDS:-30}"
[[ "$wait_seconds" =~ ^[0-9]+$ ]] || { echo "integration-test: INTEGRATION_WAIT_SECONDS must be whole seconds" >&2; exit 2; }

# GET a path; sets $code and $body. curl's own failures (refused, timed out) leave code 000.
get() {
  local out
  out="$(curl --silent --show-error --max-time 5 --write-out '\n%{http_code}' "$base$1" 2>&1)" || true
  code="${out##*$'\n'}"
  body="${out%$'\n'*}"
}

echo "integration-test: waiting up to ${wait_seconds}s for $base/readyz"
deadline=$((SECONDS + wait_seconds))
while :; do
  get /readyz
  [ "$code" = 200 ] && break
  [ "$SECONDS" -lt "$deadline" ] || fail "$base/readyz did not answer 200 within ${wait_seconds}s (last: HTTP $code, '$body')"
  sleep 0.5
done
[ "$body" = ready ] || fail "$base/readyz answered 200 with '$body', want 'ready'"
echo "integration-test: ok   GET /readyz -> 200 ready"

get "/hash/$input"
[ "$code" = 200 ] || fail "GET $base/hash/$input answered HTTP $code ('$body'), want 200"
[ "$body" = "$want" ] || fail "GET $base/hash/$input answered '$body', want '$want' (SHA-1 of '$input')"
echo "integration-test: ok   GET /hash/$input -> 200 $want"
