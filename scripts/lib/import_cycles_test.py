"""Tests of import_cycles.py: a planted circle between modules and one between sibling files
are reported; a child naming its parent through `super::`, test modules and comments are not.

    python3 -m unittest scripts/lib/import_cycles_test.py   (scripts/checks/structure.sh)
"""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import import_cycles  # noqa: E402


def crate(files):
    root = tempfile.mkdtemp()
    for path, text in files.items():
        full = os.path.join(root, "agent", "x", path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
    with open(os.path.join(root, "agent", "x", "Cargo.toml"), "w", encoding="utf-8") as f:
        f.write("[package]\nname = \"x\"\n")
    return root


CLEAN = {
    "src/lib.rs": "pub mod apply;\npub mod drift;\n",
    "src/apply/mod.rs": "pub mod sync;\npub mod prune;\npub struct Key;\n",
    "src/apply/sync.rs": "use super::Key;\nuse super::prune::prune;\nuse crate::drift::evaluate;\n",
    "src/apply/prune.rs": "use super::Key;\npub fn prune() {}\n",
    "src/drift/mod.rs": (
        "pub fn evaluate() {}\n"
        "// crate::apply::sync is named in a comment only\n"
        "#[cfg(test)]\nmod tests {\n    use crate::apply::sync;\n    fn f() { { } }\n}\n"
    ),
}


class ImportCycles(unittest.TestCase):
    def test_a_clean_crate_has_no_circle(self):
        self.assertEqual(import_cycles.check(crate(CLEAN)), [])

    def test_a_circle_between_modules_is_reported(self):
        files = dict(CLEAN)
        files["src/drift/mod.rs"] = "use crate::apply::{sync, Key};\npub fn evaluate() {}\n"
        problems = import_cycles.check(crate(files))
        self.assertIn("agent/x: modules import each other: apply ↔ drift", problems)

    def test_a_circle_between_sibling_files_is_reported(self):
        files = dict(CLEAN)
        files["src/apply/prune.rs"] = "pub fn prune() { super::sync::run() }\n"
        problems = import_cycles.check(crate(files))
        self.assertIn("agent/x: files import each other: apply::prune ↔ apply::sync", problems)

    def test_a_circle_through_a_name_the_parent_re_exports_is_reported(self):
        files = dict(CLEAN)
        files["src/apply/mod.rs"] = "pub mod sync;\npub mod prune;\npub(crate) use prune::Pruned;\npub struct Key;\n"
        files["src/apply/prune.rs"] = "use super::sync::run;\npub struct Pruned;\n"
        files["src/apply/sync.rs"] = "use super::{Key, Pruned};\npub fn run() {}\n"
        problems = import_cycles.check(crate(files))
        self.assertIn("agent/x: files import each other: apply::prune ↔ apply::sync", problems)
        # The parent's own item is still the parent's: no circle.
        files["src/apply/prune.rs"] = "use super::Key;\npub struct Pruned;\n"
        self.assertEqual(import_cycles.check(crate(files)), [])

    def test_a_circle_between_modules_through_a_root_re_export_is_reported(self):
        files = dict(CLEAN)
        files["src/lib.rs"] = "pub mod apply;\npub mod drift;\npub use apply::Key;\n"
        files["src/drift/mod.rs"] = "use crate::Key;\npub fn evaluate() {}\n"
        problems = import_cycles.check(crate(files))
        self.assertIn("agent/x: modules import each other: apply ↔ drift", problems)


if __name__ == "__main__":
    unittest.main()
