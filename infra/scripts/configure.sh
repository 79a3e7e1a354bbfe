#!/usr/bin/env bash
# make configure ENV=<dev|prod> [OUTPUTS=<file>|-]: writes infra/envs/<env>'s Terraform outputs
# (IRSA role ARNs, the hosted zone, the VPC CIDR, the ECR registry, Loki's buckets and role, the
# platform secrets' SSM path, the region, the domain) into environments/<env>/ with the agent's format-preserving editor
# (`sextant set-values`), then marks the environment deployable if no placeholder is left
# (scripts/lib/configure.py says what goes where; scripts/lib/placeholders.py what a placeholder
# is). OUTPUTS is a saved `terraform output -json` (or - for standard input); without it,
# terraform is asked, which needs the environment's backend initialised (make deploy did).
# Review and commit the result: the agent deploys what Git says.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck source=infra/scripts/require.sh
source "$root/infra/scripts/require.sh"

env="${1:-}"
outputs="${2:-}"
me="make configure ENV=$env"
case "$env" in dev | prod) ;; *) echo "$me: ENV must be dev or prod" >&2; exit 2 ;; esac

py="$root/.tools/venv/bin/python"   # has PyYAML
[ -x "$py" ] || py=python3
sextant="${SEXTANT:-${CARGO_TARGET_DIR:-$root/target}/debug/sextant}"
if [ -z "${SEXTANT:-}" ]; then
  need cargo "cargo, to build the sextant CLI (or set SEXTANT to its path)"
fi
if [ -z "$outputs" ]; then
  need_tf
fi
require_all "$me"
# This tree's CLI (a no-op when it is fresh), unless SEXTANT names one.
[ -n "${SEXTANT:-}" ] || cargo build --quiet -p sextant --bin sextant

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
case "$outputs" in
  "") "$tf" -chdir="infra/envs/$env" output -json > "$work/outputs.json" ||
        { echo "$me: terraform output failed; run make deploy ENV=$env first, or pass OUTPUTS=<file>" >&2; exit 1; } ;;
  -) cat > "$work/outputs.json" ;;
  *) cp "$outputs" "$work/outputs.json" ;;
esac
"$py" scripts/lib/configure.py --env "$env" --outputs "$work/outputs.json" --repo "$root" --sextant "$sextant"
