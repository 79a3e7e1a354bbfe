//! `sextant set-image` and `sextant set-values`: edits to the repository's YAML that keep every
//! other byte of the file.

use crate::EnvArgs;
use anyhow::Context as _;
use sextant_yamledit::Key;
use std::path::Path;

/// `sextant set-image`: writes the digest where Helm's last-wins takes the key from, and says
/// whether it changed.
pub fn set_image(
    EnvArgs { env, repo }: &EnvArgs,
    release: &str,
    digest: &str,
    path: Option<&str>,
) -> anyhow::Result<String> {
    let edit = sextant::promotion::set_image(repo, env, release, digest, path)?;
    Ok(if edit.before == edit.after {
        format!("{}: {} already {digest}\n", edit.path, edit.key)
    } else {
        format!("{}: {} set to {digest}\n", edit.path, edit.key)
    })
}

/// `sextant set-values`: reads the edits, applies them to the file's text, writes it back only
/// when something changed, and says which paths changed.
pub fn set_values(file: &Path, edits: &Path) -> anyhow::Result<String> {
    let changes = read_edits(edits)?;
    let before =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut report = String::new();
    let mut text = before.clone();
    for (path, value) in &changes {
        let next = sextant_yamledit::set(&text, path, value).with_context(|| {
            format!(
                "{}: setting {}",
                file.display(),
                sextant_yamledit::path_string(path)
            )
        })?;
        let verb = if next == text { "already" } else { "set" };
        report.push_str(&format!(
            "{}: {} {verb} {value}\n",
            file.display(),
            sextant_yamledit::path_string(path)
        ));
        text = next;
    }
    if text != before {
        std::fs::write(file, &text).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(report)
}

/// The `--edits` file: a JSON list of `{"path": [key or index, …], "value": any}`.
fn read_edits(edits: &Path) -> anyhow::Result<Vec<(Vec<Key>, serde_json::Value)>> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Step {
        Index(usize),
        Name(String),
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Edit {
        path: Vec<Step>,
        value: serde_json::Value,
    }
    let list = std::fs::read_to_string(edits)
        .with_context(|| format!("reading --edits {}", edits.display()))?;
    let list: Vec<Edit> = serde_json::from_str(&list).with_context(|| {
        format!(
            "--edits {}: not a JSON list of {{\"path\": [...], \"value\": ...}}",
            edits.display()
        )
    })?;
    Ok(list
        .into_iter()
        .map(|e| {
            let path = e
                .path
                .into_iter()
                .map(|s| match s {
                    Step::Index(i) => Key::Index(i),
                    Step::Name(n) => Key::Map(n),
                })
                .collect();
            (path, e.value)
        })
        .collect())
}
