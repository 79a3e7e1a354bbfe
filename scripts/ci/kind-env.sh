#!/usr/bin/env bash
# Writes the scratch environment `kind` into a copy of the repository: local's releases and values
# plus an overlay that runs hash-service at a fixed 10 replicas (no HPA, so no metrics-server is
# needed) from the image under test. Used by .github/workflows/e2e-kind.yml (committed on a CI-only
# branch that the in-cluster agent syncs) and `make pipeline` (applied with `sextant apply`). Never
# committed to main: the image under test is known only once it is built.
#
#   scripts/ci/kind-env.sh REPO_DIR REPOSITORY DIGEST
#   KIND_ENV_INGRESS=false   drop local's Ingress, for a cluster without an ingress controller
#                            (the apply waits for an Ingress to get an address)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

[ $# -eq 3 ] || { echo "usage: $0 REPO_DIR REPOSITORY DIGEST" >&2; exit 2; }
repo="$1" repository="$2" digest="$3"
src="$repo/environments/local"
dst="$repo/environments/kind"
[ -f "$src/environment.yaml" ] || { echo "kind-env: $src/environment.yaml not found" >&2; exit 1; }
[ ! -e "$dst" ] || { echo "kind-env: $dst already exists; start from a fresh copy" >&2; exit 1; }

cp -R "$src" "$dst"
# Two exact, checked edits of the copied environment.yaml: its name, and the overlay appended to
# hash-service's values (later files win, as with helm -f).
python3 - "$dst/environment.yaml" <<'PY'
import sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
for old, new in (("\n  name: local\n", "\n  name: kind\n"),
                 ("values: [values/hash-service.yaml]", "values: [values/hash-service.yaml, values/kind.yaml]")):
    if text.count(old) != 1:
        sys.exit(f"kind-env: {path}: expected exactly one {old.strip()!r}; local's environment.yaml changed shape")
    text = text.replace(old, new)
open(path, "w", encoding="utf-8").write(text)
PY
cat >"$dst/values/kind.yaml" <<'YAML'
---
# CI-only overlay (scripts/ci/kind-env.sh): a fixed 10 replicas on kind, sized for one node.
autoscaling:
  enabled: false
replicaCount: 10
resources:
  requests:
    cpu: 10m
    memory: 16Mi
  limits:
    cpu: 250m
    memory: 64Mi
YAML
if [ "${KIND_ENV_INGRESS:-true}" = false ]; then
  printf 'ingress:\n  enabled: false\n' >>"$dst/values/kind.yaml"
fi
python3 "$here/set-image.py" --repo "$repo" --env kind --release hash-service \
  --repository "$repository" --digest "$digest"
