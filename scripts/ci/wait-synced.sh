#!/usr/bin/env bash
# Waits (bounded) until the agent's /status says ENV was synced at REVISION and that sync succeeded;
# fails at once when the agent reports a failed sync of that revision, with its error.
#
#   scripts/ci/wait-synced.sh STATUS_URL ENV REVISION [TIMEOUT_SECONDS]
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: $0 STATUS_URL ENV REVISION [TIMEOUT_SECONDS]" >&2; exit 2; }
url="$1" env="$2" revision="$3" timeout="${4:-300}"
deadline=$((SECONDS + timeout))
last=""
while [ "$SECONDS" -lt "$deadline" ]; do
  if status="$(curl -fsS --max-time 5 "$url" 2>/dev/null)"; then
    verdict="$(python3 -c '
import json, sys
env, rev = sys.argv[1], sys.argv[2]
e = (json.load(sys.stdin).get("environments") or {}).get(env) or {}
last = e.get("last_sync") or {}
if last.get("revision") == rev and last.get("result") == "succeeded" and e.get("revision") == rev:
    print("synced")
elif last.get("revision") == rev and last.get("result") == "failed":
    print("failed: " + str(last.get("error") or e.get("last_error")))
else:
    print("waiting: applied %s, last sync %s of %s" % (e.get("revision"), last.get("result"), last.get("revision")))
' "$env" "$revision" <<<"$status")"
    case "$verdict" in
      synced) echo "wait-synced: $env synced at $revision"; exit 0 ;;
      failed*) echo "wait-synced: the agent failed to sync $env at $revision: ${verdict#failed: }" >&2; exit 1 ;;
    esac
    [ "$verdict" != "$last" ] && echo "wait-synced: $verdict"
    last="$verdict"
  fi
  sleep 2
done
echo "wait-synced: $env not synced at $revision within ${timeout}s (last: ${last:-no answer from $url})" >&2
exit 1
