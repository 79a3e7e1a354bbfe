#!/usr/bin/env python3
"""The tags the pipelines push, against what the ECR repositories of infra/ accept. ECR refuses
to move a tag of a repository with immutable tags, so a workflow that pushes the same fixed tag
(`latest`) on every run fails from its second run on; this check fails first, here.

    image_tags_check.py ROOT    the repository: ROOT/infra (*.tf), ROOT/.github/workflows

Reports each problem as `file:line: message` and exits 1 if there is any:
  - every aws_ecr_repository has image_tag_mutability IMMUTABLE or IMMUTABLE_WITH_EXCLUSION;
    exclusion filters (image_tag_mutability_exclusion_filter) come only with, and are required
    by, IMMUTABLE_WITH_EXCLUSION, which needs a hashicorp/aws pin of 6.8.0 or later (the first
    release with the block; 5.x rejects the value);
  - a workflow that logs in to ECR (aws-actions/amazon-ecr-login) gives images only per-commit
    tags (built from github.sha / GITHUB_SHA) or tags that every repository's exclusion filters
    leave mutable: the tags of docker/build-push-action, `docker tag|push|build -t`, `docker
    buildx imagetools create -t` and `aws ecr put-image --image-tag` (a ref without a tag is
    `latest`);
  - cosign there keeps its OCI-referrers bundle format (no `--new-bundle-format=false`): the
    legacy format stores signatures under `sha256-<digest>.sig`/`.att` tags, which a second
    signature of the same digest would have to move.
Run by scripts/checks/pipelines.sh with .tools/venv's python (PyYAML, hcl2).
"""
import os
import re
import shlex
import sys

import hcl2
import yaml

EXCLUSION_FIRST = (6, 8, 0)
PER_COMMIT = re.compile(r"github\.sha|GITHUB_SHA")


def plain(v):
    """A value as python-hcl2 and checkov's fork both give it: the fork wraps scalars in lists."""
    while isinstance(v, list) and len(v) == 1 and not isinstance(v[0], dict):
        v = v[0]
    if isinstance(v, str) and len(v) >= 2 and v[0] == v[-1] == '"':
        v = v[1:-1]
    return v


def blocks_of(v):
    if isinstance(v, dict):
        return [v]
    return [b for b in (v or []) if isinstance(b, dict)]


def version(text):
    return tuple(int(x) for x in (text.split(".") + ["0", "0"])[:3])


def lower_bound(constraint):
    """The lowest version a Terraform version constraint admits (0.0.0 when it sets none)."""
    low = (0, 0, 0)
    for part in str(constraint).split(","):
        m = re.match(r"\s*(>=|>|~>|=)?\s*v?(\d+(?:\.\d+){0,2})\s*$", part)
        if m and m.group(1) != "!=":
            low = max(low, version(m.group(2)))
    return low


def line_of(lines, needle, start=1):
    for n in range(max(start, 1), len(lines) + 1):
        if needle in lines[n - 1]:
            return n
    return start if start >= 1 else 1


def wildcard(pattern):
    return re.compile("^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$")


class Repositories:
    """Every aws_ecr_repository under ROOT/infra: its mutability and exclusion filters."""

    def __init__(self):
        self.repos = []      # (file, line, mutability, [filters])
        self.problems = []

    def mutable(self, tag):
        """True when every repository lets this tag move."""
        return bool(self.repos) and all(
            m in ("MUTABLE", "MUTABLE_WITH_EXCLUSION") or
            (m == "IMMUTABLE_WITH_EXCLUSION" and any(wildcard(f).match(tag) for f in filters))
            for _, _, m, filters in self.repos)

    def where(self):
        return ", ".join(f"{f}:{n} ({m})" for f, n, m, _ in self.repos) or "no aws_ecr_repository found"


def load_repositories(root):
    found = Repositories()
    for path, _, files in sorted(os.walk(os.path.join(root, "infra"))):
        if ".terraform" in path.split(os.sep):
            continue
        tfs = sorted(os.path.join(path, f) for f in files if f.endswith(".tf"))
        parsed = {}
        for f in tfs:
            with open(f, encoding="utf-8") as fh:
                text = fh.read()
            try:
                parsed[f] = (hcl2.loads(text), text.splitlines())
            except Exception as e:  # lark's errors, of several types
                found.problems.append(f"{f}:1: does not parse as HCL: {str(e).splitlines()[0]}")
        aws_floor, pin = None, None
        for f, (doc, _) in parsed.items():
            for tf in blocks_of(doc.get("terraform")):
                for rp in blocks_of(tf.get("required_providers")):
                    for spec in blocks_of(rp.get("aws")):
                        pin = plain(spec.get("version", ""))
                        aws_floor = lower_bound(pin)
        for f, (doc, lines) in parsed.items():
            for res in blocks_of(doc.get("resource")):
                for name, body in (res.get("aws_ecr_repository") or {}).items():
                    if isinstance(body, list):
                        body = body[0]
                    start = line_of(lines, f'resource "aws_ecr_repository" "{name}"')
                    line = line_of(lines, "image_tag_mutability", start)
                    mutability = plain(body.get("image_tag_mutability", "MUTABLE"))
                    filters = [plain(b.get("filter", "")) for b in blocks_of(body.get("image_tag_mutability_exclusion_filter"))]
                    found.repos.append((f, line, mutability, filters))
                    where = f"{f}:{line}: aws_ecr_repository.{name}"
                    if mutability not in ("IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"):
                        found.problems.append(f"{where}: image_tag_mutability {mutability!r}: tags must be immutable "
                                              "(IMMUTABLE, or IMMUTABLE_WITH_EXCLUSION for named moving tags)")
                    if mutability == "IMMUTABLE_WITH_EXCLUSION" and not filters:
                        found.problems.append(f"{where}: IMMUTABLE_WITH_EXCLUSION without an image_tag_mutability_exclusion_filter")
                    if filters and mutability != "IMMUTABLE_WITH_EXCLUSION":
                        found.problems.append(f"{where}: exclusion filters {filters} need image_tag_mutability = IMMUTABLE_WITH_EXCLUSION")
                    if (mutability == "IMMUTABLE_WITH_EXCLUSION" or filters) and (aws_floor or (0, 0, 0)) < EXCLUSION_FIRST:
                        found.problems.append(f"{where}: IMMUTABLE_WITH_EXCLUSION and its exclusion filters need hashicorp/aws "
                                              f">= 6.8.0; {path} pins {pin!r} (deploy by digest and push no moving tag instead)")
    return found


