//! The core's forge port (`sextant_core::ports::forge::Forge`) over [`GitHub`](crate::GitHub):
//! the agent's requests read back by branch and label, commits through the Git Data API, and
//! every error typed by what a loop does about it (`ErrorKind`).

use sextant_core::ports::forge::{
    CommitStatus, ErrorKind, Forge, ForgeError, Kind, OpenPull, PostedComment, Query, Request,
    Result,
};

fn typed(e: crate::Error) -> ForgeError {
    let kind = if e.is_not_fast_forward() || matches!(e, crate::Error::Conflict { .. }) {
        ErrorKind::Conflict
    } else if e.is_transient() {
        ErrorKind::Transient
    } else if e.is_permanent() {
        ErrorKind::Permanent
    } else {
        ErrorKind::Other
    };
    ForgeError {
        label: e.metric_label(),
        message: e.to_string(),
        kind,
    }
}

fn posted(c: crate::Comment) -> PostedComment {
    PostedComment {
        id: c.id,
        url: c.html_url,
        body: c.body,
    }
}

impl Forge for crate::GitHub {
    async fn requests(&self, query: &Query) -> Result<Vec<Request>> {
        use crate::{PullFilter, State, StateFilter};
        let mut out: Vec<Request> = Vec::new();
        // `head=owner:branch`: GitHub answers only that branch's pull requests, open and
        // closed, so a busy repository costs nothing more and a newer PR hides nothing
        // (docs.github.com/rest/pulls/pulls#list-pull-requests, parameter `head`; with
        // `state=all` it is how r-lib/usethis#1257 finds a branch's closed pull requests).
        for branch in &query.branches {
            let pulls = self
                .list_pulls(&PullFilter {
                    state: StateFilter::All,
                    head: Some(branch.clone()),
                    ..PullFilter::default()
                })
                .await
                .map_err(typed)?;
            for p in pulls.into_iter().filter(|p| p.head_ref == *branch) {
                if out.iter().any(|r| r.number == p.number) {
                    continue;
                }
                out.push(Request {
                    number: p.number,
                    kind: Kind::PullRequest,
                    url: p.html_url,
                    body: p.body,
                    open: p.state == State::Open,
                    merged: p.merged,
                    created_at: p.created_at,
                });
            }
        }
        if let Some(label) = &query.issue_label {
            let issues = self
                .list_issues(label, StateFilter::All)
                .await
                .map_err(typed)?;
            out.extend(
                issues
                    .into_iter()
                    .filter(|i| !i.is_pull_request)
                    .filter(|i| i.labels.iter().any(|l| l.eq_ignore_ascii_case(label)))
                    .map(|i| Request {
                        number: i.number,
                        kind: Kind::Issue,
                        url: i.html_url,
                        body: i.body,
                        open: i.state == State::Open,
                        merged: false,
                        created_at: i.created_at,
                    }),
            );
        }
        Ok(out)
    }

    async fn head(&self, branch: &str) -> Result<String> {
        Ok(self.branch_head(branch).await.map_err(typed)?.sha)
    }

