//! The HTTP edge: one dispatcher that logs each request, applies faults, authenticates,
//! enforces the primary rate limit, answers GETs with ETags (304 on `If-None-Match`), and
//! routes to the handlers below, which answer with GitHub's status codes and shapes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::faults::{Action, AuthKind, RequestRecord};
use crate::git::GitError;
use crate::shapes::{self, Ctx};
use crate::shared::{lock, Shared};
use crate::state::{Comment, Issue, PullRequest, State};
use crate::time::now;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .fallback(dispatch)
        // GitHub accepts blobs up to 100 MB; tests never need that much.
        .layer(axum::extract::DefaultBodyLimit::max(32 * 1024 * 1024))
        .with_state(shared)
}

/// A handler's answer.
pub(crate) struct Reply {
    code: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(code: u16, body: Value) -> Self {
        Self {
            code,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn empty(code: u16) -> Self {
        Self {
            code,
            body: None,
            headers: Vec::new(),
        }
    }

    fn error(code: u16, message: &str) -> Self {
        Self::json(code, shapes::error(message, code))
    }

    fn not_found() -> Self {
        Self::error(404, "Not Found")
    }

    fn invalid(message: &str, resource: &str, code: &str) -> Self {
        Self::json(422, shapes::validation(message, resource, code))
    }
}

impl From<GitError> for Reply {
    fn from(e: GitError) -> Self {
        match e {
            GitError::NotFound(m) => Self::error(404, if m.is_empty() { "Not Found" } else { &m }),
            GitError::Unprocessable(m) => Self::error(422, &m),
            GitError::Conflict(m) => Self::error(409, &m),
            GitError::NotFastForward => Self::json(422, shapes::not_fast_forward()),
        }
    }
}

type R = Result<Reply, Reply>;

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

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
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
    let fired = lock(&shared.faults).fire(method.as_str(), &path);
    let reply = match fired {
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
    };
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
        ("GET", ["issues", n, "comments"]) => list_comments(&ctx, st, n),
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

fn str_field<'a>(b: &'a Value, key: &str) -> Result<&'a str, Reply> {
    b[key].as_str().ok_or_else(|| {
        Reply::invalid(
            &format!("Invalid request.\n\n\"{key}\" wasn't supplied."),
            "Request",
            "missing_field",
        )
    })
}

