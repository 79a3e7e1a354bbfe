#!/usr/bin/env python3
"""Copies this Git working tree as it is into DEST: tracked files and new files Git does not
ignore, uncommitted edits included, deleted files left out, symlinks kept as links. The scratch
copies of `make pipeline` and scripts/checks/pipelines.sh, so the tree itself is never written.

    scripts/ci/copy-tree.py DEST        (run from anywhere inside the working tree)
"""

import os
import shutil
import subprocess
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    dest = os.path.abspath(sys.argv[1])
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                          text=True, check=True).stdout.strip()
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=root, capture_output=True, check=True).stdout
    for name in sorted(set(filter(None, listed.decode("utf-8").split("\0")))):
        src = os.path.join(root, name)
        if not os.path.lexists(src) or os.path.isdir(src) and not os.path.islink(src):
            continue  # deleted in the working tree, or a submodule
        target = os.path.join(dest, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
