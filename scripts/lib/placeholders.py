#!/usr/bin/env python3
"""No placeholder left in an environment marked deployable.

    placeholders.py REPO_ROOT [ENV ...]     (default: every environment marked deployable)

An environment is marked deployable by a label on its environment.yaml (the agent ignores
metadata.labels; docs/environments.md):

    metadata:
      labels:
        sextant.io/deployable: "true"

`make configure ENV=<env>` sets it once Terraform's outputs are written and nothing here is
left. For such an environment, environment.yaml and every values file of its releases (comments
aside), and the defaults of its local charts (helm/*/values.yaml) that those files do not
override (helm/policies' ecrRegistry, say), must hold none of PLACEHOLDERS. Reports
`file:line: ...` (`file: key: ...` for a chart default) and exits 1 if there is any. Named
environments are checked whether marked or not.
"""
import glob
import os
import re
import sys

import yaml

LABEL = "sextant.io/deployable"
PLACEHOLDERS = [
    (re.compile(r"(?<![0-9])(123456789012|000000000000|111111111111)(?![0-9])"),
     "the placeholder AWS account"),
    (re.compile(r"\bZ0{6,}[0-9A-Z]*\b"), "a placeholder Route 53 hosted zone ID"),
    (re.compile(r"\b[a-z0-9.-]*\bexample\.(?:com|org|net)\b"), "a reserved example domain (RFC 2606)"),
    (re.compile(r"<(?:account id|key id|account|region|your [a-z ]+)>"), "a fill-in-the-blank"),
]


def deployable(env_file):
    with open(env_file, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    labels = (doc.get("metadata") or {}).get("labels") or {}
    return str(labels.get(LABEL, "")).lower() == "true"


COMMENT = re.compile(r"(^|\s)#.*$")


def scan_text(text, where):
    """Placeholders in YAML text, comments aside (a comment may name the example domain)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = COMMENT.sub("", line)
        for rx, what in PLACEHOLDERS:
            for m in rx.finditer(line):
                out.append(f"{where}:{n}: {m.group(0)} is {what}")
    return out


def leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + (str(k),))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, path + (i,))
    else:
        yield path, node


def sets(doc, path):
    """Whether the values document sets path (or a map or list above it, which replaces it)."""
    for k in path:
        if isinstance(doc, dict) and k in doc:
            doc = doc[k]
        elif isinstance(doc, list) and isinstance(k, int):
            return True
        else:
            return False
        if not isinstance(doc, (dict, list)):
            return True
    return True


def chart_defaults(root, chart, files):
    """Placeholders in a local chart's values.yaml that none of the release's files override."""
    path = os.path.join(root, chart, "values.yaml")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        defaults = yaml.safe_load(f) or {}
    layers = []
    for vf in files:
        with open(vf, encoding="utf-8") as f:
            layers.append(yaml.safe_load(f) or {})
    out = []
    for key, value in leaves(defaults):
        if not isinstance(value, str) or any(sets(layer, key) for layer in layers):
            continue
        for rx, what in PLACEHOLDERS:
            for m in rx.finditer(value):
                dotted = ".".join(str(k) for k in key)
                out.append(f"{os.path.relpath(path, root)}: {dotted}: {m.group(0)} is {what} "
                           "(the chart's default: set it in the release's values)")
    return out


def check_env(root, env):
    env_dir = os.path.join(root, "environments", env)
    env_file = os.path.join(env_dir, "environment.yaml")
    with open(env_file, encoding="utf-8") as f:
        text = f.read()
    problems = scan_text(text, os.path.relpath(env_file, root))
    spec = (yaml.safe_load(text) or {}).get("spec") or {}
    for r in spec.get("releases", []):
        files = [os.path.join(env_dir, v) for v in r.get("values", [])]
        for vf in files:
            with open(vf, encoding="utf-8") as f:
                problems += scan_text(f.read(), os.path.relpath(vf, root))
        chart = r.get("chart")
        if isinstance(chart, str) and not chart.startswith("oci://") and os.path.isdir(os.path.join(root, chart)):
            problems += chart_defaults(root, chart, files)
    return problems


def check(root, envs=None):
    if envs is None:
        envs = [os.path.basename(os.path.dirname(p))
                for p in sorted(glob.glob(os.path.join(root, "environments", "*", "environment.yaml")))
                if deployable(p)]
    problems = []
    for env in envs:
        problems += check_env(root, env)
    return problems


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(argv[1], argv[2:] or None)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