fn strings(b: &Value, key: &str) -> Vec<String> {
    b[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn number(n: &str) -> Result<u64, Reply> {
    n.parse().map_err(|_| Reply::not_found())
}

// --- git data ---

fn get_ref(ctx: &Ctx, st: &State, r: &str) -> R {
    let name = format!("refs/{r}");
    let sha = st.git.ref_target(&name).ok_or_else(Reply::not_found)?;
    Ok(Reply::json(200, shapes::git_ref(ctx, &name, &sha)))
}

fn create_ref(ctx: &Ctx, st: &mut State, b: &Value) -> R {
    let name = str_field(b, "ref")?;
    let sha = str_field(b, "sha")?;
    st.git.create_ref(name, sha)?;
    Ok(Reply::json(201, shapes::git_ref(ctx, name, sha)))
}

fn update_ref(ctx: &Ctx, st: &mut State, r: &str, b: &Value) -> R {
    let name = format!("refs/{r}");
    let sha = str_field(b, "sha")?;
    if st.is_protected(&name) {
        return Err(Reply::error(
            422,
            &format!("Protected branch update failed for {name}."),
        ));
    }
    st.git
        .update_ref(&name, sha, b["force"].as_bool().unwrap_or(false))?;
    Ok(Reply::json(200, shapes::git_ref(ctx, &name, sha)))
}

fn delete_ref(st: &mut State, r: &str) -> R {
    let name = format!("refs/{r}");
    if st.is_protected(&name) {
        return Err(Reply::error(422, "Cannot delete this protected branch."));
    }
    st.git.delete_ref(&name)?;
    Ok(Reply::empty(204))
}

fn create_blob(ctx: &Ctx, st: &mut State, b: &Value) -> R {
    use base64::Engine;
    let content = str_field(b, "content")?;
    let bytes = match b["encoding"].as_str().unwrap_or("utf-8") {
        "base64" => {
            let clean: String = content.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|_| Reply::invalid("content is not valid Base64", "Blob", "invalid"))?
        }
        "utf-8" => content.as_bytes().to_vec(),
        other => {
            return Err(Reply::invalid(
                &format!("encoding {other} is not supported"),
                "Blob",
                "invalid",
            ))
        }
    };
    let sha = st.git.blob(&bytes)?;
    Ok(Reply::json(201, shapes::blob(ctx, &sha)))
}

fn create_tree(ctx: &Ctx, st: &mut State, b: &Value) -> R {
    let items = b["tree"].as_array().ok_or_else(|| {
        Reply::invalid(
            "Invalid request.\n\n\"tree\" wasn't supplied.",
            "Tree",
            "missing_field",
        )
    })?;
    let mut entries = Vec::new();
    for item in items {
        let path = str_field(item, "path")?.to_string();
        let mode = item["mode"].as_str().unwrap_or("100644").to_string();
        if item["type"].as_str().is_some_and(|t| t != "blob") {
            return Err(Reply::invalid(
                "only blob entries are supported by the fake",
                "Tree",
                "invalid",
            ));
        }
        let sha = match (&item["sha"], item["content"].as_str()) {
            (Value::String(s), _) => Some(s.clone()),
            (_, Some(content)) => Some(st.git.blob(content.as_bytes())?),
            (Value::Null, None) if item.get("sha").is_some() => None,
            _ => {
                return Err(Reply::invalid(
                    "tree entry needs sha or content",
                    "Tree",
                    "missing_field",
                ))
            }
        };
        entries.push((path, mode, sha));
    }
    let sha = st.git.tree(b["base_tree"].as_str(), &entries)?;
    let listing = st.git.tree_entries(&sha)?;
    Ok(Reply::json(201, shapes::tree(ctx, &sha, &listing)))
}

fn create_commit(ctx: &Ctx, st: &mut State, b: &Value) -> R {
    let message = str_field(b, "message")?;
    let tree = str_field(b, "tree")?;
    let parents = strings(b, "parents");
    let sha = st.git.commit(message, tree, &parents)?;
    Ok(Reply::json(
        201,
        shapes::commit(ctx, &st.git.commit_info(&sha)?),
    ))
}

fn contents(ctx: &Ctx, st: &State, path: &str, rev: Option<&str>) -> R {
    let rev = rev.unwrap_or(&st.default_branch);
    let (sha, bytes) = st.git.file_at(rev, path)?;
    Ok(Reply::json(
        200,
        shapes::content_file(ctx, path, rev, &sha, &bytes),
    ))
}

// --- pull requests ---

fn pull_json(ctx: &Ctx, st: &State, p: &PullRequest, full: bool) -> Value {
    shapes::pull(ctx, p, &st.labels_of(&p.labels), &st.default_branch, full)
}

fn with_pull(st: &mut State, n: &str, f: impl FnOnce(&mut State, &PullRequest) -> R) -> R {
    let p = st
        .pulls
        .get(&number(n)?)
        .cloned()
        .ok_or_else(Reply::not_found)?;
    f(st, &p)
}

fn state_matches(open: bool, want: Option<&str>) -> bool {
    match want.unwrap_or("open") {
        "all" => true,
        "closed" => !open,
        _ => open,
    }
}

fn list_pulls(ctx: &Ctx, st: &State, q: &[(String, String)]) -> R {
    let head = param(q, "head").map(|h| h.split_once(':').map_or(h, |(_, b)| b).to_string());
    let base = param(q, "base");
    let items: Vec<Value> = st
        .pulls
        .values()
        .rev()
        .filter(|p| state_matches(p.open, param(q, "state")))
        .filter(|p| head.as_deref().is_none_or(|h| p.head == h))
        .filter(|p| base.is_none_or(|b| p.base == b))
        .map(|p| pull_json(ctx, st, p, false))
        .collect();
    Ok(paginate(&format!("{}/pulls", ctx.repo_api()), q, items))
}

/// One page of a list, as GitHub serves lists: `per_page` (default 30, at most 100) and `page`
/// (from 1), and a `Link` header with `prev`, `next`, `last` and `first` where they apply, in
/// the order the recorded `paginate-issues` scenario of `@octokit/fixtures` shows.
pub(crate) fn paginate(url: &str, q: &[(String, String)], items: Vec<Value>) -> Reply {
    let per_page = param(q, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(30)
        .min(100);
    let page = param(q, "page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let mut reply = Reply::json(200, Value::Array(slice));
    let link = |n: usize, rel: &str| {
        let mut pairs: Vec<String> = q
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        pairs.push(format!("page={n}"));
        format!("<{url}?{}>; rel=\"{rel}\"", pairs.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link((page - 1).min(last), "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
    }
    if !links.is_empty() {
        reply.headers.push(("link", links.join(", ")));
    }
    reply
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn create_pull(ctx: &Ctx, st: &mut State, actor: &str, b: &Value) -> R {
    let title = str_field(b, "title")?.to_string();
    let head = str_field(b, "head")?;
    let head = head.split_once(':').map_or(head, |(_, b)| b).to_string();
    let base = str_field(b, "base")?.to_string();
    let head_sha = st
        .git
        .branch(&head)
        .ok_or_else(|| Reply::invalid("head invalid", "PullRequest", "invalid"))?;
    let base_sha = st
        .git
        .branch(&base)
        .ok_or_else(|| Reply::invalid("base invalid", "PullRequest", "invalid"))?;
    if st
        .pulls
        .values()
        .any(|p| p.open && p.head == head && p.base == base)
    {
        let owner = ctx.owner;
        return Err(Reply::invalid(
            &format!("A pull request already exists for {owner}:{head}."),
            "PullRequest",
            "custom",
        ));
    }
    if head_sha == base_sha {
        return Err(Reply::invalid(
            &format!("No commits between {base} and {head}"),
            "PullRequest",
            "custom",
        ));
    }
    let n = st.take_number();
    let t = now();
    let changed_files = st.git.changed_files(&base_sha, &head_sha);
    let p = PullRequest {
        number: n,
        title,
        body: b["body"].as_str().map(str::to_string),
        head,
        head_sha,
        base,
        base_sha,
        open: true,
        draft: b["draft"].as_bool().unwrap_or(false),
        merged_at: None,
        merge_commit_sha: None,
        closed_at: None,
        created_at: t,
        updated_at: t,
        author: actor.to_string(),
        assignees: Vec::new(),
        reviewers: Vec::new(),
        labels: Vec::new(),
        comments: 0,
        changed_files,
    };
    st.pulls.insert(n, p.clone());
    Ok(Reply::json(201, pull_json(ctx, st, &p, true)))
}

fn set_state(open: &mut bool, closed_at: &mut Option<i64>, b: &Value) -> Result<(), Reply> {
    match b["state"].as_str() {
        None => {}
        Some("open") => {
            *open = true;
            *closed_at = None;
        }
        Some("closed") => {
            if *open {
                *closed_at = Some(now());
            }
            *open = false;
        }
        Some(other) => {
            return Err(Reply::invalid(
                &format!("state {other} is not open or closed"),
                "Issue",
                "invalid",
            ))
        }
    }
    Ok(())
}

fn update_pull(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let p = st.pulls.get_mut(&n).ok_or_else(Reply::not_found)?;
    if p.merged_at.is_some() && b["state"].as_str() == Some("open") {
        return Err(Reply::invalid(
            "state cannot be changed. The pull request has been merged.",
            "PullRequest",
            "custom",
        ));
    }
    if let Some(t) = b["title"].as_str() {
        p.title = t.to_string();
    }
    if let Some(body) = b.get("body") {
        p.body = body.as_str().map(str::to_string);
    }
    set_state(&mut p.open, &mut p.closed_at, b)?;
    p.updated_at = now();
    let p = p.clone();
    Ok(Reply::json(200, pull_json(ctx, st, &p, true)))
}

/// GitHub's "Merge a pull request" (a reviewer's merge button, driven over HTTP): the merge
/// method `merge` only; `sha`, when given, must be the head's tip.
fn merge_pull(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let p = st.pulls.get(&n).cloned().ok_or_else(Reply::not_found)?;
    if !p.open {
        return Err(Reply::error(405, "Pull Request is not mergeable"));
    }
    if let Some(method) = b["merge_method"].as_str().filter(|m| *m != "merge") {
        return Err(Reply::invalid(
            &format!("merge_method {method} is not served by the fake (merge only)"),
            "PullRequest",
            "invalid",
        ));
    }
    if b["sha"].as_str().is_some_and(|sha| sha != p.head_sha) {
        return Err(Reply::error(
            409,
            "Head branch was modified. Review and try the merge again.",
        ));
    }
    let sha = crate::shared::merge_pull(st, ctx.owner, &p).map_err(|e| match e {
        GitError::Conflict(_) => Reply::error(405, "Pull Request is not mergeable"),
        e => Reply::from(e),
    })?;
    Ok(Reply::json(
        200,
        json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
    ))
}

fn request_reviewers(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let p = st.pulls.get_mut(&n).ok_or_else(Reply::not_found)?;
    let reviewers = strings(b, "reviewers");
    if reviewers.contains(&p.author) {
        return Err(Reply::invalid(
            "Review cannot be requested from pull request author.",
            "PullRequest",
            "custom",
        ));
    }
    for r in reviewers {
        if !p.reviewers.contains(&r) {
            p.reviewers.push(r);
        }
    }
    let p = p.clone();
    Ok(Reply::json(201, pull_json(ctx, st, &p, false)))
}

// --- issues ---

/// An issue number's issue view: a real issue, or a pull request seen as one.
fn issue_view(st: &State, n: u64) -> Option<Issue> {
    st.issues
        .get(&n)
        .cloned()
        .or_else(|| st.pulls.get(&n).map(Issue::from))
}

fn issue_json(ctx: &Ctx, st: &State, i: &Issue) -> Value {
    shapes::issue(ctx, i, &st.labels_of(&i.labels))
}

fn list_issues(ctx: &Ctx, st: &State, q: &[(String, String)]) -> R {
    let wanted: Vec<String> = param(q, "labels")
        .map(|l| {
            l.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut all: Vec<Issue> = st.issues.values().cloned().collect();
    all.extend(st.pulls.values().map(Issue::from));
    all.sort_by_key(|i| std::cmp::Reverse(i.number));
    // GitHub matches the `labels` filter regardless of case, as it names labels
    // (GitTools/GitReleaseManager#119: `Feature` asked, `feature` found).
    let items: Vec<Value> = all
        .iter()
        .filter(|i| state_matches(i.open, param(q, "state")))
        .filter(|i| {
            wanted
                .iter()
                .all(|w| i.labels.iter().any(|l| l.eq_ignore_ascii_case(w)))
        })
        .map(|i| issue_json(ctx, st, i))
        .collect();
    Ok(paginate(&format!("{}/issues", ctx.repo_api()), q, items))
}

fn list_labels(ctx: &Ctx, st: &State, q: &[(String, String)]) -> R {
    let mut all: Vec<&crate::state::Label> = st.labels.values().collect();
    all.sort_by_key(|l| l.id);
    let items = all.into_iter().map(|l| shapes::label(ctx, l)).collect();
    Ok(paginate(&format!("{}/labels", ctx.repo_api()), q, items))
}

/// GitHub's "Create a label": a name unique regardless of case (`already_exists` on the name
/// otherwise) and a six-digit hex colour (`invalid` on the colour otherwise).
fn create_label(ctx: &Ctx, st: &mut State, b: &Value) -> R {
    let name = b["name"]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Reply::json(422, shapes::label_invalid("name", "missing_field")))?;
    let color = b["color"]
        .as_str()
        .unwrap_or("ededed")
        .trim_start_matches('#');
    if color.len() != 6 || !color.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(Reply::json(422, shapes::label_invalid("color", "invalid")));
    }
    if st.label(name).is_some() {
        return Err(Reply::json(
            422,
            shapes::label_invalid("name", "already_exists"),
        ));
    }
    let mut l = st.ensure_labels(&[name.to_string()]).remove(0);
    l.color = color.to_string();
    l.description = b["description"].as_str().map(str::to_string);
    st.labels.insert(name.to_lowercase(), l.clone());
    Ok(Reply::json(201, shapes::label(ctx, &l)))
}

fn create_issue(ctx: &Ctx, st: &mut State, actor: &str, b: &Value) -> R {
    let title = str_field(b, "title")?.to_string();
    let labels = st.canonical_labels(&strings(b, "labels"));
    let n = st.take_number();
    let t = now();
    let i = Issue {
        number: n,
        title,
        body: b["body"].as_str().map(str::to_string),
        open: true,
        closed_at: None,
        created_at: t,
        updated_at: t,
        author: actor.to_string(),
        assignees: strings(b, "assignees"),
        labels,
        comments: 0,
        pull_merged_at: None,
    };
    st.issues.insert(n, i.clone());
    Ok(Reply::json(201, issue_json(ctx, st, &i)))
}

fn get_issue(ctx: &Ctx, st: &State, n: &str) -> R {
    let i = issue_view(st, number(n)?).ok_or_else(Reply::not_found)?;
    Ok(Reply::json(200, issue_json(ctx, st, &i)))
}

fn update_issue(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    if let Some(p) = st.pulls.get_mut(&n) {
        if let Some(t) = b["title"].as_str() {
            p.title = t.to_string();
        }
        set_state(&mut p.open, &mut p.closed_at, b)?;
        p.updated_at = now();
    } else {
        let labels = b
            .get("labels")
            .map(|_| st.canonical_labels(&strings(b, "labels")));
        let i = st.issues.get_mut(&n).ok_or_else(Reply::not_found)?;
        if let Some(t) = b["title"].as_str() {
            i.title = t.to_string();
        }
        if let Some(body) = b.get("body") {
            i.body = body.as_str().map(str::to_string);
        }
        if let Some(l) = labels {
            i.labels = l;
        }
        set_state(&mut i.open, &mut i.closed_at, b)?;
        i.updated_at = now();
    }
    get_issue(ctx, st, &n.to_string())
}

fn add_labels(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let new = st.canonical_labels(&strings(b, "labels"));
    let labels = if let Some(p) = st.pulls.get_mut(&n) {
        &mut p.labels
    } else {
        &mut st.issues.get_mut(&n).ok_or_else(Reply::not_found)?.labels
    };
    for l in new {
        if !labels.iter().any(|have| have.eq_ignore_ascii_case(&l)) {
            labels.push(l);
        }
    }
    let names = labels.clone();
    let items: Vec<Value> = st
        .labels_of(&names)
        .iter()
        .map(|l| shapes::label(ctx, l))
        .collect();
    Ok(Reply::json(200, Value::Array(items)))
}

fn add_assignees(ctx: &Ctx, st: &mut State, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let new = strings(b, "assignees");
    let assignees = if let Some(p) = st.pulls.get_mut(&n) {
        &mut p.assignees
    } else {
        &mut st
            .issues
            .get_mut(&n)
            .ok_or_else(Reply::not_found)?
            .assignees
    };
    for a in new {
        if !assignees.contains(&a) {
            assignees.push(a);
        }
    }
    let i = issue_view(st, n).ok_or_else(Reply::not_found)?;
    Ok(Reply::json(201, issue_json(ctx, st, &i)))
}

fn create_comment(ctx: &Ctx, st: &mut State, actor: &str, n: &str, b: &Value) -> R {
    let n = number(n)?;
    let body = str_field(b, "body")?.to_string();
    if let Some(p) = st.pulls.get_mut(&n) {
        p.comments += 1;
    } else {
        st.issues.get_mut(&n).ok_or_else(Reply::not_found)?.comments += 1;
    }
    let id = 5_000 + st.comments.len() as u64 + 1;
    let c = Comment {
        id,
        issue: n,
        body,
        author: actor.to_string(),
        at: now(),
    };
    st.comments.push(c.clone());
    Ok(Reply::json(
        201,
        shapes::comment(ctx, c.id, n, &c.body, &c.author, c.at),
    ))
}

fn list_comments(ctx: &Ctx, st: &State, n: &str) -> R {
    let n = number(n)?;
    issue_view(st, n).ok_or_else(Reply::not_found)?;
    let items: Vec<Value> = st
        .comments
        .iter()
        .filter(|c| c.issue == n)
        .map(|c| shapes::comment(ctx, c.id, n, &c.body, &c.author, c.at))
        .collect();
    Ok(Reply::json(200, Value::Array(items)))
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
