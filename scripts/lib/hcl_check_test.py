"""Tests of hcl_check.py: infra/ is clean, and planted mistakes are reported with file and line.

    .tools/hcl-venv/bin/python -m unittest scripts/lib/hcl_check_test.py   (scripts/checks/infra.sh)
"""
import os
import re
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import hcl_check  # noqa: E402

BROKEN = os.path.join(os.path.relpath(HERE, ROOT), "fixtures", "hcl", "broken")


class HclCheck(unittest.TestCase):
    def setUp(self):
        self.cwd = os.getcwd()
        os.chdir(ROOT)

    def tearDown(self):
        os.chdir(self.cwd)

    def assertReported(self, problems, file, line, text):
        want = f"{file}:{line}: "
        hits = [p for p in problems if p.startswith(want) and text in p]
        self.assertTrue(hits, f"expected {want}...{text!r} among:\n" + "\n".join(problems))

    def test_infra_is_clean(self):
        self.assertEqual(hcl_check.check("infra"), [])

    def test_planted_mistakes_are_reported_with_file_and_line(self):
        problems = hcl_check.check(BROKEN)
        root, net = f"{BROKEN}/root/main.tf", f"{BROKEN}/modules/net"
        self.assertReported(problems, root, 18, "module net: passes 'cidr_block', which ../modules/net does not declare")
        self.assertReported(problems, root, 16, "module net: leaves out 'cidr'")
        self.assertReported(problems, root, 19, "var.team is not declared")
        self.assertReported(problems, root, 24, "module.net.vpc_id: ../modules/net has no output 'vpc_id'")
        self.assertReported(problems, root, 5, "required_providers aws: needs source and version")
        self.assertReported(problems, root, 12, "provider aws without default_tags")
        self.assertReported(problems, root, 13, "a literal AWS region")
        self.assertReported(problems, root, 29, "an ARN with a literal account number")
        self.assertReported(problems, f"{net}/main.tf", 1, "aws_vpc.this is taggable but sets no tags")
        self.assertReported(problems, f"{net}/variables.tf", 11, "variable tags has no description")
        self.assertEqual(len(problems), 10, "\n".join(problems))

    def test_a_broken_module_call_in_a_copy_of_infra_names_its_file_and_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "infra")
            shutil.copytree("infra", copy, ignore=shutil.ignore_patterns(".terraform"))
            platform = os.path.join(copy, "modules", "platform", "main.tf")
            text = open(platform).read()
            self.assertIn("  cidr               = var.vpc_cidr\n", text)
            text = text.replace("  cidr               = var.vpc_cidr\n", "  cidr_block         = var.vpc_cidr\n")
            open(platform, "w").write(text)
            line = text[: text.index("cidr_block")].count("\n") + 1
            call = text[: text.index('module "vpc"')].count("\n") + 1

            problems = hcl_check.check(copy)
            self.assertReported(problems, platform, line, "module vpc: passes 'cidr_block', which ../vpc does not declare")
            self.assertReported(problems, platform, call, "module vpc: leaves out 'cidr', required by ../vpc")
            self.assertEqual(len(problems), 2, "\n".join(problems))

    def test_an_undeclared_output_reference_in_a_copy_of_infra(self):
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "infra")
            shutil.copytree("infra", copy, ignore=shutil.ignore_patterns(".terraform"))
            outputs = os.path.join(copy, "envs", "dev", "outputs.tf")
            text = open(outputs).read().replace("module.platform.agent_role_arn", "module.platform.agent_role")
            open(outputs, "w").write(text)
            problems = hcl_check.check(copy)
            self.assertEqual(len(problems), 1, "\n".join(problems))
            self.assertRegex(problems[0], re.escape(outputs) + r":\d+: module.platform.agent_role: ../../modules/platform has no output 'agent_role'")

    def test_text_in_descriptions_is_not_a_reference(self):
        self.assertNotIn("var.", hcl_check.code_only('  description = "see var.x and module.y.z"'))
        self.assertIn("var.x", hcl_check.code_only('  name = "${var.x}-a"'))


if __name__ == "__main__":
    unittest.main()
