#!/usr/bin/env python3
"""Derives agent/canonical/src/types.json from the Kubernetes API's Go types.

The table says, for every field of the built-in kinds the agent manages, what the API server's
JSON encoding does with it: its JSON type (string, integer, boolean, quantity, int-or-string,
struct, list, map), whether it is `omitempty` on a non-pointer (so a zero value is not stored),
and the list-map keys SSA merges it by. Both the agent (compare) and kube-testkit (what it stores)
read it, so one table carries the rules.

Not run by `make test`: it needs checkouts of the upstream repositories, at the release branch
that matches the pinned kubectl (release-1.33):

    scripts/gen/kube_types.py API APIMACHINERY APIEXTENSIONS AGGREGATOR > agent/canonical/src/types.json

API is k8s.io/api, APIMACHINERY k8s.io/apimachinery, APIEXTENSIONS
k8s.io/apiextensions-apiserver and AGGREGATOR k8s.io/kube-aggregator (APIService, which charts
such as metrics-server ship). The commits used are recorded in the output's `source`.
"""

import json
import os
import re
import subprocess
import sys

# Group directory in k8s.io/api -> API group; only GA versions of the groups charts ship.
GROUPS = {
    "core/v1": "",
    "apps/v1": "apps",
    "batch/v1": "batch",
    "autoscaling/v1": "autoscaling",
    "autoscaling/v2": "autoscaling",
    "policy/v1": "policy",
    "networking/v1": "networking.k8s.io",
    "rbac/v1": "rbac.authorization.k8s.io",
    "storage/v1": "storage.k8s.io",
    "scheduling/v1": "scheduling.k8s.io",
    "coordination/v1": "coordination.k8s.io",
    "discovery/v1": "discovery.k8s.io",
    "events/v1": "events.k8s.io",
    "node/v1": "node.k8s.io",
    "admissionregistration/v1": "admissionregistration.k8s.io",
    "certificates/v1": "certificates.k8s.io",
    "flowcontrol/v1": "flowcontrol.apiserver.k8s.io",
}

SCALARS = {
    "string": "string",
    "bool": "boolean",
    "int": "integer",
    "int32": "integer",
    "int64": "integer",
    "uint": "integer",
    "uint32": "integer",
    "uint64": "integer",
    "float32": "number",
    "float64": "number",
    "byte": "integer",
}

# Types outside the parsed packages, by package path suffix and name.
EXTERNAL = {
    ("resource", "Quantity"): "quantity",
    ("intstr", "IntOrString"): "int-or-string",
    ("meta/v1", "Time"): "time",
    ("meta/v1", "MicroTime"): "time",
    ("meta/v1", "Duration"): "string",
    ("runtime", "RawExtension"): "any",
    ("types", "UID"): "string",
    ("meta/v1", "FieldsV1"): "any",
    ("meta/v1", "TypeMeta"): "inline-typemeta",
    # apiextensions' custom-marshalled schema helpers: a schema, a list of schemas, a bool.
    ("apiextensions/v1", "JSON"): "any",
    ("apiextensions/v1", "JSONSchemaPropsOrArray"): "schema-or-array",
    ("apiextensions/v1", "JSONSchemaPropsOrBool"): "schema-or-bool",
    ("apiextensions/v1", "JSONSchemaPropsOrStringArray"): "any",
}

FIELD = re.compile(r"^\s*(?:(\w+)\s+)?([\w.\[\]*]+)\s+`([^`]*)`")
TAG_JSON = re.compile(r'json:"([^"]*)"')


def go_files(root, pkg):
    d = os.path.join(root, pkg)
    return sorted(
        os.path.join(d, f)
        for f in os.listdir(d)
        if f.endswith(".go") and not f.endswith("_test.go") and "generated" not in f
        and not f.startswith("zz_")
    )


