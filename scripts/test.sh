#!/usr/bin/env bash
# The project's one test command (`make test`, and so CI): Rust tests, then lints of what ships.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$root/.tools/bin:$PATH"

# Everything the tests start inherits this marker; at the end, nothing carrying it may still run.
MAKE_TEST_RUN="$$-$(date +%s%N)"
export MAKE_TEST_RUN

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

for check in scripts/checks/*.sh; do
  [ -e "$check" ] || continue
  echo "== $check"
  bash "$check"
done

echo "== no process left behind"
env -u MAKE_TEST_RUN python3 scripts/lib/leftovers.py "$MAKE_TEST_RUN" "$$"
