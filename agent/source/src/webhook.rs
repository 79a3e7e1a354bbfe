//! GitHub push webhooks: signature verification (`X-Hub-Signature-256`, HMAC-SHA256 compared in
//! constant time) and the pushed branch. Pure functions over the raw request parts; the HTTP
//! server (status codes, body limit, coalescing) lives in the daemon.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Largest body the server should read before answering 413; GitHub caps payloads at 25 MB,
/// but push events for a config repository are a few KiB.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The header GitHub signs deliveries with.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// The header naming the event (`push`, `ping`, ...).
pub const EVENT_HEADER: &str = "X-GitHub-Event";

/// Why a delivery's signature was refused. Every variant means "answer 401, trigger nothing".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The request has no `X-Hub-Signature-256` header.
    #[error("missing {SIGNATURE_HEADER} header: configure a secret on the webhook")]
    MissingSignature,
    /// The header is not `sha256=<64 hex>`.
    #[error("malformed {SIGNATURE_HEADER} header: expected sha256=<64 hex digits>")]
    MalformedSignature,
    /// The signature does not match the body under our secret.
    #[error("{SIGNATURE_HEADER} does not match the body: the webhook secret differs or the body was altered")]
    SignatureMismatch,
    /// The configured secret is empty, which would make every signature forgeable.
    #[error("the webhook secret is empty: refusing all deliveries")]
    EmptySecret,
}

/// Verifies a GitHub `X-Hub-Signature-256: sha256=<hex>` header against `body` with `secret`.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::EmptySecret);
    }
    let header = header.ok_or(WebhookError::MissingSignature)?;
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(WebhookError::MalformedSignature)?;
    let mut given = [0u8; 32];
    hex::decode_to_slice(hex_sig, &mut given).map_err(|_| WebhookError::MalformedSignature)?;
    let expected = sign(secret, body);
    if bool::from(expected.ct_eq(&given)) {
        Ok(())
    } else {
        Err(WebhookError::SignatureMismatch)
    }
}

/// The raw HMAC-SHA256 of `body` under `secret`.
fn sign(secret: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The header value GitHub would send for `body` under `secret` (`sha256=<hex>`); for tests
/// and for tools that send signed deliveries.
pub fn signature_header(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(sign(secret, body)))
}

/// The branch a delivery pushed to: `Some(branch)` for a `push` event whose `ref` is
/// `refs/heads/<branch>`; `None` for other events (`ping`, ...), tag pushes and unparsable
/// bodies. Call it only after [`verify_signature`] succeeded.
pub fn pushed_branch(event: Option<&str>, body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Push {
        #[serde(rename = "ref")]
        git_ref: String,
    }
    if event?.trim() != "push" {
        return None;
    }
    let push: Push = serde_json::from_slice(body).ok()?;
    push.git_ref
        .strip_prefix("refs/heads/")
        .filter(|b| !b.is_empty())
        .map(str::to_owned)
}

