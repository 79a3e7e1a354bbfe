//! The editor's behaviour, one case per test: what changes, and everything that must not.

use super::*;
use serde_json::json;

fn p(s: &str) -> Vec<Key> {
    // `a.b[2].c` as a path (test convenience; keys without dots or brackets).
    let mut out = Vec::new();
    for part in s.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(Key::Map(rest[..i].to_string()));
            }
            rest = &rest[i..];
            for idx in rest.split('[').filter(|x| !x.is_empty()) {
                out.push(Key::Index(idx.trim_end_matches(']').parse().unwrap()));
            }
        } else {
            out.push(Key::Map(rest.to_string()));
        }
    }
    out
}

fn edit(doc: &str, path: &str, value: Value) -> String {
    set(doc, &p(path), &value).unwrap_or_else(|e| panic!("{path}: {e}\n{doc}"))
}

#[test]
fn replacing_a_scalar_changes_only_its_bytes_and_keeps_the_trailing_comment() {
    let doc = "---\n# prod\nimage:\n  repository: r   # where\n  tag: v1 # the tag\n\nlogLevel: info\n...\n";
    assert_eq!(
        edit(doc, "image.tag", json!("v2")),
        "---\n# prod\nimage:\n  repository: r   # where\n  tag: v2 # the tag\n\nlogLevel: info\n...\n"
    );
}

#[test]
fn quoting_style_is_kept_when_it_still_reads_as_the_new_value() {
    assert_eq!(edit("a: 'v1'\n", "a", json!("v2")), "a: 'v2'\n");
    assert_eq!(edit("a: 'v1'\n", "a", json!("it's")), "a: 'it''s'\n");
    assert_eq!(edit("a: \"v1\"\n", "a", json!("v2")), "a: \"v2\"\n");
    assert_eq!(
        edit("a: \"v1\"\n", "a", json!("say \"hi\"")),
        "a: \"say \\\"hi\\\"\"\n"
    );
    assert_eq!(edit("a: v1\n", "a", json!("v2")), "a: v2\n");
    // Plain cannot hold these: the least quoting that reads back as the string.
    assert_eq!(edit("a: v1\n", "a", json!("a: b")), "a: \"a: b\"\n");
    assert_eq!(edit("a: v1\n", "a", json!("")), "a: \"\"\n");
}

#[test]
fn types_stay_honest_in_yaml_1_1_and_1_2() {
    // A string that would read as a number is quoted; a number is plain, even where the old
    // value was quoted.
    assert_eq!(
        edit("replicas: 3\n", "replicas", json!("5")),
        "replicas: \"5\"\n"
    );
    assert_eq!(edit("tag: \"3\"\n", "tag", json!(5)), "tag: 5\n");
    assert_eq!(edit("tag: '3'\n", "tag", json!(true)), "tag: true\n");
    assert_eq!(edit("x: 1\n", "x", json!(0.5)), "x: 0.5\n");
    assert_eq!(edit("x: 1\n", "x", Value::Null), "x: null\n");
    for risky in [
        "yes", "no", "on", "off", "y", "n", "Y", "N", "~", "null", "true", "0755", "1e3", "0o17",
        "0x1F", "1_000", "08", ".5", "-1", "True", "NULL", ".inf", "<<",
    ] {
        let out = edit("enabled: x\n", "enabled", json!(risky));
        assert_eq!(
            get(&out, &p("enabled")).unwrap(),
            Some(json!(risky)),
            "{out}"
        );
        assert_eq!(
            get_yaml11(&out, &p("enabled")).unwrap(),
            Some(json!(risky)),
            "{out}"
        );
    }
    assert_eq!(edit("a: 'x'\n", "a", json!("yes")), "a: 'yes'\n");
}

#[test]
fn block_scalars_nearby_are_untouched_and_a_block_scalar_can_be_replaced() {
    let doc = "script: |\n  echo one\n  echo two\n\nname: web\nnote: >-\n  folded\n  text\n";
    assert_eq!(
        edit(doc, "name", json!("api")),
        "script: |\n  echo one\n  echo two\n\nname: api\nnote: >-\n  folded\n  text\n"
    );
    assert_eq!(
        edit(doc, "script", json!("echo three\n")),
        "script: |\n  echo three\n\nname: web\nnote: >-\n  folded\n  text\n"
    );
    assert_eq!(
        edit(doc, "note", json!("short")),
        "script: |\n  echo one\n  echo two\n\nname: web\nnote: >-\n  short\n"
    );
    assert_eq!(
        edit(doc, "script", json!(3)),
        "script: 3\n\nname: web\nnote: >-\n  folded\n  text\n"
    );
    // A multi-line string replacing a plain one becomes a literal block.
    assert_eq!(
        edit("a:\n  b: x\n", "a.b", json!("l1\nl2")),
        "a:\n  b: |-\n    l1\n    l2\n"
    );
}

