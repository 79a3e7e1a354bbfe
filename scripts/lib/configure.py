#!/usr/bin/env python3
"""`make configure ENV=<env>`: Terraform's outputs into the environment's values, then the mark.

    configure.py --env ENV --outputs FILE|- [--repo ROOT] [--sextant BIN]

FILE is `terraform -chdir=infra/envs/<env> output -json` (infra/scripts/configure.sh runs it, or
takes a saved copy). Every value below is written with `sextant set-values`, the agent's
format-preserving editor: comments, order and quoting stay, only the values change. Then, if
placeholders.py finds nothing left, environment.yaml gets the label sextant.io/deployable:
"true"; otherwise what is left is listed and the exit code is 1.

What is written (file under environments/<env>/: values path <- output):
  aws-load-balancer-controller.yaml  serviceAccount role-arn <- irsa_role_arns[...]; clusterName
                                     <- cluster_name; region <- region
  cert-manager.yaml                  serviceAccount role-arn <- irsa_role_arns[cert-manager]
  cluster-autoscaler.yaml            rbac.serviceAccount role-arn; awsRegion; autoDiscovery.clusterName
  external-dns.yaml                  serviceAccount role-arn; the --zone-id-filter= argument <-
                                     dns_zone_id; env AWS_DEFAULT_REGION <- region; txtOwnerId
  external-secrets.yaml              serviceAccount role-arn <- irsa_role_arns[external-secrets]
  platform.yaml                      issuer.hostedZoneID <- dns_zone_id; the internal Gateway's
                                     sourceRanges <- [vpc_cidr]; externalSecrets.store.prefix <-
                                     platform_ssm_path, .region <- region
  hash-service.yaml, main-api.yaml   image.repository <- ecr_repository_urls[<release>]
  auxiliary-service.yaml             image.repository likewise; serviceAccount.roleArn <-
                                     irsa_role_arns[auxiliary-service]; parameterPath <-
                                     app_ssm_path; aws.region <- region
  environment.yaml                   spec.promotion.images[*].repository of each, likewise
  policies.yaml                      ecrRegistry (Gatekeeper's allowed registry) <- the registry
  loki.yaml (when output loki)       bucketNames, serviceAccount role-arn, storage.s3.region
  every file                         each hostname or address under the example domain
                                     (dev.sextant.example.com, sextant.example.com) <- domain
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placeholders  # noqa: E402

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
EXAMPLE_DOMAINS = {"dev": ["dev.sextant.example.com", "sextant.example.com"], "prod": ["sextant.example.com"]}


class ConfigureError(Exception):
    pass


def output(outputs, name, key=None):
    if name not in outputs:
        raise ConfigureError(f"terraform output {name} is missing: apply infra/envs/<env> first "
                             "(the outputs are those of infra/envs/<env>/outputs.tf)")
    value = outputs[name].get("value") if isinstance(outputs[name], dict) else None
    if key is not None:
        if not isinstance(value, dict) or key not in value:
            raise ConfigureError(f"terraform output {name} has no {key!r}")
        value = value[key]
    return value


def index_where(items, pred):
    for i, item in enumerate(items or []):
        if pred(item):
            return i
    return None


def edits_for(env, doc_of, outputs):
    """{file (relative to the environment): [(path, value)]}."""
    irsa = lambda k: output(outputs, "irsa_role_arns", k)  # noqa: E731
    region = output(outputs, "region")
    cluster = output(outputs, "cluster_name")
    zone = output(outputs, "dns_zone_id")
    ecr = {name: output(outputs, "ecr_repository_urls", name)
           for name in ("hash-service", "main-api", "auxiliary-service")}
    ecr_app = ecr["hash-service"]
    registry = ecr_app.rsplit("/", 1)[0]
    e = {
        "values/aws-load-balancer-controller.yaml": [
            (["serviceAccount", "annotations", ROLE_ANNOTATION], irsa("aws-load-balancer-controller")),
            (["clusterName"], cluster), (["region"], region)],
        "values/cert-manager.yaml": [
            (["serviceAccount", "annotations", ROLE_ANNOTATION], irsa("cert-manager"))],
        "values/cluster-autoscaler.yaml": [
            (["rbac", "serviceAccount", "annotations", ROLE_ANNOTATION], irsa("cluster-autoscaler")),
            (["awsRegion"], region), (["autoDiscovery", "clusterName"], cluster)],
        "values/external-dns.yaml": [
            (["serviceAccount", "annotations", ROLE_ANNOTATION], irsa("external-dns")),
            (["txtOwnerId"], cluster)],
        "values/external-secrets.yaml": [
            (["serviceAccount", "annotations", ROLE_ANNOTATION], irsa("external-secrets"))],
        "values/platform.yaml": [
            (["issuer", "hostedZoneID"], zone),
            (["externalSecrets", "store", "prefix"], output(outputs, "platform_ssm_path")),
            (["externalSecrets", "store", "region"], region)],
        "values/hash-service.yaml": [(["image", "repository"], ecr_app)],
        "values/main-api.yaml": [(["image", "repository"], ecr["main-api"])],
        "values/auxiliary-service.yaml": [
            (["image", "repository"], ecr["auxiliary-service"]),
            (["serviceAccount", "roleArn"], irsa("auxiliary-service")),
            (["parameterPath"], output(outputs, "app_ssm_path")), (["aws", "region"], region)],
        "values/policies.yaml": [(["ecrRegistry"], registry + "/")],
    }
    # One range replaced in place keeps the list's flow style; otherwise the list is rewritten.
    ranges = (((doc_of("values/platform.yaml") or {}).get("gateways") or {}).get("internal") or {}).get("sourceRanges")
    vpc = output(outputs, "vpc_cidr")
    e["values/platform.yaml"].append(
        (["gateways", "internal", "sourceRanges", 0], vpc) if isinstance(ranges, list) and len(ranges) == 1
        else (["gateways", "internal", "sourceRanges"], [vpc]))
    dns = doc_of("values/external-dns.yaml") or {}
    i = index_where(dns.get("extraArgs"), lambda a: str(a).startswith("--zone-id-filter="))
    if i is not None:
        e["values/external-dns.yaml"].append((["extraArgs", i], f"--zone-id-filter={zone}"))
    i = index_where(dns.get("env"), lambda v: isinstance(v, dict) and v.get("name") == "AWS_DEFAULT_REGION")
    if i is not None:
        e["values/external-dns.yaml"].append((["env", i, "value"], region))
    env_doc = doc_of("environment.yaml") or {}
    images = ((env_doc.get("spec") or {}).get("promotion") or {}).get("images") or []
    for release, url in ecr.items():
        i = index_where(images, lambda im: im.get("release") == release)
        if i is not None:
            e.setdefault("environment.yaml", []).append((["spec", "promotion", "images", i, "repository"], url))
    loki = output(outputs, "loki")
    if loki:
        e["values/loki.yaml"] = [
            (["loki", "storage", "bucketNames", "chunks"], loki["bucket_names"]["chunks"]),
            (["loki", "storage", "bucketNames", "ruler"], loki["bucket_names"]["ruler"]),
            (["loki", "storage", "s3", "region"], region),
            (["serviceAccount", "annotations", ROLE_ANNOTATION], loki["role_arn"])]
    domain = output(outputs, "domain")
    for rel in sorted(set(list(e) + list_files(doc_of))):
        for path, value in leaves(doc_of(rel)):
            if isinstance(value, str) and "example.com" in value:
                new = value
                for example in EXAMPLE_DOMAINS.get(env, ["sextant.example.com"]):
                    new = re.sub(rf"(?<![\w-]){re.escape(example)}\b", domain, new)
                if new != value:
                    e.setdefault(rel, []).append((list(path), new))
    return {f: v for f, v in e.items() if doc_of(f) is not None}


def list_files(doc_of):
    return doc_of.files


def leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, path + (str(k),))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, path + (i,))
    elif node is not None:
        yield path, node


def reader(env_dir):
    cache = {}

    def doc_of(rel):
        if rel not in cache:
            path = os.path.join(env_dir, rel)
            if not os.path.isfile(path):
                cache[rel] = None
            else:
                with open(path, encoding="utf-8") as f:
                    cache[rel] = yaml.safe_load(f) or {}
        return cache[rel]
    doc_of.files = ["environment.yaml"] + sorted(
        f"values/{n}" for n in os.listdir(os.path.join(env_dir, "values")) if n.endswith(".yaml"))
    return doc_of


def set_values(sextant, file, edits):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([{"path": p, "value": v} for p, v in edits], f)
        name = f.name
    try:
        out = subprocess.run([sextant, "set-values", "--file", file, "--edits", name],
                             capture_output=True, text=True)
    finally:
        os.unlink(name)
    if out.returncode != 0:
        raise ConfigureError(out.stderr.strip())
    return out.stdout


def configure(root, env, outputs, sextant):
    env_dir = os.path.join(root, "environments", env)
    if not os.path.isfile(os.path.join(env_dir, "environment.yaml")):
        raise ConfigureError(f"environments/{env}/environment.yaml does not exist")
    report = []
    for rel, edits in sorted(edits_for(env, reader(env_dir), outputs).items()):
        report.append(set_values(sextant, os.path.join(env_dir, rel), edits))
    left = placeholders.check(root, [env])
    if not left:
        report.append(set_values(sextant, os.path.join(env_dir, "environment.yaml"),
                                 [(["metadata", "labels", placeholders.LABEL], "true")]))
    return "".join(report), left


def main(argv):
    ap = argparse.ArgumentParser(description="Write Terraform's outputs into an environment's values.")
    ap.add_argument("--env", required=True)
    ap.add_argument("--outputs", required=True, help="terraform output -json, a file or - for stdin")
    ap.add_argument("--repo", default=".")
    ap.add_argument("--sextant", default=os.environ.get("SEXTANT", "sextant"))
    args = ap.parse_args(argv[1:])
    try:
        text = sys.stdin.read() if args.outputs == "-" else open(args.outputs, encoding="utf-8").read()
        outputs = json.loads(text)
        report, left = configure(args.repo, args.env, outputs, args.sextant)
    except (OSError, ValueError, ConfigureError) as e:
        print(f"make configure ENV={args.env}: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(report)
    if left:
        print(f"make configure ENV={args.env}: placeholders left, so the environment is not marked "
              "deployable:", file=sys.stderr)
        for p in left:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"environments/{args.env}: no placeholder left; marked {placeholders.LABEL}: \"true\"")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
