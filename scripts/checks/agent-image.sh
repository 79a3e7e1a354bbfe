#!/usr/bin/env bash
# Lints the agent's image definition (no Docker engine here to build it): hadolint, checkov's
# Dockerfile checks (one skip, CKV_DOCKER_2, justified in the Dockerfile), and every base image
# pinned by digest (scripts/lib/dockerfile_pins.py, as app/Dockerfile). Quiet on success.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bin="$root/.tools/bin"
out="$("$bin/hadolint" agent/Dockerfile 2>&1)" || { echo "agent-image.sh: hadolint: $out" >&2; exit 1; }
out="$("$bin/checkov" -f agent/Dockerfile --framework dockerfile --quiet --compact --skip-download 2>&1)" \
  || { echo "agent-image.sh: checkov: $out" >&2; exit 1; }
out="$(python3 scripts/lib/dockerfile_pins.py agent/Dockerfile 2>&1)" \
  || { echo "agent-image.sh: base images: $out" >&2; exit 1; }
