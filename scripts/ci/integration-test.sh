#!/usr/bin/env bash
# hash-service's contract over HTTP (service-smoke.sh's hash-service leg), against whatever serves
# BASE_URL: a container started from the image just built (.github/workflows/app.yml, e2e-kind,
# `make pipeline`) or the binary run directly (scripts/checks/pipelines.sh): GET /readyz answers
# 200 "ready" within the wait, then GET /hash/abc123 answers 200 with the SHA-1 of "abc123".
#
#   scripts/ci/integration-test.sh BASE_URL        e.g. http://127.0.0.1:8080
#   INTEGRATION_WAIT_SECONDS   how long to wait for readiness (default 30)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BASE_URL" >&2; exit 2; }
SMOKE_WAIT_SECONDS="${INTEGRATION_WAIT_SECONDS:-30}" \
  exec "$(dirname "$0")/service-smoke.sh" hash-service "$1"