def logical_lines(script):
    """The lines of a shell script with backslash continuations joined, each with its first line."""
    out, buf, first = [], "", None
    for n, line in enumerate(script.splitlines(), 1):
        if first is None:
            first = n
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        out.append((first, buf + line))
        buf, first = "", None
    if buf:
        out.append((first, buf))
    return out


def words(line):
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split()


def tag_of(ref):
    ref = ref.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def tags_in_command(ws):
    """(what, tag) for each tag a docker or aws ecr command line gives an image."""
    out = []
    for i, w in enumerate(ws):
        rest = ws[i + 1:]
        if w == "docker" and rest:
            sub = rest[1:] if rest[0] in ("image", "buildx") else rest
            args = [a for a in sub[1:] if not a.startswith("-")]
            if sub and sub[0] == "tag" and len(args) >= 2:
                out.append((f"docker tag {args[1]}", tag_of(args[1])))
            if sub and sub[0] == "push" and args:
                out.append((f"docker push {args[0]}", tag_of(args[0])))
            if sub and sub[0] in ("build", "imagetools"):
                for j, a in enumerate(sub):
                    ref = sub[j + 1] if a in ("-t", "--tag") and j + 1 < len(sub) else (a.split("=", 1)[1] if a.startswith("--tag=") else None)
                    if ref:
                        out.append((f"docker {sub[0]} -t {ref}", tag_of(ref)))
        if w == "put-image" and i >= 2 and ws[i - 1] == "ecr":
            for j, a in enumerate(rest):
                tag = rest[j + 1] if a == "--image-tag" and j + 1 < len(rest) else (a.split("=", 1)[1] if a.startswith("--image-tag=") else None)
                if tag:
                    out.append((f"aws ecr put-image --image-tag {tag}", tag))
    return out


def check_workflow(path, repos, problems):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    doc = yaml.safe_load(text) or {}
    steps = [(job, s) for job, j in (doc.get("jobs") or {}).items() for s in (j.get("steps") or []) if isinstance(s, dict)]
    if not any(str(s.get("uses", "")).startswith("aws-actions/amazon-ecr-login@") for _, s in steps):
        return
    found = []   # (line, what, tag)
    cursor = 1
    for job, s in steps:
        anchor = str(s.get("name") or s.get("uses") or s.get("id") or "")
        if anchor:
            cursor = line_of(lines, anchor.splitlines()[0], cursor)
        uses = str(s.get("uses", ""))
        if uses.startswith("docker/build-push-action@"):
            for ref in re.split(r"[\n,]", str((s.get("with") or {}).get("tags", ""))):
                ref = ref.strip()
                if ref:
                    found.append((line_of(lines, ref, cursor), f"{job}: build-push-action tag {ref}", tag_of(ref)))
        run = s.get("run")
        if isinstance(run, str):
            physical = run.splitlines()
            for first, line in logical_lines(run):
                n = line_of(lines, physical[first - 1].strip(), cursor)
                tags = tags_in_command(words(line))
                # Inside $(...) with nested quotes shlex merges words; the retag is found by its flag.
                for m in re.finditer(r"\bput-image\b.*?--image-tag(?:=|\s+)[\"']?([^\s\"')]+)", line):
                    tags.append((f"aws ecr put-image --image-tag {m.group(1)}", m.group(1)))
                for what, tag in dict.fromkeys(tags):
                    found.append((n, f"{job}: {what}", tag))
                if re.search(r"\bcosign\b.*--new-bundle-format(=|\s+)false", line):
                    problems.append(f"{path}:{n}: {job}: cosign with --new-bundle-format=false stores signatures "
                                    "under sha256-<digest>.sig/.att tags, which immutable repositories refuse to "
                                    f"move ({repos.where()}); keep the default (OCI referrers, pushed by digest)")
    for n, what, tag in found:
        if PER_COMMIT.search(tag) or repos.mutable(tag):
            continue
        if "$" in tag:
            why = f"the tag {tag!r} is not built from the commit (github.sha / GITHUB_SHA), so it may repeat"
        else:
            why = f"the fixed tag {tag!r} moves on every run"
        problems.append(f"{path}:{n}: {what}: {why}, and the ECR repositories' immutable tags refuse its second push "
                        f"({repos.where()}); tag images with the commit SHA and deploy by digest, or exclude the tag "
                        "(IMMUTABLE_WITH_EXCLUSION, hashicorp/aws >= 6.8)")


def check(root):
    repos = load_repositories(root)
    problems = list(repos.problems)
    wf = os.path.join(root, ".github", "workflows")
    for name in sorted(os.listdir(wf)) if os.path.isdir(wf) else []:
        if name.endswith((".yml", ".yaml")):
            check_workflow(os.path.join(wf, name), repos, problems)
    return problems


def main(argv):
    if len(argv) != 2:
        print("usage: image_tags_check.py ROOT", file=sys.stderr)
        return 2
    problems = check(argv[1])
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
