#!/usr/bin/env bash
# Checks every workflow in .github/workflows/: the GitHub-workflow JSON schema (check-jsonschema
# --builtin-schema vendor.github-workflows), zizmor's security audit (offline), and shellcheck
# on every `run:` block (extracted by scripts/lib/workflow_run_blocks.py). actionlint is not
# installable here (see docs/infra.md); GitHub's runners can run it. Quiet on success; on failure
# prints each failing step with its output and exits 1. Run by `make test`.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bin="$root/.tools/bin"
py="$root/.tools/venv/bin/python"   # has PyYAML (a checkov dependency)

# shellcheck source=scripts/lib/check.sh
source "$root/scripts/lib/check.sh"

for t in "$bin/check-jsonschema" "$bin/zizmor" "$py"; do
  [ -x "$t" ] || { echo "workflows.sh: FAILED: $t missing; run \`make tools\`" >&2; exit 1; }
done
command -v shellcheck >/dev/null 2>&1 ||
  { echo "workflows.sh: FAILED: shellcheck missing; run \`make tools\` as root, or apt-get install shellcheck" >&2; exit 1; }

mapfile -t workflows < <(find .github/workflows -maxdepth 1 \( -name '*.yml' -o -name '*.yaml' \) | sort)
[ "${#workflows[@]}" -gt 0 ] || { echo "workflows.sh: FAILED: no workflows in .github/workflows" >&2; exit 1; }

for w in "${workflows[@]}"; do
  step "schema: $w" "$bin/check-jsonschema" --builtin-schema vendor.github-workflows "$w"
done

# --offline: no GitHub API calls (no token here); the online audits run nowhere else either.
step "zizmor" "$bin/zizmor" --offline --no-progress "${workflows[@]}"

blocks="$work/run-blocks"
step "extract run: blocks" "$py" scripts/lib/workflow_run_blocks.py "$blocks" "${workflows[@]}"
for s in "$blocks"/*.sh; do
  [ -e "$s" ] || continue
  step "shellcheck $(sed -n 2p "$s" | cut -c3-)" shellcheck -s bash "$s"
done

step "shellcheck this check and its extractor's callers" shellcheck -x -P "$root" scripts/checks/workflows.sh

exit "$failed"
