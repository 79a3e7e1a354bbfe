//! SOPS files for the tests, made by the real `sops` (3.11, installed by `make tools`) for a
//! fresh age key pair, and read back by it.

use age::secrecy::ExposeSecret as _;
use std::path::Path;
use std::process::Command;

/// An age key pair: the key file's text and the recipient.
pub fn key_pair() -> (String, String) {
    let id = age::x25519::Identity::generate();
    (
        format!("{}\n", id.to_string().expose_secret()),
        id.to_public().to_string(),
    )
}

fn sops() -> std::path::PathBuf {
    super::workspace().join(".tools/bin/sops")
}

/// `plain` encrypted by the real sops for `recipient` (`dir` holds the file meanwhile).
pub fn encrypt(dir: &Path, plain: &str, recipient: &str) -> String {
    let file = dir.join("values.yaml");
    std::fs::write(&file, plain).unwrap();
    let out = Command::new(sops())
        .args(["--encrypt", "--age", recipient])
        .arg(&file)
        .current_dir(dir)
        .output()
        .expect("sops: run `make tools`");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(file).unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// The file at `path` (under `dir`) decrypted by the real sops with the key file `keys`.
pub fn decrypt(dir: &Path, path: &str, keys: &Path) -> serde_json::Value {
    let out = Command::new(sops())
        .args(["--decrypt", path])
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", keys)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_yaml_ng::from_slice(&out.stdout).unwrap()
}
