"""Prints one line per environment from the agent's /status JSON (read on standard input)."""
import json
import sys

status = json.load(sys.stdin)
for name, env in status["environments"].items():
    last = env.get("last_sync") or {}
    revision = (env.get("revision") or "-")[:12]
    print(f"  {name}: revision {revision}  last sync {last.get('result')}  totals {last.get('totals')}")
