#!/usr/bin/env python3
"""Every AWS resource an environment's values name is one Terraform creates for it.

    tf_refs_check.py REPO_ROOT [--facts FACTS.json]

For each environments/<env> that has a Terraform root infra/envs/<env>, every string in its
environment.yaml and values files is read, and (facts: tf_facts.py, the parsed HCL):
  - an IAM role ARN (arn:aws:iam::<account>:role/NAME) must name a role infra/envs/<env> or
    infra/envs/shared creates; if that role is an IRSA role (it trusts
    system:serviceaccount:NS:SA), the release whose values hold it must run in NS, and the
    values' ServiceAccount name beside the annotation, when they set one, must be SA;
  - a value under a key that names a bucket (`bucket`, `bucketNames.*`, ...) must match a bucket
    Terraform creates for the environment (its account part aside);
  - an ECR image repository (<account>.dkr.ecr.<region>.amazonaws.com/NAME) must be one of
    infra/envs/shared's repositories;
  - every CIDR of a `sourceRanges` list must lie inside the environment's VPC CIDR;
  - every SSM parameter an ExternalSecret of helm/platform reads (`externalSecrets.store.prefix`
    + each `externalSecrets.secrets.*.parameters` value) must be one infra/envs/<env> creates.
Reports `file: key.path: what is wrong` and exits 1 if there is any. Account IDs are not checked
here (they are placeholders until `make configure`; placeholders.py checks deployable ones).
"""
import glob
import ipaddress
import os
import re
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oidc_check import run  # noqa: E402
from placeholders import leaves  # noqa: E402

ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}|<[^>]+>):role/([\w+=,.@/-]+)")
ECR = re.compile(r"([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([a-z0-9][a-z0-9._/-]*)")
SA_PREFIX = "system:serviceaccount:"


def dotted(path):
    out = ""
    for k in path:
        if isinstance(k, int):
            out += f"[{k}]"
        elif re.fullmatch(r"[\w-]+", k):
            out += ("." if out else "") + k
        else:
            out += f'["{k}"]'
    return out


def at(doc, path):
    for k in path:
        try:
            doc = doc[k]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def bucket_regex(pattern):
    parts = re.split(r"(<ACCOUNT>|<\?>|<REPO>)", pattern)
    rx = "".join({"<ACCOUNT>": "[0-9]{12}", "<?>": ".+", "<REPO>": ".+"}.get(p, re.escape(p)) for p in parts)
    return re.compile(f"^{rx}$")


def env_files(env_dir):
    """(file, release or None, parsed) for environment.yaml and each release's values files."""
    env_file = os.path.join(env_dir, "environment.yaml")
    with open(env_file, encoding="utf-8") as f:
        env = yaml.safe_load(f)
    out = [(env_file, None, env)]
    for r in (env.get("spec") or {}).get("releases", []):
        for v in r.get("values", []):
            path = os.path.join(env_dir, v)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    out.append((path, r, yaml.safe_load(f) or {}))
    return out


def external_secret_parameters(rel, doc, env, created):
    """The SSM parameters helm/platform's ExternalSecrets read that Terraform does not create."""
    es = doc.get("externalSecrets") if isinstance(doc, dict) else None
    if not isinstance(es, dict) or not es.get("enabled"):
        return []
    prefix = str((es.get("store") or {}).get("prefix") or "")
    out = []
    for name, secret in (es.get("secrets") or {}).items():
        for key, param in ((secret or {}).get("parameters") or {}).items():
            full = prefix + str(param)
            if full not in created:
                out.append(f"{rel}: {dotted(('externalSecrets', 'secrets', name, 'parameters', key))}: SSM parameter "
                           f"{full} is not created by infra/envs/{env} (platform_secret_parameters)")
    return out


def check(root, facts):
    problems = []
    shared = facts.get("shared", {})
    for env_dir in sorted(glob.glob(os.path.join(root, "environments", "*", ""))):
        env = os.path.basename(os.path.dirname(env_dir))
        if env not in facts or env == "local":
            continue
        mine = facts[env]
        roles = {r["name"]: r for r in mine["roles"] + shared.get("roles", [])}
        buckets = [bucket_regex(b) for b in mine["buckets"]]
        repos = set(shared.get("ecr_repositories", []))
        vpc = ipaddress.ip_network(mine["vpc_cidr"]) if mine.get("vpc_cidr") else None
        for file, release, doc in env_files(env_dir):
            rel = os.path.relpath(file, root)
            if release is not None and release.get("chart") == "helm/platform":
                problems += external_secret_parameters(rel, doc, env, set(mine.get("ssm_parameters", [])))
            for path, value in leaves(doc):
                where = f"{rel}: {dotted(path)}"
                if not isinstance(value, str):
                    continue
                for m in ROLE_ARN.finditer(value):
                    name = m.group(2)
                    role = roles.get(name)
                    if role is None:
                        problems.append(f"{where}: role {name} is not created by infra/envs/{env} or "
                                        "infra/envs/shared (tf_facts.py lists what is)")
                        continue
                    irsa = [s[len(SA_PREFIX):].split(":", 1) for s in role["subjects"] if s.startswith(SA_PREFIX)]
                    if not irsa or release is None:
                        continue
                    ns, sa = irsa[0]
                    if release.get("namespace") != ns:
                        problems.append(f"{where}: role {name} trusts ServiceAccount {ns}/{sa}, but release "
                                        f"{release['name']} runs in namespace {release.get('namespace')}")
                    if len(path) >= 2 and path[-2] == "annotations":
                        named = at(doc, path[:-2] + ("name",))
                        if isinstance(named, str) and named != sa:
                            problems.append(f"{where}: role {name} trusts ServiceAccount {ns}/{sa}, but "
                                            f"{dotted(path[:-2] + ('name',))} is {named}")
                keys = [str(k).lower() for k in path if isinstance(k, str)]
                if keys and ("bucket" in keys[-1] or (len(keys) > 1 and "bucket" in keys[-2])):
                    if not any(b.match(value) for b in buckets):
                        problems.append(f"{where}: bucket {value} is not created by infra/envs/{env} "
                                        f"(its buckets: {', '.join(mine['buckets']) or 'none'})")
                for m in ECR.finditer(value):
                    if m.group(3) not in repos:
                        problems.append(f"{where}: ECR repository {m.group(3)} is not created by "
                                        f"infra/envs/shared (its repositories: {', '.join(sorted(repos))})")
                if vpc and len(path) >= 2 and path[-2] == "sourceRanges":
                    try:
                        net = ipaddress.ip_network(value)
                    except ValueError:
                        problems.append(f"{where}: {value} is not a CIDR")
                        continue
                    if net.version != vpc.version or not net.subnet_of(vpc):
                        problems.append(f"{where}: {value} is not inside the VPC of infra/envs/{env} ({vpc})")
    return problems


def main(argv):
    return run(argv, check, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
