//! "Format is kept" (issue 12): for generated values files with comments, blank lines, anchors
//! and aliases, block scalars, flow maps and lists, quoted and plain scalars and nested maps, an
//! edit of any scalar that is not behind an alias changes exactly that scalar's bytes, reads back
//! as the new value, and leaves every other value reading as before. The generator writes the file
//! itself and records where each scalar's bytes are, so the test does not trust the editor's
//! own idea of a span.

use proptest::prelude::*;
use serde_json::{json, Value};
use sextant_yamledit::{get, get_yaml11, set, Error, Key};
use std::ops::Range;

#[derive(Debug, Clone)]
enum Leaf {
    Plain(String),
    Single(String),
    Double(String),
    Block(&'static str, Vec<String>),
    Int(i64),
    Bool(bool),
    Null(&'static str),
}

#[derive(Debug, Clone)]
struct Deco {
    blank: bool,
    comment: Option<String>,
    trailing: Option<String>,
}

#[derive(Debug, Clone)]
enum G {
    Leaf(Leaf),
    Map(Vec<(String, G, Deco)>),
    Seq(Vec<G>),
    FlowMap(Vec<(String, Leaf)>),
    FlowSeq(Vec<Leaf>),
}

/// Which edits of a leaf the editor must refuse, and with what.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Editable {
    Yes,
    Alias,
    Merge,
    Anchor,
}

#[derive(Debug, Clone)]
struct At {
    path: Vec<Key>,
    span: Range<usize>,
    editable: Editable,
}

struct Writer {
    text: String,
    leaves: Vec<At>,
    step: usize,
    seq: usize,
}

impl Writer {
    fn leaf(&mut self, l: &Leaf, path: &[Key], content_indent: usize) {
        let start = self.text.len();
        match l {
            Leaf::Plain(s) => self.text.push_str(s),
            Leaf::Single(s) => self.text.push_str(&format!("'{}'", s.replace('\'', "''"))),
            Leaf::Double(s) => {
                let e = s
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                self.text.push_str(&format!("\"{e}\""));
            }
            Leaf::Block(indicator, lines) => {
                self.text.push_str(indicator);
                for l in lines {
                    self.text.push('\n');
                    self.text.push_str(&" ".repeat(content_indent));
                    self.text.push_str(l);
                }
            }
            Leaf::Int(i) => self.text.push_str(&i.to_string()),
            Leaf::Bool(b) => self.text.push_str(&b.to_string()),
            Leaf::Null(n) => self.text.push_str(n),
        }
        self.leaves.push(At {
            path: path.to_vec(),
            span: start..self.text.len(),
            editable: Editable::Yes,
        });
    }

    fn flow(&mut self, g: &G, path: &mut Vec<Key>) {
        match g {
            G::FlowMap(entries) => {
                self.text.push('{');
                for (i, (k, l)) in entries.iter().enumerate() {
                    if i > 0 {
                        self.text.push_str(", ");
                    }
                    self.text.push_str(&format!("{k}: "));
                    path.push(Key::Map(k.clone()));
                    self.leaf(l, path, 0);
                    path.pop();
                }
                self.text.push('}');
            }
            G::FlowSeq(items) => {
                self.text.push_str("[ ");
                for (i, l) in items.iter().enumerate() {
                    if i > 0 {
                        self.text.push_str(", ");
                    }
                    path.push(Key::Index(i));
                    self.leaf(l, path, 0);
                    path.pop();
                }
                self.text.push_str(" ]");
            }
            _ => unreachable!(),
        }
    }

