#!/usr/bin/env python3
"""Pins a release's image in an environment's values file: the dev-bump step of the pipelines.

    scripts/ci/set-image.py --env dev --release hash-service --digest sha256:<64 hex>
                            [--repository REPO] [--repo DIR]

Stands in for `sextant set-image` until the agent has it, with the same arguments. It edits
environments/<env>/values/<release>.yaml in place and format-preserving: only the bytes of the
scalar after `digest:` (and `repository:`, when given) inside the top-level `image:` block
change. Quotes around the old value, a trailing comment, indentation, line endings and every
other line stay as they were. Standard library only, so a bare CI runner can run it.

Exit status: 0 when the file now pins the digest (changed or already there), 1 when the file
cannot be edited safely (missing, no `image:` block, no or several `digest:` lines), 2 on bad
arguments (a digest that is not sha256:<64 lower-case hex>).
"""

import argparse
import re
import sys
from pathlib import Path

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# A repository reference without tag or digest: registry[:port]/path, lower-case path components.
REPOSITORY = re.compile(r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+|[a-z0-9._-]+(/[a-z0-9._-]+)*")
TOP_LEVEL_IMAGE = re.compile(r"image:[ \t]*(#.*)?$")
# `  key: value  # comment`, value plain or quoted; groups: prefix, quote, value, suffix.
KEY_LINE = r"^(?P<prefix>{indent}{key}:[ \t]*)(?P<quote>[\"']?)(?P<value>[^\"'#\s]*)(?P=quote)(?P<suffix>[ \t]*(#.*)?)$"


class EditError(Exception):
    pass


def image_block(lines: list[str]) -> range:
    """The line indexes of the top-level `image:` mapping's body."""
    starts = [i for i, line in enumerate(lines) if TOP_LEVEL_IMAGE.match(line.rstrip("\r\n"))]
    if len(starts) != 1:
        found = "no" if not starts else f"{len(starts)}"
        raise EditError(f"{found} top-level block `image:` (a block mapping, not flow style)")
    end = starts[0] + 1
    while end < len(lines):
        text = lines[end].rstrip("\r\n")
        if text and not text[0].isspace() and not text.startswith("#"):
            break
        end += 1
    return range(starts[0] + 1, end)


def replace_scalar(lines: list[str], block: range, key: str, new: str) -> tuple[str, bool]:
    """Replaces the value of `key` in the block; returns the old value and whether it changed."""
    # Direct children of `image:` share the indentation of its first key; deeper keys are not ours.
    keys = [lines[i] for i in block if lines[i].strip() and not lines[i].lstrip().startswith("#")]
    indent = re.escape(re.match(r"[ \t]*", keys[0]).group(0)) if keys else "[ \t]+"
    pattern = re.compile(KEY_LINE.format(indent=indent, key=re.escape(key)))
    hits = []
    for i in block:
        body = lines[i].rstrip("\r\n")
        m = pattern.match(body)
        if m:
            hits.append((i, m))
        elif re.match(rf"^{indent}{re.escape(key)}:", body):
            raise EditError(f"line {i + 1}: `image.{key}` has a value this step does not edit: {body.strip()!r}")
    if len(hits) != 1:
        raise EditError(f"{'no' if not hits else len(hits)} `image.{key}:` line(s) in the `image:` block")
    i, m = hits[0]
    old = m.group("value")
    ending = lines[i][len(lines[i].rstrip("\r\n")):]
    lines[i] = f"{m.group('prefix')}{m.group('quote')}{new}{m.group('quote')}{m.group('suffix')}{ending}"
    return old, old != new


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--release", required=True)
    parser.add_argument("--digest", required=True)
    parser.add_argument("--repository", help="also set image.repository (registry/path, no tag)")
    parser.add_argument("--repo", default=".", help="the repository's root (default: .)")
    args = parser.parse_args()

    if not DIGEST.fullmatch(args.digest):
        print(f"set-image: refused: {args.digest!r} is not an image digest; "
              "want sha256: followed by 64 lower-case hex characters", file=sys.stderr)
        return 2
    if args.repository is not None and not REPOSITORY.fullmatch(args.repository):
        print(f"set-image: refused: {args.repository!r} is not an image repository "
              "(registry/path, lower case, without tag or digest)", file=sys.stderr)
        return 2
    for name in ("env", "release"):
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", getattr(args, name)):
            print(f"set-image: refused: --{name} {getattr(args, name)!r} is not a name", file=sys.stderr)
            return 2

    path = Path(args.repo) / "environments" / args.env / "values" / f"{args.release}.yaml"
    shown = path
    try:
        raw = path.read_bytes()
    except OSError as err:
        print(f"set-image: {shown}: cannot read: {err.strerror}", file=sys.stderr)
        return 1
    lines = raw.decode("utf-8").splitlines(keepends=True)
    try:
        block = image_block(lines)
        edits = [("digest", args.digest)]
        if args.repository is not None:
            edits.insert(0, ("repository", args.repository))
        changes = []
        for key, new in edits:
            old, changed = replace_scalar(lines, block, key, new)
            if changed:
                changes.append(f"image.{key} {old} -> {new}")
    except EditError as err:
        print(f"set-image: {shown}: {err}; nothing written", file=sys.stderr)
        return 1

    if not changes:
        print(f"set-image: {shown}: already pins {args.digest}; nothing written")
        return 0
    tmp = path.with_name(f".{path.name}.set-image")
    tmp.write_bytes("".join(lines).encode("utf-8"))
    tmp.replace(path)
    for change in changes:
        print(f"set-image: {shown}: {change}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
