#!/usr/bin/env python3
"""Judges a `hey` report: successful requests per second and the failure ratio.

    scripts/ci/load-verdict.py REPORT MIN_RPS ERROR_BUDGET

Reads hey's text summary (Total seconds, the status code distribution, the error distribution),
prints one line of figures, and exits 1 when the 2xx rate is under MIN_RPS or the failures (non-2xx
answers plus transport errors) exceed ERROR_BUDGET of all requests; 2 when the report is unreadable.
"""

import re
import sys


def parse(text: str) -> tuple[float, dict[int, int], int]:
    # hey prints its Summary only when some request got an answer; errors alone come without it.
    total = re.search(r"^\s*Total:\s+([0-9.]+) secs", text, re.M)
    codes: dict[int, int] = {}
    errors = 0
    section = None
    for line in text.splitlines():
        if line.startswith("Status code distribution:"):
            section = "codes"
        elif line.startswith("Error distribution:"):
            section = "errors"
        elif not line.strip():
            section = None
        elif section == "codes" and (m := re.match(r"\s+\[(\d{3})\]\s+(\d+) responses", line)):
            codes[int(m.group(1))] = codes.get(int(m.group(1)), 0) + int(m.group(2))
        elif section == "errors" and (m := re.match(r"\s+\[(\d+)\]\s", line)):
            errors += int(m.group(1))
    if not total and not errors:
        raise ValueError("neither a 'Total: N secs' line nor an error distribution; is this hey's report?")
    return float(total.group(1)) if total else 0.0, codes, errors


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    path, min_rps, budget = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    try:
        seconds, codes, errors = parse(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as err:
        print(f"load-verdict: {path}: {err}", file=sys.stderr)
        return 2
    ok = sum(n for code, n in codes.items() if 200 <= code < 300)
    failed = sum(codes.values()) - ok + errors
    total = ok + failed
    rps = ok / seconds if seconds else 0.0
    ratio = failed / total if total else 1.0
    print(f"load-verdict: {total} requests in {seconds:.1f}s: {rps:.1f} successful/s "
          f"(want >= {min_rps:g}), {failed} failed = {ratio:.4%} (budget {budget:.2%}); "
          f"codes {dict(sorted(codes.items()))}, transport errors {errors}")
    problems = []
    if rps < min_rps:
        problems.append(f"{rps:.1f} successful requests/s is under {min_rps:g}")
    if ratio > budget:
        problems.append(f"{ratio:.4%} failed requests is over the {budget:.2%} error budget")
    for p in problems:
        print(f"load-verdict: FAILED: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
