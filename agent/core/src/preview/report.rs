//! The preview as a person reads it: Markdown for a pull request comment or a terminal, in
//! sections (summary, objects, values keys, promoted digests, Gatekeeper, prunes, diffs), kept
//! under GitHub's comment size. Pure, over a [`Preview`].

use super::{Change, Preview, Seen, Verdict};

/// The report's text is cut to stay below this (GitHub takes 65,536 characters in a comment).
pub const MAX_REPORT: usize = 60_000;

/// The preview as Markdown: a summary, the objects Git changes by release, each cluster diff
/// in a collapsed section, the prunes. Past [`MAX_REPORT`] characters the diffs that do not fit
/// are left out and the summary says how many.
pub fn markdown(p: &Preview) -> String {
    let head = summary(p);
    let mut body = [
        git_table(p),
        values_table(p),
        digests_table(p),
        policy_table(p),
        refused_table(p),
        crds_section(p),
        hooks_section(p),
        prunes_section(p),
    ]
    .concat();
    let mut left_out = 0;
    for c in p.cluster.iter().filter(|c| c.refused.is_none()) {
        let seen = match c.seen {
            Seen::DryRun => "",
            Seen::Merged => ", merged by the agent: the server cannot be asked before its kind or namespace exists",
        };
        let section = format!(
            "\n<details><summary><code>{}</code> ({}{seen})</summary>\n\n```diff\n{}```\n</details>\n",
            c.object, c.release, c.diff
        );
        if head.len() + body.len() + section.len() + 200 > MAX_REPORT {
            left_out += 1;
            continue;
        }
        body.push_str(&section);
    }
    if left_out > 0 {
        body.push_str(&format!(
            "\n{left_out} object diff(s) left out to stay under GitHub's comment size; `sextant preview --env {}` prints them all.\n",
            p.environment
        ));
    }
    head + &body
}

/// The title, the verdict and the counts.
fn summary(p: &Preview) -> String {
    // A commit's first 12 digits, and what follows it ("(working tree)").
    let digits = |rev: &str| rev.chars().take(12).collect::<String>();
    let short = |r: &str| match r.split_once(' ') {
        Some((rev, rest)) => format!("{} {rest}", digits(rev)),
        None => digits(r),
    };
    let mut head = format!(
        "### Sextant preview: `{}`, {} → {}\n\n",
        p.environment,
        short(&p.base),
        short(&p.head)
    );
    let verdict = match p.verdict {
        Verdict::Success => "**success**",
        Verdict::Failure => "**failure**",
        Verdict::Error => "**error**",
    };
    head.push_str(&format!("Verdict: {verdict}"));
    if let Some(r) = &p.reason {
        head.push_str(&format!(": {r}"));
    }
    head.push_str("\n\n");
    let count = |c: Change| p.git.iter().filter(|g| g.change == c).count();
    let refused = p.cluster.iter().filter(|c| c.refused.is_some()).count();
    let refused = match refused {
        0 => String::new(),
        n => format!(", and would refuse {n}"),
    };
    head.push_str(&format!(
        "Git changes {} object(s): {} added, {} changed, {} removed. The cluster would be written for {}{refused}; {} would be pruned; {} hook(s) would run.\n",
        p.git.len(),
        count(Change::Added),
        count(Change::Changed),
        count(Change::Removed),
        p.cluster.len() - p.cluster.iter().filter(|c| c.refused.is_some()).count(),
        p.prunes.len(),
        p.hooks.len()
    ));
    head
}

fn git_table(p: &Preview) -> String {
    if p.git.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n| wave | release | object | change |\n|---|---|---|---|\n");
    for g in &p.git {
        let hook = if g.hook { " (hook)" } else { "" };
        out.push_str(&format!(
            "| {} | {} | `{}`{hook} | {} |\n",
            g.wave,
            g.release,
            g.object,
            change_word(g.change)
        ));
    }
    out
}

fn values_table(p: &Preview) -> String {
    if p.values.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\nValues:\n\n| release | key | base | head | moves |\n|---|---|---|---|---|\n",
    );
    let shown = |v: &Option<String>| {
        v.as_deref()
            .map_or("(unset)".to_string(), |t| format!("`{t}`"))
    };
    for v in &p.values {
        let moves = if v.fields.is_empty() {
            "nothing rendered".to_string()
        } else {
            v.fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | {moves} |\n",
            v.release,
            v.key,
            shown(&v.before),
            shown(&v.after)
        ));
    }
    out
}

fn digests_table(p: &Preview) -> String {
    if p.digests.is_empty() {
        return String::new();
    }
    let mut out =
        String::from("\nPromoted images:\n\n| release | base | head | note |\n|---|---|---|---|\n");
    for d in &p.digests {
        let note = match (&d.rejected, d.outside_promotion()) {
            (Some(reason), _) => format!("**rolled back here before** (rejected.yaml): {reason}"),
            (None, false) => format!(
                "a promotion: {} carries this digest on the tracked branch",
                d.from
            ),
            (None, true) => format!(
                "**outside a promotion**: {} carries {} on the tracked branch",
                d.from,
                d.source
                    .as_deref()
                    .map_or("no digest".to_string(), |s| format!("`{s}`"))
            ),
        };
        out.push_str(&format!(
            "| {} | `{}` | `{}` | {} |\n",
            d.release,
            d.before.as_deref().unwrap_or("(none)"),
            d.after,
            cell(&note)
        ));
    }
    out
}

fn policy_table(p: &Preview) -> String {
    if p.policy.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\nGatekeeper:\n\n| object | constraint | action | message |\n|---|---|---|---|\n",
    );
    for f in &p.policy {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            f.object,
            f.constraint,
            f.action,
            cell(&f.message)
        ));
    }
    out
}

/// One line of a table cell: pipes escaped, lines joined.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn refused_table(p: &Preview) -> String {
    let refused: Vec<_> = p.cluster.iter().filter(|c| c.refused.is_some()).collect();
    if refused.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\nThe API server would refuse (server-side dry-run):\n\n| object | release | why |\n|---|---|---|\n",
    );
    for c in refused {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.object,
            c.release,
            cell(c.refused.as_deref().unwrap_or_default())
        ));
    }
    out
}

fn crds_section(p: &Preview) -> String {
    if p.crds.is_empty() {
        return String::new();
    }
    let mut out =
        String::from("\nCustomResourceDefinitions (an API the whole cluster shares):\n\n");
    for c in &p.crds {
        out.push_str(&format!("- `{}`: {}\n", c.object, change_word(c.change)));
    }
    out
}

fn hooks_section(p: &Preview) -> String {
    if p.hooks.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nHooks that would run (their release changed):\n\n");
    for h in &p.hooks {
        out.push_str(&format!("- `{}` ({}, {})\n", h.object, h.release, h.phase));
    }
    out
}

fn change_word(c: Change) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn prunes_section(p: &Preview) -> String {
    if p.prunes.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nWould be pruned:\n\n");
    for o in &p.prunes {
        out.push_str(&format!("- `{o}`\n"));
    }
    if let Some(b) = &p.prune_blocked {
        out.push_str(&format!(
            "\n**The mass-prune guard would stop the sync**: {b}\n"
        ));
    }
    out
}