    async fn file(&self, path: &str, commit: &str) -> Result<Option<Vec<u8>>> {
        match self.file_at(path, commit).await {
            Ok(f) => Ok(Some(f.bytes)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(typed(e)),
        }
    }

    async fn commit(
        &self,
        branch: &str,
        base: &str,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> Result<String> {
        self.commit_files(branch, base, files, message)
            .await
            .map_err(typed)
    }

    async fn advance(
        &self,
        branch: &str,
        expected_head: &str,
        files: &[(String, Vec<u8>)],
        message: &str,
    ) -> Result<String> {
        self.commit_on_branch(branch, expected_head, files, message)
            .await
            .map_err(typed)
    }

    async fn open_pull(&self, title: &str, body: &str, head: &str, base: &str) -> Result<Request> {
        let p = self
            .create_pull(&crate::NewPull {
                title: title.into(),
                head: head.into(),
                base: base.into(),
                body: body.into(),
                draft: false,
            })
            .await
            .map_err(typed)?
            .into_inner();
        Ok(Request {
            number: p.number,
            kind: Kind::PullRequest,
            url: p.html_url,
            body: p.body,
            open: true,
            merged: false,
            created_at: p.created_at,
        })
    }

    async fn open_issue(&self, title: &str, body: &str, labels: &[String]) -> Result<Request> {
        let i = self
            .create_issue(&crate::NewIssue {
                title: title.into(),
                body: body.into(),
                labels: labels.to_vec(),
                assignees: Vec::new(),
            })
            .await
            .map_err(typed)?;
        Ok(Request {
            number: i.number,
            kind: Kind::Issue,
            url: i.html_url,
            body: i.body,
            open: true,
            merged: false,
            created_at: i.created_at,
        })
    }

    async fn edit(&self, number: u64, kind: Kind, title: &str, body: &str) -> Result<()> {
        let update = crate::Update {
            title: Some(title.into()),
            body: Some(body.into()),
            state: None,
        };
        match kind {
            Kind::PullRequest => self.update_pull(number, &update).await.map(drop),
            Kind::Issue => self.update_issue(number, &update).await.map(drop),
        }
        .map_err(typed)
    }

    async fn edit_body(&self, number: u64, kind: Kind, body: &str) -> Result<()> {
        let update = crate::Update {
            title: None,
            body: Some(body.into()),
            state: None,
        };
        match kind {
            Kind::PullRequest => self.update_pull(number, &update).await.map(drop),
            Kind::Issue => self.update_issue(number, &update).await.map(drop),
        }
        .map_err(typed)
    }

    async fn decorate(
        &self,
        number: u64,
        kind: Kind,
        labels: &[String],
        reviewers: &[String],
        assignees: &[String],
    ) -> Result<()> {
        if !labels.is_empty() {
            self.add_labels(number, labels).await.map_err(typed)?;
        }
        if kind == Kind::PullRequest && !reviewers.is_empty() {
            self.request_reviewers(number, reviewers, &[])
                .await
                .map_err(typed)?;
        }
        if !assignees.is_empty() {
            self.add_assignees(number, assignees).await.map_err(typed)?;
        }
        Ok(())
    }

    async fn set_status(&self, sha: &str, status: &CommitStatus) -> Result<()> {
        self.create_status(
            sha,
            status.state.as_str(),
            &status.context,
            &status.description,
        )
        .await
        .map(drop)
        .map_err(typed)
    }

    async fn deployment_status(
        &self,
        sha: &str,
        environment: &str,
        status: &CommitStatus,
    ) -> Result<()> {
        let listed = self
            .list_deployments(sha, environment)
            .await
            .map_err(typed)?;
        let id = match listed.first() {
            Some(d) => d.id,
            None => {
                self.create_deployment(sha, environment, &status.description)
                    .await
                    .map_err(typed)?
                    .id
            }
        };
        self.create_deployment_status(
            id,
            sextant_core::ports::forge::deployment_state(status.state),
            &status.description,
        )
        .await
        .map_err(typed)
    }

    async fn open_pulls(&self, base: &str) -> Result<Vec<OpenPull>> {
        let this = format!("{}/{}", self.owner(), self.repo());
        let pulls = self
            .list_pulls(&crate::PullFilter {
                state: crate::StateFilter::Open,
                base: Some(base.to_string()),
                ..crate::PullFilter::default()
            })
            .await
            .map_err(typed)?;
        Ok(pulls
            .into_iter()
            .map(|p| OpenPull {
                number: p.number,
                url: p.html_url,
                head_sha: p.head_sha,
                // GitHub names repositories regardless of case.
                from_fork: !p.head_repo.is_some_and(|r| r.eq_ignore_ascii_case(&this)),
            })
            .collect())
    }

    async fn comments(&self, number: u64) -> Result<Vec<PostedComment>> {
        let comments = self.list_comments(number).await.map_err(typed)?;
        Ok(comments.into_iter().map(posted).collect())
    }

    async fn add_comment(&self, number: u64, body: &str) -> Result<PostedComment> {
        self.create_comment(number, body)
            .await
            .map(posted)
            .map_err(typed)
    }

    async fn edit_comment(&self, id: u64, body: &str) -> Result<PostedComment> {
        self.update_comment(id, body)
            .await
            .map(posted)
            .map_err(typed)
    }

    async fn comment(&self, number: u64, body: &str) -> Result<()> {
        self.create_comment(number, body)
            .await
            .map(drop)
            .map_err(typed)
    }

    async fn close(&self, number: u64, kind: Kind) -> Result<()> {
        let update = crate::Update {
            state: Some(crate::State::Closed),
            ..Default::default()
        };
        match kind {
            Kind::PullRequest => self.update_pull(number, &update).await.map(drop),
            Kind::Issue => self.update_issue(number, &update).await.map(drop),
        }
        .map_err(typed)
    }

    async fn delete_branch(&self, branch: &str) -> Result<()> {
        crate::GitHub::delete_branch(self, branch)
            .await
            .map(drop)
            .map_err(typed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Auth, Config, GitHub, Secret};
    use forge_testkit::{FakeGitHub, Options};
    use sextant_core::ports::forge::CONFLICT;

    const VALUES: &str = "environments/prod/values/hash-service.yaml";

    fn github(fake: &FakeGitHub) -> GitHub {
        let o = fake.options();
        let auth = Auth::Token(Secret::new(o.token.clone()));
        GitHub::new(Config::new(fake.url(), &o.owner, &o.repo, auth)).expect("a client")
    }

    fn values(digest: &str) -> Vec<(String, Vec<u8>)> {
        vec![(
            VALUES.to_string(),
            format!("image:\n  digest: {digest}\n").into_bytes(),
        )]
    }

    #[tokio::test]
    async fn advance_moves_the_tracked_branch_by_one_commit_on_the_expected_head() {
        let fake = FakeGitHub::start(Options::default()).expect("the fake GitHub");
        let gh = github(&fake);
        let head = Forge::head(&gh, "main").await.unwrap();
        let sha = gh
            .advance("main", &head, &values("sha256:new"), "promote(prod)")
            .await
            .unwrap();
        assert_eq!(Forge::head(&gh, "main").await.unwrap(), sha);
        assert_eq!(fake.parents(&sha), vec![head]);
        assert_eq!(
            Forge::file(&gh, VALUES, &sha).await.unwrap(),
            Some(values("sha256:new").remove(0).1)
        );
    }

    #[tokio::test]
    async fn advance_on_a_branch_that_moved_is_a_conflict_and_keeps_the_other_commit() {
        let fake = FakeGitHub::start(Options::default()).expect("the fake GitHub");
        let gh = github(&fake);
        let read = Forge::head(&gh, "main").await.unwrap();
        let theirs = fake
            .seed("main", &[("README.md", b"# edited\n")], "a human's commit")
            .unwrap();
        let err = gh
            .advance("main", &read, &values("sha256:new"), "promote(prod)")
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{err:?}");
        assert_eq!(err.label, CONFLICT);
        assert_eq!(fake.branch_sha("main").as_deref(), Some(theirs.as_str()));
        assert_eq!(Forge::file(&gh, VALUES, "main").await.unwrap(), None);

        let other = gh
            .advance("no-such-branch", &read, &values("sha256:new"), "m")
            .await
            .unwrap_err();
        assert!(
            !other.is_conflict(),
            "a missing branch is not a race: {other:?}"
        );
    }
}
