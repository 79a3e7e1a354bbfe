#!/usr/bin/env bash
# A sample service's contract over HTTP, against a container of an image just built
# (.github/workflows/app.yml, `make pipeline`) or the binary run directly
# (scripts/checks/pipelines.sh). It waits for GET /readyz to answer 200 "ready" (bounded), then:
#   hash-service        GET /hash/abc123 answers 200 with exactly the SHA-1 of "abc123"
#   main-api            (run with no auxiliary-service behind AUXILIARY_SERVICE_URL):
#                       GET /api/s3-buckets answers 502 naming auxiliary-service, with main's version
#   auxiliary-service   (run against moto's server, AWS_ENDPOINT_URL): GET /s3-buckets answers 200
#                       with aux's version; an absent parameter 404, an invalid name 400
#
# and every service's /metrics carries its build-info gauge.
#
#   scripts/ci/service-smoke.sh SERVICE BASE_URL     e.g. main-api http://127.0.0.1:8080
#   SMOKE_WAIT_SECONDS   how long to wait for readiness (default 30)
set -euo pipefail

fail() { echo "service-smoke: FAILED: $*" >&2; exit 1; }

[ $# -eq 2 ] || { echo "usage: $0 hash-service|main-api|auxiliary-service BASE_URL" >&2; exit 2; }
service="$1"
base="${2%/}"
case "$service" in hash-service|main-api|auxiliary-service) ;; *) echo "service-smoke: unknown service '$service'" >&2; exit 2 ;; esac
[[ "$base" =~ ^https?://[^/]+$ ]] || { echo "service-smoke: BASE_URL must be http(s)://host[:port], got '$2'" >&2; exit 2; }
wait_seconds="${SMOKE_WAIT_SECONDS:-30}"
[[ "$wait_seconds" =~ ^[0-9]+$ ]] || { echo "service-smoke: SMOKE_WAIT_SECONDS must be whole seconds" >&2; exit 2; }

# GET a path; sets $code and $body. curl's own failures (refused, timed out) leave code 000.
# 15 s: longer than main-api's deadline on auxiliary-service (10 s), so a 502 is seen, not a hang.
get() {
  local out
  out="$(curl --silent --show-error --max-time 15 --write-out '\n%{http_code}' "$base$1" 2>&1)" || true
  code="${out##*$'\n'}"
  body="${out%$'\n'*}"
}
# expect PATH CODE TEXT...: GET PATH answers CODE and its body holds every TEXT.
expect() {
  local path="$1" want="$2" text
  shift 2
  get "$path"
  [ "$code" = "$want" ] || fail "GET $base$path answered HTTP $code ('$body'), want $want"
  for text in "$@"; do
    [[ "$body" == *"$text"* ]] || fail "GET $base$path answered '$body', without '$text'"
  done
  echo "service-smoke: ok   GET $path -> $code"
}

echo "service-smoke: waiting up to ${wait_seconds}s for $base/readyz"
deadline=$((SECONDS + wait_seconds))
while :; do
  get /readyz
  [ "$code" = 200 ] && break
  [ "$SECONDS" -lt "$deadline" ] || fail "$base/readyz did not answer 200 within ${wait_seconds}s (last: HTTP $code, '$body')"
  sleep 0.5
done
[ "$body" = ready ] || fail "$base/readyz answered 200 with '$body', want 'ready'"

if [ "$service" = hash-service ]; then
  want=6367c48dd193d56ea7b0baad25b19455e529f5ee
  expect /hash/abc123 200
  [ "$body" = "$want" ] || fail "GET $base/hash/abc123 answered '$body', want '$want' (SHA-1 of 'abc123')"
elif [ "$service" = main-api ]; then
  expect /api/s3-buckets 502 '"dependency":"auxiliary-service"' '"main_api_version":"' '"auxiliary_service_version":null'
  expect /api/parameters/bad%20name 400 '"error":"bad_request"'
else
  expect /s3-buckets 200 '"buckets":[' '"auxiliary_service_version":"'
  expect /parameters/no-such-parameter 404 '"error":"parameter_not_found"'
  expect /parameters/bad%20name 400 '"error":"bad_request"'
fi
expect /metrics 200 "${service//-/_}_build_info{"
