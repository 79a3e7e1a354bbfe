#!/usr/bin/env bash
# Lints what installs and observes the agent (manifests/) and the CI workflows (.github/):
# yamllint; promtool check rules and the alerts' unit tests; the PrometheusRule and the dashboard
# ConfigMap hold exactly alerts/sextant-rules.yaml and dashboards/sextant.json; every metric,
# label and label value the alerts and the dashboard use is one the agent exports; runbook links
# resolve; the image is pinned by digest; workflows pin actions by SHA and bound their
# permissions and run time; checkov. Quiet on success; on failure prints each
# failing step with its output and exits 1. Run by `make test`.
#
#   bash scripts/checks/manifests.sh --write   regenerates 10-prometheusrule.yaml and
#                                              11-grafana-dashboard.yaml from their sources
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bin="$root/.tools/bin"
py="$root/.tools/venv/bin/python"   # has PyYAML (a checkov dependency)
[ -x "$py" ] || py=python3

# Generates the two embedding manifests from their sources, to stdout-named files in $1.
generate() {
  "$py" - "$1" <<'PY'
import json, sys
out = sys.argv[1]

rules = open("manifests/alerts/sextant-rules.yaml").read()
groups = rules[rules.index("groups:"):]
with open(f"{out}/10-prometheusrule.yaml", "w") as f:
    f.write("""\
# Sextant's alerts for the Prometheus Operator. spec.groups is alerts/sextant-rules.yaml's
# `groups:` verbatim (scripts/checks/manifests.sh fails if they differ; the rules' unit tests run
# on that file). Edit that file, then `bash scripts/checks/manifests.sh --write`. If the
# cluster's Prometheus selects rules by label (e.g. ruleSelector `release: <name>`), add it here.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: sextant
  namespace: sextant-system
  labels:
    app.kubernetes.io/name: sextant
    app.kubernetes.io/part-of: sextant
spec:
""")
    f.write("".join("  " + l if l.strip() else l for l in groups.splitlines(True)))

dashboard = json.load(open("manifests/dashboards/sextant.json"))
text = json.dumps(dashboard, indent=2)
with open(f"{out}/11-grafana-dashboard.yaml", "w") as f:
    f.write("""\
# The Grafana dashboard, for the Grafana sidecar that loads ConfigMaps labelled
# grafana_dashboard: "1" (kube-prometheus-stack, grafana chart). The sidecar must search this
# namespace (searchNamespace: ALL, or list sextant-system). The JSON is
# dashboards/sextant.json: edit that file, then `bash scripts/checks/manifests.sh --write`.
# yamllint disable rule:line-length
apiVersion: v1
kind: ConfigMap
metadata:
  name: sextant-grafana-dashboard
  namespace: sextant-system
  labels:
    app.kubernetes.io/name: sextant
    app.kubernetes.io/part-of: sextant
    grafana_dashboard: "1"
  annotations:
    # The folder the sidecar files it under (when its folderAnnotation is grafana_folder).
    grafana_folder: Sextant
data:
  sextant.json: |
""")
    f.write("".join("    " + l + "\n" for l in text.splitlines()))
PY
}

if [ "${1:-}" = --write ]; then
  generate manifests
  exit 0
fi

# shellcheck source=scripts/lib/check.sh
source "$root/scripts/lib/check.sh"

# -- promtool: from Debian's prometheus package, installed by `make tools` -------------------
if ! command -v promtool >/dev/null 2>&1; then
  echo "manifests.sh: FAILED: promtool not found; run \`make tools\` (as root it installs Debian's" \
    "prometheus package), or install Prometheus' promtool on PATH" >&2
  exit 1
fi
step "promtool check rules" promtool check rules manifests/alerts/sextant-rules.yaml
step "promtool test rules" promtool test rules manifests/alerts/sextant-rules.test.yaml

