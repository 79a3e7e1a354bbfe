"""Tests of code_size.py: a planted long function and a long file are reported; tests, comments
and blank lines do not count.

    python3 -m unittest scripts/lib/code_size_test.py   (scripts/checks/structure.sh)
"""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import code_size  # noqa: E402


def crate(src):
    root = tempfile.mkdtemp()
    os.makedirs(os.path.join(root, "agent", "x", "src"))
    with open(os.path.join(root, "agent", "x", "Cargo.toml"), "w", encoding="utf-8") as f:
        f.write("[package]\nname = \"x\"\n")
    with open(os.path.join(root, "agent", "x", "src", "lib.rs"), "w", encoding="utf-8") as f:
        f.write(src)
    return root


def body(n):
    return "".join(f"    let v{i} = {i};\n" for i in range(n))


class CodeSize(unittest.TestCase):
    def test_a_function_of_a_hundred_lines_passes_and_one_more_does_not(self):
        ok = "pub fn short() {\n" + body(98) + "}\n"
        self.assertEqual(code_size.check(crate(ok)), [])
        long = "pub async fn long() {\n" + body(99) + "}\n"
        self.assertEqual(code_size.check(crate(long)), ["agent/x/src/lib.rs: fn long is 101 lines (at most 100)"])

    def test_tests_comments_and_blank_lines_do_not_count(self):
        src = "fn a() {}\n" + "// note\n\n" * 700 + "#[cfg(test)]\nmod tests {\n" + body(700) + "}\n"
        self.assertEqual(code_size.check(crate(src)), [])

    def test_a_file_past_six_hundred_lines_of_code_is_reported(self):
        src = "".join(f"const C{i}: u8 = 0;\n" for i in range(601))
        self.assertEqual(code_size.check(crate(src)), ["agent/x/src/lib.rs: 601 lines of code (at most 600)"])

    def test_the_allowed_list_only_shrinks(self):
        long = "pub fn long() {\n" + body(120) + "}\n"
        problems = code_size.check(crate(long))
        self.assertEqual(code_size.ratchet(problems, {"agent/x/src/lib.rs: fn long"}), [])
        self.assertEqual(code_size.ratchet(problems, set()), problems)
        self.assertEqual(
            code_size.ratchet([], {"agent/x/src/lib.rs: fn long"}),
            ["agent/x/src/lib.rs: fn long: listed in the allowed file but no longer too long; delete its line"],
        )


if __name__ == "__main__":
    unittest.main()


class Literals(unittest.TestCase):
    def test_a_brace_or_slashes_in_a_string_or_char_do_not_end_or_hide_a_function(self):
        tricky = 'pub fn f() {\n    let u = format!("http://h/{{x}}\\"}}");\n    let c = \'{\';\n    let r = r#"}"#;\n}\n'
        long = "pub fn long() {\n" + body(99) + "}\n"
        self.assertEqual(code_size.check(crate(tricky + long)), ["agent/x/src/lib.rs: fn long is 101 lines (at most 100)"])

    def test_a_test_module_in_a_file_of_its_own_does_not_count(self):
        root = crate("#[cfg(test)]\nmod tests;\npub fn a() {}\n")
        with open(os.path.join(root, "agent", "x", "src", "tests.rs"), "w", encoding="utf-8") as f:
            f.write("fn long() {\n" + body(200) + "}\n")
        self.assertEqual(code_size.check(crate_at(root)), [])

    def test_an_array_in_the_signature_an_attribute_or_extern_do_not_hide_a_function(self):
        for head in ("pub fn long(buf: [u8; 4]) {\n", "#[inline] fn long() {\n", "pub extern \"C\" fn long() {\n"):
            src = head + body(99) + "}\n"
            self.assertEqual(
                code_size.check(crate(src)), ["agent/x/src/lib.rs: fn long is 101 lines (at most 100)"], head
            )


def crate_at(root):
    return root
