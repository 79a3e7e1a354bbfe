"""Tests of image_tags_check.py: the repository is clean, and the regressions it exists for are
reported with file and line: a moving `latest` pushed or retagged into the immutable ECR
repositories, IMMUTABLE_WITH_EXCLUSION under the 5.x aws provider, mutable tags, and cosign's
legacy tag-based signatures.

    .tools/venv/bin/python -m unittest scripts/lib/image_tags_check_test.py   (scripts/checks/pipelines.sh)
"""
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import image_tags_check  # noqa: E402

ECR_MAIN = os.path.join("infra", "modules", "ecr", "main.tf")
ECR_VERSIONS = os.path.join("infra", "modules", "ecr", "versions.tf")
APP = os.path.join(".github", "workflows", "app.yml")
SHA_TAG = "            ${{ env.IMAGE }}:${{ github.sha }}\n"
IMMUTABLE = '  image_tag_mutability = "IMMUTABLE"\n'
WITH_LATEST = ('  image_tag_mutability = "IMMUTABLE_WITH_EXCLUSION"\n'
               '  image_tag_mutability_exclusion_filter {\n'
               '    filter      = "latest"\n'
               '    filter_type = "WILDCARD"\n'
               '  }\n')
RETAG = '''
  tag-latest:
    runs-on: ubuntu-24.04
    steps:
      - name: Tag the pushed digest latest
        run: |
          if ! out="$(aws ecr put-image --repository-name "$ECR_REPOSITORY" --image-tag latest \\
            --image-digest "$DIGEST" --image-manifest "$manifest" 2>&1)"; then exit 1; fi
'''


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class ImageTagsCheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        for rel in (os.path.join("infra", "modules", "ecr"),):
            shutil.copytree(os.path.join(ROOT, rel), os.path.join(self.tmp, rel))
        os.makedirs(os.path.join(self.tmp, ".github", "workflows"))
        shutil.copy(os.path.join(ROOT, APP), os.path.join(self.tmp, APP))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def edit(self, rel, old, new):
        path = os.path.join(self.tmp, rel)
        text = read(path)
        self.assertIn(old, text, f"{rel} changed shape; update the test")
        text = text.replace(old, new, 1)
        write(path, text)
        return path, text[: text.index(new)].count("\n") + 1

    def problems(self):
        return image_tags_check.check(self.tmp)

    def assertReported(self, problems, path, line, text):
        want = f"{path}:{line}: "
        hits = [p for p in problems if p.startswith(want) and text in p]
        self.assertTrue(hits, f"expected {want}...{text!r} among:\n" + "\n".join(problems))

    def test_the_repository_is_clean(self):
        self.assertEqual(image_tags_check.check(ROOT), [])

    def test_a_latest_tag_on_the_built_image_is_reported(self):
        path, line = self.edit(APP, SHA_TAG, SHA_TAG + "            ${{ env.IMAGE }}:latest\n")
        problems = self.problems()
        self.assertReported(problems, path, line + 1, "the fixed tag 'latest' moves on every run")
        self.assertEqual(len(problems), 1, "\n".join(problems))

    def test_a_retag_to_latest_is_reported(self):
        path = os.path.join(self.tmp, APP)
        text = read(path).replace("\n  # A failed run on main opens", RETAG + "\n  # A failed run on main opens", 1)
        write(path, text)
        line = text.splitlines().index('          if ! out="$(aws ecr put-image --repository-name "$ECR_REPOSITORY" --image-tag latest \\') + 1
        problems = self.problems()
        self.assertReported(problems, path, line, "tag-latest: aws ecr put-image --image-tag latest")
        self.assertEqual(len(problems), 1, "\n".join(problems))

    def test_a_pushed_ref_without_a_tag_is_latest(self):
        path, line = self.edit(APP, 'docker push --quiet "$repo:$GITHUB_SHA"', 'docker push --quiet "$repo"')
        self.assertReported(self.problems(), path, line, "the fixed tag 'latest'")

    def test_a_tag_not_built_from_the_commit_is_reported(self):
        path, line = self.edit(APP, 'docker tag "$IMAGE:$GITHUB_SHA" "$repo:$GITHUB_SHA"',
                               'docker tag "$IMAGE:$GITHUB_SHA" "$repo:$VERSION"')
        self.assertReported(self.problems(), path, line, "is not built from the commit")

    def test_exclusion_needs_aws_provider_6_8(self):
        path, line = self.edit(ECR_MAIN, IMMUTABLE, WITH_LATEST)
        self.edit(APP, SHA_TAG, SHA_TAG + "            ${{ env.IMAGE }}:latest\n")
        problems = self.problems()
        self.assertReported(problems, path, line, "need hashicorp/aws >= 6.8.0")
        self.assertEqual(len(problems), 1, "\n".join(problems))  # `latest` itself is excluded

    def test_exclusion_with_a_6_8_pin_lets_latest_move(self):
        self.edit(ECR_MAIN, IMMUTABLE, WITH_LATEST)
        self.edit(ECR_VERSIONS, '">= 5.80.0, < 6.0.0"', '">= 6.8.0, < 7.0.0"')
        self.edit(APP, SHA_TAG, SHA_TAG + "            ${{ env.IMAGE }}:latest\n")
        self.assertEqual(self.problems(), [])

    def test_mutable_tags_are_reported(self):
        path, line = self.edit(ECR_MAIN, IMMUTABLE, '  image_tag_mutability = "MUTABLE"\n')
        self.assertReported(self.problems(), path, line, "tags must be immutable")

    def test_cosign_legacy_signatures_are_reported(self):
        path, line = self.edit(APP, 'cosign sign --yes "$IMAGE_REF"', 'cosign sign --yes --new-bundle-format=false "$IMAGE_REF"')
        self.assertReported(self.problems(), path, line, "--new-bundle-format=false")

    def test_lower_bound_of_constraints(self):
        self.assertEqual(image_tags_check.lower_bound(">= 5.80.0, < 6.0.0"), (5, 80, 0))
        self.assertEqual(image_tags_check.lower_bound("~> 6.8"), (6, 8, 0))
        self.assertEqual(image_tags_check.lower_bound("< 7.0"), (0, 0, 0))


if __name__ == "__main__":
    unittest.main()
