//! The promoted digests a change moves (`spec.promotion.images`): each read against the
//! digest the source environment carries on the tracked branch (a promotion, or not) and
//! against the target's `rejected.yaml` (a digest it rolled back fails the change).

use serde::Serialize;
use std::collections::BTreeMap;

/// A promoted image's digest the change moves (`spec.promotion.images`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestChange {
    pub release: String,
    /// The environment promotions bring this digest from.
    pub from: String,
    pub before: Option<String>,
    pub after: String,
    /// The digest `from` carries on the tracked branch: what a promotion would bring.
    pub source: Option<String>,
    /// Why the environment rolled this digest back, when `rejected.yaml` lists it.
    pub rejected: Option<String>,
}

impl DigestChange {
    /// The change sets a digest other than the one `from` carries on the tracked branch: it
    /// is not what a promotion would bring (a hand edit, a pin, a digest the source has since
    /// moved past).
    pub fn outside_promotion(&self) -> bool {
        self.source.as_deref() != Some(self.after.as_str())
    }
}

/// The promoted digests `head` moves from `base`, each with the digest `source` (the `from`
/// environment on the tracked branch) carries, and marked when the head's `rejected.yaml`
/// lists it (a change that also deletes the entry clears it, as the file documents).
pub fn digest_changes(
    from: &str,
    sides: [&BTreeMap<String, String>; 3],
    rejected: &[crate::promotion::rejected::Rejection],
) -> Vec<DigestChange> {
    let [base, head, source] = sides;
    head.iter()
        .filter(|(release, digest)| base.get(*release) != Some(*digest))
        .map(|(release, digest)| DigestChange {
            release: release.clone(),
            from: from.to_string(),
            before: base.get(release).cloned(),
            after: digest.clone(),
            source: source.get(release).cloned(),
            rejected: rejected
                .iter()
                .find(|r| &r.release == release && &r.digest == digest)
                .map(|r| r.reason.clone()),
        })
        .collect()
}

/// Why the change fails its promotions: the first digest it sets that the environment rolled
/// back.
pub fn rejected(changes: &[DigestChange]) -> Option<String> {
    let c = changes.iter().find(|c| c.rejected.is_some())?;
    Some(format!(
        "release {}: {} was rolled back here before (rejected.yaml); delete its entry to allow it again",
        c.release, c.after
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_promoted_digest_is_marked_and_one_rolled_back_before_fails() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(r, d)| (r.to_string(), d.to_string()))
                .collect()
        };
        let rejection = crate::promotion::rejected::Rejection {
            release: "web".into(),
            digest: "sha256:bad".into(),
            revision: "r".into(),
            at: "t".into(),
            reason: "wave 0: degraded".into(),
        };
        let base = map(&[("web", "sha256:good"), ("api", "sha256:a1")]);
        // What dev carries on the tracked branch.
        let dev = map(&[("web", "sha256:new"), ("api", "sha256:a1")]);
        let cases = [
            ("nothing moved", map(&[("web", "sha256:good"), ("api", "sha256:a1")]), vec![], None),
            (
                "dev's digest: a promotion",
                map(&[("web", "sha256:new"), ("api", "sha256:a1")]),
                vec![("web", Some("sha256:good"), "sha256:new", false, false)],
                None,
            ),
            (
                "a digest dev does not carry: outside a promotion",
                map(&[("web", "sha256:pinned"), ("api", "sha256:a1")]),
                vec![("web", Some("sha256:good"), "sha256:pinned", false, true)],
                None,
            ),
            (
                "a digest rolled back before",
                map(&[("web", "sha256:bad"), ("api", "sha256:a1")]),
                vec![("web", Some("sha256:good"), "sha256:bad", true, true)],
                Some("release web: sha256:bad was rolled back here before (rejected.yaml); delete its entry to allow it again"),
            ),
        ];
        for (what, head, want, fails) in cases {
            let got = digest_changes(
                "dev",
                [&base, &head, &dev],
                std::slice::from_ref(&rejection),
            );
            let said: Vec<(&str, Option<&str>, &str, bool, bool)> = got
                .iter()
                .map(|c| {
                    (
                        c.release.as_str(),
                        c.before.as_deref(),
                        c.after.as_str(),
                        c.rejected.is_some(),
                        c.outside_promotion(),
                    )
                })
                .collect();
            assert_eq!(said, want, "{what}");
            assert_eq!(rejected(&got).as_deref(), fails, "{what}");
        }
    }
}
