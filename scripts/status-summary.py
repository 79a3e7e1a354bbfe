"""Prints one line per environment from the agent's /status JSON (read on standard input); with
--promotions, one line per promotion gate instead (`.environments.<source>.promotions[]`)."""
import json
import sys

status = json.load(sys.stdin)
if sys.argv[1:] == ["--promotions"]:
    for env in status["environments"].values():
        for p in env.get("promotions") or []:
            digest = (p.get("digest") or "-")[:19] + "…"
            message = p.get("message") or ""
            parts = [f"{p['state']} since {p['since']}", message]
            if digest[:-1] not in message:
                parts.append(digest)
            if p.get("registry"):
                parts.append(f"registry: {p['registry']}")
            if p.get("signature"):
                parts.append(f"signature: {p['signature']}")
            if p.get("request"):
                parts.append(f"request: {p['request']}")
            if p.get("last_error"):
                parts.append(f"last error: {p['last_error']}")
            print(f"  {p['target']}/{p['release']}: " + "; ".join(x for x in parts if x))
    sys.exit(0)
for name, env in status["environments"].items():
    last = env.get("last_sync") or {}
    revision = (env.get("revision") or "-")[:12]
    print(f"  {name}: revision {revision}  last sync {last.get('result')}  totals {last.get('totals')}")
