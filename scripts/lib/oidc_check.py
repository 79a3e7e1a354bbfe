#!/usr/bin/env python3
"""Every workflow job that assumes an AWS role presents an OIDC subject that role trusts.

    oidc_check.py REPO_ROOT [--facts FACTS.json]

For each job of .github/workflows/*.yml with an aws-actions/configure-aws-credentials step, the
subjects GitHub would put in the job's token (https://docs.github.com/en/actions/reference/
security/oidc#example-subject-claims):
  - a job with `environment: E` (or `${{ matrix.env }}`, one per matrix leg): repo:R:environment:E
  - else one per event the job runs on: pull_request -> repo:R:pull_request; push to branch B ->
    repo:R:ref:refs/heads/B; push of a tag -> repo:R:ref:refs/tags/T; workflow_dispatch and
    schedule -> repo:R:ref:refs/heads/<any>, reported as such;
narrowed by the job's `if:` where it tests github.event_name or github.ref for equality.
The role comes from `role-to-assume: ${{ vars.NAME }}` (or `matrix.env == 'prod' && vars.X_PROD ||
vars.X_DEV`, per leg), and the repository variable's name maps to a Terraform role (ROLE_VARS).
Its trust is tf_facts.py's (the parsed HCL): the subjects the role's `sub` condition lists, with
<REPO> for the repository. Reports `workflow: job J (event, leg): ...` for every subject the
role does not trust, a variable with no known role, and a role Terraform does not create.
"""
import glob
import json
import os
import re
import subprocess
import sys

import yaml

# Repository variable -> (Terraform root, role purpose). The workflows' header comments and
# docs/platform.md ("Bring-up") say which output fills each.
ROLE_VARS = {
    "AWS_ECR_PUSH_ROLE_ARN": ("shared", "ecr_push"),
    "TF_PLAN_ROLE_ARN_DEV": ("dev", "terraform-plan"),
    "TF_PLAN_ROLE_ARN_PROD": ("prod", "terraform-plan"),
    "TF_APPLY_ROLE_ARN_DEV": ("dev", "terraform-apply"),
    "TF_APPLY_ROLE_ARN_PROD": ("prod", "terraform-apply"),
}
CONFIGURE = "aws-actions/configure-aws-credentials"
HERE = os.path.dirname(os.path.abspath(__file__))


