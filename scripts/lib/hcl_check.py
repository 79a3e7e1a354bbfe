#!/usr/bin/env python3
"""The project check over infra/'s parsed HCL (python-hcl2), for what checkov does not know:
the modules are our own, so their calls and references can be checked against their declarations
without a terraform binary.

    hcl_check.py DIR    every folder under DIR with .tf files; folders under modules/ are
                        modules, the others root modules

Reports each problem as `file:line: message` and exits 1 if there is any:
  - a module call passes a variable its module does not declare, or leaves out a required one;
    its source must be a local folder that exists;
  - `module.NAME.OUTPUT` names a module call of the folder and an output of that module;
  - `var.NAME` is declared in the folder;
  - every folder pins `required_version` and each `required_providers` entry's source and
    version, and every provider a resource or data source uses is among them;
  - no literal account ID, ARN with an account number, AWS region (in .tf files), access key,
    private key, or password/secret/token attribute;
  - every taggable resource in a module sets `tags` (or tag_specifications), and every root
    module's aws provider sets `default_tags`;
  - every variable has a `description` and a `type`, and a variable that holds a Kubernetes
    version or CIDRs has a `validation`.
"""
import os
import re
import sys

import hcl2

META_ARGS = {"source", "version", "providers", "count", "for_each", "depends_on"}

# aws_* resource types that take no tags (attachments, associations, sub-resources of a bucket,
# aliases, records, policies). Any other aws_* type is taken as taggable: a new type must be
# tagged, or added here.
NOT_TAGGABLE = {
    "aws_autoscaling_group_tag", "aws_ecr_lifecycle_policy", "aws_ecr_repository_policy",
    "aws_eks_access_policy_association", "aws_iam_role_policy", "aws_iam_role_policy_attachment",
    "aws_kms_alias", "aws_route", "aws_route53_record", "aws_route_table_association",
    "aws_s3_bucket_lifecycle_configuration", "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_policy", "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_server_side_encryption_configuration", "aws_s3_bucket_versioning",
}

