#!/usr/bin/env python3
"""Finds import circles in the production Rust code of every crate under agent/ and app/.

A crate's modules are its files (`a/b.rs` and `a/b/mod.rs` are module `a::b`); a file refers to
another through `crate::…`, `super::…` and `self::…` paths (in `use` lines and in code). Two
graphs are checked, and a circle in either fails:
- between top-level modules of a crate (`apply` → `drift` → `apply`);
- between files, leaving out a file's references to its own ancestors (a child naming its
  parent's items through `super::` is how Rust modules are built, not a circle). A name a module
  re-exports (`pub use child::Name`, `pub(crate) use …`) is followed to the module that defines
  it: `super::Name` re-exported from a sibling is a reference to that sibling.
`#[cfg(test)]` modules, `tests/`, `benches/` and comments are not production code.

Usage: import_cycles.py [ROOT]   (default: the repository root). Exit 1 on any circle.
"""
import os
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
REEXPORT = re.compile(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", re.S)
BRACE_USE = re.compile(r"\buse\s+(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*)\};", re.S)


CHAR = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'")
RAW = re.compile(r'b?r(#*)"')


def blank_literals_and_comments(text):
    """The code with every comment gone and every string or char literal emptied (`""`, `' '`;
    each line of a string spanning lines still a line of code): so a `{` or a `//` in a string
    is not read as code."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == '"' or (c in "br" and RAW.match(text, i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))):
            raw = RAW.match(text, i) if c in "br" else None
            if raw:
                end = '"' + raw.group(1)
                j = text.find(end, raw.end())
                j = n if j < 0 else j + len(end)
            else:
                j = i + 1
                while j < n and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                j += 1
            out.append('""' + '\n""' * text.count("\n", i, j))
            i = j
        elif c == "'" and CHAR.match(text, i):
            out.append("' '")
            i = CHAR.match(text, i).end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_comments_and_tests(text):
    text = blank_literals_and_comments(text)
    # Drop `#[cfg(test)] mod x { ... }` blocks by brace matching.
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def modules(src):
    """{module path tuple: file} for one crate's src dir."""
    mods = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            if rel in ("main.rs",) and os.path.exists(os.path.join(src, "lib.rs")):
                continue  # the binary is its own crate; it uses the library by name
            mods[tuple(parts)] = os.path.join(dirpath, f)
    return mods


def resolve(here, kind, segments, mods, is_dir_module, exports=None, hops=0):
    if kind == "crate":
        base = []
    elif kind == "self":
        base = list(here)
    else:  # super
        base = list(here[:-1])
    path = base + segments
    # Longest prefix that is a module; a name it re-exports leads on to where it is defined.
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in mods:
            found = tuple(path[:n])
            if exports is not None and n < len(path) and hops < 8:
                target = exports.get(found, {}).get(path[n])
                if target is not None and target != found:
                    return resolve((), "crate", list(target) + path[n + 1:], mods, None, exports, hops + 1) or target
            return found
    # An item of the crate root: the root's re-export of it leads on, too.
    if exports is not None and path and hops < 8:
        target = exports.get((), {}).get(path[0])
        if target:
            return resolve((), "crate", list(target) + path[1:], mods, None, exports, hops + 1) or target
    return ()


def reexports(mod, file, mods):
    """{name: module it comes from} for each name `mod` re-exports with `pub use`."""
    text = strip_comments_and_tests(open(file, encoding="utf-8").read())
    out = {}
    for m in REEXPORT.finditer(text):
        body = re.sub(r"\s+", "", m.group(1))
        prefix, _, items = body.partition("::{")
        if items:
            names = items.rstrip("}").split(",")
        else:
            prefix, _, last = body.rpartition("::")
            names = [last]
        segs = [x for x in prefix.split("::") if x]
        if not segs:
            continue
        kind = segs[0] if segs[0] in ("crate", "super", "self") else "self"
        if kind == segs[0]:
            segs = segs[1:]
        source = resolve(mod, kind, segs, mods, None)
        if not source:
            continue
        for item in names:
            if not item or "::" in item or "{" in item:
                continue
            original, _, alias = item.partition("as")
            name_ = alias or original
            if re.match(r"^[A-Za-z_]\w*$", name_) and name_ != "self":
                out[name_] = source
    return out


def references(mod, file, mods, exports=None):
    text = strip_comments_and_tests(open(file, encoding="utf-8").read())
    found = set()
    for m in BRACE_USE.finditer(text):
        prefix = [s for s in m.group(2).split("::") if s]
        for item in re.split(r"[,\s]+", m.group(3)):
            head = item.split("::")[0].strip("{} ")
            if head and head not in ("self",) and re.match(r"^[A-Za-z_]\w*$", head):
                found.add(resolve(mod, m.group(1), prefix + [head], mods, None, exports))
    for m in PATH.finditer(text):
        segs = [s for s in m.group(2).split("::") if s]
        found.add(resolve(mod, m.group(1), segs, mods, None, exports))
    found.discard(mod)
    found.discard(())
    return found


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def crates(root):
    for top in ("agent", "app"):
        for dirpath, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = [d for d in dirs if d not in ("target", "tests", "benches", "node_modules", ".git")]
            if "Cargo.toml" in files and os.path.isdir(os.path.join(dirpath, "src")):
                yield os.path.join(dirpath, "src")


def name(mod):
    return "::".join(mod) or "(crate root)"


def check(root):
    problems = []
    for src in sorted(crates(root)):
        mods = modules(src)
        exports = {mod: reexports(mod, file, mods) for mod, file in mods.items()}
        files, tops = {}, {}
        for mod, file in mods.items():
            refs = references(mod, file, mods, exports)
            # Leave out references to one's own ancestors (parents declare their children).
            files[mod] = {r for r in refs if mod[: len(r)] != r}
            if mod:
                for r in refs:
                    if r and r[0] != mod[0]:
                        tops.setdefault(mod[0], set()).add(r[0])
        crate = os.path.relpath(os.path.dirname(src), root)
        for comp in cycles(tops):
            problems.append(f"{crate}: modules import each other: {' ↔ '.join(comp)}")
        for comp in cycles(files):
            problems.append(f"{crate}: files import each other: {' ↔ '.join(name(c) for c in comp)}")
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} import circle(s)", file=sys.stderr)
        return 1
    print("no import circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
