"""Tests of placeholders.py: no environment marked deployable holds a placeholder, a planted one
is reported with file and line, an unmarked environment is let be, and a local chart's default
counts unless the release's values override it.

    .tools/venv/bin/python -m unittest scripts/lib/placeholders_test.py   (scripts/checks/crossrefs.sh)
"""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURE = os.path.join(HERE, "fixtures", "placeholders")
sys.path.insert(0, HERE)

import placeholders  # noqa: E402


class Placeholders(unittest.TestCase):
    def test_no_environment_marked_deployable_holds_a_placeholder(self):
        self.assertEqual(placeholders.check(ROOT), [])

    def test_a_placeholder_in_a_deployable_environment_is_reported_with_file_and_line(self):
        vf = "environments/qa/values/external-dns.yaml"
        self.assertEqual(placeholders.check(FIXTURE), [
            f"{vf}:5: 123456789012 is the placeholder AWS account",
            f"{vf}:8: Z0000000000000000QA is a placeholder Route 53 hosted zone ID",
        ])

    def test_prod_as_it_stands_is_not_deployable(self):
        problems = placeholders.check(ROOT, ["prod"])
        for want in ("environments/prod/values/external-dns.yaml:25: Z000000000000000PROD",
                     "environments/prod/values/loki.yaml:34: 123456789012",
                     "helm/policies/values.yaml: ecrRegistry: 123456789012"):
            self.assertTrue(any(p.startswith(want) for p in problems), f"{want} among:\n" + "\n".join(problems))

    def test_a_chart_default_is_not_reported_once_the_values_override_it(self):
        with tempfile.TemporaryDirectory() as tmp:
            for d in ("environments", "helm"):
                shutil.copytree(os.path.join(ROOT, d), os.path.join(tmp, d))
            with open(os.path.join(tmp, "environments/prod/values/policies.yaml"), "a", encoding="utf-8") as f:
                f.write("ecrRegistry: 210987654321.dkr.ecr.eu-west-1.amazonaws.com/\n")
            problems = placeholders.check(tmp, ["prod"])
            self.assertFalse([p for p in problems if p.startswith("helm/policies")], "\n".join(problems))


if __name__ == "__main__":
    unittest.main()