def imports(text):
    out = {}
    block = re.search(r"^import \((.*?)^\)", text, re.S | re.M)
    lines = block.group(1).splitlines() if block else re.findall(r"^import (.*)$", text, re.M)
    for line in lines:
        m = re.match(r'\s*(\w+)?\s*"([^"]+)"', line)
        if m:
            path = m.group(2)
            alias = m.group(1) or path.rsplit("/", 1)[-1]
            out[alias] = path
    return out


def pkg_id(path):
    """k8s.io/api/core/v1 -> core/v1; .../apis/meta/v1 -> meta/v1; .../resource -> resource."""
    parts = path.split("/")
    if parts[-1].startswith("v") and parts[-1][1:2].isdigit():
        return "/".join(parts[-2:])
    return parts[-1]


class Package:
    def __init__(self, pid):
        self.pid = pid
        self.structs = {}  # name -> list of raw fields
        self.aliases = {}  # name -> go type expression
        self.imports = {}  # alias -> import path, per struct's file


def parse_package(root, pkg, pid, packages):
    p = packages.setdefault(pid, Package(pid))
    for path in go_files(root, pkg):
        text = open(path, encoding="utf-8").read()
        imp = imports(text)
        for m in re.finditer(r"^type (\w+) (.+)$", text, re.M):
            name, rest = m.group(1), m.group(2).strip()
            if rest.startswith("struct {"):
                body_start = m.end()
                body_end = text.index("\n}\n", body_start)
                p.structs[name] = (parse_fields(text[body_start:body_end]), imp)
            elif not rest.startswith(("interface", "func", "=")):
                p.aliases[name] = (rest.split("//")[0].strip(), imp)


def parse_fields(body):
    fields, markers = [], []
    for line in body.splitlines():
        s = line.strip()
        if s.startswith("//"):
            mk = re.match(r"//\s*\+(listType|listMapKey)=(\S+)", s)
            if mk:
                markers.append((mk.group(1), mk.group(2)))
            continue
        if not s:
            markers = []
            continue
        m = FIELD.match(line)
        if not m:
            continue
        name, gotype, tag = m.group(1), m.group(2), m.group(3)
        j = TAG_JSON.search(tag)
        if not j or j.group(1) == "-":
            markers = []
            continue
        opts = j.group(1).split(",")
        merge_key = re.search(r'patchMergeKey:"([^"]+)"', tag)
        fields.append({
            "json": opts[0],
            "go": gotype if name else gotype,
            "embedded": name is None,
            "inline": "inline" in opts,
            "omitempty": "omitempty" in opts,
            "listType": next((v for k, v in markers if k == "listType"), None),
            "keys": [v for k, v in markers if k == "listMapKey"]
            or ([merge_key.group(1)] if merge_key else []),
        })
        markers = []
    return fields


