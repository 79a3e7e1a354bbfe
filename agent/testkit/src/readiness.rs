//! What holds an object back from ready in the simulation: its `fail-readiness` annotation, or
//! an image the server fails (`FailImages`). Pure; `crate::controllers` writes the status.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::storage::GroupResource;

/// `"true"`: never ready, still progressing; `"deadline-exceeded"`: never ready, past the deadline.
pub const FAIL_READINESS: &str = "testkit.sextant.io/fail-readiness";

/// Image substrings (a digest `sha256:…`, a tag, a repository) whose workloads never become
/// ready: the server's stand-in for an image that crash-loops. Set per server, so one image can
/// fail in one cluster and run in another. Empty substrings are skipped (they would match every
/// image).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct FailImages(BTreeSet<String>);

impl FailImages {
    pub fn new<I, S>(substrings: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(
            substrings
                .into_iter()
                .map(Into::into)
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The first image of a workload's pod template (containers, then initContainers) that
    /// contains one of the substrings; `None` for other kinds.
    pub fn failing_image<'a>(&self, resource: &GroupResource, obj: &'a Value) -> Option<&'a str> {
        if self.is_empty()
            || !WORKLOADS.contains(&(resource.group.as_str(), resource.resource.as_str()))
        {
            return None;
        }
        ["containers", "initContainers"]
            .iter()
            .filter_map(|list| obj.pointer(&format!("/spec/template/spec/{list}")))
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|c| c.get("image").and_then(Value::as_str))
            .find(|image| self.0.iter().any(|s| image.contains(s.as_str())))
    }
}

impl From<Vec<String>> for FailImages {
    fn from(v: Vec<String>) -> Self {
        Self::new(v)
    }
}

impl From<FailImages> for Vec<String> {
    fn from(f: FailImages) -> Self {
        f.0.into_iter().collect()
    }
}

/// The kinds whose pod template's images `FailImages` looks at.
const WORKLOADS: &[(&str, &str)] = &[
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "replicasets"),
];

/// How far an object gets towards ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Never ready, still Progressing: a stuck rollout inside its deadline, so the client's own
    /// timeout is what stops it (`fail-readiness: "true"`).
    Stuck,
    /// Never ready, and a Deployment reports `Progressing=False`, `ProgressDeadlineExceeded`
    /// (`fail-readiness: "deadline-exceeded"`, or a failing image).
    DeadlineExceeded,
}

/// The object's readiness from its annotation and the server's failing images.
pub fn readiness(resource: &GroupResource, obj: &Value, fail_images: &FailImages) -> Readiness {
    let annotation = obj
        .pointer(&format!(
            "/metadata/annotations/{}",
            FAIL_READINESS.replace('/', "~1")
        ))
        .and_then(Value::as_str);
    // A pod whose image crash-loops (or cannot be pulled) never becomes ready, so its rollout
    // makes no progress; once `progressDeadlineSeconds` pass, the Deployment controller sets
    // Progressing=False with reason ProgressDeadlineExceeded
    // (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#failed-deployment).
    // The simulation reports that state at once instead of after the deadline.
    if annotation == Some("deadline-exceeded") || fail_images.failing_image(resource, obj).is_some()
    {
        Readiness::DeadlineExceeded
    } else if annotation == Some("true") {
        Readiness::Stuck
    } else {
        Readiness::Ready
    }
}

/// Per-object override of the ready delay, in milliseconds (`"1500"`).
pub const READY_AFTER_MS: &str = "testkit.sextant.io/ready-after-ms";

/// How long after its last write an object's status is due.
pub(crate) fn delay_for(obj: &Value, default: Duration) -> Duration {
    obj.pointer(&format!(
        "/metadata/annotations/{}",
        READY_AFTER_MS.replace('/', "~1")
    ))
    .and_then(Value::as_str)
    .and_then(|ms| ms.parse::<u64>().ok())
    .map_or(default, Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BAD: &str = "sha256:badbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbad0";

    #[test]
    fn the_annotation_and_a_failing_image_decide_readiness() {
        let deployments = GroupResource::new("apps", "deployments");
        let d = |annotation: Option<&str>, image: &str| {
            let mut d = json!({"metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [{"name": "a", "image": image}]}}}});
            if let Some(a) = annotation {
                d["metadata"]["annotations"] = json!({FAIL_READINESS: a});
            }
            d
        };
        let bad = FailImages::new([BAD]);
        for (annotation, image, want) in [
            (None, "web:1", Readiness::Ready),
            (Some("false"), "web:1", Readiness::Ready),
            (Some("true"), "web:1", Readiness::Stuck),
            (
                Some("deadline-exceeded"),
                "web:1",
                Readiness::DeadlineExceeded,
            ),
            (None, BAD, Readiness::DeadlineExceeded),
            (Some("true"), BAD, Readiness::DeadlineExceeded),
        ] {
            assert_eq!(
                readiness(&deployments, &d(annotation, image), &bad),
                want,
                "{annotation:?} {image}"
            );
        }
    }

    #[test]
    fn failing_images_look_only_at_workloads_and_skip_empty_substrings() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": BAD}]}});
        let bad = FailImages::new([BAD]);
        assert_eq!(
            bad.failing_image(&GroupResource::new("", "pods"), &pod),
            None
        );
        assert_eq!(
            readiness(&GroupResource::new("", "pods"), &pod, &bad),
            Readiness::Ready
        );
        assert!(
            FailImages::new([""]).is_empty(),
            "\"\" would match every image"
        );
        let d =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": BAD}]}}}});
        assert_eq!(
            FailImages::new([""]).failing_image(&GroupResource::new("apps", "deployments"), &d),
            None
        );
    }

    #[test]
    fn fail_images_are_a_json_list() {
        let f: FailImages = serde_json::from_str(r#"["b", "a", "a"]"#).unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), r#"["a","b"]"#);
    }
}
