"""Tests of configure.py (`make configure`): prod's placeholders are replaced by Terraform's
outputs with the agent's format-preserving editor and prod is marked deployable; what the outputs
cannot fill keeps the mark off.

    .tools/venv/bin/python -m unittest scripts/lib/configure_test.py   (scripts/checks/crossrefs.sh)
Needs the sextant CLI: $SEXTANT, else $CARGO_TARGET_DIR (or target)/debug/sextant.
"""
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUTPUTS = os.path.join(HERE, "fixtures", "configure", "prod-outputs.json")
sys.path.insert(0, HERE)

import configure  # noqa: E402
import placeholders  # noqa: E402
import tf_refs_check  # noqa: E402
from oidc_check import load_facts  # noqa: E402

SEXTANT = os.environ.get("SEXTANT") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "debug", "sextant")


class Configure(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.access(SEXTANT, os.X_OK), f"{SEXTANT}: build it (cargo build -p sextant)")
        self.tmp = tempfile.TemporaryDirectory()
        for d in ("environments", "helm", "infra"):
            shutil.copytree(os.path.join(ROOT, d), os.path.join(self.tmp.name, d))
        os.symlink(os.path.realpath(os.path.join(ROOT, ".tools")), os.path.join(self.tmp.name, ".tools"))
        with open(OUTPUTS, encoding="utf-8") as f:
            self.outputs = json.load(f)

    def tearDown(self):
        self.tmp.cleanup()

    def read(self, rel):
        with open(os.path.join(self.tmp.name, rel), encoding="utf-8") as f:
            return f.read()

    def test_configure_writes_the_outputs_keeps_the_format_and_marks_prod_deployable(self):
        before = self.read("environments/prod/values/external-dns.yaml")
        _, left = configure.configure(self.tmp.name, "prod", self.outputs, SEXTANT)
        self.assertEqual(left, [])
        self.assertEqual(placeholders.check(self.tmp.name), [])
        self.assertTrue(placeholders.deployable(os.path.join(self.tmp.name, "environments/prod/environment.yaml")))
        after = self.read("environments/prod/values/external-dns.yaml")
        # Only the values changed: every comment and every other line is as it was.
        changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
        self.assertEqual(len(before.splitlines()), len(after.splitlines()))
        self.assertEqual(changed, [
            ("    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/sextant-prod-external-dns",
             "    eks.amazonaws.com/role-arn: arn:aws:iam::210987654321:role/sextant-prod-external-dns"),
            ("domainFilters: [sextant.example.com]", "domainFilters: [platform.acme.io]"),
            ("    value: eu-west-1", "    value: eu-central-1"),
            ("  - --zone-id-filter=Z000000000000000PROD", "  - --zone-id-filter=Z08123456ABCDEFGHIJK"),
        ])
        self.assertIn("sourceRanges: [10.30.0.0/16]", self.read("environments/prod/values/platform.yaml"))
        # What configure wrote is what Terraform creates.
        self.assertEqual(tf_refs_check.check(self.tmp.name, load_facts(self.tmp.name)), [])

    def test_without_lokis_outputs_prod_stays_unmarked_and_says_what_is_left(self):
        self.outputs["loki"]["value"] = None
        _, left = configure.configure(self.tmp.name, "prod", self.outputs, SEXTANT)
        self.assertTrue(left and all(p.startswith("environments/prod/values/loki.yaml:") for p in left), "\n".join(left))
        self.assertFalse(placeholders.deployable(os.path.join(self.tmp.name, "environments/prod/environment.yaml")))

    def test_a_missing_output_is_named(self):
        del self.outputs["dns_zone_id"]
        with self.assertRaisesRegex(configure.ConfigureError, "terraform output dns_zone_id is missing"):
            configure.configure(self.tmp.name, "prod", self.outputs, SEXTANT)


if __name__ == "__main__":
    unittest.main()
