//! The public Sigstore trusted root, as sigstore-js's `@sigstore/tuf` 4.0.2 ships it in its TUF
//! seed (installed by `make tools`; the agent's image carries the same file): it reads, with
//! both Fulcio authorities, both Rekor logs (one of them Ed25519, Rekor v2's) and the timestamp
//! authority, each with its validity.

use base64::Engine as _;
use sextant_signature::{time::parse_rfc3339, TrustRoot};
use std::path::Path;

#[test]
fn the_public_sigstore_trusted_root_reads() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.tools/sigstore/node_modules/@sigstore/tuf/seeds.json");
    let seeds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&seeds).expect("run `make tools`")).unwrap();
    let target = seeds["https://tuf-repo-cdn.sigstore.dev"]["targets"]["trusted_root.json"]
        .as_str()
        .unwrap();
    let text = base64::engine::general_purpose::STANDARD
        .decode(target)
        .unwrap();
    let root = TrustRoot::parse(std::str::from_utf8(&text).unwrap()).unwrap();

    let uris: Vec<&str> = root.authorities.iter().map(|a| a.uri.as_str()).collect();
    assert_eq!(
        uris,
        ["https://fulcio.sigstore.dev", "https://fulcio.sigstore.dev"]
    );
    // The first Fulcio root retired at the end of 2022; the second has no end.
    let end_2022 = parse_rfc3339("2022-12-31T23:59:59Z").unwrap();
    assert_eq!(root.authorities[0].valid.end, Some(end_2022));
    assert!(root.authorities[1].valid.end.is_none());
    assert!(root.authorities[1]
        .valid
        .holds(parse_rfc3339("2026-01-01T00:00:00Z").unwrap()));
    let logs: Vec<&str> = root.logs.iter().map(|l| l.base_url.as_str()).collect();
    assert_eq!(
        logs,
        [
            "https://rekor.sigstore.dev",
            "https://log2025-1.rekor.sigstore.dev"
        ]
    );
    assert_eq!(root.timestamp_authorities.len(), 1);
    assert!(
        root.timestamp_authorities[0].chain.len() >= 2,
        "a leaf and its issuers"
    );
}
