//! The independent signers of the signature tests, run as processes (`make tools` installs
//! them): sigstore-js against @sigstore/mock (`scripts/sigstore/sign.cjs`) and Python's
//! cryptography making keyed cosign signatures (`scripts/sigstore/keyed.py`).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The identity of this repository's `app.yml` workflow on `main`, as Fulcio writes it.
pub const WORKFLOW: &str =
    "https://github.com/acme/sextant/.github/workflows/app.yml@refs/heads/main";
pub const STRANGER: &str =
    "https://github.com/mallory/fork/.github/workflows/app.yml@refs/heads/main";

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

/// One keyless signature: `image@digest` by `WORKFLOW` with both witnesses unless `extra`
/// says otherwise (`identity`, `issuer`, `subject`, `predicateType`, `witnesses`, `signedAt`,
/// `out`: the fields of `scripts/sigstore/sign.cjs`).
pub fn job(image: &str, digest: &str, extra: Value) -> Value {
    let mut j = json!({"image": image, "digest": digest, "identity": WORKFLOW, "issuer": ISSUER});
    for (k, v) in extra.as_object().expect("an object of fields") {
        j[k] = v.clone();
    }
    j
}

/// Runs the jobs in one signer process, so one trust root covers them: written to
/// `trusted_root`. Returns what the signer printed for each job (the bundle's digest in the
/// registry, or the file written).
pub fn sigstore(jobs: &[Value], trusted_root: &Path) -> Vec<String> {
    let mut child = Command::new("node")
        .arg(repository_root().join("scripts/sigstore/sign.cjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node: run `make tools`");
    let request = json!({"trustedRoot": trusted_root, "jobs": jobs});
    serde_json::to_writer(child.stdin.take().expect("stdin"), &request).expect("write request");
    let out = child.wait_with_output().expect("the signer");
    assert!(
        out.status.success(),
        "the sigstore-js signer failed (run `make tools`)"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// What a keyed signature is made with and of.
#[derive(Default)]
pub struct Keyed<'a> {
    /// The private key (PEM) to sign with, made and saved there when it does not exist yet;
    /// `None`: a new key pair each time.
    pub private_key: Option<&'a Path>,
    /// A digest the payload names instead of the one signed for.
    pub payload_digest: Option<&'a str>,
    /// Push the `.sig` image to the (plain HTTP) registry of the image.
    pub push: bool,
}

/// A keyed cosign signature of `image@digest`, its public key written to `public_key`. Pushed,
/// or returned as (payload, base64 signature).
pub fn keyed(
    image: &str,
    digest: &str,
    public_key: &Path,
    how: Keyed<'_>,
) -> Option<(Vec<u8>, String)> {
    let Keyed {
        private_key,
        payload_digest,
        push,
    } = how;
    let dir = tempfile::tempdir().expect("temporary folder");
    let out = dir.path().join("signature.json");
    let mut c = Command::new(repository_root().join(".tools/sigstore/venv/bin/python"));
    c.arg(repository_root().join("scripts/sigstore/keyed.py"))
        .args(["--digest", digest, "--image", image])
        .arg("--key-out")
        .arg(public_key)
        .arg("--out")
        .arg(&out);
    if let Some(d) = payload_digest {
        c.args(["--payload-digest", d]);
    }
    if let Some(k) = private_key {
        c.arg("--key-in").arg(k);
    }
    if push {
        c.arg("--push");
    }
    assert!(
        c.status().expect("python: run `make tools`").success(),
        "the keyed signer failed"
    );
    if push {
        return None;
    }
    let v: Value = serde_json::from_slice(&std::fs::read(out).expect("signature")).expect("JSON");
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(v["payload"].as_str().expect("payload"))
        .expect("base64");
    Some((
        payload,
        v["signature"].as_str().expect("signature").to_string(),
    ))
}
