//! The HTTP edge: one dispatcher that logs each request, applies faults, authenticates,
//! enforces the primary rate limit, answers GETs with ETags (304 on `If-None-Match`), and
//! routes to the handlers (`gitdata`, `pulls`, `issues`), which answer with GitHub's status
//! codes and shapes (`reply`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::faults::{Action, AuthKind, RequestRecord};
use crate::gitdata::{
    contents, create_blob, create_commit, create_ref, create_tree, delete_ref, get_ref, update_ref,
};
use crate::issues::{
    add_assignees, add_labels, create_comment, create_issue, create_label, get_issue,
    list_comments, list_issues, list_labels, update_comment, update_issue,
};
use crate::pulls::{
    create_pull, list_pulls, merge_pull, pull_json, request_reviewers, update_pull, with_pull,
};
use crate::reply::{param, Reply};
use crate::shapes::{self, Ctx};
use crate::shared::{lock, Shared};
use crate::state::{RateLimit, State};
use crate::time::now;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(dispatch)
        // GitHub accepts blobs up to 100 MB; tests never need that much.
        .layer(axum::extract::DefaultBodyLimit::max(32 * 1024 * 1024))
        .with_state(shared)
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or(())
                {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    matches!(scheme.to_ascii_lowercase().as_str(), "bearer" | "token")
        .then(|| token.trim().to_string())
}

fn classify_auth(shared: &Shared, st: &State, token: Option<&str>) -> AuthKind {
    let Some(t) = token else {
        return AuthKind::None;
    };
    if t == shared.options.token {
        return AuthKind::Token;
    }
    if st.tokens.get(t).is_some_and(|exp| *exp > now()) {
        return AuthKind::Installation;
    }
    if t.matches('.').count() == 2 && verify_jwt(shared, t).is_ok() {
        return AuthKind::Jwt;
    }
    AuthKind::Invalid
}

/// An App JWT: RS256 over the App's key, `iss` the App id, unexpired, at most 10 minutes long.
fn verify_jwt(shared: &Shared, jwt: &str) -> Result<(), &'static str> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let (Some(app), Some(key)) = (&shared.options.app, &shared.app_public_key) else {
        return Err("no App configured");
    };
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("not a JWT");
    };
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| "bad signature encoding")?;
    let pk =
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, key);
    pk.verify(format!("{h}.{c}").as_bytes(), &sig)
        .map_err(|_| "bad signature")?;
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|_| "bad header")?)
            .map_err(|_| "bad header")?;
    if header["alg"] != "RS256" {
        return Err("alg is not RS256");
    }
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).map_err(|_| "bad claims")?)
            .map_err(|_| "bad claims")?;
    let iss = match &claims["iss"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err("no iss"),
    };
    let (iat, exp) = (
        claims["iat"].as_i64().ok_or("no iat")?,
        claims["exp"].as_i64().ok_or("no exp")?,
    );
    if iss != app.app_id || exp <= now() || iat > now() + 60 || exp - iat > 660 {
        return Err("claims rejected");
    }
    Ok(())
}

fn etag(body: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, body);
    let hex: String = d
        .as_ref()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("W/\"{hex}\"")
}

async fn dispatch(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let full = uri.path();
    let path = match full.strip_prefix("/api/v3") {
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => full.to_string(),
    };
    let query = query_pairs(uri.query());
    let token = bearer(&headers);
    let parsed: Option<Value> = (!body.is_empty())
        .then(|| serde_json::from_slice(&body).ok())
        .flatten();
    let auth = classify_auth(&shared, &lock(&shared.state), token.as_deref());
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let seq = {
        let mut log = lock(&shared.log);
        let seq = log.len() as u64;
        log.push(RequestRecord {
            seq,
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().unwrap_or_default().to_string(),
            auth,
            if_none_match: if_none_match.is_some(),
            status: 0,
            body: parsed.clone(),
            response: None,
            raw: String::from_utf8_lossy(&body).into_owned(),
        });
        seq
    };
    let _write = (method != Method::GET).then(|| WriteGuard::enter(&shared));
    let fired = lock(&shared.faults).fire_first(|f| f.matching.matches(method.as_str(), &path));
    let reply = fault_reply(fired).await;
    let mut counted = true;
    let reply = match reply {
        Some(r) => r,
        None => {
            let mut st = lock(&shared.state);
            if st.rate.reset <= now() {
                st.rate.remaining = st.rate.limit;
                st.rate.reset = now() + 3600;
            }
            if st.rate.remaining <= 0 && path != "/rate_limit" {
                Reply::error(
                    403,
                    &format!("API rate limit exceeded for {}.", shared.options.actor),
                )
            } else {
                let mut r = route(
                    &shared,
                    &mut st,
                    &method,
                    &path,
                    &query,
                    parsed.as_ref(),
                    auth,
                );
                if method == Method::GET && r.code == 200 {
                    if let Some(b) = &r.body {
                        let tag = etag(b.to_string().as_bytes());
                        if if_none_match.as_deref() == Some(tag.as_str()) {
                            // A conditional hit: 304, no body, and no cost against the limit.
                            r = Reply::empty(304);
                            counted = false;
                        }
                        r.headers.push(("etag", tag));
                    }
                }
                if counted && auth != AuthKind::None && auth != AuthKind::Invalid {
                    st.rate.remaining -= 1;
                }
                r
            }
        }
    };
    let rate = lock(&shared.state).rate;
    if let Some(rec) = lock(&shared.log).get_mut(seq as usize) {
        rec.status = reply.code;
        rec.response = reply.body.clone();
    }
    respond(reply, rate)
}

