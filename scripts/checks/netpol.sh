#!/usr/bin/env bash
# The platform's NetworkPolicy reachability table (scripts/lib/netpol_check.py), evaluated on the
# local charts as helm renders them for local, dev and prod, plus the agent's manifests/: the
# agent reaches the app's promotion checks, Prometheus every scrape target here, the gateway each
# backend; nothing else reaches the app or the agent, and the app reaches nothing. Then its tests,
# which plant the mistakes it must catch (issue 27, defect 3). `python3 scripts/lib/netpol_check.py
# . --table` prints the table. Quiet on success; on failure prints each failing step and exits 1.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
py="$root/.tools/venv/bin/python"   # has PyYAML
helm="$root/.tools/bin/helm"

# shellcheck source=scripts/lib/check.sh
source "$root/scripts/lib/check.sh"

for t in "$py" "$helm"; do
  [ -x "$t" ] || { echo "netpol.sh: FAILED: $t missing; run \`make tools\`" >&2; exit 1; }
done
step "reachability table (local, dev, prod)" "$py" scripts/lib/netpol_check.py "$root" --helm "$helm"
step "netpol_check tests (planted mistakes caught)" "$py" -m unittest -q scripts/lib/netpol_check_test.py
step "shellcheck this check" shellcheck -x -P "$root" scripts/checks/netpol.sh
exit "$failed"
