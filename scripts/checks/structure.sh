#!/usr/bin/env bash
# The code's shape (docs/architecture.md): no import circle between modules or files of
# production Rust code (scripts/lib/import_cycles.py), no new file past 600 lines of code or
# function past 100 (scripts/lib/code_size.py, against scripts/checks/code-size-allowed.txt,
# which only shrinks), and both scripts' own tests on planted cases. Quiet on success.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

# shellcheck source=scripts/lib/check.sh
source "$root/scripts/lib/check.sh"

step "no import circle (import_cycles.py)" python3 scripts/lib/import_cycles.py "$root"
step "import_cycles.py tests (planted circles caught)" python3 -m unittest -q scripts/lib/import_cycles_test.py
step "no new long file or function (code_size.py)" \
  python3 scripts/lib/code_size.py "$root" --allowed scripts/checks/code-size-allowed.txt
step "code_size.py tests (planted lengths caught)" python3 -m unittest -q scripts/lib/code_size_test.py
exit "$failed"
