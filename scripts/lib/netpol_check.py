#!/usr/bin/env python3
"""Who may talk to whom on the platform, evaluated from the rendered NetworkPolicies.

    netpol_check.py REPO_ROOT [--helm HELM] [--table]

For each environment (local, dev, prod) the local charts are rendered with its values
(`helm template helm/<chart> -f environments/<env>/values/<chart>.yaml`, only the charts the
environment runs) and the agent's manifests/ are added; from those, every NetworkPolicy and every
workload's pod labels and named ports. Then each flow of FLOWS is decided the way the API
defines it (https://kubernetes.io/docs/concepts/services-networking/network-policies/): a pod
selected by no policy of a direction is open in it; a selected one admits a peer when some rule
of some selecting policy matches both the peer (namespaceSelector, podSelector, or both ANDed in
one entry; namespaces are matched by their kubernetes.io/metadata.name label) and the port (a
number, or a name resolved against the destination's container ports). A flow needs both the
source's egress and the destination's ingress. The table says what must be allowed (agent ->
the app's promotion checks, Prometheus -> every scrape target here, the gateway -> each
backend, main-api -> auxiliary-service in dev and prod) and what must not (any other pod -> the
app, the agent or auxiliary-service; the app -> anything; main-api -> anything but aux; aux ->
any pod: its egress is DNS and TCP 443 to addresses outside the cluster's pods, which a
pod-to-pod table does not model).
Reports each flow whose outcome differs from the table, and with --table prints all of them.
The table means something only if the policies are enforced: on EKS the VPC CNI does it when its
add-on runs with enableNetworkPolicy, so the check also fails when infra/modules/eks's vpc-cni
add-on does not set it (https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html).
The pods the upstream charts make (Prometheus, Envoy's proxies, ingress-nginx) are not rendered
here: the table names them by the labels those charts give them.
"""
import argparse
import glob
import os
import re
import subprocess
import sys

import yaml

AGENT = {"workload": ("sextant-system", "sextant")}
APP = {"workload": ("hash-service", "hash-service")}
MAIN = {"workload": ("main-api", "main-api")}
AUX = {"workload": ("auxiliary-service", "auxiliary-service")}
PROMETHEUS = {"ns": "monitoring", "labels": {"app.kubernetes.io/name": "prometheus"}}
STRANGER = {"ns": "default", "labels": {"app": "anything"}}
# The pods that forward outside traffic: Envoy Gateway's proxies in dev and prod, ingress-nginx
# on the kind cluster of infra/envs/local.
GATEWAY = {
    "dev": {"ns": "envoy-gateway-system", "labels": {"app.kubernetes.io/name": "envoy",
                                                      "app.kubernetes.io/component": "proxy"}},
    "prod": {"ns": "envoy-gateway-system", "labels": {"app.kubernetes.io/name": "envoy",
                                                       "app.kubernetes.io/component": "proxy"}},
    "local": {"ns": "ingress-nginx", "labels": {"app.kubernetes.io/name": "ingress-nginx"}},
}
# (what, source, destination, port name, allowed[, the environments it applies to])
TWO_SERVICE_ENVS = ("dev", "prod")  # where main-api and auxiliary-service run
FLOWS = [
    ("agent -> hash-service (promotion checks)", AGENT, APP, "http", True),
    ("Prometheus -> hash-service /metrics", PROMETHEUS, APP, "http", True),
    ("Prometheus -> agent /metrics", PROMETHEUS, AGENT, "http", True),
    ("gateway -> hash-service", "GATEWAY", APP, "http", True),
    ("gateway -> agent (GitHub webhook)", "GATEWAY", AGENT, "http", True),
    ("any other pod -> hash-service", STRANGER, APP, "http", False),
    ("any other pod -> agent", STRANGER, AGENT, "http", False),
    ("hash-service -> agent (the app opens no connection)", APP, AGENT, "http", False),
    # The two-service pattern: main -> aux only; aux reached by main alone, and pod-to-pod by nobody.
    ("main-api -> auxiliary-service", MAIN, AUX, "http", True, TWO_SERVICE_ENVS),
    ("gateway -> main-api", "GATEWAY", MAIN, "http", True, TWO_SERVICE_ENVS),
    ("agent -> main-api (promotion checks)", AGENT, MAIN, "http", True, TWO_SERVICE_ENVS),
    ("Prometheus -> main-api /metrics", PROMETHEUS, MAIN, "http", True, TWO_SERVICE_ENVS),
    ("Prometheus -> auxiliary-service /metrics", PROMETHEUS, AUX, "http", True, TWO_SERVICE_ENVS),
    ("any other pod -> auxiliary-service", STRANGER, AUX, "http", False, TWO_SERVICE_ENVS),
    ("hash-service -> auxiliary-service", APP, AUX, "http", False, TWO_SERVICE_ENVS),
    ("gateway -> auxiliary-service (never published)", "GATEWAY", AUX, "http", False, TWO_SERVICE_ENVS),
    ("agent -> auxiliary-service", AGENT, AUX, "http", False, TWO_SERVICE_ENVS),
    ("any other pod -> main-api", STRANGER, MAIN, "http", False, TWO_SERVICE_ENVS),
    ("main-api -> hash-service (main reaches aux only)", MAIN, APP, "http", False, TWO_SERVICE_ENVS),
    ("auxiliary-service -> main-api (aux reaches AWS only)", AUX, MAIN, "http", False, TWO_SERVICE_ENVS),
    ("auxiliary-service -> agent", AUX, AGENT, "http", False, TWO_SERVICE_ENVS),
]
LOCAL_CHARTS = {"hash-service", "main-api", "auxiliary-service", "platform", "policies"}


