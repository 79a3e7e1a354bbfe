//! A handler's answer ([`Reply`]: GitHub's status, body and headers) and what every handler
//! reads from a request: a field, a number, a state filter, a page of a list.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::git::GitError;
use crate::shapes;
use crate::time::now;

/// A handler's answer.
pub(crate) struct Reply {
    pub code: u16,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn json(code: u16, body: Value) -> Self {
        Self {
            code,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub(crate) fn empty(code: u16) -> Self {
        Self {
            code,
            body: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn error(code: u16, message: &str) -> Self {
        Self::json(code, shapes::error(message, code))
    }

    pub(crate) fn not_found() -> Self {
        Self::error(404, "Not Found")
    }

    pub(crate) fn invalid(message: &str, resource: &str, code: &str) -> Self {
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

pub(crate) type R = Result<Reply, Reply>;

pub(crate) fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub(crate) fn str_field<'a>(b: &'a Value, key: &str) -> Result<&'a str, Reply> {
    b[key].as_str().ok_or_else(|| {
        Reply::invalid(
            &format!("Invalid request.\n\n\"{key}\" wasn't supplied."),
            "Request",
            "missing_field",
        )
    })
}

pub(crate) fn strings(b: &Value, key: &str) -> Vec<String> {
    b[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn number(n: &str) -> Result<u64, Reply> {
    n.parse().map_err(|_| Reply::not_found())
}

pub(crate) fn state_matches(open: bool, want: Option<&str>) -> bool {
    match want.unwrap_or("open") {
        "all" => true,
        "closed" => !open,
        _ => open,
    }
}

pub(crate) fn set_state(
    open: &mut bool,
    closed_at: &mut Option<i64>,
    b: &Value,
) -> Result<(), Reply> {
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

/// A query value in a `Link` URL: every byte but letters and digits percent-encoded (more than
/// needed, which any client decodes the same).
fn encode(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}
