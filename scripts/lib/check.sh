# Sourced by scripts/checks/*.sh: a scratch folder `$work` removed on exit, `$failed`, and
# `step LABEL CMD...`, which runs a command quietly and, when it fails, reports it with its output
# and carries on to the next step. A check ends with `exit "$failed"`.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0

# shellcheck disable=SC2034 # `failed` is read by the check that sources this file
step() {
  local what="$1" out
  shift
  if ! out="$("$@" 2>&1)"; then
    printf '%s: FAILED: %s\n%s\n\n' "$(basename "$0")" "$what" "$out" >&2
    failed=1
  fi
}
