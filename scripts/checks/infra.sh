#!/usr/bin/env bash
# Checks infra/ (the Terraform) without a cloud or a cluster: terraform fmt (when a terraform
# binary is on PATH; validate needs the providers, which only CI downloads), the project's HCL
# check (scripts/lib/hcl_check.py) and its tests, checkov (clean, every skip justified inline),
# and two fixture tests: checkov must fail on a planted mistake and name its file, and the HCL
# check must report a broken module call with file and line. Then `make deploy|destroy|local-up|
# local-down` must stop at once, naming what is missing, on a machine without the tools, and the
# scripts they run must pass shellcheck. Quiet on success. Run by `make test`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bin="$root/.tools/bin"
hclpy="$root/.tools/hcl-venv/bin/python"

# shellcheck source=scripts/lib/check.sh
source "$root/scripts/lib/check.sh"

if [ ! -x "$hclpy" ] || [ ! -x "$bin/checkov" ]; then
  echo "infra.sh: FAILED: .tools/hcl-venv or checkov missing; run \`make tools\`" >&2
  exit 1
fi

# Fails unless the command fails and its output holds every given string.
must_fail_saying() {
  local out
  local -a cmd=()
  while [ "$1" != -- ]; do cmd+=("$1"); shift; done
  shift
  if out="$("${cmd[@]}" 2>&1)"; then
    printf 'succeeded, but must fail: %s\n%s\n' "${cmd[*]}" "$out"
    return 1
  fi
  for want in "$@"; do
    if ! grep -qF -- "$want" <<<"$out"; then
      printf 'output of %s lacks %q:\n%s\n' "${cmd[*]}" "$want" "$out"
      return 1
    fi
  done
}

# -- formatting ----------------------------------------------------------------------------------
if command -v terraform >/dev/null 2>&1; then
  step "terraform fmt -check -recursive infra" env TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive -diff infra
fi

# -- the project check over the parsed HCL, and its fixture tests -------------------------------
step "hcl_check.py infra (module calls, references, pins, literals, tags, variables)" \
  "$hclpy" scripts/lib/hcl_check.py infra
step "hcl_check tests (planted mistakes reported with file and line)" \
  "$hclpy" -m unittest -q scripts/lib/hcl_check_test.py

# -- checkov ------------------------------------------------------------------------------------
# Every skip is a `checkov:skip=ID:reason` comment in the block it concerns. --skip-download: no
# calls to the Prisma API (offline CI).
step "checkov (infra)" "$bin/checkov" -d infra --framework terraform --quiet --compact --skip-download
step "checkov fails on the planted mistake and names its file" \
  must_fail_saying "$bin/checkov" -d scripts/lib/fixtures/checkov --framework terraform --quiet --compact \
  --skip-download -- "FAILED for resource: aws_s3_bucket.planted" "/main.tf"

# -- the make targets fail at once, saying what is missing --------------------------------------
# A PATH with only the base system (no terraform, aws, kubectl, kind or docker).
bare="$work/bare-bin"
mkdir -p "$bare"
for t in bash make env cat grep head sed dirname mktemp rm python3 git; do
  ln -sf "$(command -v "$t")" "$bare/$t"
done
bare_make() { env -i HOME="$work" PATH="$bare" make --no-print-directory -s -C "$root" "$@"; }
step "make deploy ENV=dev without tools names terraform, the AWS CLI, AWS_REGION" \
  must_fail_saying bare_make deploy ENV=dev -- "cannot start, missing" "terraform >= 1.10" "AWS CLI" "AWS_REGION"
step "make destroy ENV=dev without tools names them too" \
  must_fail_saying bare_make destroy ENV=dev -- "make destroy ENV=dev: cannot start" "terraform >= 1.10"
step "make deploy ENV=qa is refused" must_fail_saying bare_make deploy ENV=qa -- "ENV must be shared, dev or prod"
step "make local-up without tools names terraform, Docker and kind" \
  must_fail_saying bare_make local-up -- "make local-up: cannot start" "terraform >= 1.10" "Docker" "kind"
step "make local-down without tools names them too" \
  must_fail_saying bare_make local-down -- "make local-down: cannot start" "kind"
start=$SECONDS
bare_make deploy ENV=dev >/dev/null 2>&1 || true
step "make deploy fails at once (under 2 s)" test $((SECONDS - start)) -lt 2

# -- the scripts behind them --------------------------------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
  step "shellcheck infra/scripts and this check" shellcheck -x -P "$root" infra/scripts/*.sh scripts/checks/infra.sh
else
  echo "infra.sh: FAILED: shellcheck missing; run \`make tools\` as root, or apt-get install shellcheck" >&2
  failed=1
fi

exit "$failed"
