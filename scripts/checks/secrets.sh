#!/usr/bin/env bash
# No Secret with a literal value is deployed from Git (scripts/lib/secrets_check.py): every
# environment's local charts rendered offline with its values, each Secret holding only SOPS
# ciphertext or nothing; the upstream charts' values (not renderable here) holding no literal
# credential and naming only Secrets that helm/platform's ExternalSecrets make; the
# ExternalSecrets' placeholder the one Terraform writes. Then its tests, which plant each mistake
# it must catch. Quiet on success; on failure prints each failing step and exits 1.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
py="$root/.tools/venv/bin/python"   # has PyYAML
helm="$root/.tools/bin/helm"

# shellcheck source=scripts/lib/check.sh
source "$root/scripts/lib/check.sh"

for t in "$py" "$helm"; do
  [ -x "$t" ] || { echo "secrets.sh: FAILED: $t missing; run \`make tools\`" >&2; exit 1; }
done
step "no literal Secret in any environment (secrets_check.py)" "$py" scripts/lib/secrets_check.py "$root" --helm "$helm"
step "secrets_check tests (planted mistakes caught)" "$py" -m unittest -q scripts/lib/secrets_check_test.py
step "shellcheck this check" shellcheck -x -P "$root" scripts/checks/secrets.sh
exit "$failed"
