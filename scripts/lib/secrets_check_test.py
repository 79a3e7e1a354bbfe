"""Tests of secrets_check.py: the repository's environments hold no literal Secret, and the
planted mistakes are reported: a local chart rendering a Secret from plain values (stringData and
data), an upstream chart's values with a literal password, a Secret the values name that no
ExternalSecret makes, and a placeholder that differs from Terraform's. The same chart given SOPS
ciphertext passes.

    .tools/venv/bin/python -m unittest scripts/lib/secrets_check_test.py   (scripts/checks/secrets.sh)
"""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(HERE, "fixtures", "secrets")
HELM = os.path.join(ROOT, ".tools", "bin", "helm")
sys.path.insert(0, HERE)

import secrets_check  # noqa: E402

# What sops 3.x writes for an encrypted string, and the block that marks the file.
CIPHERTEXT = "ENC[AES256_GCM,data:c2VjcmV0,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]"
SOPS_BLOCK = "sops:\n  mac: ENC[AES256_GCM,data:bWFj,iv:AA==,tag:AA==,type:str]\n  version: 3.11.0\n"


def replace_in(path, old, new):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if old not in text:
        raise AssertionError(f"{path} no longer holds {old!r}: update the test")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new, 1))


class SecretsCheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        for d in ("environments", "helm", os.path.join("infra", "modules", "app-data")):
            shutil.copytree(os.path.join(ROOT, d), os.path.join(self.root, d))
        shutil.copytree(os.path.join(FIXTURES, "charts", "leaky"), os.path.join(self.root, "helm", "leaky"))

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, rel):
        return os.path.join(self.root, rel)

    def planted_env(self, values):
        """environments/planted: one release of the leaky chart with these values."""
        os.makedirs(self.path("environments/planted/values"))
        with open(self.path("environments/planted/values/leaky.yaml"), "w", encoding="utf-8") as f:
            f.write(values)
        with open(self.path("environments/planted/environment.yaml"), "w", encoding="utf-8") as f:
            f.write("apiVersion: sextant.io/v1alpha1\nkind: Environment\nmetadata: {name: planted}\nspec:\n"
                    "  releases:\n    - {name: leaky, namespace: leaky, chart: helm/leaky, wave: 0, "
                    "values: [values/leaky.yaml]}\n")

    def test_the_repositorys_environments_hold_no_literal_secret(self):
        self.assertEqual(secrets_check.check(ROOT, HELM), [])

    def test_a_secret_rendered_from_plain_values_is_reported(self):
        self.planted_env("password: hunter2\n")
        self.assertEqual(secrets_check.check(self.root, HELM, ["planted"]), [
            "environments/planted: release leaky (leaky/templates/secret.yaml): Secret leaky-string: "
            "stringData.password is a literal value",
            "environments/planted: release leaky (leaky/templates/secret.yaml): Secret leaky-data: "
            "data.password is a literal value",
        ])

    def test_the_same_secret_from_sops_ciphertext_passes(self):
        self.planted_env(f"password: {CIPHERTEXT}\n{SOPS_BLOCK}")
        self.assertEqual(secrets_check.check(self.root, HELM, ["planted"]), [])

    def test_a_literal_password_in_upstream_values_is_reported(self):
        replace_in(self.path("environments/prod/values/kube-prometheus-stack.yaml"),
                   "  admin:\n", "  adminPassword: hunter2\n  admin:\n")
        self.assertEqual(secrets_check.check(self.root, HELM, ["prod"]), [
            "environments/prod/values/kube-prometheus-stack.yaml: grafana.adminPassword: a literal credential "
            "in kube-prometheus-stack's values; name a Secret External Secrets makes, or encrypt the file "
            "with SOPS (docs/secrets.md)"])

    def test_a_secret_no_external_secret_makes_is_reported(self):
        replace_in(self.path("environments/dev/values/platform.yaml"), "    grafana-admin:\n", "    grafana-login:\n")
        self.assertEqual(secrets_check.check(self.root, HELM, ["dev"]), [
            "environments/dev/values/kube-prometheus-stack.yaml: grafana.admin.existingSecret: Secret "
            "monitoring/grafana-admin is made by no ExternalSecret of environments/dev (helm/platform "
            "externalSecrets.secrets)"])

    def test_a_placeholder_other_than_terraforms_is_reported(self):
        replace_in(self.path("helm/platform/values.yaml"), "placeholder: set-out-of-band", "placeholder: unset")
        problems = secrets_check.check(self.root, HELM, ["local"])
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("externalSecrets.placeholder is 'unset', but infra/modules/app-data/main.tf writes "
                      "'set-out-of-band'", problems[0])


if __name__ == "__main__":
    unittest.main()