    fn map(
        &mut self,
        entries: &[(String, G, Deco)],
        indent: usize,
        path: &mut Vec<Key>,
        inline_first: bool,
    ) {
        for (i, (k, g, deco)) in entries.iter().enumerate() {
            let first_inline = inline_first && i == 0;
            if !first_inline {
                if deco.blank {
                    self.text.push('\n');
                }
                if let Some(c) = &deco.comment {
                    self.text
                        .push_str(&format!("{}# {c}\n", " ".repeat(indent)));
                }
                self.text.push_str(&" ".repeat(indent));
            }
            self.text.push_str(&format!("{k}:"));
            path.push(Key::Map(k.clone()));
            let trailing = |w: &mut Writer| {
                if let Some(t) = &deco.trailing {
                    w.text.push_str(&format!("  # {t}"));
                }
            };
            match g {
                G::Leaf(l) => {
                    // An empty value (`key:`) has no space after its colon.
                    if !matches!(l, Leaf::Null("")) {
                        self.text.push(' ');
                    }
                    self.leaf(l, path, indent + self.step);
                    if !matches!(l, Leaf::Block(..)) {
                        trailing(self);
                    }
                    self.text.push('\n');
                }
                G::Map(m) => {
                    trailing(self);
                    self.text.push('\n');
                    self.map(m, indent + self.step, path, false);
                }
                G::Seq(items) => {
                    trailing(self);
                    self.text.push('\n');
                    self.seq(items, indent + self.seq, path);
                }
                G::FlowMap(_) | G::FlowSeq(_) => {
                    self.text.push(' ');
                    self.flow(g, path);
                    trailing(self);
                    self.text.push('\n');
                }
            }
            path.pop();
        }
    }

    fn seq(&mut self, items: &[G], indent: usize, path: &mut Vec<Key>) {
        for (i, g) in items.iter().enumerate() {
            self.text.push_str(&format!("{}- ", " ".repeat(indent)));
            path.push(Key::Index(i));
            match g {
                G::Leaf(l) => {
                    self.leaf(l, path, indent + 2);
                    self.text.push('\n');
                }
                G::Map(m) => self.map(m, indent + 2, path, true),
                G::FlowMap(_) | G::FlowSeq(_) => {
                    self.flow(g, path);
                    self.text.push('\n');
                }
                G::Seq(_) => unreachable!("the generator nests no list directly in a list"),
            }
            path.pop();
        }
    }

    /// A section of anchors and aliases: which of its leaves the editor must refuse.
    fn anchors(&mut self, a: &Leaf, b: &Leaf, shared: &str, z: &Leaf) {
        let pad = " ".repeat(self.step);
        let mark = |w: &mut Writer, path: Vec<Key>, e: Editable| {
            if let Some(last) = w.leaves.last_mut() {
                last.path = path;
                last.editable = e;
            }
        };
        self.text.push_str(&format!("base: &base\n{pad}x: "));
        self.leaf(a, &[], 0);
        mark(self, vec!["base".into(), "x".into()], Editable::Anchor);
        self.text.push_str(&format!("\n{pad}y: "));
        self.leaf(b, &[], 0);
        mark(self, vec!["base".into(), "y".into()], Editable::Anchor);
        self.text.push_str("\ncopy: *base\nmixed:\n");
        self.text.push_str(&format!("{pad}<<: *base\n{pad}z: "));
        self.leaf(z, &[], 0);
        mark(self, vec!["mixed".into(), "z".into()], Editable::Yes);
        self.text
            .push_str(&format!("\nshared: &sh {shared}\nagain: *sh\n"));
        for (path, e) in [
            (vec!["copy".into(), "x".into()], Editable::Alias),
            (vec!["mixed".into(), "x".into()], Editable::Merge),
            (vec!["again".into()], Editable::Alias),
            (vec!["shared".into()], Editable::Anchor),
        ] {
            self.leaves.push(At {
                path,
                span: 0..0,
                editable: e,
            });
        }
    }
}

/// A map key that reads as itself in YAML 1.1 and 1.2 (`y`, `on` or `null` would not).
fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,6}".prop_filter("a key YAML reads as a string", |k| {
        !matches!(
            k.as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        )
    })
}

fn leaf(flow: bool) -> impl Strategy<Value = Leaf> {
    let plain = if flow {
        "[a-z][a-z0-9]{0,8}".boxed()
    } else {
        "[a-z][a-z0-9./-]{0,10}".boxed()
    };
    let block = (
        prop::sample::select(vec!["|", "|-", ">", ">-"]),
        prop::collection::vec("[a-z][a-z #:]{0,10}[a-z]", 1..4),
    )
        .prop_map(|(i, l)| Leaf::Block(i, l));
    let empty = if flow { "~" } else { "" };
    let common = prop_oneof![
        1 => Just(Leaf::Null(empty)),
        3 => plain.prop_map(Leaf::Plain),
        1 => prop::sample::select(vec!["yes", "on", "0755", "1e3", "1.5", "v1.2.3"]).prop_map(|s| Leaf::Plain(s.into())),
        2 => "[ -~]{0,12}".prop_map(Leaf::Single),
        2 => "[ -~\n]{0,12}".prop_map(Leaf::Double),
        1 => any::<i64>().prop_map(Leaf::Int),
        1 => any::<bool>().prop_map(Leaf::Bool),
        1 => prop::sample::select(vec!["~", "null"]).prop_map(Leaf::Null),
    ];
    if flow {
        common.boxed()
    } else {
        prop_oneof![6 => common, 1 => block].boxed()
    }
}