# -- yamllint: manifests and workflows ---------------------------------------------------------
# document-start off (Kubernetes manifests and workflows do not start with ---); truthy keys off
# (a workflow's `on:` key).
step "yamllint" "$bin/yamllint" --strict -d '{extends: default, rules: {line-length: {max: 120},
  document-start: disable, truthy: {check-keys: false}}}' manifests .github

# -- the embedded copies are their sources -----------------------------------------------------
step "PrometheusRule and dashboard ConfigMap match their sources (fix: manifests.sh --write)" \
  "$py" - <<'PY'
import json, sys, yaml
problems = []
rules = yaml.safe_load(open("manifests/alerts/sextant-rules.yaml"))
prule = yaml.safe_load(open("manifests/10-prometheusrule.yaml"))
if prule.get("kind") != "PrometheusRule" or prule["spec"].get("groups") != rules["groups"]:
    problems.append("10-prometheusrule.yaml spec.groups differs from alerts/sextant-rules.yaml groups")
cm = yaml.safe_load(open("manifests/11-grafana-dashboard.yaml"))
if cm["metadata"].get("labels", {}).get("grafana_dashboard") != "1":
    problems.append('11-grafana-dashboard.yaml lacks the label grafana_dashboard: "1"')
try:
    embedded = json.loads(cm["data"]["sextant.json"])
    if embedded != json.load(open("manifests/dashboards/sextant.json")):
        problems.append("11-grafana-dashboard.yaml data.sextant.json differs from dashboards/sextant.json")
except (KeyError, ValueError) as e:
    problems.append(f"dashboard JSON: {e}")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY

# -- metrics, labels and values used are the agent's; alerts are complete ----------------------
step "alerts and dashboard use only the agent's metrics, labels and values" "$py" - <<'PY'
import json, re, sys, yaml

