//! A promotion, and the revert after a rollback, as the forge sees them: the branch, a hidden
//! marker that finds the request again, the title, the body, and the one values edit. Pure.

use super::gate::short;
use serde::{Deserialize, Serialize};

/// The label every promotion pull request carries.
pub const LABEL: &str = "sextant-promotion";
/// The label every revert after a rollback carries.
pub const ROLLBACK_LABEL: &str = "sextant-rollback";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum What {
    Promote,
    Revert,
}

/// The marker hidden in a request's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub what: What,
    /// The target environment.
    pub target: String,
    pub release: String,
    /// The digest the request writes.
    pub digest: String,
    /// Promote: the source environment and its revision. Revert: the target's bad revision.
    pub from: String,
    pub revision: String,
    /// Promote: when the source applied the digest (Unix seconds), for the lead time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<u64>,
    /// Set when the agent closed the request itself (superseded): not a reviewer's rejection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superseded: bool,
}

const START: &str = "<!-- sextant-promotion ";
const END: &str = " -->";

impl Marker {
    pub fn render(&self) -> String {
        format!(
            "{START}{}{END}",
            serde_json::to_string(self).unwrap_or_default()
        )
    }

    pub fn parse(body: &str) -> Option<Marker> {
        let start = body.find(START)? + START.len();
        let end = body[start..].find(END)? + start;
        serde_json::from_str(&body[start..end]).ok()
    }

    /// `body` with its marker marked superseded.
    pub fn supersede(body: &str) -> Option<String> {
        let start = body.find(START)?;
        let end = body[start..].find(END)? + start + END.len();
        let mut m = Marker::parse(body)?;
        m.superseded = true;
        Some(format!("{}{}{}", &body[..start], m.render(), &body[end..]))
    }
}

pub fn branch(target: &str, release: &str) -> String {
    format!("sextant/promote/{target}/{release}")
}

pub fn revert_branch(target: &str, release: &str) -> String {
    format!("sextant/rollback/{target}/{release}")
}

/// `promote(prod): hash-service sha256:ab12… from dev@1a2b3c4`.
pub fn title(target: &str, release: &str, digest: &str, from: &str, revision: &str) -> String {
    format!(
        "promote({target}): {release} {} from {from}@{}",
        short(digest),
        &revision[..revision.len().min(7)]
    )
}

/// `revert(prod): hash-service back to sha256:ab12… after a failed rollout`.
pub fn revert_title(target: &str, release: &str, previous: &str) -> String {
    format!(
        "revert({target}): {release} back to {} after a failed rollout",
        short(previous)
    )
}

/// One commit of the source's Git log, for the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub short: String,
    pub summary: String,
    pub author: String,
}

/// The evidence a promotion body shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub repository: String,
    pub digest: String,
    /// What the target carries now.
    pub previous: Option<String>,
    pub from: String,
    pub revision: String,
    /// RFC 3339.
    pub healthy_since: String,
    pub soak: String,
    pub checks: Vec<super::gate::CheckOutcome>,
    /// The registry's verification, in words.
    pub registry: String,
    /// The digest's signature, in words, when the image asks for one.
    pub signature: Option<String>,
    /// The values file and key edited.
    pub file: String,
    pub key: String,
    pub log: Vec<LogLine>,
    /// Commits of the log left out.
    pub more: usize,
}

/// A line for each of `items`, or the line `none` when there are none.
fn push_each<T>(out: &mut String, items: &[T], none: &str, line: impl Fn(&T) -> String) {
    if items.is_empty() {
        out.push_str(none);
    }
    for item in items {
        out.push_str(&line(item));
    }
}

