#!/usr/bin/env bash
# What no single linter sees: the workflows, the Terraform and the environments' values checked
# against each other, from the parsed HCL (scripts/lib/tf_facts.py), without a cloud:
#  - every workflow job that assumes an AWS role presents an OIDC subject the role's trust policy
#    lists (scripts/lib/oidc_check.py);
#  - every role, bucket, ECR repository, source range and SSM parameter (of an ExternalSecret)
#    dev's and prod's values name is one Terraform creates for them, and each IRSA role is used
#    by the ServiceAccount it trusts (scripts/lib/tf_refs_check.py);
#  - no placeholder (account, hosted zone, example domain) is left in an environment marked
#    deployable (scripts/lib/placeholders.py), and `make configure` (scripts/lib/configure.py)
#    writes Terraform's outputs so that none is;
# each with its tests, which plant the mistakes it must catch (issue 27, defects 1, 4, 6 and 9).
# Quiet on success; on failure prints each failing step with its output and exits 1.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
py="$root/.tools/venv/bin/python"   # has PyYAML
hclpy="$root/.tools/hcl-venv/bin/python"

# shellcheck source=scripts/lib/check.sh
source "$root/scripts/lib/check.sh"

for t in "$py" "$hclpy"; do
  [ -x "$t" ] || { echo "crossrefs.sh: FAILED: $t missing; run \`make tools\`" >&2; exit 1; }
done
# configure's tests need this tree's CLI (set-values): the one `make test` built before the
# checks, built here only when missing, unless SEXTANT names one.
if [ -z "${SEXTANT:-}" ]; then
  SEXTANT="${CARGO_TARGET_DIR:-$root/target}/debug/sextant"
  [ -x "$SEXTANT" ] || cargo build --quiet -p sextant --bin sextant
  export SEXTANT
fi

# shellcheck disable=SC2016 # expanded by the inner shell
step "Terraform facts (tf_facts.py infra)" sh -c '"$1" scripts/lib/tf_facts.py infra > "$2"' _ "$hclpy" "$work/facts.json"
step "workflow roles trust their jobs' OIDC subjects" "$py" scripts/lib/oidc_check.py "$root" --facts "$work/facts.json"
step "environments name only what Terraform creates" "$py" scripts/lib/tf_refs_check.py "$root" --facts "$work/facts.json"
step "no placeholder in a deployable environment" "$py" scripts/lib/placeholders.py "$root"
for t in oidc_check tf_refs_check placeholders configure; do
  step "$t tests (planted mistakes caught)" "$py" -m unittest -q "scripts/lib/${t}_test.py"
done
step "shellcheck configure.sh and this check" shellcheck -x -P "$root" infra/scripts/configure.sh scripts/checks/crossrefs.sh
exit "$failed"
