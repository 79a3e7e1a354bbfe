//! Every scalar of the repository's own values files (`environments/*/values/*.yaml`), set to a
//! new value one at a time: each edit changes exactly one line, and reads back as meant.

use serde_json::{json, Value};
use sextant_yamledit::{get, get_yaml11, set, Key};
use std::path::PathBuf;

fn values_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../environments");
    let mut files = Vec::new();
    for env in std::fs::read_dir(&root).expect("environments/") {
        let dir = env.expect("an environment").path().join("values");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for f in entries {
            let f = f.expect("a values file").path();
            if f.extension().is_some_and(|e| e == "yaml") {
                files.push(f);
            }
        }
    }
    files.sort();
    files
}

fn leaves(v: &Value, path: &mut Vec<Key>, out: &mut Vec<(Vec<Key>, Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                path.push(Key::Map(k.clone()));
                leaves(x, path, out);
                path.pop();
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                path.push(Key::Index(i));
                leaves(x, path, out);
                path.pop();
            }
        }
        // An empty `{}` or `[]` is a collection, not a scalar: filling it takes new lines.
        Value::Object(_) | Value::Array(_) => {}
        _ => out.push((path.clone(), v.clone())),
    }
}

/// A different value of the same kind, written on as many lines as the old one.
fn changed(v: &Value) -> Value {
    match v {
        Value::String(s) => match s.split_once('\n') {
            Some((first, rest)) => json!(format!("{first}-edited\n{rest}")),
            None => json!(format!("{s}-edited")),
        },
        Value::Number(n) => match n.as_i64() {
            Some(i) => json!(i + 1),
            None => json!(n.as_f64().unwrap_or(0.0) + 0.25),
        },
        Value::Bool(b) => json!(!b),
        Value::Null => json!("set"),
        Value::Array(_) | Value::Object(_) => unreachable!("only scalars are edited"),
    }
}

#[test]
fn every_scalar_of_the_repos_values_files_is_edited_on_exactly_one_line() {
    let files = values_files();
    assert!(files.len() >= 20, "found only {} values files", files.len());
    let mut edits = 0;
    for file in &files {
        let doc = std::fs::read_to_string(file).expect("readable");
        let all = get(&doc, &[]).expect("parses").expect("not empty");
        let mut found = Vec::new();
        leaves(&all, &mut Vec::new(), &mut found);
        for (path, old) in found {
            let new = changed(&old);
            let out = set(&doc, &path, &new).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let (a, b): (Vec<&str>, Vec<&str>) = (doc.lines().collect(), out.lines().collect());
            assert_eq!(a.len(), b.len(), "{}: {path:?}\n{out}", file.display());
            let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
            assert_eq!(differing, 1, "{}: {path:?}", file.display());
            assert_eq!(get(&out, &path).unwrap(), Some(new.clone()));
            assert_eq!(get_yaml11(&out, &path).unwrap(), Some(new));
            edits += 1;
        }
    }
    assert!(edits > 500, "only {edits} leaves edited");
}

#[test]
fn promotion_bumps_tag_and_digest_in_place() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../environments/prod/values/hash-service.yaml");
    let doc = std::fs::read_to_string(file).expect("readable");
    let digest = format!("sha256:{}", "b".repeat(64));
    let out = sextant_yamledit::apply(
        &doc,
        &[
            (vec!["image".into(), "tag".into()], json!("0.2.0")),
            (vec!["image".into(), "digest".into()], json!(digest)),
        ],
    )
    .unwrap();
    let changed: Vec<(&str, &str)> = doc
        .lines()
        .zip(out.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert_eq!(changed[0].1, "  tag: \"0.2.0\"");
    assert_eq!(changed[1].1, format!("  digest: {digest}"));
}
