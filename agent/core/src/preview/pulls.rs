//! Previews of open pull requests, decided — pure. Which pull requests an environment previews
//! now, whether a pull request's files touch what the environment reads, the comment that
//! carries the report (found again by a hidden marker, so each pull request has one per
//! environment, edited in place on every new head) and the status its head gets.

use super::{markdown, Preview, Verdict};
use crate::environment::{Chart, Environment, PreviewSettings};
use crate::ports::forge::{CommitStatus, OpenPull, PostedComment, StatusState};
use std::collections::BTreeMap;

/// The status context on a previewed head, which branch protection can require.
pub fn context(environment: &str) -> String {
    format!("sextant/preview/{environment}")
}

/// The hidden marker that starts an environment's preview comment.
pub fn marker(environment: &str) -> String {
    format!("<!-- sextant:preview:{environment} -->")
}

/// The pull requests to preview now: open into the tracked branch (the caller lists only
/// those), from this repository unless `settings.forks`, and not yet previewed at their
/// current head (`done`: pull request → the head last previewed).
pub fn due<'a>(
    settings: &PreviewSettings,
    open: &'a [OpenPull],
    done: &BTreeMap<u64, String>,
) -> Vec<&'a OpenPull> {
    if !settings.enabled {
        return Vec::new();
    }
    open.iter()
        .filter(|p| settings.forks || !p.from_fork)
        .filter(|p| done.get(&p.number) != Some(&p.head_sha))
        .collect()
}

/// The folders (relative to the repository root, ending in `/`) whose files an environment
/// reads: its own folder, which holds its values, and its releases' local charts.
pub fn reads(environment: &Environment) -> Vec<String> {
    let relative = |p: &std::path::Path| {
        let p = p.strip_prefix(&environment.repo).unwrap_or(p);
        format!("{}/", p.to_string_lossy().trim_end_matches('/'))
    };
    let mut folders = vec![relative(&environment.dir)];
    for r in &environment.releases {
        if let Chart::Local(path) = &r.chart {
            folders.push(relative(path));
        }
        // A values file outside the environment's folder is read as well.
        folders.extend(r.values.iter().map(|v| {
            let v = v.strip_prefix(&environment.repo).unwrap_or(v);
            v.to_string_lossy().into_owned()
        }));
    }
    folders.sort();
    folders.dedup();
    folders
}

/// Whether a change to `changed` (paths relative to the repository root) touches what `reads`
/// names: a file under one of its folders, or one of its files.
pub fn touches(reads: &[String], changed: &[String]) -> bool {
    changed.iter().any(|path| {
        reads.iter().any(|r| {
            if r.ends_with('/') {
                path.starts_with(r.as_str())
            } else {
                path == r
            }
        })
    })
}

/// The comment's body: the marker, then the report.
pub fn comment_body(preview: &Preview) -> String {
    format!("{}\n{}", marker(&preview.environment), markdown(preview))
}

/// The comment to edit: the first one that starts with the environment's marker.
pub fn existing<'a>(environment: &str, comments: &'a [PostedComment]) -> Option<&'a PostedComment> {
    let marker = marker(environment);
    comments.iter().find(|c| c.body.starts_with(&marker))
}

/// The status on the previewed head: `success`, `failure` with its reason, or `error` when the
/// preview could not tell.
pub fn status(preview: &Preview) -> CommitStatus {
    let (state, fallback) = match preview.verdict {
        Verdict::Success => (StatusState::Success, summary(preview)),
        Verdict::Failure => (StatusState::Failure, "the change would fail".to_string()),
        Verdict::Error => (StatusState::Error, "the preview could not tell".to_string()),
    };
    let description = match (&preview.reason, preview.verdict) {
        (Some(reason), Verdict::Failure | Verdict::Error) => reason.clone(),
        _ => fallback,
    };
    CommitStatus::new(&context(&preview.environment), state, &description)
}