#[test]
fn a_missing_key_goes_after_the_last_sibling_at_the_files_indentation() {
    let two = "image:\n  repository: r\n  tag: v1  # pinned\n# next\nreplicas: 1\n";
    assert_eq!(
        edit(two, "image.digest", json!("sha256:ab")),
        "image:\n  repository: r\n  tag: v1  # pinned\n  digest: sha256:ab\n# next\nreplicas: 1\n"
    );
    let four = "image:\n    repository: r\nreplicas: 1\n";
    assert_eq!(
        edit(four, "resources.limits.cpu", json!("200m")),
        "image:\n    repository: r\nreplicas: 1\nresources:\n    limits:\n        cpu: 200m\n"
    );
    assert_eq!(
        edit(four, "image.pull.policy", json!("Always")),
        "image:\n    repository: r\n    pull:\n        policy: Always\nreplicas: 1\n"
    );
    // No nesting to learn from: 2 spaces.
    assert_eq!(edit("a: 1\n", "b.c", json!(2)), "a: 1\nb:\n  c: 2\n");
}

#[test]
fn a_key_under_an_empty_value_or_an_empty_flow_map_becomes_a_block() {
    assert_eq!(
        edit(
            "resources: {}  # none yet\nx: 1\n",
            "resources.limits.cpu",
            json!(1)
        ),
        "resources:  # none yet\n  limits:\n    cpu: 1\nx: 1\n"
    );
    assert_eq!(
        edit("resources:\nx: 1\n", "resources.cpu", json!(1)),
        "resources:\n  cpu: 1\nx: 1\n"
    );
    assert_eq!(
        edit("resources: ~\n", "resources.cpu", json!(1)),
        "resources:\n  cpu: 1\n"
    );
}

#[test]
fn flow_collections_are_edited_in_place() {
    let doc = "r: {cpu: 1, mem: 2}  # c\nhosts: [a.example, b.example]\n";
    assert_eq!(
        edit(doc, "r.mem", json!("3Gi")),
        "r: {cpu: 1, mem: 3Gi}  # c\nhosts: [a.example, b.example]\n"
    );
    assert_eq!(
        edit(doc, "r.gpu", json!(1)),
        "r: {cpu: 1, mem: 2, gpu: 1}  # c\nhosts: [a.example, b.example]\n"
    );
    assert_eq!(
        edit(doc, "hosts[2]", json!("c,d")),
        "r: {cpu: 1, mem: 2}  # c\nhosts: [a.example, b.example, \"c,d\"]\n"
    );
    assert_eq!(
        edit(doc, "hosts[0]", json!("x")),
        "r: {cpu: 1, mem: 2}  # c\nhosts: [x, b.example]\n"
    );
    assert_eq!(edit("a: []\n", "a[0]", json!("x")), "a:\n  - x\n");
}

