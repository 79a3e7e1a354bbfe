#!/usr/bin/env bash
# Lints the agent's image definition (no Docker engine here to build it): hadolint, checkov's
# Dockerfile checks (one skip, CKV_DOCKER_2, justified in the Dockerfile), and every base image
# pinned by digest (scripts/lib/dockerfile_pins.py, as app/Dockerfile). Quiet on success.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bin="$root/.tools/bin"
out="$("$bin/hadolint" agent/Dockerfile 2>&1)" || { echo "agent-image.sh: hadolint: $out" >&2; exit 1; }
out="$("$bin/checkov" -f agent/Dockerfile --framework dockerfile --quiet --compact --skip-download 2>&1)" \
  || { echo "agent-image.sh: checkov: $out" >&2; exit 1; }
out="$(python3 scripts/lib/dockerfile_pins.py agent/Dockerfile 2>&1)" \
  || { echo "agent-image.sh: base images: $out" >&2; exit 1; }
# Every file the agent's crates embed (include_str!/include_bytes!) is in the image's build
# context: docs/ is not, so an embedded schema must be let in by name.
out="$(python3 - <<'PY' 2>&1
import fnmatch, glob, os, re, sys
rules = [l.strip() for l in open("agent/Dockerfile.dockerignore") if l.strip() and not l.startswith("#")]
def kept(path):
    keep = True
    for r in rules:
        neg = r.startswith("!")
        pat = r[1:] if neg else r
        pat = pat.rstrip("/")
        if fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path, pat + "/*") or path.startswith(pat + "/") or (pat.startswith("**/") and fnmatch.fnmatch(path, "*" + pat[2:])):
            keep = neg
    return keep
bad = []
for src in glob.glob("agent/**/src/**/*.rs", recursive=True):
    if "/target/" in src:
        continue
    for m in re.finditer(r'include_(?:str|bytes)!\("([^"]+)"\)', open(src, encoding="utf-8").read()):
        path = os.path.normpath(os.path.join(os.path.dirname(src), m.group(1)))
        if not kept(path):
            bad.append(f"{src} embeds {path}, which agent/Dockerfile.dockerignore leaves out of the build context")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
)" || { echo "agent-image.sh: $out" >&2; exit 1; }
