#!/usr/bin/env python3
"""Production Rust files past 600 lines and functions past 100, in every crate under agent/ and
app/ (`src/` only; `#[cfg(test)]` modules and comments do not count).

Usage: code_size.py [ROOT]   Exit 1 when something is too long, listing it.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from import_cycles import crates, strip_comments_and_tests  # noqa: E402

MAX_FILE = 600
MAX_FN = 100
FN = re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)", re.M)


def lines(text):
    return [l for l in text.splitlines() if l.strip()]


def functions(text):
    """(name, non-blank lines) of each fn with a body."""
    out = []
    for m in FN.finditer(text):
        i = m.end()
        # the body starts at the first `{` after the signature, unless a `;` ends it first
        while i < len(text) and text[i] not in "{;":
            i += 1
        if i >= len(text) or text[i] == ";":
            continue
        depth, j = 0, i
        while j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                break
        out.append((m.group(1), len(lines(text[m.start():j]))))
    return out


def check(root):
    problems = []
    for src in sorted(crates(root)):
        for dirpath, _, files in os.walk(src):
            for f in sorted(files):
                if not f.endswith(".rs"):
                    continue
                path = os.path.join(dirpath, f)
                text = strip_comments_and_tests(open(path, encoding="utf-8").read())
                rel = os.path.relpath(path, root)
                n = len(lines(text))
                if n > MAX_FILE:
                    problems.append(f"{rel}: {n} lines of code (at most {MAX_FILE})")
                for name, k in functions(text):
                    if k > MAX_FN:
                        problems.append(f"{rel}: fn {name} is {k} lines (at most {MAX_FN})")
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} too long", file=sys.stderr)
        return 1
    print("no file or function too long")
    return 0


if __name__ == "__main__":
    sys.exit(main())
