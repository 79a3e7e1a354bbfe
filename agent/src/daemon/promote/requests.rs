//! The promotion loop's forge side: the pull requests (opened, updated with a newer digest,
//! closed when superseded) or the commits of one pass, each decided by
//! `crate::promotion::next` from the requests the forge lists on the agent's branches.

use super::gates::describe;
use super::{Item, Key, Memory, Promoter};
use crate::apply::record::Records;
use crate::daemon::clock::rfc3339;
use crate::daemon::status::Failed;
use crate::drift::pr::Kind;
use crate::environment::{Environment, PromotionMode};
use crate::forge::{ErrorKind, Forge, ForgeError, Query, Request};
use crate::promotion::gate;
use crate::promotion::next::{next, Action, Candidate, Seen};
use crate::promotion::proposal::{self, Evidence, Marker, What};
use crate::registry::Registry;
use std::time::{Duration, Instant};

/// How often the requests are listed again when nothing this pass may change them.
const STATE_LIST_EVERY: Duration = Duration::from_secs(30);

/// Why one (target, release) stopped: listing the requests fails the whole pass; an action
/// fails only its own item.
enum Stop {
    List(ForgeError),
    Act(ForgeError),
}

impl<F: Forge + 'static, R: Registry + 'static, K: Records + 'static> Promoter<F, R, K> {
    /// The pull requests and commits of one pass; the first failure, if any.
    pub(super) async fn forge_pass(
        &self,
        m: &mut Memory,
        items: &[Item<'_>],
        candidates: &[(usize, Candidate)],
    ) -> Option<ForgeError> {
        let mut failure: Option<ForgeError> = None;
        // The forge: pull requests listed once a pass when something may change, else seldom.
        let pr_items: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, it)| {
                it.target.promotion.as_ref().map(|p| p.mode) == Some(PromotionMode::PullRequest)
            })
            .map(|(i, _)| i)
            .collect();
        let want_list = candidates.iter().any(|(i, _)| pr_items.contains(i))
            || m.requests
                .as_ref()
                .is_none_or(|(_, at)| at.elapsed() >= STATE_LIST_EVERY);
        // The agent's promotion requests are on its own branches, one per (target, release):
        // found by branch, whatever else the repository holds.
        let query = Query {
            branches: pr_items
                .iter()
                .map(|i| proposal::branch(&items[*i].target.name, &items[*i].image.release))
                .collect(),
            issue_label: None,
        };
        let mut listed_now = false;
        if want_list && !pr_items.is_empty() {
            if let Err(e) = self.list(m, &query).await {
                self.forge_failed(m, items, &e);
                return Some(e);
            }
            listed_now = true;
        }
        for (i, item) in items.iter().enumerate() {
            let key = (item.target.name.clone(), item.image.release.clone());
            let candidate = candidates.iter().find(|(c, _)| *c == i).map(|(_, c)| c);
            let outcome = match item.target.promotion.as_ref().map(|p| p.mode) {
                Some(PromotionMode::Commit) => match candidate {
                    Some(c) => self.commit(m, item, c).await.map_err(Stop::Act),
                    None => Ok(()),
                },
                _ => {
                    self.pull_request(m, item, &key, candidate, &query, &mut listed_now)
                        .await
                }
            };
            match outcome {
                Ok(()) => {
                    m.errors.remove(&key);
                }
                Err(Stop::List(e)) => {
                    self.forge_failed(m, items, &e);
                    return Some(e);
                }
                Err(Stop::Act(e)) => {
                    tracing::warn!(target = %item.target.name, release = %item.image.release, error = %e, "promotion: the forge failed; trying again next pass");
                    self.count(&item.target.name, "failed");
                    m.errors.insert(key, Failed::of(&e));
                    if failure.as_ref().is_none_or(|f| !f.is_permanent()) {
                        failure = Some(e);
                    }
                }
            }
        }
        failure
    }

    /// `pull-request` mode for one (target, release): what `next` decides from the listed
    /// requests, carried out.
    async fn pull_request(
        &self,
        m: &mut Memory,
        item: &Item<'_>,
        key: &Key,
        candidate: Option<&Candidate>,
        query: &Query,
        listed_now: &mut bool,
    ) -> Result<(), Stop> {
        // Decided from a list older than this pass, an action might close a request merged
        // meanwhile: anything to do is decided again on a fresh list.
        let decide = |m: &Memory| {
            let list = m
                .requests
                .as_ref()
                .map(|(l, _)| l.as_slice())
                .unwrap_or_default();
            let seen = seen_for(list, item);
            let actions = next(candidate, item.target_digest.as_deref(), &seen);
            (seen, actions)
        };
        if m.requests.is_none() {
            return Ok(());
        }
        let (mut seen, mut actions) = decide(m);
        if !*listed_now && actions.iter().any(|a| !matches!(a, Action::Nothing(_))) {
            self.list(m, query).await.map_err(Stop::List)?;
            *listed_now = true;
            (seen, actions) = decide(m);
        }
        let open_url = seen.iter().find(|s| s.open).and_then(|open| {
            m.requests
                .as_ref()
                .and_then(|(l, _)| l.iter().find(|r| r.number == open.number))
                .map(|r| r.url.clone())
        });
        match open_url {
            Some(url) => {
                m.urls.insert(key.clone(), url);
            }
            None if !seen.iter().any(|s| s.open) => {
                m.urls.remove(key);
            }
            None => {}
        }
        let changed = actions.iter().any(|a| !matches!(a, Action::Nothing(_)));
        let mut result = Ok(());
        for a in actions {
            if let Err(e) = self.act(m, item, candidate, &seen, a).await {
                result = Err(Stop::Act(e));
                break;
            }
        }
        if changed {
            m.requests = None;
        }
        result
    }

    /// Lists the requests on `query`'s branches into memory. A request this loop opened that
    /// the forge does not list is an error: opening another would duplicate it, so nothing is
    /// written until it shows (the loop backs off meanwhile).
    async fn list(&self, m: &mut Memory, query: &Query) -> Result<(), ForgeError> {
        let list = self.forge.requests(query).await?;
        m.written
            .retain(|_, n| !list.iter().any(|r| r.number == *n));
        let unseen = m.written.iter().next().map(|((target, release), n)| {
            ForgeError {
                message: format!(
                    "promotion pull request #{n} was opened on {} but the forge does not list it there; nothing more is written until it does",
                    proposal::branch(target, release)
                ),
                label: "unseen",
                kind: ErrorKind::Permanent,
            }
        });
        m.requests = Some((list, Instant::now()));
        match unseen {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn forge_failed(&self, m: &mut Memory, items: &[Item<'_>], e: &ForgeError) {
        tracing::warn!(source = %self.source, error = %e, "promotion: cannot list the forge's requests");
        for it in items {
            m.errors.insert(
                (it.target.name.clone(), it.image.release.clone()),
                Failed::of(e),
            );
        }
        self.publish_gates(m, items);
    }

    /// The values edit of `item` to `digest` on the tracked branch's head, and that head.
    async fn edit_at_head(
        &self,
        item: &Item<'_>,
        digest: &str,
    ) -> Result<(String, crate::promotion::Edit), ForgeError> {
        let head = self.forge.head(&self.base).await?;
        let release = item.target.release(&item.image.release);
        let file = release
            .and_then(|r| {
                crate::environment::promoted::holder(r, &item.image.path)
                    .ok()
                    .flatten()
            })
            .and_then(|(f, _)| {
                f.strip_prefix(&item.target.repo)
                    .ok()
                    .map(|p| p.to_string_lossy().to_string())
            })
            .ok_or_else(|| {
                ForgeError::edit(format!(
                    "no values file of {} sets {}",
                    item.image.release, item.image.path
                ))
            })?;
        let text = self
            .forge
            .file(&file, &head)
            .await?
            .map(|b| String::from_utf8_lossy(&b).to_string());
        let edit =
            crate::promotion::edit(item.target, item.image, digest, item.tag.as_ref(), |p| {
                (p == file).then(|| text.clone()).flatten()
            })
            .map_err(|e| ForgeError::edit(e.to_string()))?;
        Ok((head, edit))
    }

    fn evidence(
        &self,
        m: &Memory,
        item: &Item<'_>,
        c: &Candidate,
        edit: &crate::promotion::Edit,
    ) -> (Evidence, Marker) {
        let key = (item.target.name.clone(), item.image.release.clone());
        let gate = m.gates.get(&key);
        let p = item.target.promotion.as_ref().expect("targets promote");
        let registry = m
            .verified
            .get(&c.digest)
            .and_then(|(r, _)| r.as_ref().ok())
            .map(describe)
            .unwrap_or_default();
        let signature = m
            .signed
            .get(&(key.clone(), c.digest.clone()))
            .and_then(|(r, _)| r.as_ref().ok())
            .map(crate::signature::describe);
        let (log, more) = match &self.log {
            Some(log) => {
                let applied = self.applied.borrow().clone();
                let paths = applied
                    .as_ref()
                    .map(|a| release_paths(&a.environment, &item.image.release))
                    .unwrap_or_default();
                let source_file = applied
                    .as_ref()
                    .and_then(|a| a.environment.release(&item.image.release).cloned())
                    .and_then(|r| {
                        crate::environment::promoted::holder(&r, &item.image.path)
                            .ok()
                            .flatten()
                    })
                    .and_then(|(f, _)| {
                        let repo = &applied.as_ref()?.environment.repo;
                        f.strip_prefix(repo)
                            .ok()
                            .map(|p| p.to_string_lossy().to_string())
                    });
                let from = match (&source_file, &item.target_digest) {
                    (Some(f), Some(d)) => Some((f.as_str(), item.image.path.as_str(), d.as_str())),
                    _ => None,
                };
                let revision = applied
                    .as_ref()
                    .and_then(|a| a.revision.clone())
                    .unwrap_or_default();
                log(&revision, &paths, from)
            }
            None => (Vec::new(), 0),
        };
        let marker = Marker {
            what: What::Promote,
            target: item.target.name.clone(),
            release: item.image.release.clone(),
            digest: c.digest.clone(),
            from: self.source.clone(),
            revision: c.revision.clone(),
            // Lead time counts from dev running the digest healthily (the soak's start).
            applied_at: gate.and_then(|g| g.held.as_ref()).map(|h| h.since),
            superseded: false,
        };
        let evidence = Evidence {
            repository: item.image.repository.clone(),
            digest: c.digest.clone(),
            previous: item.target_digest.clone(),
            from: self.source.clone(),
            revision: c.revision.clone(),
            healthy_since: gate
                .and_then(|g| g.held.as_ref())
                .map(|h| rfc3339(h.since))
                .unwrap_or_default(),
            soak: p.soak.to_string(),
            checks: m
                .checks
                .values()
                .map(|(o, _)| o.clone())
                .filter(|o| p.checks.iter().any(|c| c.name() == o.name))
                .collect(),
            registry,
            signature,
            file: edit.path.clone(),
            key: edit.key.clone(),
            log,
            more,
        };
        (evidence, marker)
    }

    async fn act(
        &self,
        m: &mut Memory,
        item: &Item<'_>,
        candidate: Option<&Candidate>,
        seen: &[Seen],
        action: Action,
    ) -> Result<(), ForgeError> {
        let target = &item.target.name;
        let release = &item.image.release;
        let branch = proposal::branch(target, release);
        match action {
            Action::Nothing(why) => {
                tracing::debug!(target = %target, release = %release, why, "promotion: nothing to do");
                Ok(())
            }
            Action::Open | Action::Update { .. } => {
                let Some(c) = candidate else { return Ok(()) };
                let (head, edit) = self.edit_at_head(item, &c.digest).await?;
                if edit.before == edit.after {
                    return Ok(());
                }
                let (evidence, marker) = self.evidence(m, item, c, &edit);
                let title = proposal::title(target, release, &c.digest, &self.source, &c.revision);
                let body = proposal::body(&evidence, &marker);
                self.forge
                    .commit(
                        &branch,
                        &head,
                        &[(edit.path.clone(), edit.after.into_bytes())],
                        &format!("{title}\n\n{}", marker.render()),
                    )
                    .await?;
                match action {
                    Action::Update { number, from } => {
                        self.forge
                            .edit(number, Kind::PullRequest, &title, &body)
                            .await?;
                        self.forge
                            .comment(
                                number,
                                &format!(
                                    "Updated from `{}` to `{}`, which {} has now run healthily. A review of the earlier digest does not cover this one.",
                                    gate::short(&from),
                                    gate::short(&c.digest),
                                    self.source
                                ),
                            )
                            .await?;
                        tracing::info!(target = %target, release = %release, number, digest = %c.digest, "promotion pull request updated");
                    }
                    _ => {
                        let pr = crate::forge::open_labelled_pull(
                            &*self.forge,
                            &title,
                            &body,
                            &branch,
                            &self.base,
                            proposal::LABEL,
                        )
                        .await?;
                        m.urls
                            .insert((target.clone(), release.clone()), pr.url.clone());
                        m.written
                            .insert((target.clone(), release.clone()), pr.number);
                        tracing::info!(target = %target, release = %release, number = pr.number, digest = %c.digest, "promotion pull request opened");
                    }
                }
                self.count(target, "proposed");
                Ok(())
            }
            Action::Close { number, comment } => {
                self.forge.comment(number, &comment).await?;
                if let Some(body) = seen
                    .iter()
                    .find(|s| s.number == number)
                    .and(m.requests.as_ref())
                    .and_then(|(l, _)| l.iter().find(|r| r.number == number))
                    .and_then(|r| Marker::supersede(&r.body))
                {
                    self.forge
                        .edit_body(number, Kind::PullRequest, &body)
                        .await?;
                }
                self.forge.close(number, Kind::PullRequest).await?;
                if !seen.iter().any(|s| s.open && s.number != number) {
                    self.forge.delete_branch(&branch).await?;
                }
                self.count(target, "superseded");
                Ok(())
            }
        }
    }

    /// `commit` mode: the edit as one commit on the tracked branch, fast-forward only.
    async fn commit(
        &self,
        m: &mut Memory,
        item: &Item<'_>,
        c: &Candidate,
    ) -> Result<(), ForgeError> {
        if item.target_digest.as_deref() == Some(c.digest.as_str()) {
            return Ok(());
        }
        let (head, edit) = self.edit_at_head(item, &c.digest).await?;
        if edit.before == edit.after {
            return Ok(());
        }
        let (evidence, marker) = self.evidence(m, item, c, &edit);
        let title = proposal::title(
            &item.target.name,
            &item.image.release,
            &c.digest,
            &self.source,
            &c.revision,
        );
        let message = format!("{title}\n\n{}", proposal::body(&evidence, &marker));
        let sha = self
            .forge
            .advance(
                &self.base,
                &head,
                &[(edit.path.clone(), edit.after.into_bytes())],
                &message,
            )
            .await?;
        tracing::info!(target = %item.target.name, release = %item.image.release, commit = %sha, digest = %c.digest, "promotion committed");
        m.urls
            .insert((item.target.name.clone(), item.image.release.clone()), sha);
        self.count(&item.target.name, "committed");
        Ok(())
    }
}

/// The agent's promotion requests for one (target, release), found by their marker.
fn seen_for(list: &[Request], item: &Item<'_>) -> Vec<Seen> {
    list.iter()
        .filter(|r| r.kind == Kind::PullRequest)
        .filter_map(|r| {
            let marker = Marker::parse(&r.body)?;
            (marker.what == What::Promote
                && marker.target == item.target.name
                && marker.release == item.image.release)
                .then_some(Seen {
                    number: r.number,
                    open: r.open,
                    merged: r.merged,
                    marker,
                })
        })
        .collect()
}

/// The repository paths a release's Git log follows: its local chart and its values files.
fn release_paths(env: &Environment, release: &str) -> Vec<String> {
    let Some(r) = env.release(release) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let crate::environment::Chart::Local(dir) = &r.chart {
        out.push(
            dir.strip_prefix(&env.repo)
                .unwrap_or(dir)
                .to_string_lossy()
                .to_string(),
        );
    }
    for v in &r.values {
        out.push(
            v.strip_prefix(&env.repo)
                .unwrap_or(v)
                .to_string_lossy()
                .to_string(),
        );
    }
    out
}