class Resolver:
    def __init__(self, packages):
        self.packages = packages
        self.types = {}

    def resolve(self, pid, expr, imp):
        """A Go type expression -> (descriptor, pointer)."""
        pointer = expr.startswith("*")
        expr = expr.lstrip("*")
        if expr == "[]byte":
            return "bytes", pointer
        if expr.startswith("[]"):
            elem, _ = self.resolve(pid, expr[2:], imp)
            return ["list", elem], pointer
        if expr.startswith("map["):
            depth, i = 0, 3
            for i in range(3, len(expr)):
                depth += {"[": 1, "]": -1}.get(expr[i], 0)
                if depth == 0:
                    break
            elem, _ = self.resolve(pid, expr[i + 1:], imp)
            return ["map", elem], pointer
        if expr in SCALARS:
            return SCALARS[expr], pointer
        if expr in ("interface{}", "any"):
            return "any", pointer
        if "." in expr:
            alias, name = expr.split(".", 1)
            target = pkg_id(imp.get(alias, alias))
        else:
            target, name = pid, expr
        if (target, name) in EXTERNAL or (pid, name) in EXTERNAL and "." not in expr:
            return EXTERNAL.get((target, name), EXTERNAL.get((pid, name))), pointer
        if (target, name) in EXTERNAL:
            return EXTERNAL[(target, name)], pointer
        p = self.packages.get(target)
        if p is None:
            raise SystemExit(f"unknown package {target} for {expr} in {pid}")
        if name in p.structs:
            self.struct(target, name)
            return ["struct", f"{target}.{name}"], pointer
        if name in p.aliases:
            alias_expr, alias_imp = p.aliases[name]
            desc, inner_ptr = self.resolve(target, alias_expr, alias_imp)
            return desc, pointer or inner_ptr
        # JSONSchemaProps' custom-marshalled helpers are opaque JSON.
        return "any", pointer

    def struct(self, pid, name):
        key = f"{pid}.{name}"
        if key in self.types:
            return
        self.types[key] = None  # recursion guard
        fields, imp = self.packages[pid].structs[name]
        out = {}
        for f in fields:
            desc, pointer = self.resolve(pid, f["go"], imp)
            # An embedded struct is inlined only without a JSON name of its own (encoding/json).
            if (f["inline"] or f["embedded"]) and not f["json"]:
                if desc == "inline-typemeta":
                    out["apiVersion"] = {"type": "string", "omitempty": True}
                    out["kind"] = {"type": "string", "omitempty": True}
                    continue
                if isinstance(desc, list) and desc[0] == "struct":
                    self.struct(*desc[1].rsplit(".", 1))
                    out.update(self.types[desc[1]]["fields"])
                    continue
            entry = {"type": desc}
            # omitempty drops zero scalars, and empty lists and maps; not structs, not pointers.
            if f["omitempty"] and not pointer:
                entry["omitempty"] = True
            if pointer:
                entry["pointer"] = True
            if isinstance(desc, list) and desc[0] == "list":
                if f["listType"]:
                    entry["listType"] = f["listType"]
                if f["keys"]:
                    entry["keys"] = f["keys"]
            out[f["json"]] = entry
        self.types[key] = {"fields": out}


def commit(root):
    # An exported tree (git archive) carries its commit in .commit.
    marker = os.path.join(root, ".commit")
    if os.path.exists(marker):
        return open(marker, encoding="utf-8").read().strip()
    try:
        return subprocess.check_output(["git", "-C", root, "rev-parse", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    api, machinery, apiext, aggregator = sys.argv[1:5]
    packages = {}
    parse_package(machinery, "pkg/apis/meta/v1", "meta/v1", packages)
    parse_package(apiext, "pkg/apis/apiextensions/v1", "apiextensions/v1", packages)
    parse_package(aggregator, "pkg/apis/apiregistration/v1", "apiregistration/v1", packages)
    for pkg in GROUPS:
        parse_package(api, pkg, pkg, packages)
    r = Resolver(packages)
    kinds = {}
    groups = dict(
        GROUPS,
        **{"apiextensions/v1": "apiextensions.k8s.io", "apiregistration/v1": "apiregistration.k8s.io"},
    )
    for pid, group in groups.items():
        version = pid.split("/")[1]
        for name, (fields, _) in sorted(packages[pid].structs.items()):
            embeds = {f["go"] for f in fields if f["inline"] or f["embedded"]}
            has_meta = any(f["json"] == "metadata" and "ObjectMeta" in f["go"] for f in fields)
            if "metav1.TypeMeta" in embeds and has_meta and not name.endswith("List"):
                r.struct(pid, name)
                gv = f"{group}/{version}" if group else version
                kinds[f"{gv}/{name}"] = f"{pid}.{name}"
    out = {
        "source": {
            "k8s.io/api": commit(api),
            "k8s.io/apimachinery": commit(machinery),
            "k8s.io/apiextensions-apiserver": commit(apiext),
            "k8s.io/kube-aggregator": commit(aggregator),
            "branch": "release-1.33",
            "generator": "scripts/gen/kube_types.py",
        },
        "kinds": kinds,
        "types": {k: v for k, v in sorted(r.types.items())},
    }
    json.dump(out, sys.stdout, indent=None, separators=(",", ":"), sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
