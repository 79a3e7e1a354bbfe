#!/usr/bin/env python3
"""No Secret with a literal value in Git: what an environment deploys holds secret values only
as SOPS ciphertext or through External Secrets.

    secrets_check.py REPO_ROOT [--helm HELM] [ENV ...]      (default: every environment)

For each environments/<env>/environment.yaml:
  - every release of a local chart (helm/...) is rendered offline as the agent renders it
    (`helm template <release> <chart> -n <namespace> -f <values>...`). A Secret it renders may
    hold, in `stringData` or (base64-decoded) in `data`, only empty values or SOPS ciphertext
    (`ENC[AES256_GCM,...]`: what helm is given from an encrypted values file before the agent
    decrypts it, docs/secrets.md). Any other value is a literal, reported with the environment,
    release, template, Secret and key;
  - the upstream releases cannot be rendered here (their charts are not fetched), so their values
    files are read instead: no key named in CREDENTIAL_KEYS may hold a literal (a non-empty
    string that is not SOPS ciphertext), and each Secret the values name under a key of
    SECRET_REFS must be the target of an ExternalSecret that the same environment's local
    releases render into the release's namespace.
Then helm/platform's `externalSecrets.placeholder` must be the placeholder infra/modules/app-data
writes into a new parameter, so that the ExternalSecrets refuse to copy it.
What this does not see: a Secret an upstream chart makes under a key name not listed here, or
from its own defaults (a generated password), and a Secret created outside Git.
Reports `where: what` and exits 1 if there is any.
"""
import argparse
import base64
import binascii
import os
import re
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from placeholders import leaves  # noqa: E402

SOPS_VALUE = re.compile(r"ENC\[AES256_GCM,data:")
# Leaf keys of upstream values that hold a credential when set (compared lower-case).
CREDENTIAL_KEYS = {
    "password", "adminpassword", "auth_password", "secret", "token", "bearer_token", "apikey",
    "api_key", "api_url", "slack_api_url", "routing_key", "service_key", "client_secret",
    "secretaccesskey", "accesskeyid", "webhook_url",
}
# Upstream chart => the values paths that name an existing Secret (a string or a list of them).
SECRET_REFS = {
    "kube-prometheus-stack": [
        ("grafana", "admin", "existingSecret"),
        ("alertmanager", "alertmanagerSpec", "secrets"),
    ],
}
PLACEHOLDER_TF = "infra/modules/app-data/main.tf"
PLACEHOLDER_VALUES = "helm/platform/values.yaml"


def literal(value):
    return isinstance(value, str) and value != "" and not SOPS_VALUE.search(value)


def dotted(path):
    return ".".join(str(k) for k in path)


def at(doc, path):
    for k in path:
        if not isinstance(doc, dict) or k not in doc:
            return None
        doc = doc[k]
    return doc


