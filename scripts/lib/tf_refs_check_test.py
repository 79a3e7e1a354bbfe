"""Tests of tf_refs_check.py: the environments name only AWS resources Terraform creates, and the
planted mistakes are reported: prod's Loki role and buckets without the Terraform that creates
them (issue 27, defect 9), the internal Gateway open to a range outside the VPC (defect 4), and an
IRSA role used by a release in another namespace than the one it trusts, and an ExternalSecret
reading an SSM parameter Terraform does not create.

    .tools/venv/bin/python -m unittest scripts/lib/tf_refs_check_test.py   (scripts/checks/crossrefs.sh)
"""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import tf_refs_check  # noqa: E402
from oidc_check import load_facts  # noqa: E402


def replace_in(path, old, new):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if old not in text:
        raise AssertionError(f"{path} no longer holds {old!r}: update the fixture")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new, 1))


class TfRefsCheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        for d in ("infra", "environments"):
            shutil.copytree(os.path.join(ROOT, d), os.path.join(self.tmp.name, d))
        os.symlink(os.path.realpath(os.path.join(ROOT, ".tools")), os.path.join(self.tmp.name, ".tools"))

    def tearDown(self):
        self.tmp.cleanup()

    def problems(self):
        return tf_refs_check.check(self.tmp.name, load_facts(self.tmp.name))

    def test_the_environments_name_only_what_terraform_creates(self):
        self.assertEqual(tf_refs_check.check(ROOT, load_facts(ROOT)), [])

    def test_loki_storage_missing_from_terraform_is_reported(self):
        replace_in(os.path.join(self.tmp.name, "infra/envs/prod/main.tf"), "loki_s3             = true", "loki_s3             = false")
        problems = self.problems()
        loki = "environments/prod/values/loki.yaml"
        self.assertIn(f'{loki}: serviceAccount.annotations["eks.amazonaws.com/role-arn"]: role sextant-prod-loki '
                      "is not created by infra/envs/prod or infra/envs/shared (tf_facts.py lists what is)", problems)
        self.assertTrue(any(p.startswith(f"{loki}: loki.storage.bucketNames.chunks: bucket sextant-prod-loki-chunks-")
                            for p in problems), "\n".join(problems))
        self.assertTrue(any(p.startswith(f"{loki}: loki.storage.bucketNames.ruler: bucket sextant-prod-loki-ruler-")
                            for p in problems), "\n".join(problems))
        self.assertEqual(len(problems), 3, "\n".join(problems))

    def test_an_external_secret_reading_a_parameter_terraform_does_not_create_is_reported(self):
        replace_in(os.path.join(self.tmp.name, "infra/envs/prod/main.tf"),
                   '    "alertmanager/pagerduty-routing-key",\n', "")
        self.assertEqual(self.problems(), [
            "environments/prod/values/platform.yaml: externalSecrets.secrets.alertmanager-receivers.parameters."
            "pagerduty-routing-key: SSM parameter /sextant/platform/prod/alertmanager/pagerduty-routing-key is not "
            "created by infra/envs/prod (platform_secret_parameters)"])

    def test_a_source_range_outside_the_vpc_is_reported(self):
        replace_in(os.path.join(self.tmp.name, "environments/dev/values/platform.yaml"),
                   "sourceRanges: [10.20.0.0/16]", "sourceRanges: [10.0.0.0/16]")
        self.assertEqual(self.problems(), [
            "environments/dev/values/platform.yaml: gateways.internal.sourceRanges[0]: 10.0.0.0/16 is not inside "
            "the VPC of infra/envs/dev (10.20.0.0/16)"])

    def test_an_irsa_role_in_a_release_of_another_namespace_is_reported(self):
        replace_in(os.path.join(self.tmp.name, "environments/prod/environment.yaml"),
                   "    - name: external-dns\n      namespace: external-dns",
                   "    - name: external-dns\n      namespace: dns")
        self.assertEqual(self.problems(), [
            'environments/prod/values/external-dns.yaml: serviceAccount.annotations["eks.amazonaws.com/role-arn"]: '
            "role sextant-prod-external-dns trusts ServiceAccount external-dns/external-dns, but release "
            "external-dns runs in namespace dns"])


if __name__ == "__main__":
    unittest.main()
