#!/usr/bin/env python3
"""Every base image of a Dockerfile is pinned by digest: each `FROM` that does not name an
earlier stage ends in `@sha256:<64 hex>` (the tag before it is for humans and Dependabot, which
moves both). A `FROM` whose image is a build argument (`FROM ${X}`) cannot be checked and is
refused too. Used by scripts/checks/agent-image.sh and scripts/checks/pipelines.sh.

    dockerfile_pins.py DOCKERFILE...

Prints `file:line: FROM <ref> is not pinned by digest` for each one and exits 1 if any.
"""
import re
import sys

FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.I)
PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")


def problems(path):
    stages, out = set(), []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = FROM.match(line)
            if not m:
                continue
            ref, stage = m.group(1), m.group(2)
            if ref.lower() not in stages and ref != "scratch" and not PINNED.search(ref):
                out.append(f"{path}:{n}: FROM {ref} is not pinned by digest (tag@sha256:<digest>)")
            if stage:
                stages.add(stage.lower())
    return out


def main(argv):
    if len(argv) < 2:
        print("usage: dockerfile_pins.py DOCKERFILE...", file=sys.stderr)
        return 2
    found = [p for path in argv[1:] for p in problems(path)]
    if found:
        print("\n".join(found))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