fn summary(p: &Preview) -> String {
    if p.git.is_empty() {
        return "no object changes".into();
    }
    format!(
        "{} object(s) change; the cluster would be written for {}, {} pruned",
        p.git.len(),
        p.cluster.len(),
        p.prunes.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pull(number: u64, head: &str, from_fork: bool) -> OpenPull {
        OpenPull {
            number,
            url: format!("https://github.example/pull/{number}"),
            head_sha: head.into(),
            from_fork,
        }
    }

    #[test]
    fn due_are_the_open_pull_requests_not_yet_previewed_at_their_head_forks_only_when_allowed() {
        let open = [
            pull(1, "a1", false),
            pull(2, "b2", false),
            pull(3, "c1", true),
        ];
        let done = BTreeMap::from([(1, "a1".to_string()), (2, "b1".to_string())]);
        let on = |forks| PreviewSettings {
            enabled: true,
            forks,
        };
        let numbers = |settings: &PreviewSettings| -> Vec<u64> {
            due(settings, &open, &done)
                .iter()
                .map(|p| p.number)
                .collect()
        };
        let cases: [(&str, PreviewSettings, Vec<u64>); 3] = [
            ("off: nothing", PreviewSettings::default(), vec![]),
            (
                "a new head is due, a previewed one is not, a fork is not",
                on(false),
                vec![2],
            ),
            ("forks allowed", on(true), vec![2, 3]),
        ];
        for (what, settings, want) in cases {
            assert_eq!(numbers(&settings), want, "{what}");
        }
    }

    #[test]
    fn a_change_touches_an_environment_through_its_folder_its_charts_or_a_values_file() {
        let reads = vec![
            "environments/prod/".to_string(),
            "helm/web/".to_string(),
            "shared/values.yaml".to_string(),
        ];
        let cases: [(&[&str], bool); 6] = [
            (&["environments/prod/values/web.yaml"], true),
            (&["helm/web/templates/deployment.yaml"], true),
            (&["shared/values.yaml"], true),
            (&["docs/preview.md", "README.md"], false),
            (
                &[
                    "environments/production/x.yaml",
                    "helm/web-extra/Chart.yaml",
                ],
                false,
            ),
            (&[], false),
        ];
        for (changed, want) in cases {
            let changed: Vec<String> = changed.iter().map(|c| c.to_string()).collect();
            assert_eq!(touches(&reads, &changed), want, "{changed:?}");
        }
    }

    fn preview(verdict: Verdict, reason: Option<&str>) -> Preview {
        Preview {
            verdict,
            reason: reason.map(str::to_string),
            ..Preview::new("prod", &"b".repeat(40), &"h".repeat(40))
        }
    }

    #[test]
    fn the_head_status_follows_the_verdict_and_names_the_reason() {
        let cases = [
            (
                preview(Verdict::Success, None),
                StatusState::Success,
                "no object changes",
            ),
            (
                preview(
                    Verdict::Failure,
                    Some("the head does not render: values.yaml:3: bad"),
                ),
                StatusState::Failure,
                "the head does not render: values.yaml:3: bad",
            ),
            (
                preview(Verdict::Error, Some("the cluster cannot be read: 503")),
                StatusState::Error,
                "the cluster cannot be read: 503",
            ),
        ];
        for (p, state, description) in cases {
            let s = status(&p);
            assert_eq!(
                (s.context.as_str(), s.state, s.description.as_str()),
                ("sextant/preview/prod", state, description)
            );
        }
    }

    #[test]
    fn the_comment_is_found_again_by_its_environments_marker_only() {
        let body = comment_body(&preview(Verdict::Success, None));
        assert!(
            body.starts_with("<!-- sextant:preview:prod -->\n### Sextant preview"),
            "{body}"
        );
        let posted = |id, body: &str| PostedComment {
            id,
            url: String::new(),
            body: body.into(),
        };
        let comments = [
            posted(1, "looks good to me"),
            posted(2, "<!-- sextant:preview:dev -->\n…"),
            posted(3, &body),
            posted(4, "quoting <!-- sextant:preview:prod --> later"),
        ];
        assert_eq!(existing("prod", &comments).map(|c| c.id), Some(3));
        assert_eq!(existing("stage", &comments).map(|c| c.id), None);
    }
}
