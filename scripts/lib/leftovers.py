#!/usr/bin/env python3
"""Lists the processes a run left behind: every live process whose environment carries the run's
marker (`MAKE_TEST_RUN=<id>`, exported by scripts/test.sh and inherited by everything the tests
start; `--variable MAKE_DEMO_RUN` for scripts/demo.sh's), other than the pids given. Exits 1
when there is any.

Run it without the marker in its own environment (`env -u MAKE_TEST_RUN`), or it finds itself.
"""
import os
import sys


def leftovers(marker: bytes, spare: set[int]) -> list[tuple[int, str]]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in spare:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if marker in environ and cmdline:  # a zombie has no command line
            found.append((int(entry), cmdline))
    return found


def main() -> int:
    args = sys.argv[1:]
    variable = "MAKE_TEST_RUN"
    if args[:1] == ["--variable"] and len(args) >= 2:
        variable, args = args[1], args[2:]
    if not args:
        print("usage: leftovers.py [--variable NAME] RUN_ID [PID...]", file=sys.stderr)
        return 2
    marker = f"{variable}={args[0]}".encode()
    spare = {int(p) for p in args[1:]}
    found = leftovers(marker, spare)
    for pid, cmd in found:
        print(f"left running: pid {pid}: {cmd[:200]}", file=sys.stderr)
    if found:
        print(f"{len(found)} process(es) started by the run are still running", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