def render(root, env, helm, extra_values=None):
    """The YAML documents of the local charts the environment runs, with its values (and, for
    the tests' planted mistakes, extra_values: {chart: [values files]})."""
    extra_values = extra_values or {}
    env_dir = os.path.join(root, "environments", env)
    with open(os.path.join(env_dir, "environment.yaml"), encoding="utf-8") as f:
        spec = (yaml.safe_load(f) or {}).get("spec") or {}
    docs = []
    for r in spec.get("releases", []):
        chart = r.get("chart")
        if not isinstance(chart, str) or os.path.basename(chart) not in LOCAL_CHARTS:
            continue
        cmd = [helm, "template", r["name"], os.path.join(root, chart), "-n", r["namespace"]]
        for v in r.get("values", []):
            cmd += ["-f", os.path.join(env_dir, v)]
        for v in extra_values.get(os.path.basename(chart), []):
            cmd += ["-f", v]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"helm template {chart} for {env}: {out.stderr.strip()}")
        for d in yaml.safe_load_all(out.stdout):
            if d:
                d.setdefault("metadata", {}).setdefault("namespace", r["namespace"])
                docs.append(d)
    return docs


def manifests(directory):
    docs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def matches(selector, labels):
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def ns_labels(ns):
    return {"kubernetes.io/metadata.name": ns}


def peer_matches(peer, policy_ns, pod):
    if "ipBlock" in peer:
        return False  # pod-to-pod flows only here
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_sel is None and pod_sel is None:
        return False
    ns_ok = matches(ns_sel, ns_labels(pod["ns"])) if ns_sel is not None else pod["ns"] == policy_ns
    pod_ok = matches(pod_sel, pod["labels"]) if pod_sel is not None else True
    return ns_ok and pod_ok


def port_matches(ports, port_name, dst):
    if not ports:
        return True
    number = dst["ports"].get(port_name)
    for p in ports:
        if p.get("protocol", "TCP") != "TCP":
            continue
        want = p.get("port")
        if want is None or want == port_name or (number is not None and want == number):
            return True
    return False