# The agent's metrics (docs/agent.md; agent/src/metrics.rs): name -> (type, labels).
METRICS = {
    "sextant_git_fetch_duration_seconds": ("histogram", set()),
    "sextant_git_fetch_errors_total": ("counter", set()),
    "sextant_source_revision_info": ("gauge", {"environment", "revision"}),
    "sextant_sync_total": ("counter", {"environment", "result"}),
    "sextant_sync_duration_seconds": ("histogram", {"environment"}),
    "sextant_wave_duration_seconds": ("histogram", {"environment", "wave"}),
    "sextant_render_duration_seconds": ("histogram", {"environment", "release"}),
    "sextant_values_decrypted_files": ("gauge", {"environment"}),
    "sextant_values_decrypt_failures_total": ("counter", {"environment", "reason"}),
    "sextant_last_sync_timestamp_seconds": ("gauge", {"environment", "result"}),
    "sextant_objects": ("gauge", {"environment", "release", "health"}),
    "sextant_reconcile_errors_total": ("counter", {"environment", "stage", "error"}),
    "sextant_leader": ("gauge", set()),
    "sextant_shard_environments": ("gauge", {"environment"}),
    "sextant_shard_members": ("gauge", set()),
    "sextant_webhook_requests_total": ("counter", {"result"}),
    "sextant_drift_objects": ("gauge", {"environment", "release"}),
    "sextant_drift_detected_total": ("counter", {"environment", "release"}),
    "sextant_drift_heals_total": ("counter", {"environment", "result"}),
    "sextant_drift_detection_seconds": ("histogram", set()),
    "sextant_drift_fighting_objects": ("gauge", {"environment"}),
    "sextant_live_objects": ("gauge", {"environment"}),
    "sextant_drift_pull_requests": ("gauge", {"environment", "state"}),
    "sextant_drift_pull_request_opened_timestamp_seconds": ("gauge", {"environment", "release"}),
    "sextant_forge_requests_total": ("counter", {"operation", "code"}),
    "sextant_forge_rate_limit_remaining": ("gauge", set()),
    "sextant_promotions_total": ("counter", {"from", "to", "result"}),
    "sextant_promotion_gate": ("gauge", {"environment", "release", "state"}),
    "sextant_promotion_checks": ("gauge", {"environment", "release", "check", "state"}),
    "sextant_promotion_lead_time_seconds": ("histogram", set()),
    "sextant_rollbacks_total": ("counter", {"environment", "release", "reason"}),
    "sextant_promotion_verifications_total": ("counter", {"registry", "result"}),
    "sextant_previews_total": ("counter", {"environment", "result"}),
    "sextant_preview_duration_seconds": ("histogram", {"environment"}),
    # Exported through the registry edge's observer (agent/registry): registry is oci or ecr.
    "sextant_registry_requests_total": ("counter", {"registry", "code"}),
}
VALUES = {
    ("sextant_sync_total", "result"): {"succeeded", "failed"},
    ("sextant_last_sync_timestamp_seconds", "result"): {"succeeded", "failed"},
    ("sextant_objects", "health"): {"Healthy", "Progressing", "Degraded"},
    ("sextant_reconcile_errors_total", "stage"): {"fetch", "render", "plan", "apply", "prune"},
    # agent/src/daemon/failure.rs ReconcileError::metric_label (docs/agent.md lists them)
    ("sextant_reconcile_errors_total", "error"): {
        "fetch_failed", "environment_invalid", "plan_invalid", "requirement_unmet",
        "render_task_failed", "rollback_unavailable", "render_timeout", "helm_failed",
        "template_failed", "chart_fetch_failed", "manifest_invalid", "values_invalid",
        "chart_unreadable", "unknown_release", "health_timeout", "degraded", "apply_unavailable",
        "apply_refused", "hook_failed", "kind_not_served", "kind_timeout", "stopped",
        "prune_guard", "deadline", "conflict", "api_unavailable", "api_refused",
        "signature_unverified", "signature_unavailable", "values_undecryptable"},
    # agent/sops/src/lib.rs SopsError::label, and key_file (agent/src/render/mod.rs)
    ("sextant_values_decrypt_failures_total", "reason"): {
        "no_key", "tampered", "mac", "version", "malformed", "edit", "kms", "key_file"},
    ("sextant_webhook_requests_total", "result"): {"accepted", "unauthorized", "ignored", "too_large", "bad_request"},
    ("sextant_drift_heals_total", "result"): {"succeeded", "failed"},
    ("sextant_drift_pull_requests", "state"): {"open", "issue"},
    ("sextant_promotions_total", "result"): {"proposed", "committed", "refused", "superseded", "failed"},
    # agent/core/src/promotion/gate.rs State::as_str
    ("sextant_promotion_gate", "state"): {"waiting", "progressing", "degraded", "drifted", "check-failed",
                                          "check-unknown", "soaking", "qualified", "unverified",
                                          "up-to-date", "rejected"},
    # agent/core/src/promotion/rollback.rs Cause::as_str
    ("sextant_rollbacks_total", "reason"): {"health", "metric"},
    # agent/core/src/promotion/gate.rs CheckState::as_str
    ("sextant_promotion_checks", "state"): {"passing", "failing", "unknown"},
    ("sextant_registry_requests_total", "registry"): {"oci", "ecr"},
    ("sextant_promotion_verifications_total", "registry"): {"oci", "ecr"},
    # agent/signature/src/refusal.rs Refusal::LABELS, and verified
    ("sextant_promotion_verifications_total", "result"): {
        "verified", "unsigned", "other_identity", "bad_signature", "other_digest", "untrusted",
        "outside_validity", "bad_timestamp", "missing_attestation", "malformed", "config"},
    ("sextant_previews_total", "result"): {"success", "failure", "error", "not-posted"},
}
# Labels Prometheus adds to every scraped series (target labels), and the histogram bucket label.
TARGET = {"namespace", "pod", "job", "instance", "service", "container", "endpoint"}

