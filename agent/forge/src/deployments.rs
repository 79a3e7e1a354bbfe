//! GitHub Deployments: the record of what runs where, shown on the repository's Environments
//! page. One deployment per (commit, environment), found again by listing, and a status for each
//! step of its sync.

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::api::encode_segment;
use crate::error::Result;
use crate::GitHub;

/// A deployment as GitHub keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Deployment {
    pub id: u64,
    pub sha: String,
    pub environment: String,
}

impl GitHub {
    /// The deployments of commit `sha` to `environment`, newest first.
    pub async fn list_deployments(&self, sha: &str, environment: &str) -> Result<Vec<Deployment>> {
        let query = [
            ("sha", sha.to_string()),
            ("environment", environment.to_string()),
            ("per_page", "100".to_string()),
        ];
        self.get("list_deployments", "/deployments", &query).await
    }

    /// A deployment of commit `sha` to `environment`, never merged into the default branch
    /// (`auto_merge: false`) and asking for no status checks first (`required_contexts: []`:
    /// the agent deploys what Git holds, whatever its checks say).
    pub async fn create_deployment(
        &self,
        sha: &str,
        environment: &str,
        description: &str,
    ) -> Result<Deployment> {
        let body = json!({
            "ref": sha,
            "environment": environment,
            "description": description,
            "auto_merge": false,
            "required_contexts": [],
        });
        self.write("create_deployment", Method::POST, "/deployments", body)
            .await
    }

    /// A status on deployment `id`: `error`, `failure`, `inactive`, `in_progress`, `queued`,
    /// `pending` or `success`, as GitHub names them.
    pub async fn create_deployment_status(
        &self,
        id: u64,
        state: &str,
        description: &str,
    ) -> Result<()> {
        let body = json!({ "state": state, "description": description });
        let _: serde_json::Value = self
            .write(
                "create_deployment_status",
                Method::POST,
                &format!("/deployments/{}/statuses", encode_segment(&id.to_string())),
                body,
            )
            .await?;
        Ok(())
    }
}