#[test]
fn list_items_are_replaced_and_appended_in_block_style() {
    let doc = "env:\n  - name: A\n    value: x\n  - name: B  # b\n    value: \"y\"\nports:\n- 80\n";
    assert_eq!(
        edit(doc, "env[1].value", json!("z")),
        "env:\n  - name: A\n    value: x\n  - name: B  # b\n    value: \"z\"\nports:\n- 80\n"
    );
    assert_eq!(
        edit(doc, "env[2]", json!({"name": "C", "value": "on"})),
        "env:\n  - name: A\n    value: x\n  - name: B  # b\n    value: \"y\"\n  - name: C\n    value: \"on\"\nports:\n- 80\n"
    );
    assert_eq!(
        edit(doc, "ports[1]", json!(443)),
        "env:\n  - name: A\n    value: x\n  - name: B  # b\n    value: \"y\"\nports:\n- 80\n- 443\n"
    );
    assert_eq!(
        edit(doc, "ports[0]", json!({"port": 80, "name": "http"})),
        "env:\n  - name: A\n    value: x\n  - name: B  # b\n    value: \"y\"\nports:\n- port: 80\n  name: http\n"
    );
    let e = set(doc, &p("ports[3]"), &json!(1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ports has 1 items: index 3 is past the end (index 1 appends)"
    );
}

#[test]
fn a_map_or_list_value_is_written_as_a_block_at_the_right_indent() {
    assert_eq!(
        edit(
            "app:\n    env: none  # later\n",
            "app.env",
            json!([{"name": "A", "value": "1"}])
        ),
        "app:\n    env:  # later\n        - name: A\n          value: \"1\"\n"
    );
    assert_eq!(
        edit(
            "a:\n  b:\n    c: 1\n    d: 2\nz: 0\n",
            "a.b",
            json!({"e": 3})
        ),
        "a:\n  b:\n    e: 3\nz: 0\n"
    );
    assert_eq!(edit("a:\n  b: 1\n", "a", json!("flat")), "a: flat\n");
}

#[test]
fn document_markers_and_anchors_elsewhere_are_kept() {
    let doc = "%YAML 1.2\n---\nbase: &b\n  x: 1\nuse: *b\nother: 2\n...\n";
    assert_eq!(
        edit(doc, "other", json!(3)),
        "%YAML 1.2\n---\nbase: &b\n  x: 1\nuse: *b\nother: 3\n...\n"
    );
    // An anchored scalar nobody aliases keeps its anchor.
    assert_eq!(edit("a: &v 1\nb: 2\n", "a", json!(5)), "a: &v 5\nb: 2\n");
}

#[test]
fn edits_through_aliases_merges_and_shared_anchors_are_refused() {
    let doc = "base: &b\n  x: 1\nuse: *b\nderived:\n  <<: *b\n  y: 2\n";
    let e = set(doc, &p("use.x"), &json!(9)).unwrap_err();
    assert!(
        matches!(&e, Error::Alias { path, alias } if path == "use.x" && alias == "b"),
        "{e}"
    );
    let e = set(doc, &p("derived.x"), &json!(9)).unwrap_err();
    assert!(
        matches!(&e, Error::Merge { path } if path == "derived.x"),
        "{e}"
    );
    let e = set(doc, &p("base.x"), &json!(9)).unwrap_err();
    assert!(
        matches!(&e, Error::Anchor { anchor, .. } if anchor == "b"),
        "{e}"
    );
    // Setting a key explicitly next to the merge is fine.
    assert_eq!(
        edit(doc, "derived.y", json!(3)),
        "base: &b\n  x: 1\nuse: *b\nderived:\n  <<: *b\n  y: 3\n"
    );
    assert_eq!(get(doc, &p("derived.x")).unwrap(), Some(json!(1)));
}

#[test]
fn errors_name_the_dotted_path() {
    let doc = "image: web\nenv:\n  - name: A\n";
    let e = set(doc, &p("image.tag"), &json!("v1")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "image is a scalar, not a map, so it has no key \"tag\""
    );
    let e = set(doc, &p("env.name"), &json!("v1")).unwrap_err();
    assert!(matches!(e, Error::NotAMap { .. }), "{e}");
    let e = set(doc, &p("image[0]"), &json!("v1")).unwrap_err();
    assert!(matches!(e, Error::NotAList { .. }), "{e}");
    let e = set("a: [\n", &p("a"), &json!(1)).unwrap_err();
    assert!(matches!(e, Error::Parse { line: 2, .. }), "{e}");
    assert_eq!(path_string(&p("env[2].value")), "env[2].value");
    assert_eq!(
        path_string(&[Key::from("annotations"), Key::from("a.b/c")]),
        "annotations[\"a.b/c\"]"
    );
}

#[test]
fn a_multi_document_file_is_edited_only_where_the_path_is_unambiguous() {
    let doc = "---\na: 1\n---\nb: 2\n";
    assert_eq!(edit(doc, "b", json!(3)), "---\na: 1\n---\nb: 3\n");
    let e = set(doc, &p("c"), &json!(3)).unwrap_err();
    assert!(matches!(e, Error::AmbiguousDocument { .. }), "{e}");
    let e = set("a: 1\n---\na: 2\n", &p("a"), &json!(3)).unwrap_err();
    assert!(matches!(e, Error::AmbiguousDocument { .. }), "{e}");
}

#[test]
fn get_reads_as_the_agent_and_as_helm_do() {
    let doc = "a: yes\nb: 0755\nc: \"5\"\nd: [1, {e: ~}]\n";
    assert_eq!(get(doc, &p("a")).unwrap(), Some(json!("yes")));
    assert_eq!(get_yaml11(doc, &p("a")).unwrap(), Some(json!(true)));
    assert_eq!(get(doc, &p("b")).unwrap(), Some(json!("0755")));
    assert_eq!(get_yaml11(doc, &p("b")).unwrap(), Some(json!(493)));
    assert_eq!(get(doc, &p("c")).unwrap(), Some(json!("5")));
    assert_eq!(get(doc, &p("d[1].e")).unwrap(), Some(Value::Null));
    assert_eq!(get(doc, &p("x.y")).unwrap(), None);
}

#[test]
fn an_empty_file_gets_its_first_keys() {
    assert_eq!(edit("", "a.b", json!(1)), "a:\n  b: 1\n");
    assert_eq!(edit("# values\n", "a", json!("x")), "# values\na: x\n");
}

#[test]
fn apply_makes_several_edits_in_order() {
    let doc = "image:\n  tag: \"0.1.0\"\n  digest: sha256:aaa\n";
    let out = apply(
        doc,
        &[
            (p("image.tag"), json!("0.2.0")),
            (p("image.digest"), json!("sha256:bbb")),
        ],
    )
    .unwrap();
    assert_eq!(out, "image:\n  tag: \"0.2.0\"\n  digest: sha256:bbb\n");
}

#[test]
fn tagged_values_are_refused_rather_than_rewritten() {
    let e = set("a: !!str 5\n", &p("a"), &json!("6")).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
}

#[test]
fn non_ascii_text_is_kept() {
    assert_eq!(
        edit("# café\nname: ü  # ß\nx: é\n", "x", json!("ö")),
        "# café\nname: ü  # ß\nx: ö\n"
    );
}

#[test]
fn an_empty_flow_map_at_the_end_of_a_nested_map_becomes_a_block() {
    assert_eq!(
        edit(
            "serviceMonitor:\n  enabled: true\n  selector: {}\n",
            "serviceMonitor.selector.release",
            json!("kps")
        ),
        "serviceMonitor:\n  enabled: true\n  selector:\n    release: kps\n"
    );
}

#[test]
fn a_multi_line_string_before_a_trailing_comment_is_double_quoted_so_the_comment_stays() {
    assert_eq!(
        edit("a: x  # note\n", "a", json!("l1\nl2")),
        "a: \"l1\\nl2\"  # note\n"
    );
}

#[test]
fn a_document_of_only_markers_gets_its_first_key_after_them() {
    assert_eq!(edit("---\n", "a", json!(1)), "---\na: 1\n");
    assert_eq!(
        edit("--- # top\n", "a.b", json!("x")),
        "--- # top\na:\n  b: x\n"
    );
}

#[test]
fn a_key_under_an_empty_value_with_a_comment_keeps_the_comment_on_its_line() {
    assert_eq!(
        edit(
            "podAnnotations: # none yet\nx: 1\n",
            "podAnnotations.team",
            json!("web")
        ),
        "podAnnotations: # none yet\n  team: web\nx: 1\n"
    );
}

#[test]
fn lists_follow_the_files_own_list_indentation() {
    // Lists under keys at the key's column (kubectl's style) stay that way when one is created.
    let doc = "a:\n    b:\n    - 1\nc: 2\n";
    assert_eq!(
        edit(doc, "a.b[1]", json!(2)),
        "a:\n    b:\n    - 1\n    - 2\nc: 2\n"
    );
    assert_eq!(
        edit(doc, "d[0]", json!("x")),
        "a:\n    b:\n    - 1\nc: 2\nd:\n- x\n"
    );
    let nested = "env:\n  - name: A\n    value: x\n";
    assert_eq!(
        edit(nested, "env[0].valueFrom.secretKeyRef.name", json!("s")),
        "env:\n  - name: A\n    value: x\n    valueFrom:\n      secretKeyRef:\n        name: s\n"
    );
}

#[test]
fn an_empty_value_is_set_after_its_colon() {
    assert_eq!(edit("a:\nb: 1\n", "a", json!(5)), "a: 5\nb: 1\n");
    assert_eq!(
        edit("a:   # later\nb: 1\n", "a", json!("x")),
        "a: x   # later\nb: 1\n"
    );
    assert_eq!(
        edit("l:\n  -\n  - b\n", "l[0]", json!("a")),
        "l:\n  - a\n  - b\n"
    );
    assert_eq!(edit("a: 1\nlast:\n", "z", json!(2)), "a: 1\nlast:\nz: 2\n");
}
