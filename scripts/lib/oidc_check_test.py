"""Tests of oidc_check.py: the repository's workflows assume only roles that trust them, and the
planted mistakes are reported: iac.yml's main-branch plan against a plan role that trusts pull
requests only (issue 27, defect 1), and a pull-request job assuming the main-only ecr-push role.

    .tools/venv/bin/python -m unittest scripts/lib/oidc_check_test.py   (scripts/checks/crossrefs.sh)
"""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import oidc_check  # noqa: E402


def copy_repo(into):
    """The parts of the repository the check reads: infra/, the workflows, the tools link."""
    shutil.copytree(os.path.join(ROOT, "infra"), os.path.join(into, "infra"))
    shutil.copytree(os.path.join(ROOT, ".github"), os.path.join(into, ".github"))
    os.symlink(os.path.realpath(os.path.join(ROOT, ".tools")), os.path.join(into, ".tools"))


class OidcCheck(unittest.TestCase):
    def test_the_workflows_assume_only_roles_that_trust_them(self):
        self.assertEqual(oidc_check.check(ROOT, oidc_check.load_facts(ROOT)), [])

    def test_a_plan_role_trusting_pull_requests_only_fails_the_main_branch_plan(self):
        with tempfile.TemporaryDirectory() as tmp:
            copy_repo(tmp)
            tf = os.path.join(tmp, "infra", "modules", "iam", "github.tf")
            with open(tf, encoding="utf-8") as f:
                text = f.read()
            planted = text.replace('      "repo:${var.github_repository}:ref:refs/heads/main",\n', "", 1)
            self.assertNotEqual(planted, text, "the fixture no longer finds the line it removes")
            with open(tf, "w", encoding="utf-8") as f:
                f.write(planted)
            problems = oidc_check.check(tmp, oidc_check.load_facts(tmp))
            self.assertEqual(len(problems), 2, "\n".join(problems))
            for env in ("dev", "prod"):
                self.assertTrue(any(
                    p.startswith(f".github/workflows/iac.yml: job plan (env {env}), on push: assumes "
                                 f"sextant-{env}-terraform-plan")
                    and "subject repo:<owner/repo>:ref:refs/heads/main" in p
                    and "infra/modules/iam: aws_iam_role.github" in p for p in problems), "\n".join(problems))

    def test_a_pull_request_job_assuming_the_ecr_push_role_is_reported(self):
        with tempfile.TemporaryDirectory() as tmp:
            copy_repo(tmp)
            shutil.copy(os.path.join(HERE, "fixtures", "oidc", ".github", "workflows", "publish-on-pr.yml"),
                        os.path.join(tmp, ".github", "workflows"))
            problems = oidc_check.check(tmp, oidc_check.load_facts(tmp))
            self.assertEqual(problems, [
                ".github/workflows/publish-on-pr.yml: job push, on pull_request: assumes sextant-ecr-push "
                "(vars.AWS_ECR_PUSH_ROLE_ARN) with subject repo:<owner/repo>:pull_request, which its trust "
                "policy (infra/envs/shared: aws_iam_role.ecr_push) does not list: "
                "repo:<owner/repo>:ref:refs/heads/main"])

    def test_an_unknown_role_variable_is_reported(self):
        wf = {"on": {"push": {"branches": ["main"]}}, "jobs": {"j": {"steps": [
            {"uses": "aws-actions/configure-aws-credentials@x", "with": {"role-to-assume": "${{ vars.OTHER_ROLE }}"}}]}}}
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, ".github", "workflows"))
            import yaml
            with open(os.path.join(tmp, ".github", "workflows", "x.yml"), "w", encoding="utf-8") as f:
                yaml.safe_dump(wf, f)
            self.assertEqual(oidc_check.check(tmp, {}), [
                ".github/workflows/x.yml: job j: role-to-assume vars.OTHER_ROLE names no known role "
                "(scripts/lib/oidc_check.py ROLE_VARS)"])


if __name__ == "__main__":
    unittest.main()
