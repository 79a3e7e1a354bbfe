//! Deployments (`/repos/{owner}/{repo}/deployments` and their statuses): created for a ref
//! the repository holds, listed newest first and filtered by `sha`, `ref` and `environment`,
//! each status one of the seven states GitHub takes, refused as GitHub refuses them.

use serde_json::Value;

use crate::reply::{number, paginate, param, str_field, Reply, R};
use crate::shapes::{self, Ctx};
use crate::state::{Deployment, DeploymentStatus, State};
use crate::time::now;

const STATES: [&str; 7] = [
    "error",
    "failure",
    "inactive",
    "in_progress",
    "queued",
    "pending",
    "success",
];

pub(crate) fn create_deployment(ctx: &Ctx, st: &mut State, actor: &str, b: &Value) -> R {
    let reference = str_field(b, "ref")?.to_string();
    let sha = st.git.resolve(&reference).map_err(|_| {
        Reply::invalid(
            &format!("No ref found for: {reference}"),
            "Deployment",
            "custom",
        )
    })?;
    let id = 9_000 + st.deployments.len() as u64 + 1;
    let d = Deployment {
        id,
        sha,
        reference,
        environment: b["environment"]
            .as_str()
            .unwrap_or("production")
            .to_string(),
        description: b["description"].as_str().map(str::to_string),
        creator: actor.to_string(),
        at: now(),
        statuses: Vec::new(),
    };
    st.deployments.push(d.clone());
    Ok(Reply::json(201, shapes::deployment(ctx, &d)))
}

pub(crate) fn list_deployments(ctx: &Ctx, st: &State, q: &[(String, String)]) -> R {
    let items: Vec<Value> = st
        .deployments
        .iter()
        .rev()
        .filter(|d| param(q, "sha").is_none_or(|s| d.sha == s))
        .filter(|d| param(q, "ref").is_none_or(|r| d.reference == r))
        .filter(|d| param(q, "environment").is_none_or(|e| d.environment == e))
        .map(|d| shapes::deployment(ctx, d))
        .collect();
    Ok(paginate(
        &format!("{}/deployments", ctx.repo_api()),
        q,
        items,
    ))
}

pub(crate) fn create_deployment_status(
    ctx: &Ctx,
    st: &mut State,
    actor: &str,
    id: &str,
    b: &Value,
) -> R {
    let id = number(id)?;
    let state = str_field(b, "state")?.to_string();
    if !STATES.contains(&state.as_str()) {
        return Err(Reply::invalid(
            "state is not included in the list",
            "DeploymentStatus",
            "custom",
        ));
    }
    let d = st
        .deployments
        .iter_mut()
        .find(|d| d.id == id)
        .ok_or_else(Reply::not_found)?;
    let status = DeploymentStatus {
        id: 11_000 + id * 100 + d.statuses.len() as u64 + 1,
        state,
        description: b["description"].as_str().unwrap_or_default().to_string(),
        creator: actor.to_string(),
        at: now(),
    };
    d.statuses.push(status.clone());
    let d = d.clone();
    Ok(Reply::json(
        201,
        shapes::deployment_status(ctx, &d, &status),
    ))
}
