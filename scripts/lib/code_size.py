#!/usr/bin/env python3
"""Production Rust files past 600 lines and functions past 100, in every crate under agent/ and
app/ (`src/` only; `#[cfg(test)]` modules and comments do not count).

Usage: code_size.py [ROOT] [--allowed FILE]   Exit 1 when something is too long, listing it.
With --allowed, FILE lists what was already too long when the rule came (one `path` or
`path: fn name` a line): those pass, anything else too long fails, and so does a line of FILE
that is no longer too long (so the list only shrinks: delete the line).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from import_cycles import crates, strip_comments_and_tests  # noqa: E402

MAX_FILE = 600
MAX_FN = 100
FN = re.compile(
    r"^[ \t]*(?:#\[[^\]\n]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?(?:default\s+)?(?:const\s+)?(?:async\s+)?"
    r"(?:unsafe\s+)?(?:extern\s+(?:\"[^\"]*\"\s+)?)?fn\s+(\w+)",
    re.M,
)


def lines(text):
    return [l for l in text.splitlines() if l.strip()]


def functions(text):
    """(name, non-blank lines) of each fn with a body."""
    out = []
    for m in FN.finditer(text):
        # The body starts at the first `{` after the signature, unless a `;` ends it first; a
        # `;` inside the signature's `[T; N]` or `(…)` does neither.
        i, depth = m.end(), 0
        while i < len(text) and not (text[i] in "{;" and depth == 0):
            depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(text[i], 0)
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


TEST_MOD = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")


def test_files(path, text):
    """The files of the `#[cfg(test)] mod name;` declarations in `path`."""
    here, f = os.path.split(path)
    stem = f[:-3]
    base = here if stem in ("mod", "lib", "main") else os.path.join(here, stem)
    out = set()
    for m in TEST_MOD.finditer(text):
        out.add(os.path.join(base, m.group(1) + ".rs"))
        out.add(os.path.join(base, m.group(1), "mod.rs"))
    return out


def check(root):
    problems = []
    for src in sorted(crates(root)):
        paths = [os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith(".rs")]
        tests = set()
        for path in paths:
            tests |= test_files(path, open(path, encoding="utf-8").read())
        for dirpath, _, files in os.walk(src):
            for f in sorted(files):
                path = os.path.join(dirpath, f)
                if not f.endswith(".rs") or path in tests:
                    continue
                text = strip_comments_and_tests(open(path, encoding="utf-8").read())
                rel = os.path.relpath(path, root)
                n = len(lines(text))
                if n > MAX_FILE:
                    problems.append(f"{rel}: {n} lines of code (at most {MAX_FILE})")
                for name, k in functions(text):
                    if k > MAX_FN:
                        problems.append(f"{rel}: fn {name} is {k} lines (at most {MAX_FN})")
    return problems


def key(problem):
    """`path` for a file, `path: fn name` for a function."""
    path, what = problem.split(": ", 1)
    return f"{path}: {what.split(' is ')[0]}" if what.startswith("fn ") else path


def ratchet(problems, allowed):
    keys = {key(p): p for p in problems}
    out = [p for k, p in keys.items() if k not in allowed]
    out += [f"{a}: listed in the allowed file but no longer too long; delete its line" for a in sorted(allowed) if a not in keys]
    return out


def main():
    args = [a for a in sys.argv[1:]]
    allowed = None
    if "--allowed" in args:
        i = args.index("--allowed")
        with open(args[i + 1], encoding="utf-8") as f:
            allowed = {l.strip() for l in f if l.strip() and not l.startswith("#")}
        del args[i:i + 2]
    root = args[0] if args else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    problems = check(root)
    if allowed is not None:
        problems = ratchet(problems, allowed)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} too long", file=sys.stderr)
        return 1
    print("no file or function too long")
    return 0


if __name__ == "__main__":
    sys.exit(main())
