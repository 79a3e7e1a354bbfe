//! Fault injection and the request log: tests choose requests to fail, slow down or cut
//! off, and read back every request served, in order.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::patch::PatchType;

/// The Kubernetes verb of a request (an apply is `Patch` with `patch_type: Apply`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    /// `DELETE` on a collection.
    DeleteCollection,
}

impl Verb {
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Self::Create | Self::Update | Self::Patch | Self::Delete | Self::DeleteCollection
        )
    }
}

/// One request served, as the log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// Arrival order, from 0.
    pub seq: u64,
    pub verb: Verb,
    pub method: String,
    pub path: String,
    pub query: String,
    /// Plural resource name (`deployments`); `None` for discovery and other paths.
    pub resource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    pub field_manager: Option<String>,
    /// The client's `User-Agent`, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    pub patch_type: Option<PatchType>,
    pub dry_run: bool,
    pub force: bool,
    /// The HTTP status code answered.
    pub status: u16,
    /// The body of a write (JSON or YAML, parsed), so tests can assert what was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

impl RequestRecord {
    /// A write that changed (or would have changed, were it not a dry run) state.
    pub fn is_write(&self) -> bool {
        self.verb.is_write() && self.resource.is_some()
    }
}

/// Which requests a fault applies to; `None` fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Match {
    pub verb: Option<Verb>,
    pub resource: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub patch_type: Option<PatchType>,
    pub subresource: Option<String>,
    /// Match only dry runs (`Some(true)`) or only real writes (`Some(false)`).
    pub dry_run: Option<bool>,
}

impl Match {
    pub fn matches(&self, r: &RequestRecord) -> bool {
        let eq = |want: &Option<String>, got: &Option<String>| want.is_none() || want == got;
        self.verb.is_none_or(|v| v == r.verb)
            && eq(&self.resource, &r.resource)
            && eq(&self.name, &r.name)
            && eq(&self.namespace, &r.namespace)
            && self.patch_type.is_none_or(|p| Some(p) == r.patch_type)
            && eq(&self.subresource, &r.subresource)
            && self.dry_run.is_none_or(|d| d == r.dry_run)
    }
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Answer with this HTTP code and a `Status` (500 `InternalError`, 503, …).
    Error { code: u16 },
    /// `429 TooManyRequests` with a `Retry-After` header, in seconds.
    TooManyRequests { retry_after_seconds: u64 },
    /// Hold the request this long before serving it (a slow or timing-out server).
    Delay { millis: u64 },
    /// Serve a watch, then cut the stream after this long.
    DropWatch { after_millis: u64 },
}

/// A fault: which requests, what happens, and how many times (`None` = until cleared).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    #[serde(default)]
    pub matching: Match,
    pub action: Action,
    #[serde(default)]
    pub times: Option<u32>,
}

impl Fault {
    pub fn new(matching: Match, action: Action) -> Self {
        Self {
            matching,
            action,
            times: None,
        }
    }

    /// Fire only for the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    pub fn error(matching: Match, code: u16) -> Self {
        Self::new(matching, Action::Error { code })
    }

    pub fn throttle(matching: Match, retry_after: Duration) -> Self {
        Self::new(
            matching,
            Action::TooManyRequests {
                retry_after_seconds: retry_after.as_secs(),
            },
        )
    }

    pub fn delay(matching: Match, by: Duration) -> Self {
        Self::new(
            matching,
            Action::Delay {
                millis: by.as_millis() as u64,
            },
        )
    }

    pub fn drop_watch(matching: Match, after: Duration) -> Self {
        Self::new(
            Match {
                verb: Some(Verb::Watch),
                ..matching
            },
            Action::DropWatch {
                after_millis: after.as_millis() as u64,
            },
        )
    }
}

impl test_serving::faults::Rule for Fault {
    type Action = Action;
    fn uses(&mut self) -> &mut Option<u32> {
        &mut self.times
    }
    fn action(&self) -> &Action {
        &self.action
    }
}

/// The active faults; for a request, every matching one fires (a delay and an error may both).
pub type Faults = test_serving::faults::Rules<Fault>;

#[cfg(test)]
mod tests {
    use super::*;

    fn record(verb: Verb, resource: &str) -> RequestRecord {
        RequestRecord {
            seq: 0,
            verb,
            method: "GET".into(),
            path: "/".into(),
            query: String::new(),
            resource: Some(resource.into()),
            namespace: None,
            name: None,
            subresource: None,
            field_manager: None,
            user_agent: None,
            patch_type: None,
            dry_run: false,
            force: false,
            status: 0,
            body: None,
        }
    }

    #[test]
    fn counted_faults_fire_that_many_times() {
        let mut faults = Faults::default();
        faults.add(
            Fault::error(
                Match {
                    verb: Some(Verb::Get),
                    ..Match::default()
                },
                500,
            )
            .times(2),
        );
        let get = record(Verb::Get, "pods");
        let fire =
            |faults: &mut Faults, r: &RequestRecord| faults.fire_all(|f| f.matching.matches(r));
        assert_eq!(fire(&mut faults, &record(Verb::List, "pods")), vec![]);
        assert_eq!(fire(&mut faults, &get).len(), 1);
        assert_eq!(fire(&mut faults, &get).len(), 1);
        assert!(fire(&mut faults, &get).is_empty());
    }

    #[test]
    fn faults_round_trip_as_json_for_the_http_endpoint() {
        let f = Fault::throttle(
            Match {
                resource: Some("deployments".into()),
                ..Match::default()
            },
            Duration::from_secs(2),
        );
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Fault>(&text).unwrap(), f);
    }
}