# Names of attributes whose literal value would be a credential.
SECRET_ATTR = re.compile(r"^\s*(password|secret|secret_key|access_key|token|private_key|client_secret)\s*=\s*\"([^\"$]+)\"", re.I)
PATTERNS = [
    (re.compile(r"arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:\d{12}:"), "an ARN with a literal account number"),
    (re.compile(r"(?<![0-9a-f])\d{12}(?![0-9a-f])"), "a literal 12-digit account ID"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key ID"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
]
REGION = re.compile(r"\"(us|eu|ap|sa|ca|me|af|il|mx)-(gov-)?(north|south|east|west|central|northeast|southeast|northwest|southwest)-\d\"")
REF = re.compile(r"(?<![\w.])(module|var)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")
NEEDS_VALIDATION = re.compile(r"(kubernetes_version|cidr)")


def code_only(line):
    """The line's expressions only: string literals blanked except their ${...} interpolations,
    so that `var.x` in a description is not taken as a reference."""
    out, quoted, depth, i = [], False, 0, 0
    line = strip_comments(line)
    while i < len(line):
        c = line[i]
        if quoted and depth == 0:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                quoted = False
            elif line.startswith("${", i):
                depth, i = 1, i + 2
                out.append(" ")
                continue
            out.append(" " if c != '"' else c)
        else:
            if depth:
                depth += {"{": 1, "}": -1}.get(c, 0)
                if depth == 0:
                    out.append(" ")
                    i += 1
                    continue
            elif c == '"':
                quoted = True
            out.append(c)
        i += 1
    return "".join(out)


def strip_comments(line):
    """The line without a trailing # or // comment (not inside a string)."""
    out, quoted, i = [], False, 0
    while i < len(line):
        c = line[i]
        if c == '"' and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        if not quoted and (c == "#" or line.startswith("//", i)):
            break
        out.append(c)
        i += 1
    return "".join(out)


class Folder:
    """One folder's declarations, each with the file and line it is at."""

    def __init__(self, path):
        self.path = path
        self.variables = {}   # name -> (file, line, body)
        self.outputs = {}
        self.modules = {}     # call name -> (file, line, body)
        self.resources = []   # (kind, type, name, file, line, body)
        self.terraform = []   # (file, line, body)
        self.providers = []   # (name, file, line, body)
        self.lines = {}       # file -> its lines


def blocks(parsed, key):
    for item in parsed.get(key, []):
        yield from item.items()


def load(path, problems):
    folder = Folder(path)
    for name in sorted(os.listdir(path)):
        if not name.endswith(".tf"):
            continue
        f = os.path.join(path, name)
        text = open(f).read()
        folder.lines[f] = text.splitlines()
        try:
            parsed = hcl2.loads(text, with_meta=True)
        except Exception as e:  # the parser's errors are lark's, of several types
            problems.append(f"{f}:1: does not parse as HCL: {str(e).splitlines()[0]}")
            continue
        for n, body in blocks(parsed, "variable"):
            folder.variables[n] = (f, body["__start_line__"], body)
        for n, body in blocks(parsed, "output"):
            folder.outputs[n] = (f, body["__start_line__"], body)
        for n, body in blocks(parsed, "module"):
            folder.modules[n] = (f, body["__start_line__"], body)
        for kind in ("resource", "data"):
            for rtype, named in blocks(parsed, kind):
                for n, body in named.items():
                    folder.resources.append((kind, rtype, n, f, body["__start_line__"], body))
        for body in parsed.get("terraform", []):
            folder.terraform.append((f, body["__start_line__"], body))
        for n, body in blocks(parsed, "provider"):
            folder.providers.append((n, f, body["__start_line__"], body))
    return folder


def attr_line(folder, f, body, attr):
    """The line of `attr = ...` inside the block, or the block's first line."""
    lines = folder.lines[f]
    for i in range(body["__start_line__"] - 1, min(body["__end_line__"], len(lines))):
        if re.match(rf"\s*{re.escape(attr)}\s*=", lines[i]):
            return i + 1
    return body["__start_line__"]


def check_module_calls(folder, folders, problems):
    for call, (f, line, body) in sorted(folder.modules.items()):
        source = body.get("source", "")
        if not source.startswith("."):
            problems.append(f"{f}:{line}: module {call}: source {source!r} is not one of our own modules (a local path)")
            continue
        target = os.path.normpath(os.path.join(folder.path, source))
        if target not in folders:
            problems.append(f"{f}:{line}: module {call}: source {source!r} is not a folder with .tf files")
            continue
        declared = folders[target].variables
        for arg in sorted(set(body) - META_ARGS):
            if arg.startswith("__"):
                continue
            if arg not in declared:
                problems.append(f"{f}:{attr_line(folder, f, body, arg)}: module {call}: passes {arg!r}, "
                                f"which {source} does not declare (it declares: {', '.join(sorted(declared))})")
        for name, (vf, _, vbody) in sorted(declared.items()):
            if "default" not in vbody and name not in body:
                problems.append(f"{f}:{line}: module {call}: leaves out {name!r}, required by {source} ({vf})")


def check_references(folder, folders, problems):
    for f, lines in sorted(folder.lines.items()):
        for n, raw in enumerate(lines, 1):
            for kind, name, attr in REF.findall(code_only(raw)):
                if kind == "var" and name not in folder.variables:
                    problems.append(f"{f}:{n}: var.{name} is not declared in {folder.path}")
                if kind == "module":
                    if name not in folder.modules:
                        problems.append(f"{f}:{n}: module.{name}: no module call {name!r} in {folder.path}")
                        continue
                    source = folder.modules[name][2].get("source", "")
                    target = folders.get(os.path.normpath(os.path.join(folder.path, source)))
                    if attr and target is not None and attr not in target.outputs:
                        problems.append(f"{f}:{n}: module.{name}.{attr}: {source} has no output {attr!r} "
                                        f"(it has: {', '.join(sorted(target.outputs))})")


def check_versions(folder, problems):
    if not folder.terraform:
        first = sorted(folder.lines)[0]
        problems.append(f"{first}:1: {folder.path} has no terraform block (required_version, required_providers)")
        return
    required = {}
    for f, line, body in folder.terraform:
        if "required_version" not in body:
            problems.append(f"{f}:{line}: terraform block without required_version")
        elif not re.search(r"\d", body["required_version"]):
            problems.append(f"{f}:{line}: required_version {body['required_version']!r} pins nothing")
        for rp in body.get("required_providers", []):
            for name, spec in rp.items():
                if name.startswith("__"):
                    continue
                required[name] = spec
                if not isinstance(spec, dict) or "source" not in spec or "version" not in spec:
                    problems.append(f"{f}:{rp['__start_line__']}: required_providers {name}: needs source and version")
                elif not re.search(r"\d", spec["version"]):
                    problems.append(f"{f}:{rp['__start_line__']}: required_providers {name}: version {spec['version']!r} pins nothing")
    used = {rtype.split("_")[0]: (f, line) for _, rtype, _, f, line, _ in folder.resources}
    used.update({name: (f, line) for name, f, line, _ in folder.providers})
    for provider, (f, line) in sorted(used.items()):
        if provider not in required:
            problems.append(f"{f}:{line}: uses provider {provider!r}, which required_providers does not pin")


def check_literals(folder, problems):
    for f, lines in sorted(folder.lines.items()):
        for n, raw in enumerate(lines, 1):
            line = strip_comments(raw)
            for pattern, what in PATTERNS:
                if pattern.search(line):
                    problems.append(f"{f}:{n}: {what}; take it from data.aws_caller_identity or a variable")
                    break
            if REGION.search(line):
                problems.append(f"{f}:{n}: a literal AWS region; use var.region or data.aws_region")
            m = SECRET_ATTR.match(line)
            if m:
                problems.append(f"{f}:{n}: {m.group(1)} is a literal; secrets come from variables marked sensitive or out of band")


def check_tags(folder, is_module, problems):
    if is_module:
        for kind, rtype, name, f, line, body in folder.resources:
            if kind != "resource" or not rtype.startswith("aws_") or rtype in NOT_TAGGABLE:
                continue
            if "tags" not in body:
                problems.append(f"{f}:{line}: {rtype}.{name} is taggable but sets no tags (pass var.tags)")
    else:
        for name, f, line, body in folder.providers:
            if name == "aws" and "default_tags" not in body:
                problems.append(f"{f}:{line}: provider aws without default_tags")


def check_variables(folder, problems):
    for name, (f, line, body) in sorted(folder.variables.items()):
        for key in ("description", "type"):
            if key not in body:
                problems.append(f"{f}:{line}: variable {name} has no {key}")
        if NEEDS_VALIDATION.search(name) and "validation" not in body:
            problems.append(f"{f}:{line}: variable {name} holds a version or CIDRs and has no validation")


def check(root):
    problems, folders = [], {}
    for path, _, files in sorted(os.walk(root)):
        if ".terraform" in path.split(os.sep) or not any(x.endswith(".tf") for x in files):
            continue
        folders[os.path.normpath(path)] = load(os.path.normpath(path), problems)
    if not folders:
        problems.append(f"{root}:1: no .tf files")
    for path, folder in sorted(folders.items()):
        is_module = "modules" in path.split(os.sep)
        check_module_calls(folder, folders, problems)
        check_references(folder, folders, problems)
        check_versions(folder, problems)
        check_literals(folder, problems)
        check_tags(folder, is_module, problems)
        check_variables(folder, problems)
    return problems


def main(argv):
    if len(argv) != 2:
        print("usage: hcl_check.py DIR", file=sys.stderr)
        return 2
    problems = check(argv[1])
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