def render(helm, root, env_dir, release):
    """[(template source, object)] of one local release, as helm renders it."""
    cmd = [helm, "template", release["name"], os.path.join(root, release["chart"]),
           "--namespace", release["namespace"]]
    for v in release.get("values", []):
        cmd += ["--values", os.path.join(env_dir, v)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    objects = []
    for text in re.split(r"(?m)^---\s*$", out.stdout):
        m = re.search(r"(?m)^# Source: (.+)$", text)
        doc = yaml.safe_load(text)
        if isinstance(doc, dict):
            objects.append((m.group(1) if m else "?", doc))
    return objects


def secret_literals(where, obj):
    out = []
    name = (obj.get("metadata") or {}).get("name")
    for key, value in (obj.get("stringData") or {}).items():
        if literal(value):
            out.append(f"{where}: Secret {name}: stringData.{key} is a literal value")
    for key, value in (obj.get("data") or {}).items():
        try:
            decoded = base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            decoded = str(value)
        if literal(decoded):
            out.append(f"{where}: Secret {name}: data.{key} is a literal value")
    return out


def external_secret_targets(objects, default_ns):
    """{(namespace, Secret name)} the rendered ExternalSecrets make."""
    out = set()
    for _, o in objects:
        if o.get("kind") == "ExternalSecret" and str(o.get("apiVersion", "")).startswith("external-secrets.io/"):
            meta = o.get("metadata") or {}
            target = ((o.get("spec") or {}).get("target") or {}).get("name") or meta.get("name")
            out.add((meta.get("namespace") or default_ns, target))
    return out


def upstream_name(chart):
    if isinstance(chart, dict):
        return chart.get("name")
    return str(chart).rstrip("/").rsplit("/", 1)[-1]


def check_env(root, env, helm):
    env_dir = os.path.join(root, "environments", env)
    with open(os.path.join(env_dir, "environment.yaml"), encoding="utf-8") as f:
        spec = (yaml.safe_load(f) or {}).get("spec") or {}
    problems, targets, upstream = [], set(), []
    for r in spec.get("releases", []):
        chart = r.get("chart")
        if isinstance(chart, str) and not chart.startswith("oci://") and os.path.isdir(os.path.join(root, chart)):
            try:
                objects = render(helm, root, env_dir, r)
            except RuntimeError as e:
                problems.append(f"environments/{env}: release {r['name']}: helm template failed: {e}")
                continue
            for source, o in objects:
                if o.get("kind") == "Secret" and o.get("apiVersion") == "v1":
                    problems += secret_literals(f"environments/{env}: release {r['name']} ({source})", o)
            targets |= external_secret_targets(objects, r.get("namespace"))
        else:
            upstream.append(r)
    for r in upstream:
        name = upstream_name(r.get("chart"))
        for v in r.get("values", []):
            rel = os.path.relpath(os.path.join(env_dir, v), root)
            with open(os.path.join(env_dir, v), encoding="utf-8") as f:
                values = yaml.safe_load(f) or {}
            for path, value in leaves(values):
                keys = [k for k in path if isinstance(k, str)]
                if keys and keys[-1].lower() in CREDENTIAL_KEYS and literal(value):
                    problems.append(f"{rel}: {dotted(path)}: a literal credential in {name}'s values; name a "
                                    "Secret External Secrets makes, or encrypt the file with SOPS (docs/secrets.md)")
            for ref in SECRET_REFS.get(name, []):
                named = at(values, ref)
                for secret in named if isinstance(named, list) else [named] if named else []:
                    if (r.get("namespace"), secret) not in targets:
                        problems.append(f"{rel}: {dotted(ref)}: Secret {r.get('namespace')}/{secret} is made by no "
                                        f"ExternalSecret of environments/{env} (helm/platform externalSecrets.secrets)")
    return problems


def check_placeholder(root):
    tf, values = os.path.join(root, PLACEHOLDER_TF), os.path.join(root, PLACEHOLDER_VALUES)
    if not (os.path.isfile(tf) and os.path.isfile(values)):
        return []
    with open(tf, encoding="utf-8") as f:
        m = re.search(r'(?m)^\s*placeholder\s*=\s*"([^"]*)"', f.read())
    with open(values, encoding="utf-8") as f:
        mine = at(yaml.safe_load(f) or {}, ("externalSecrets", "placeholder"))
    if not m:
        return [f"{PLACEHOLDER_TF}: no `placeholder = \"...\"` local found"]
    if mine != m.group(1):
        return [f"{PLACEHOLDER_VALUES}: externalSecrets.placeholder is {mine!r}, but {PLACEHOLDER_TF} writes "
                f"{m.group(1)!r} into a new parameter: the ExternalSecrets would copy the placeholder"]
    return []


def check(root, helm="helm", envs=None):
    if not envs:
        envs = sorted(e for e in os.listdir(os.path.join(root, "environments"))
                      if os.path.isfile(os.path.join(root, "environments", e, "environment.yaml")))
    problems = []
    for env in envs:
        problems += check_env(root, env, helm)
    return problems + check_placeholder(root)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root")
    p.add_argument("envs", nargs="*")
    p.add_argument("--helm", default="helm")
    a = p.parse_args(argv[1:])
    problems = check(a.root, a.helm, a.envs)
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