/// The answer a fired fault gives instead of the route's, if any (a delay only waits).
async fn fault_reply(fired: Option<Action>) -> Option<Reply> {
    match fired {
        Some(Action::Delay(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        Some(Action::Status { code: 422, message }) => {
            Some(Reply::invalid(&message, "Fault", "custom"))
        }
        Some(Action::Status { code, message }) => Some(Reply::error(code, &message)),
        Some(Action::SecondaryRateLimit {
            retry_after_seconds,
        }) => {
            let mut r = Reply::error(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.");
            r.headers
                .push(("retry-after", retry_after_seconds.to_string()));
            Some(r)
        }
        Some(Action::TooManyRequests {
            retry_after_seconds,
        }) => {
            let mut r = Reply::error(429, "You have exceeded a secondary rate limit.");
            r.headers
                .push(("retry-after", retry_after_seconds.to_string()));
            Some(r)
        }
        None => None,
    }
}

/// The HTTP response: the reply's status and JSON body, the rate-limit headers GitHub sends
/// with every answer, and the reply's own headers.
fn respond(reply: Reply, rate: RateLimit) -> Response {
    let status = StatusCode::from_u16(reply.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match &reply.body {
        Some(b) => (
            status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            b.to_string(),
        )
            .into_response(),
        None => status.into_response(),
    };
    let h = resp.headers_mut();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put("x-ratelimit-limit", rate.limit.to_string());
    put("x-ratelimit-remaining", rate.remaining.max(0).to_string());
    put(
        "x-ratelimit-used",
        (rate.limit - rate.remaining.max(0)).to_string(),
    );
    put("x-ratelimit-reset", rate.reset.to_string());
    put("x-ratelimit-resource", "core".into());
    put("x-github-api-version-selected", "2022-11-28".into());
    for (k, v) in reply.headers {
        put(k, v);
    }
    resp
}

/// Counts a write while it is served (so tests can see whether writes overlapped).
struct WriteGuard<'a>(&'a Shared);

impl<'a> WriteGuard<'a> {
    fn enter(shared: &'a Shared) -> Self {
        use std::sync::atomic::Ordering::SeqCst;
        let now = shared.writes_in_flight.fetch_add(1, SeqCst) + 1;
        shared.max_writes_in_flight.fetch_max(now, SeqCst);
        Self(shared)
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.0
            .writes_in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn route(
    shared: &Shared,
    st: &mut State,
    method: &Method,
    path: &str,
    q: &[(String, String)],
    body: Option<&Value>,
    auth: AuthKind,
) -> Reply {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let ["app", "installations", id, "access_tokens"] = segs.as_slice() {
        return match *method {
            Method::POST => mint_token(shared, st, id, auth),
            _ => Reply::not_found(),
        };
    }
    match auth {
        AuthKind::Token | AuthKind::Installation => {}
        AuthKind::Jwt => return Reply::error(403, "Resource not accessible by integration"),
        AuthKind::None | AuthKind::Invalid => return Reply::error(401, "Bad credentials"),
    }
    let ["repos", owner, repo, rest @ ..] = segs.as_slice() else {
        return Reply::not_found();
    };
    if *owner != shared.options.owner || *repo != shared.options.repo {
        return Reply::not_found();
    }
    let ctx = Ctx {
        api: &shared.url,
        owner: &shared.options.owner,
        repo: &shared.options.repo,
    };
    let empty = json!({});
    let b = body.unwrap_or(&empty);
    if !matches!(*method, Method::GET | Method::DELETE) && body.is_none() {
        return Reply::error(400, "Problems parsing JSON");
    }
    st.refresh_heads();
    let r = match (method.as_str(), rest) {
        ("GET", ["git", "ref", r @ ..]) => get_ref(&ctx, st, &r.join("/")),
        ("POST", ["git", "refs"]) => create_ref(&ctx, st, b),
        ("PATCH", ["git", "refs", r @ ..]) => update_ref(&ctx, st, &r.join("/"), b),
        ("DELETE", ["git", "refs", r @ ..]) => delete_ref(st, &r.join("/")),
        ("POST", ["git", "blobs"]) => create_blob(&ctx, st, b),
        ("POST", ["git", "trees"]) => create_tree(&ctx, st, b),
        ("POST", ["git", "commits"]) => create_commit(&ctx, st, b),
        ("GET", ["git", "commits", sha]) => st
            .git
            .commit_info(sha)
            .map(|c| Reply::json(200, shapes::commit(&ctx, &c)))
            .map_err(Reply::from),
        ("GET", ["contents", p @ ..]) => contents(&ctx, st, &decode(&p.join("/")), param(q, "ref")),
        ("GET", ["pulls"]) => list_pulls(&ctx, st, q),
        ("POST", ["pulls"]) => create_pull(&ctx, st, &shared.options.actor, b),
        ("GET", ["pulls", n]) => with_pull(st, n, |st, p| {
            Ok(Reply::json(200, pull_json(&ctx, st, p, true)))
        }),
        ("PATCH", ["pulls", n]) => update_pull(&ctx, st, n, b),
        ("POST", ["pulls", n, "requested_reviewers"]) => request_reviewers(&ctx, st, n, b),
        ("PUT", ["pulls", n, "merge"]) => merge_pull(&ctx, st, n, b),
        ("GET", ["deployments"]) => crate::deployments::list_deployments(&ctx, st, q),
        ("POST", ["deployments"]) => {
            crate::deployments::create_deployment(&ctx, st, &shared.options.actor, b)
        }
        ("POST", ["deployments", id, "statuses"]) => {
            crate::deployments::create_deployment_status(&ctx, st, &shared.options.actor, id, b)
        }
        ("GET", ["commits", reference, "statuses"]) => {
            crate::statuses::list_statuses(&ctx, st, reference, q)
        }
        ("POST", ["statuses", sha]) => {
            crate::statuses::create_status(&ctx, st, &shared.options.actor, sha, b)
        }
        ("GET", ["labels"]) => list_labels(&ctx, st, q),
        ("POST", ["labels"]) => create_label(&ctx, st, b),
        ("GET", ["labels", name]) => st
            .label(&decode(name))
            .map(|l| Reply::json(200, shapes::label(&ctx, l)))
            .ok_or_else(Reply::not_found),
        ("GET", ["issues"]) => list_issues(&ctx, st, q),
        ("POST", ["issues"]) => create_issue(&ctx, st, &shared.options.actor, b),
        ("GET", ["issues", n]) => get_issue(&ctx, st, n),
        ("PATCH", ["issues", n]) => update_issue(&ctx, st, n, b),
        ("POST", ["issues", n, "labels"]) => add_labels(&ctx, st, n, b),
        ("POST", ["issues", n, "assignees"]) => add_assignees(&ctx, st, n, b),
        ("POST", ["issues", n, "comments"]) => {
            create_comment(&ctx, st, &shared.options.actor, n, b)
        }
        ("GET", ["issues", n, "comments"]) => list_comments(&ctx, st, n, q),
        ("PATCH", ["issues", "comments", id]) => update_comment(&ctx, st, id, b),
        _ => Err(Reply::not_found()),
    };
    r.unwrap_or_else(|e| e)
}

fn mint_token(shared: &Shared, st: &mut State, id: &str, auth: AuthKind) -> Reply {
    let Some(app) = &shared.options.app else {
        return Reply::not_found();
    };
    if auth != AuthKind::Jwt {
        return Reply::error(401, "A JSON web token could not be decoded");
    }
    if id != app.installation_id.to_string() {
        return Reply::not_found();
    }
    st.tokens_minted += 1;
    let token = format!("ghs_fake{:032}", st.tokens_minted);
    let expires = now() + app.token_ttl.as_secs() as i64;
    st.tokens.insert(token.clone(), expires);
    Reply::json(
        201,
        json!({
            "token": token, "expires_at": shapes::time(expires),
            "permissions": {"contents": "write", "pull_requests": "write", "issues": "write"},
            "repository_selection": "selected"
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_decode_as_github_reads_them() {
        let q = query_pairs(Some("head=acme%3Asextant%2Fdrift&state=open&labels=a,b+c"));
        assert_eq!(param(&q, "head"), Some("acme:sextant/drift"));
        assert_eq!(param(&q, "labels"), Some("a,b c"));
    }
}
