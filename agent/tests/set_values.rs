//! `sextant set-values`: `make configure`'s writer of Terraform outputs into values files, with
//! the format-preserving editor.

mod support;

use support::*;

const BEFORE: &str = "---\n# external-dns for prod\nserviceAccount:\n  name: external-dns\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/sextant-prod-external-dns  # IRSA\nextraArgs:\n  - --aws-zone-type=public\n  - --zone-id-filter=Z000000000000000PROD\n";

fn run(dir: &std::path::Path, edits: &str) -> std::process::Output {
    std::fs::write(dir.join("edits.json"), edits).unwrap();
    let file = dir.join("values.yaml");
    sextant(
        dir,
        &[
            "set-values",
            "--file",
            file.to_str().unwrap(),
            "--edits",
            dir.join("edits.json").to_str().unwrap(),
        ],
    )
}

#[test]
fn set_values_changes_only_the_named_values_keeping_comments() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("values.yaml"), BEFORE).unwrap();
    let out = run(
        dir.path(),
        r#"[{"path": ["serviceAccount", "annotations", "eks.amazonaws.com/role-arn"], "value": "arn:aws:iam::210987654321:role/sextant-prod-external-dns"},
            {"path": ["extraArgs", 1], "value": "--zone-id-filter=Z0AB12CD34EF56"},
            {"path": ["txtOwnerId"], "value": "sextant-prod"}]"#,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = std::fs::read_to_string(dir.path().join("values.yaml")).unwrap();
    assert_eq!(
        after,
        BEFORE
            .replace("123456789012", "210987654321")
            .replace("Z000000000000000PROD", "Z0AB12CD34EF56")
            + "txtOwnerId: sextant-prod\n"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("extraArgs[1] set \"--zone-id-filter=Z0AB12CD34EF56\""),
        "{stdout}"
    );
}

#[test]
fn set_values_refuses_malformed_edits_naming_the_file_and_leaves_the_values_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("values.yaml"), BEFORE).unwrap();
    let out = run(
        dir.path(),
        r#"[{"path": "serviceAccount.name", "value": 1}]"#,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("edits.json: not a JSON list"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("values.yaml")).unwrap(),
        BEFORE
    );
}