/// The base branch of a pull request a delivery reports as opened, given a new head
/// (`synchronize`), reopened or closed: `Some(base)` for such a `pull_request` event; `None` for
/// other events and actions (`labeled`, `edited`, ...) and unparsable bodies. Call it only
/// after [`verify_signature`] succeeded.
pub fn pull_request_base(event: Option<&str>, body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Base {
        #[serde(rename = "ref")]
        git_ref: String,
    }
    #[derive(serde::Deserialize)]
    struct Pull {
        base: Base,
    }
    #[derive(serde::Deserialize)]
    struct Delivery {
        action: String,
        pull_request: Pull,
    }
    if event?.trim() != "pull_request" {
        return None;
    }
    let d: Delivery = serde_json::from_slice(body).ok()?;
    matches!(
        d.action.as_str(),
        "opened" | "synchronize" | "reopened" | "closed"
    )
    .then_some(d.pull_request.base.git_ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";

    #[test]
    fn matches_githubs_documented_example() {
        // From GitHub's "Validating webhook deliveries" documentation.
        assert_eq!(
            signature_header(SECRET, BODY),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn a_signature_made_with_the_same_secret_verifies() {
        let header = signature_header(SECRET, BODY);
        assert_eq!(verify_signature(SECRET, BODY, Some(&header)), Ok(()));
        let upper = format!("sha256={}", header["sha256=".len()..].to_uppercase());
        assert_eq!(verify_signature(SECRET, BODY, Some(&upper)), Ok(()));
    }

    #[test]
    fn a_tampered_body_is_a_mismatch() {
        let header = signature_header(SECRET, BODY);
        assert_eq!(
            verify_signature(SECRET, b"Hello, World?", Some(&header)),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn a_wrong_secret_is_a_mismatch() {
        let header = signature_header(b"another secret", BODY);
        assert_eq!(
            verify_signature(SECRET, BODY, Some(&header)),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn a_missing_header_is_missing() {
        assert_eq!(
            verify_signature(SECRET, BODY, None),
            Err(WebhookError::MissingSignature)
        );
    }

    #[test]
    fn malformed_headers_are_malformed() {
        let good_hex = &signature_header(SECRET, BODY)["sha256=".len()..];
        for header in [
            "",
            good_hex,
            &format!("sha1={good_hex}"),
            "sha256=",
            "sha256=zz",
            &format!("sha256={}", &good_hex[..62]),
            &format!("sha256={good_hex}00"),
        ] {
            assert_eq!(
                verify_signature(SECRET, BODY, Some(header)),
                Err(WebhookError::MalformedSignature),
                "{header:?}"
            );
        }
    }

    #[test]
    fn an_empty_secret_refuses_everything() {
        let header = signature_header(b"", BODY);
        assert_eq!(
            verify_signature(b"", BODY, Some(&header)),
            Err(WebhookError::EmptySecret)
        );
    }

    #[test]
    fn a_push_to_a_branch_names_it() {
        let body = br#"{"ref":"refs/heads/release/1.2","before":"a","after":"b"}"#;
        assert_eq!(
            pushed_branch(Some("push"), body),
            Some("release/1.2".into())
        );
    }

    #[test]
    fn other_events_and_refs_name_nothing() {
        let push = br#"{"ref":"refs/heads/main"}"#;
        assert_eq!(
            pushed_branch(Some("ping"), br#"{"zen":"Keep it simple."}"#),
            None
        );
        assert_eq!(pushed_branch(Some("pull_request"), push), None);
        assert_eq!(pushed_branch(None, push), None);
        assert_eq!(
            pushed_branch(Some("push"), br#"{"ref":"refs/tags/v1"}"#),
            None
        );
        assert_eq!(
            pushed_branch(Some("push"), br#"{"ref":"refs/heads/"}"#),
            None
        );
        assert_eq!(pushed_branch(Some("push"), b"not json"), None);
    }

    #[test]
    fn a_pull_request_delivery_names_its_base_for_the_actions_that_change_a_preview() {
        let body = |action: &str| {
            format!(
                r#"{{"action":"{action}","number":7,"pull_request":{{"base":{{"ref":"main"}},"head":{{"ref":"x"}}}}}}"#
            )
        };
        for action in ["opened", "synchronize", "reopened", "closed"] {
            assert_eq!(
                pull_request_base(Some("pull_request"), body(action).as_bytes()).as_deref(),
                Some("main"),
                "{action}"
            );
        }
        assert_eq!(
            pull_request_base(Some("pull_request"), body("labeled").as_bytes()),
            None
        );
        assert_eq!(
            pull_request_base(Some("push"), body("opened").as_bytes()),
            None
        );
        assert_eq!(pull_request_base(Some("pull_request"), b"{}"), None);
        assert_eq!(pull_request_base(None, body("opened").as_bytes()), None);
    }
}
