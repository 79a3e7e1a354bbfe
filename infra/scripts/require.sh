# shellcheck shell=bash
# Sourced by deploy.sh and local.sh: `need CMD WHAT` records a missing tool, `need_tf` finds
# terraform >= 1.10 or OpenTofu >= 1.10 (S3-native state locking), `require_all` stops with the
# whole list before anything has been touched.
missing=()

need() {
  command -v "$1" >/dev/null 2>&1 || missing+=("$2")
}

# Sets $tf (read by the sourcing script) to terraform or tofu, whichever is 1.10 or later.
# shellcheck disable=SC2034
need_tf() {
  tf=""
  local candidate version
  for candidate in terraform tofu; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    version="$("$candidate" version 2>/dev/null | head -1 | grep -oE '[0-9]+\.[0-9]+' | head -1)"
    if [ "${version%%.*}" -ge 1 ] 2>/dev/null && { [ "${version%%.*}" -gt 1 ] || [ "${version#*.}" -ge 10 ]; }; then
      tf="$candidate"
      return
    fi
  done
  missing+=("terraform >= 1.10 or OpenTofu >= 1.10 (https://developer.hashicorp.com/terraform/install)")
}

require_all() {
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "$1: cannot start, missing:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 2
  fi
}