fn deco() -> impl Strategy<Value = Deco> {
    (
        prop::bool::weighted(0.2),
        prop::option::weighted(0.3, "[a-z :#'\"-]{0,20}"),
        prop::option::weighted(0.3, "[a-z :#'\"-]{0,20}"),
    )
        .prop_map(|(blank, comment, trailing)| Deco {
            blank,
            comment,
            trailing,
        })
}

fn unique<T>(entries: Vec<(String, T)>) -> Vec<(String, T)> {
    let mut seen = std::collections::HashSet::new();
    entries
        .into_iter()
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect()
}

fn flow() -> impl Strategy<Value = G> {
    prop_oneof![
        prop::collection::vec((word(), leaf(true)), 0..4).prop_map(|e| G::FlowMap(unique(e))),
        prop::collection::vec(leaf(true), 0..4).prop_map(G::FlowSeq),
    ]
}

fn tree() -> impl Strategy<Value = G> {
    let base = prop_oneof![4 => leaf(false).prop_map(G::Leaf), 1 => flow()];
    base.prop_recursive(4, 40, 5, |inner| {
        let item = prop_oneof![
            leaf(false).prop_map(G::Leaf),
            flow(),
            prop::collection::vec((word(), inner.clone(), deco()), 1..4)
                .prop_map(|e| G::Map(dedupe(e))),
        ];
        prop_oneof![
            3 => prop::collection::vec((word(), inner.clone(), deco()), 1..5).prop_map(|e| G::Map(dedupe(e))),
            1 => prop::collection::vec(item, 1..4).prop_map(G::Seq),
        ]
    })
}

fn dedupe(entries: Vec<(String, G, Deco)>) -> Vec<(String, G, Deco)> {
    let mut seen = std::collections::HashSet::new();
    entries
        .into_iter()
        .filter(|(k, _, _)| !matches!(k.as_str(), "base" | "copy" | "mixed" | "shared" | "again"))
        .filter(|(k, _, _)| seen.insert(k.clone()))
        .collect()
}

#[derive(Debug)]
struct File {
    text: String,
    leaves: Vec<At>,
}

fn file() -> impl Strategy<Value = File> {
    (
        prop::collection::vec((word(), tree(), deco()), 1..6),
        prop::sample::select(vec![2usize, 4]),
        any::<bool>(),
        prop::option::of((leaf(false), leaf(false), word(), leaf(false))),
        any::<bool>(),
    )
        .prop_map(|(top, step, indentless, anchors, markers)| {
            let mut w = Writer {
                text: String::new(),
                leaves: Vec::new(),
                step,
                seq: if indentless { 0 } else { step },
            };
            if markers {
                w.text.push_str("---\n");
            }
            w.text.push_str("# generated values\n\n");
            if let Some((a, b, s, z)) = &anchors {
                let block = |l: &Leaf| matches!(l, Leaf::Block(..));
                if !block(a) && !block(b) && !block(z) {
                    w.anchors(a, b, s, z);
                }
            }
            w.map(&dedupe(top), 0, &mut Vec::new(), false);
            if markers {
                w.text.push_str("...\n");
            }
            File {
                text: w.text,
                leaves: w.leaves,
            }
        })
        .prop_filter("a map with no entries", |f| !f.leaves.is_empty())
}

