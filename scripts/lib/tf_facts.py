#!/usr/bin/env python3
"""What infra/'s Terraform creates, per root module, read from the parsed HCL (python-hcl2) without
a terraform binary or a cloud, printed as JSON for the checks that compare it with the workflows
and the environments' values (oidc_check.py, tf_refs_check.py):

    tf_facts.py INFRA_DIR          (run with .tools/hcl-venv/bin/python)

    {"shared": {"roles": [...], "buckets": [...], "ecr_repositories": [...], "vpc_cidr": null,
                "ssm_parameters": [...]}, "dev": {...}, "prod": {...}}

Each root under INFRA_DIR/envs/ is walked through its module calls (local sources only), with the
values the calls pass and the variables' defaults. A role is {"name", "purpose", "subjects"}:
`subjects` are the `sub` values its trust policy accepts (a GitHub workflow's, or
system:serviceaccount:NS:NAME for IRSA). A bucket is a name pattern; an SSM parameter its full
name. What HCL cannot know here
is a token: <ACCOUNT> (the account ID), <REPO> (var.github_repository), <?> (anything else this
evaluator does not follow: data sources, resource attributes, functions). The evaluator follows
`${var.X}`, `${local.X}`, `${each.key}`, `${each.value}`, `${var.X[each.key].Y}`, for_each over
a local or variable map or a literal `toset([...])`, and `count = var.X ? 1 : 0`; that is all the
modules here use for names and trust, and a name it cannot follow comes out holding <?>, which
the checks report rather than guess.
"""
import glob
import json
import os
import re
import sys

import hcl2

INTERP = re.compile(r"\$\{([^{}]+)\}")
WHOLE = re.compile(r"^\$\{([^{}]+)\}$")
UNKNOWN = "<?>"
BASE = [os.getcwd()]  # resource paths are shown relative to infra/'s parent
ACCOUNT_EXPRS = {"local.account", "data.aws_caller_identity.current.account_id"}
# Values the evaluator stands in for: they are not in the HCL.
ROOT_TOKENS = {"github_repository": "<REPO>"}


def load_folder(folder):
    merged = {"variable": {}, "locals": {}, "module": {}, "resource": [], "data": []}
    for path in sorted(glob.glob(os.path.join(folder, "*.tf"))):
        with open(path, encoding="utf-8") as f:
            parsed = hcl2.load(f)
        for block in parsed.get("variable", []):
            merged["variable"].update(block)
        for block in parsed.get("locals", []):
            merged["locals"].update(block)
        for block in parsed.get("module", []):
            merged["module"].update(block)
        for block in parsed.get("resource", []):
            for rtype, named in block.items():
                for rname, body in named.items():
                    merged["resource"].append((rtype, rname, body))
        for block in parsed.get("data", []):
            for dtype, named in block.items():
                for dname, body in named.items():
                    merged["data"].append((dtype, dname, body))
    return merged


class Scope:
    """One module instance: its variables' values, its locals, and the current each."""

    def __init__(self, folder, variables):
        self.folder = folder
        self.hcl = load_folder(folder)
        self.vars = {}
        for name, body in self.hcl["variable"].items():
            if "default" in body:
                self.vars[name] = body["default"]
        self.vars.update(variables)
        self.each_key = None
        self.each_value = None
        self._locals = {}

    def local(self, name):
        if name not in self._locals:
            raw = self.hcl["locals"].get(name)
            self._locals[name] = None if raw is None else self.value(raw)
        return self._locals[name]

    def expr(self, e):
        e = e.strip()
        if e == "each.key":
            return self.each_key
        if e == "each.value":
            return self.each_value
        m = re.fullmatch(r"var\.([\w-]+)\[each\.key\]\.([\w-]+)", e)
        if m:
            obj = self.vars.get(m.group(1))
            if isinstance(obj, dict) and isinstance(obj.get(self.each_key), dict):
                return obj[self.each_key].get(m.group(2))
            return None
        m = re.fullmatch(r"var\.([\w-]+)", e)
        if m:
            return self.vars.get(m.group(1))
        m = re.fullmatch(r"local\.([\w-]+)", e)
        if m:
            return self.local(m.group(1))
        m = re.fullmatch(r"var\.([\w-]+)\.([\w-]+)", e)
        if m:
            obj = self.vars.get(m.group(1))
            return obj.get(m.group(2)) if isinstance(obj, dict) else None
        # python-hcl2 gives a literal list inside a function call without its quotes.
        m = re.fullmatch(r"toset\(\[(.*)\]\)", e)
        if m:
            return [x.strip().strip('"') for x in m.group(1).split(",") if x.strip()]
        if e in ACCOUNT_EXPRS:
            return "<ACCOUNT>"
        return None

    def value(self, v):
        """A string template evaluated (tokens for what is unknown); other values recursively."""
        if isinstance(v, str):
            m = WHOLE.match(v)
            if m:
                got = self.expr(m.group(1))
                return UNKNOWN if got is None else got

            def one(mm):
                got = self.expr(mm.group(1))
                return got if isinstance(got, str) else UNKNOWN
            return INTERP.sub(one, v)
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        return v

    def instances(self, body):
        """(key, value) per instance of a block with for_each or count; [(None, None)] for one."""
        if "count" in body:
            m = re.fullmatch(r"\$\{var\.([\w-]+) \? 1 : 0\}", str(body["count"]))
            if m and self.vars.get(m.group(1)) is False:
                return []
            return [(None, None)]
        if "for_each" not in body:
            return [(None, None)]
        got = self.value(body["for_each"])
        if isinstance(got, dict):
            return list(got.items())
        if isinstance(got, list):
            return [(k, k) for k in got]
        return [(UNKNOWN, UNKNOWN)]


