"""Checks every values file of a remote (upstream) release against the key index of its pinned
chart version (environments/chart-keys/<name>-<version>.keys, scripts/gen/chart_keys.py).

A key path of a values file is known when the index lists it, or when one of its prefixes is a
free-form map (`prefix.*`) or a key whose default is a list or scalar that the file replaces
whole. A release whose pinned version has no index fails: bumping a version means generating
its index from the new chart. Exit 1 with every unknown key named, file and path.

    python3 values_keys.py REPO_ROOT
"""
import os
import sys

import yaml


def leaf_paths(node, prefix=""):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from leaf_paths(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix


def load_index(path):
    keys, free = set(), set()
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith(".*"):
            free.add(line[:-2])
        else:
            keys.add(line)
    return keys, free


def known(path, keys, free):
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix in free:
            return True
        if prefix not in keys:
            return False
    return True


def main():
    root = sys.argv[1]
    problems, checked = [], 0
    envs_dir = os.path.join(root, "environments")
    for env in sorted(os.listdir(envs_dir)):
        env_file = os.path.join(envs_dir, env, "environment.yaml")
        if not os.path.isfile(env_file):
            continue
        spec = yaml.safe_load(open(env_file, encoding="utf-8"))["spec"]
        for r in spec.get("releases", []):
            chart = r["chart"]
            if isinstance(chart, dict):
                name, version = chart["name"], chart["version"]
            elif chart.startswith("oci://"):
                name, version = chart.rstrip("/").rsplit("/", 1)[1], r["version"]
            else:
                continue  # a local chart: its own values.schema.json and helm lint judge it
            index = os.path.join(envs_dir, "chart-keys", f"{name}-{version}.keys")
            if not os.path.isfile(index):
                problems.append(f"{env_file}: release {r['name']}: no key index {index} for {name} {version}; "
                                "generate it with scripts/gen/chart_keys.py from that chart")
                continue
            keys, free = load_index(index)
            for v in r.get("values", []):
                vf = os.path.join(envs_dir, env, v)
                values = yaml.safe_load(open(vf, encoding="utf-8")) or {}
                for path in leaf_paths(values):
                    checked += 1
                    if not known(path, keys, free):
                        problems.append(f"{vf}: `{path}` is not a value of {name} {version}")
    for p in problems:
        print(p, file=sys.stderr)
    if checked == 0 and not problems:
        print("values_keys.py: no values of a remote release found", file=sys.stderr)
        sys.exit(1)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