def direction_allows(policies, pod, peer, port_name, dst, kind):
    """kind: Ingress (pod is the destination, peer the source) or Egress (the reverse)."""
    field, peers_key = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
    selecting = []
    for p in policies:
        if p["metadata"]["namespace"] != pod["ns"] or not matches(p["spec"].get("podSelector") or {}, pod["labels"]):
            continue
        types = p["spec"].get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in p["spec"] else []))
        if kind in types:
            selecting.append(p)
    if not selecting:
        return True, "no policy selects it"
    for p in selecting:
        for rule in p["spec"].get(field) or []:
            peers = rule.get(peers_key)
            if (not peers or any(peer_matches(x, p["metadata"]["namespace"], peer) for x in peers)) \
                    and port_matches(rule.get("ports"), port_name, dst):
                return True, f"{p['metadata']['namespace']}/{p['metadata']['name']}"
    names = ", ".join(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in selecting)
    return False, f"{kind.lower()} denied by {names}"


def workloads(docs):
    out = {}
    for d in docs:
        if d.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        tpl = d["spec"]["template"]
        ports = {}
        for c in tpl["spec"].get("containers", []):
            for p in c.get("ports") or []:
                if "name" in p:
                    ports[p["name"]] = p["containerPort"]
        out[(d["metadata"]["namespace"], d["metadata"]["name"])] = {
            "ns": d["metadata"]["namespace"], "labels": tpl["metadata"].get("labels") or {}, "ports": ports}
    return out


def evaluate(env, docs):
    """[(what, expected, allowed, why)] for every flow of the table."""
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    pods = workloads(docs)
    rows = []
    for what, src, dst, port, expected, *only in FLOWS:
        if only and env not in only[0]:
            continue
        src = GATEWAY[env] if src == "GATEWAY" else src

        def pod(x):
            if "workload" in x:
                if x["workload"] not in pods:
                    raise RuntimeError(f"{env}: workload {'/'.join(x['workload'])} is not rendered")
                return pods[x["workload"]]
            return {"ns": x["ns"], "labels": x["labels"], "ports": {}}
        s, d = pod(src), pod(dst)
        out_ok, out_why = direction_allows(policies, s, d, port, d, "Egress")
        in_ok, in_why = direction_allows(policies, d, s, port, d, "Ingress")
        allowed = out_ok and in_ok
        why = in_why if out_ok else out_why
        rows.append((what, expected, allowed, why))
    return rows


EKS_ADDONS = os.path.join("infra", "modules", "eks", "main.tf")
ENFORCED = re.compile(r'configuration_values\s*=.*"vpc-cni".*enableNetworkPolicy\s*=\s*"true"')


def enforced(root):
    """Whether the eks module's vpc-cni add-on turns its network policy agent on."""
    with open(os.path.join(root, EKS_ADDONS), encoding="utf-8") as f:
        text = f.read()
    start = text.find('resource "aws_eks_addon"')
    block = text[start:text.find("\n}", start)] if start >= 0 else ""
    return bool(ENFORCED.search(block))


def check(root, helm, envs=("local", "dev", "prod"), extra_values=None, manifests_dir=None, table=None):
    problems = []
    if not enforced(root):
        problems.append(f"{EKS_ADDONS}: the vpc-cni add-on does not set enableNetworkPolicy = \"true\" in its "
                        "configuration_values: EKS would not enforce any NetworkPolicy (dev, prod)")
    agent = manifests(manifests_dir or os.path.join(root, "manifests"))
    for env in envs:
        rows = evaluate(env, render(root, env, helm, extra_values) + agent)
        for what, expected, allowed, why in rows:
            if table is not None:
                table.append(f"{env:6} {'allow' if expected else 'deny ':5}  {'ok  ' if allowed == expected else 'FAIL'}  {what}  ({why})")
            if allowed != expected:
                problems.append(f"{env}: {what}: {'denied' if expected else 'allowed'}, must be "
                                f"{'allowed' if expected else 'denied'} ({why})")
    return problems


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--helm", default=None)
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args(argv[1:])
    helm = args.helm or os.path.join(args.root, ".tools", "bin", "helm")
    table = [] if args.table else None
    problems = check(args.root, helm, table=table)
    if table is not None:
        print("\n".join(table))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