problems = []
def check(where, expr):
    for m in re.finditer(r"\b(sextant_[a-z_]+)\b(\{[^}]*\})?", expr):
        name, sel = m.group(1), m.group(2) or ""
        base, suffix = name, ""
        for s in ("_bucket", "_sum", "_count"):
            if name.endswith(s) and name[: -len(s)] in METRICS:
                base, suffix = name[: -len(s)], s
        if base not in METRICS:
            problems.append(f"{where}: unknown metric {name}")
            continue
        kind, labels = METRICS[base]
        if suffix and kind != "histogram":
            problems.append(f"{where}: {name}: {base} is a {kind}, not a histogram")
        allowed = labels | TARGET | ({"le"} if suffix == "_bucket" else set())
        for lm in re.finditer(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"', sel):
            label, op, value = lm.groups()
            if label not in allowed:
                problems.append(f"{where}: {name} has no label {label!r}")
            known = VALUES.get((base, label))
            if known and op in ("=", "!=") and value not in known:
                problems.append(f"{where}: {name}{{{label}={value!r}}}: not one of {sorted(known)}")
    if "sextant_" not in expr and "$" not in expr:
        problems.append(f"{where}: uses no sextant metric: {expr}")

runbook = open("docs/runbook.md").read()
anchors = {re.sub(r"[^a-z0-9_ -]", "", h.strip().lower()).replace(" ", "-")
           for h in re.findall(r"^#+ (.*)$", runbook, re.M)}
for group in yaml.safe_load(open("manifests/alerts/sextant-rules.yaml"))["groups"]:
    for rule in group["rules"]:
        name = rule.get("alert") or rule.get("record")
        check(f"alert {name}", rule["expr"])
        if "alert" not in rule:
            continue
        if rule.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            problems.append(f"alert {name}: severity label missing or not critical|warning|info")
        ann = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                problems.append(f"alert {name}: annotation {key} missing")
        url = ann.get("runbook_url", "")
        if not url.endswith(f"docs/runbook.md#{name.lower()}") or name.lower() not in anchors:
            problems.append(f"alert {name}: runbook_url {url!r} is not docs/runbook.md#{name.lower()} "
                            "with a matching heading")

dash = json.load(open("manifests/dashboards/sextant.json"))
def walk(panels):
    for p in panels:
        yield p
        yield from walk(p.get("panels", []))
exprs = 0
# Log panels query Loki (LogQL): they are about the agent's pods, not its metrics.
def is_loki(p):
    return p.get("datasource", {}).get("type") == "loki"
for p in walk(dash["panels"]):
    if is_loki(p):
        if p.get("datasource", {}).get("uid") != "${loki}":
            problems.append(f"dashboard panel {p['title']!r}: a Loki panel's datasource is not ${{loki}}")
        continue
    for t in p.get("targets", []):
        exprs += 1
        check(f"dashboard panel {p['title']!r} {t.get('refId')}", t["expr"])
if exprs == 0:
    problems.append("dashboard: no queries")
variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
if variables.get("datasource", {}).get("type") != "datasource":
    problems.append("dashboard: no datasource template variable")
if "environment" not in variables:
    problems.append("dashboard: no environment template variable")
else:
    q = variables["environment"]["query"]
    check("dashboard variable environment", q["query"] if isinstance(q, dict) else q)
for p in walk(dash["panels"]):
    if p.get("type") != "row" and not is_loki(p) and p.get("datasource", {}).get("uid") != "${datasource}":
        problems.append(f"dashboard panel {p['title']!r}: datasource is not ${{datasource}}")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY

# -- the agent's config file has the daemon's shape --------------------------------------------
# The daemon rejects unknown keys at start (serde deny_unknown_fields), so a typo in
# 04-configmap.yaml would crash-loop both replicas. The accepted keys are read from the file
# structs in agent/src/config.rs (snake_case fields, camelCase keys); no credential is inline.
# Before the daemon's config.rs exists there is no shape to compare with, and the step is moot.
[ -f agent/src/config.rs ] &&
step "04-configmap.yaml config.yaml uses only keys agent/src/config.rs accepts" "$py" - <<'PY'
import re, sys, yaml
problems = []
src = open("agent/src/config.rs").read()
structs = {name: body for name, body in re.findall(r"struct (\w*File) \{(.*?)\n\}", src, re.S)}
if "File" not in structs:
    print("agent/src/config.rs: no `struct File` (the config file's shape) found")
    sys.exit(1)
def camel(s):
    head, *rest = s.split("_")
    return head + "".join(w.title() for w in rest)
def fields(struct):
    return {camel(f): t for f, t in re.findall(r"^\s*(\w+): Option<(\w+)", structs[struct], re.M)}
def walk(value, struct, where):
    allowed = fields(struct)
    for key, sub in value.items():
        if key not in allowed:
            problems.append(f"{where}{key}: not a key of {struct} in agent/src/config.rs ({sorted(allowed)})")
        elif allowed[key] in structs and isinstance(sub, dict):
            walk(sub, allowed[key], f"{where}{key}.")
cm = yaml.safe_load(open("manifests/04-configmap.yaml"))
config = yaml.safe_load(cm["data"]["config.yaml"])
walk(config, "File", "config.yaml: ")
text = cm["data"]["config.yaml"]
if re.search(r"(?im)^\s*(token|password|secret)\s*:", text) or "@" in config.get("repo", {}).get("url", ""):
    problems.append("config.yaml: credentials inline; use the mounted Secret files")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY

# -- the agent's image is pinned by digest -----------------------------------------------------
step "images pinned by digest" "$py" - <<'PY'
import re, sys, yaml
bad = []
docs = [d for d in yaml.safe_load_all(open("manifests/05-deployment.yaml")) if d]
for d in docs:
    pod = d["spec"]["template"]["spec"]
    for c in pod.get("initContainers", []) + pod["containers"]:
        if not re.search(r"@sha256:[0-9a-f]{64}$", c["image"]):
            bad.append(f"{d['kind']}/{d['metadata']['name']} {c['name']}: {c['image']} not pinned by digest")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY

# -- workflows: pinned actions, least privilege, bounded runs ----------------------------------
# (actionlint is not in a registry this project uses; yamllint above checks the YAML itself.)
step "workflows pin actions by commit and set permissions, concurrency and timeouts" "$py" - <<'PY'
import glob, re, sys, yaml
problems = []
for f in sorted(glob.glob(".github/workflows/*.yml")):
    w = yaml.safe_load(open(f))
    for key in ("permissions", "concurrency"):
        if key not in w:
            problems.append(f"{f}: no top-level {key}")
    if w.get("permissions") not in ({}, {"contents": "read"}):
        problems.append(f"{f}: top-level permissions must be contents: read (widen per job)")
    for name, job in w.get("jobs", {}).items():
        if "timeout-minutes" not in job:
            problems.append(f"{f}: job {name} has no timeout-minutes")
        for step in job.get("steps", []):
            uses = step.get("uses", "")
            if uses and not re.search(r"@[0-9a-f]{40}$", uses):
                problems.append(f"{f}: job {name}: {uses} is not pinned to a commit SHA")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY

# -- checkov --------------------------------------------------------------------------------
# Every skip is a checkov.io/skipN annotation on the object it concerns, with its reason:
# CKV_K8S_49 and CKV_K8S_155 on the ClusterRole and CKV2_K8S_2/4/5 on its binding (all the
# applier's wildcard, 02-rbac-cluster.yaml), CKV_K8S_38 on the Deployment (the agent needs its
# service-account token). --skip-download: no calls to the Prisma guidelines API (offline CI).
step "checkov (manifests)" "$bin/checkov" -d manifests --framework kubernetes \
  --quiet --compact --skip-download

exit "$failed"
