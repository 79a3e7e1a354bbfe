"""Writes every `run:` block of the given GitHub workflows to OUT/<workflow>.<job>.<n>.sh, as
bash scripts that shellcheck can read: `${{ ... }}` expressions become a placeholder variable
(GitHub substitutes them before the shell runs), and a header names the workflow, job and step.

    python3 workflow_run_blocks.py OUT .github/workflows/*.yml
"""
import os
import re
import sys

import yaml

EXPR = re.compile(r"\$\{\{.*?\}\}")


def main(out, files):
    os.makedirs(out, exist_ok=True)
    count = 0
    for f in files:
        workflow = yaml.safe_load(open(f))
        base = os.path.splitext(os.path.basename(f))[0]
        for job_name, job in (workflow.get("jobs") or {}).items():
            shell = (job.get("defaults", {}).get("run", {}).get("shell")
                     or workflow.get("defaults", {}).get("run", {}).get("shell") or "bash")
            for n, step in enumerate(job.get("steps", []), 1):
                if "run" not in step or step.get("shell", shell).split()[0] not in ("bash", "sh"):
                    continue
                body = EXPR.sub("${GITHUB_EXPRESSION}", step["run"])
                path = os.path.join(out, f"{base}.{job_name}.{n}.sh")
                with open(path, "w") as s:
                    s.write(f"#!/usr/bin/env bash\n# {f}: job {job_name}, step {n} ({step.get('name', step['run'].splitlines()[0])})\n")
                    s.write("# shellcheck disable=SC2154  # GITHUB_EXPRESSION: a ${{ }} expression\n")
                    s.write(body if body.endswith("\n") else body + "\n")
                count += 1
    print(count)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
