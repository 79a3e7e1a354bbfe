"""The values keys a pinned upstream chart knows, written as a key index for CI.

CI cannot fetch the upstream charts, so scripts/checks/addons.sh checks every values file of a
remote release against the index of that exact chart version, environments/chart-keys/
<name>-<version>.keys, generated here from the chart itself on a machine that can fetch it:

    helm pull <chart> --repo <repository> --version <version> --untar -d /tmp/c
    python3 scripts/gen/chart_keys.py /tmp/c/<name> > environments/chart-keys/<name>-<version>.keys

An index lists key paths, one a line: every key of the chart's values.yaml (and of its
subcharts' under their name or alias), every `.Values.a.b` its templates read, and `a.b.*` for a
map whose keys are free (empty in values.yaml, or read whole by a template: `toYaml`, `range`).
It holds key names only, not the chart.
"""
import os
import re
import sys

import yaml


def walk(node, prefix, out, free):
    if isinstance(node, dict):
        if not node and prefix:
            free.add(prefix)
        for k, v in node.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            out.add(path)
            walk(v, path, out, free)


def template_refs(chart_dir):
    refs, whole = set(), set()
    tdir = os.path.join(chart_dir, "templates")
    # values.yaml itself may hold templates that `tpl` renders (a config file as a string).
    sources = [os.path.join(chart_dir, "values.yaml")]
    for dirpath, _, files in os.walk(tdir):
        sources.extend(os.path.join(dirpath, f) for f in files)
    for source in sources:
        if os.path.isfile(source):
            text = open(source, encoding="utf-8", errors="replace").read()
            for m in re.finditer(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_-]*)+)", text):
                refs.add(m.group(1)[1:])
            # dig "a" "b" <default> .Values.x reads x.a.b
            for m in re.finditer(r'dig((?:\s+"[^"]+")+)\s+\S+\s+\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_-]*)+)', text):
                keys = re.findall(r'"([^"]+)"', m.group(1))
                refs.add(".".join([m.group(2)[1:]] + keys))
            for m in re.finditer(r"(?:toYaml|toJson|range[^:]*:=|with|tpl \(toYaml)\s*\(?\s*\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_-]*)+)", text):
                whole.add(m.group(1)[1:])
    return refs, whole


def chart_keys(chart_dir, prefix, out, free):
    values_file = os.path.join(chart_dir, "values.yaml")
    values = {}
    if os.path.isfile(values_file):
        values = yaml.safe_load(open(values_file, encoding="utf-8")) or {}
    scoped = set()
    walk(values, "", scoped, set())
    local_free = set()
    walk(values, "", set(), local_free)
    refs, whole = template_refs(chart_dir)
    for r in refs:
        parts = r.split(".")
        for i in range(1, len(parts) + 1):
            scoped.add(".".join(parts[:i]))
    for w in whole:
        node = values
        for part in w.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) or node is None:
            local_free.add(w)
    join = (lambda p: f"{prefix}.{p}") if prefix else (lambda p: p)
    out.update(join(p) for p in scoped)
    free.update(join(p) for p in local_free)
    # Subcharts, under their alias or name; `global` is shared.
    meta = yaml.safe_load(open(os.path.join(chart_dir, "Chart.yaml"), encoding="utf-8")) or {}
    aliases = {d["name"]: d.get("alias", d["name"]) for d in meta.get("dependencies") or []}
    sub = os.path.join(chart_dir, "charts")
    if os.path.isdir(sub):
        for name in sorted(os.listdir(sub)):
            d = os.path.join(sub, name)
            if os.path.isfile(os.path.join(d, "Chart.yaml")):
                subname = (yaml.safe_load(open(os.path.join(d, "Chart.yaml"))) or {}).get("name", name)
                key = aliases.get(subname, subname)
                out.add(join(key))
                chart_keys(d, join(key), out, free)


def main():
    chart = sys.argv[1]
    meta = yaml.safe_load(open(os.path.join(chart, "Chart.yaml"), encoding="utf-8"))
    out, free = set(), set()
    chart_keys(chart, "", out, free)
    print(f"# {meta['name']} {meta['version']}: values keys (scripts/gen/chart_keys.py)")
    for p in sorted(out | {f"{f}.*" for f in free}):
        print(p)


if __name__ == "__main__":
    main()