pub fn body(e: &Evidence, marker: &Marker) -> String {
    let mut out = format!(
        "Promotes **{}** in **{}** to the digest **{}** has run healthily.\n\n",
        marker.release, marker.target, e.from
    );
    out.push_str("| | |\n|---|---|\n");
    out.push_str(&format!("| repository | `{}` |\n", e.repository));
    out.push_str(&format!("| digest | `{}` |\n", e.digest));
    if let Some(p) = &e.previous {
        out.push_str(&format!("| replaces | `{p}` |\n"));
    }
    out.push_str(&format!(
        "| source | {} at `{}` |\n",
        e.from,
        &e.revision[..e.revision.len().min(12)]
    ));
    out.push_str(&format!(
        "| soak | rolled out, healthy and undrifted since {} (soak {}) |\n",
        e.healthy_since, e.soak
    ));
    push_each(&mut out, &e.checks, "| checks | none declared |\n", |c| {
        // A query may hold a `|`, which would end the table's cell.
        let cell = |t: &str| t.replace('|', "\\|");
        format!(
            "| check | {}: {} {} |\n",
            c.state.as_str(),
            cell(&c.name),
            cell(&c.message)
        )
    });
    out.push_str(&format!("| registry | {} |\n", e.registry));
    if let Some(s) = &e.signature {
        out.push_str(&format!("| signature | {} |\n", s.replace('|', "\\|")));
    }
    out.push_str(&format!(
        "\nThe change: `{}` in `{}`, and nothing else.\n",
        e.key, e.file
    ));
    out.push_str(&format!(
        "\n### {}'s {} since the target's digest\n\n",
        e.from, marker.release
    ));
    let none = "No commit touched the release's chart or values in between.\n";
    push_each(&mut out, &e.log, none, |l| {
        format!("- `{}` {} ({})\n", l.short, l.summary, l.author)
    });
    if e.more > 0 {
        out.push_str(&format!("- … and {} more\n", e.more));
    }
    out.push_str(
        "\nMerge to promote. Closing without merge rejects this digest: it is not proposed again.\n\n",
    );
    out.push_str(&marker.render());
    out.push('\n');
    out
}

/// The body of a revert after a rollback.
pub fn revert_body(
    marker: &Marker,
    previous: &str,
    file: &str,
    key: &str,
    reason: &str,
    rejected_file: &str,
) -> String {
    format!(
        "**{target}** applied `{bad}` for **{release}** at `{rev}`, and its health gate failed:\n\n> {reason}\n\n\
         The agent rolled {target} back at once to the last good revision's rendering. This puts Git right:\n\n\
         - `{key}` in `{file}` back to `{previous}`;\n\
         - `{bad}` recorded in `{rejected_file}`, so it is not promoted again. Delete its entry there to allow it.\n\n\
         Until Git moves on from `{rev}`, {target} stays on the rolled-back rendering.\n\n{m}\n",
        target = marker.target,
        bad = marker.digest_display(),
        release = marker.release,
        rev = &marker.revision[..marker.revision.len().min(12)],
        m = marker.render(),
    )
}

impl Marker {
    fn digest_display(&self) -> String {
        short(&self.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker() -> Marker {
        Marker {
            what: What::Promote,
            target: "prod".into(),
            release: "hash-service".into(),
            digest: format!("sha256:{}", "ab12".repeat(16)),
            from: "dev".into(),
            revision: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d".into(),
            applied_at: Some(1_700_000_000),
            superseded: false,
        }
    }

    #[test]
    fn the_title_names_target_release_digest_and_source_revision() {
        let m = marker();
        assert_eq!(
            title(&m.target, &m.release, &m.digest, &m.from, &m.revision),
            "promote(prod): hash-service sha256:ab12ab12ab12… from dev@1a2b3c4"
        );
        assert_eq!(
            branch("prod", "hash-service"),
            "sextant/promote/prod/hash-service"
        );
    }

    #[test]
    fn the_marker_round_trips_through_a_body_and_can_be_superseded() {
        let m = marker();
        let e = Evidence {
            repository: "r.example.com/hash-service".into(),
            digest: m.digest.clone(),
            previous: Some(format!("sha256:{}", "0".repeat(64))),
            from: "dev".into(),
            revision: m.revision.clone(),
            healthy_since: "2026-12-01T10:00:00Z".into(),
            soak: "10m".into(),
            checks: vec![],
            registry: "verified".into(),
            signature: None,
            file: "environments/prod/values/hash-service.yaml".into(),
            key: "image.digest".into(),
            log: vec![LogLine {
                short: "1a2b3c4".into(),
                summary: "hash-service: faster hashing".into(),
                author: "Ada".into(),
            }],
            more: 2,
        };
        let b = body(&e, &m);
        assert_eq!(Marker::parse(&b), Some(m.clone()));
        assert!(
            b.contains("`1a2b3c4` hash-service: faster hashing (Ada)"),
            "{b}"
        );
        assert!(b.contains("… and 2 more"), "{b}");
        assert!(b.contains("| replaces | `sha256:0000"), "{b}");
        let s = Marker::supersede(&b).unwrap();
        assert!(Marker::parse(&s).unwrap().superseded);
        assert_eq!(s.len(), b.len() + r#","superseded":true"#.len());
    }
}