fn new_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => "[ -~]{0,12}".prop_map(Value::String),
        2 => prop::sample::select(vec![
            "yes", "no", "on", "off", "y", "n", "~", "null", "0755", "1e3", "5", "", "a: b",
            "two\nlines", "ends\n", "it's", "say \"hi\"", "#x", "- x", "<<", "ü", "true", "x,y",
        ])
        .prop_map(|s| json!(s)),
        1 => any::<i64>().prop_map(|i| json!(i)),
        1 => (-1000i32..1000).prop_map(|i| json!(f64::from(i) + 0.25)),
        1 => any::<bool>().prop_map(|b| json!(b)),
        1 => Just(Value::Null),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn an_edit_changes_exactly_the_target_scalars_bytes(
        f in file(),
        pick in any::<prop::sample::Index>(),
        value in new_value(),
    ) {
        let editable: Vec<&At> = f.leaves.iter().filter(|l| l.editable == Editable::Yes).collect();
        prop_assume!(!editable.is_empty());
        let target = pick.get(&editable);
        let out = set(&f.text, &target.path, &value)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", f.text)))?;
        let (before, after) = (&f.text[..target.span.start], &f.text[target.span.end..]);
        prop_assert!(out.starts_with(before), "bytes before the scalar changed:\n{}\n---\n{}", f.text, out);
        prop_assert!(out.ends_with(after), "bytes after the scalar changed:\n{}\n---\n{}", f.text, out);
        prop_assert!(out.len() >= before.len() + after.len());
        prop_assert_eq!(get(&out, &target.path).unwrap(), Some(value.clone()), "{}", out);
        prop_assert_eq!(get_yaml11(&out, &target.path).unwrap(), Some(value.clone()), "{}", out);
        for other in f.leaves.iter().filter(|l| l.path != target.path) {
            prop_assert_eq!(get(&out, &other.path).unwrap(), get(&f.text, &other.path).unwrap());
            prop_assert_eq!(
                get_yaml11(&out, &other.path).ok(),
                get_yaml11(&f.text, &other.path).ok()
            );
        }
    }

    #[test]
    fn inserting_a_key_only_adds_bytes(
        f in file(),
        pick in any::<prop::sample::Index>(),
        value in new_value(),
    ) {
        // Into the map that holds a random editable scalar (or the document's top map).
        let parents: Vec<Vec<Key>> = f
            .leaves
            .iter()
            .filter(|l| l.editable == Editable::Yes && matches!(l.path.last(), Some(Key::Map(_))))
            .map(|l| l.path[..l.path.len() - 1].to_vec())
            .chain([Vec::new()])
            .collect();
        let mut path = pick.get(&parents).clone();
        path.push(Key::Map("added_key".into()));
        let out = set(&f.text, &path, &value)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", f.text)))?;
        let prefix = f.text.bytes().zip(out.bytes()).take_while(|(a, b)| a == b).count();
        let suffix = f.text.bytes().rev().zip(out.bytes().rev()).take_while(|(a, b)| a == b).count();
        prop_assert!(prefix + suffix >= f.text.len(), "bytes were changed, not only added:\n{}\n---\n{}", f.text, out);
        prop_assert_eq!(get(&out, &path).unwrap(), Some(value.clone()), "{}", out);
        prop_assert_eq!(get_yaml11(&out, &path).unwrap(), Some(value), "{}", out);
        for other in &f.leaves {
            prop_assert_eq!(get(&out, &other.path).unwrap(), get(&f.text, &other.path).unwrap());
        }
    }

    #[test]
    fn edits_behind_aliases_merges_and_shared_anchors_are_refused(
        f in file(),
        value in new_value(),
    ) {
        for l in f.leaves.iter().filter(|l| l.editable != Editable::Yes) {
            let e = set(&f.text, &l.path, &value).unwrap_err();
            let ok = matches!(
                (l.editable, &e),
                (Editable::Alias, Error::Alias { .. })
                    | (Editable::Merge, Error::Merge { .. })
                    | (Editable::Anchor, Error::Anchor { .. })
            );
            prop_assert!(ok, "{:?} at {:?}: {}", l.editable, l.path, e);
        }
    }

    #[test]
    fn the_yaml_1_2_reading_is_the_agents(f in file()) {
        // The agent reads values files with serde_yaml_ng (merge keys applied).
        let mut theirs: serde_yaml_ng::Value = serde_yaml_ng::from_str(&f.text).unwrap();
        theirs.apply_merge().unwrap();
        let theirs = serde_json::to_value(theirs).unwrap();
        prop_assert_eq!(get(&f.text, &[]).unwrap(), Some(theirs), "{}", f.text);
    }
}