def load_facts(root, facts_file=None):
    if facts_file:
        with open(facts_file, encoding="utf-8") as f:
            return json.load(f)
    py = os.path.join(root, ".tools", "hcl-venv", "bin", "python")
    out = subprocess.run([py, os.path.join(HERE, "tf_facts.py"), os.path.join(root, "infra")],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def triggers(wf):
    # PyYAML reads the bare key `on` as True (YAML 1.1).
    on = wf.get("on", wf.get(True, {}))
    if isinstance(on, str):
        on = {on: {}}
    if isinstance(on, list):
        on = {e: {} for e in on}
    return {k: (v or {}) for k, v in on.items()}


def event_subjects(on):
    """[(event, ref-or-None, subject tail)] for a job without an environment."""
    out = []
    for event, spec in on.items():
        if event in ("pull_request", "pull_request_target"):
            out.append((event, None, "pull_request"))
        elif event == "push":
            for b in spec.get("branches", []) if isinstance(spec, dict) else []:
                out.append((event, f"refs/heads/{b}", f"ref:refs/heads/{b}"))
            for t in spec.get("tags", []) if isinstance(spec, dict) else []:
                out.append((event, f"refs/tags/{t}", f"ref:refs/tags/{t}"))
            if not isinstance(spec, dict) or not (spec.get("branches") or spec.get("tags")):
                out.append((event, "refs/heads/<any>", "ref:refs/heads/<any>"))
        elif event in ("workflow_dispatch", "schedule", "workflow_run", "release"):
            out.append((event, "refs/heads/<any>", "ref:refs/heads/<any>"))
    return out


def narrowed(cases, condition):
    """Keeps the (event, ref, ...) cases a job-level `if:` can let through."""
    if not condition:
        return cases
    cond = str(condition)
    events = re.findall(r"github\.event_name\s*==\s*'([^']+)'", cond)
    refs = re.findall(r"github\.ref\s*==\s*'([^']+)'", cond)
    keep = []
    for case in cases:
        event, ref = case[0], case[1]
        if events and event not in events:
            continue
        if refs and ref is not None and ref != "refs/heads/<any>" and ref not in refs:
            continue
        if refs and ref == "refs/heads/<any>":
            case = (event, refs[0], f"ref:{refs[0]}") + tuple(case[3:])
        keep.append(case)
    return keep


def legs(job):
    matrix = ((job.get("strategy") or {}).get("matrix") or {})
    envs = matrix.get("env")
    return [{"env": e} for e in envs] if isinstance(envs, list) else [{}]


def roles_for(expr, leg):
    """The repository variables a role-to-assume expression picks for a matrix leg."""
    names = re.findall(r"vars\.([A-Z0-9_]+)", str(expr))
    if len(names) <= 1 or "env" not in leg:
        return names
    suffix = f"_{leg['env'].upper()}"
    picked = [n for n in names if n.endswith(suffix)]
    return picked or names


def check(root, facts):
    problems = []
    for path in sorted(glob.glob(os.path.join(root, ".github", "workflows", "*.yml"))):
        rel = os.path.relpath(path, root)
        with open(path, encoding="utf-8") as f:
            wf = yaml.safe_load(f)
        on = triggers(wf)
        for jname, job in (wf.get("jobs") or {}).items():
            steps = [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(CONFIGURE)]
            if not steps:
                continue
            for leg in legs(job):
                env = job.get("environment")
                if isinstance(env, dict):
                    env = env.get("name")
                if env is not None:
                    env = re.sub(r"\$\{\{\s*matrix\.env\s*\}\}", leg.get("env", ""), str(env))
                    cases = narrowed([(e, r, f"environment:{env}") for e, r, _ in event_subjects(on)],
                                     job.get("if"))
                    # One subject whatever the event: the environment's.
                    cases = cases[:1]
                else:
                    cases = narrowed(event_subjects(on), job.get("if"))
                for step in steps:
                    expr = (step.get("with") or {}).get("role-to-assume", "")
                    for var in roles_for(expr, leg):
                        where = f"{rel}: job {jname}" + (f" (env {leg['env']})" if leg else "")
                        if var not in ROLE_VARS:
                            problems.append(f"{where}: role-to-assume vars.{var} names no known role "
                                            f"(scripts/lib/oidc_check.py ROLE_VARS)")
                            continue
                        stack, purpose = ROLE_VARS[var]
                        role = next((r for r in facts.get(stack, {}).get("roles", [])
                                     if r["purpose"] == purpose), None)
                        if role is None:
                            problems.append(f"{where}: vars.{var} is role {purpose} of infra/envs/{stack}, "
                                            "which Terraform does not create")
                            continue
                        trusted = {s.replace("<REPO>", "R") for s in role["subjects"]}
                        for event, _, tail in cases:
                            subject = f"repo:R:{tail}"
                            if subject not in trusted:
                                problems.append(
                                    f"{where}, on {event}: assumes {role['name']} (vars.{var}) with "
                                    f"subject {subject.replace('R', '<owner/repo>', 1)}, which its trust "
                                    f"policy ({role['resource']}) does not list: "
                                    + ", ".join(sorted(s.replace("R", "<owner/repo>", 1) for s in trusted)))
    return problems


def run(argv, check, doc):
    """The command line both cross-checks share: `ROOT [--facts FILE]`; problems to stderr."""
    args = argv[1:]
    facts_file = None
    if "--facts" in args:
        i = args.index("--facts")
        facts_file = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(doc, file=sys.stderr)
        return 2
    problems = check(args[0], load_facts(args[0], facts_file))
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


def main(argv):
    return run(argv, check, __doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
