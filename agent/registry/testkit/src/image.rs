//! Real images, small: a one-file uncompressed tar layer, an image config naming a platform,
//! an OCI image manifest over both, and an OCI image index over manifests.

use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// An image's three parts, as bytes, with their digests.
#[derive(Debug, Clone)]
pub struct Image {
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl Image {
    /// An image for `platform` (`os/arch[/variant]`) whose layer holds one file saying `label`
    /// and a number of this process: no two images made here are the same.
    pub fn new(label: &str, platform: &str) -> Image {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let layer = tar_of(
            "hello.txt",
            format!("{label} {platform} {} {n}\n", std::process::id()).as_bytes(),
        );
        let mut parts = platform.split('/');
        let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
        let mut config = json!({
            "architecture": arch.unwrap_or_default(),
            "os": os.unwrap_or_default(),
            "config": {"Cmd": ["/hello"]},
            "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
        });
        if let Some(v) = variant {
            config["variant"] = json!(v);
        }
        let config = serde_json::to_vec(&config).expect("JSON");
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER_TAR, "digest": sha256(&layer), "size": layer.len()}],
        }))
        .expect("JSON");
        Image {
            layer,
            config,
            manifest,
        }
    }

    pub fn digest(&self) -> String {
        sha256(&self.manifest)
    }
}

/// An OCI image index: `(platform, digest, size)` of each manifest.
pub fn index(entries: &[(&str, &str, usize)]) -> Vec<u8> {
    let manifests: Vec<_> = entries
        .iter()
        .map(|(platform, digest, size)| {
            let mut parts = platform.split('/');
            let mut p = json!({
                "os": parts.next().unwrap_or_default(),
                "architecture": parts.next().unwrap_or_default(),
            });
            if let Some(v) = parts.next() {
                p["variant"] = json!(v);
            }
            json!({"mediaType": OCI_MANIFEST, "digest": digest, "size": size, "platform": p})
        })
        .collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }))
    .expect("JSON")
}

/// A POSIX (ustar) archive of one file, as a layer is.
fn tar_of(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, s: &[u8]| h[at..at + s.len()].copy_from_slice(s);
    put(&mut header, 0, name.as_bytes());
    put(&mut header, 100, b"0000644\0");
    put(&mut header, 108, b"0000000\0");
    put(&mut header, 116, b"0000000\0");
    put(
        &mut header,
        124,
        format!("{:011o}\0", content.len()).as_bytes(),
    );
    put(&mut header, 136, b"00000000000\0");
    put(&mut header, 156, b"0");
    put(&mut header, 257, b"ustar\0");
    put(&mut header, 263, b"00");
    // The checksum is taken with its own field as spaces.
    put(&mut header, 148, b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    put(&mut header, 148, format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_is_a_tar_that_tar_reads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("layer.tar");
        std::fs::write(&file, tar_of("hello.txt", b"hi\n")).unwrap();
        let out = std::process::Command::new("tar")
            .arg("-xOf")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, b"hi\n");
    }

    #[test]
    fn images_differ_and_name_their_platform() {
        let (a, b) = (
            Image::new("app", "linux/arm64/v8"),
            Image::new("app", "linux/arm64/v8"),
        );
        assert_ne!(a.digest(), b.digest());
        let config: serde_json::Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(
            (
                config["os"].as_str(),
                config["architecture"].as_str(),
                config["variant"].as_str()
            ),
            (Some("linux"), Some("arm64"), Some("v8"))
        );
    }
}