def data_doc(scope, ref):
    m = re.search(r"data\.aws_iam_policy_document\.([\w-]+)", ref)
    if not m:
        return None
    for dtype, dname, body in scope.hcl["data"]:
        if dtype == "aws_iam_policy_document" and dname == m.group(1):
            return body
    return None


def subjects(scope, doc):
    out = []
    for st in doc.get("statement", []):
        for c in st.get("condition", []):
            if str(c.get("variable", "")).endswith(":sub"):
                got = scope.value(c.get("values"))
                if isinstance(got, str):
                    got = [got]
                out.extend(got if isinstance(got, list) else [UNKNOWN])
    return out


def walk(scope, facts):
    for rtype, rname, body in scope.hcl["resource"]:
        for key, value in scope.instances(body):
            scope.each_key, scope.each_value = key, value
            if rtype == "aws_iam_role":
                doc = data_doc(scope, str(body.get("assume_role_policy", "")))
                facts["roles"].append({
                    "name": scope.value(body.get("name", UNKNOWN)),
                    "purpose": key if key is not None else rname,
                    "resource": f"{os.path.relpath(scope.folder, BASE[0])}: aws_iam_role.{rname}",
                    "subjects": subjects(scope, doc) if doc else [],
                })
            elif rtype == "aws_s3_bucket":
                facts["buckets"].append(scope.value(body.get("bucket", UNKNOWN)))
            elif rtype == "aws_ssm_parameter":
                facts["ssm_parameters"].append(scope.value(body.get("name", UNKNOWN)))
            elif rtype == "aws_ecr_repository":
                facts["ecr_repositories"].append(scope.value(body.get("name", UNKNOWN)))
            scope.each_key = scope.each_value = None
    for mname, body in scope.hcl["module"].items():
        source = body.get("source", "")
        if not source.startswith("."):
            continue
        for key, value in scope.instances(body):
            scope.each_key, scope.each_value = key, value
            args = {k: scope.value(v) for k, v in body.items()
                    if k not in ("source", "count", "for_each", "depends_on", "providers")}
            if mname == "platform" and isinstance(args.get("vpc_cidr"), str):
                facts["vpc_cidr"] = args["vpc_cidr"]
            scope.each_key = scope.each_value = None
            walk(Scope(os.path.normpath(os.path.join(scope.folder, source)), args), facts)


def facts_of(infra):
    BASE[0] = os.path.dirname(os.path.abspath(infra))
    out = {}
    for root in sorted(glob.glob(os.path.join(infra, "envs", "*", ""))):
        name = os.path.basename(os.path.dirname(root))
        facts = {"roles": [], "buckets": [], "ecr_repositories": [], "vpc_cidr": None, "ssm_parameters": []}
        walk(Scope(os.path.normpath(root), dict(ROOT_TOKENS)), facts)
        out[name] = facts
    return out


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    json.dump(facts_of(argv[1]), sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
