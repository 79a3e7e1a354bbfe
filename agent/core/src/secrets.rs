//! Secrets never leave the agent in clear: wherever it prints or publishes live state (`diff`,
//! `/status`, logs, events), a Secret's values are masked — pure functions over objects and text.
//!
//! As `kubectl diff` does, masking keeps the one fact a reader needs: whether a value differs.
//! Equal values read `***` on both sides; different ones `*** (before)` and `*** (after)`, so a
//! rotated key still shows as a changed line. `sextant render` prints Git's own files unmasked,
//! as `helm template` does: they are the repository's already.

use serde_json::{Map, Value};

pub const MASK: &str = "***";
const BEFORE: &str = "*** (before)";
const AFTER: &str = "*** (after)";
/// kubectl's client-side apply copies the whole object, values included, into this annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether an object is a core Secret.
pub fn is_secret(o: &Value) -> bool {
    o.get("kind").and_then(Value::as_str) == Some("Secret")
        && o.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Masks the values of a Secret pair (live, Git) for display; other objects pass unchanged.
pub fn mask_pair(live: Option<&Value>, git: &Value) -> (Option<Value>, Value) {
    if !is_secret(git) && !live.is_some_and(is_secret) {
        return (live.cloned(), git.clone());
    }
    let empty = Map::new();
    let values = |o: Option<&Value>, field: &str| -> Map<String, Value> {
        o.and_then(|o| o.get(field))
            .and_then(Value::as_object)
            .unwrap_or(&empty)
            .clone()
    };
    let mut masked_live = live.cloned();
    let mut masked_git = git.clone();
    for field in ["data", "stringData"] {
        let (l, g) = (values(live, field), values(Some(git), field));
        let differs = |k: &str| l.get(k) != g.get(k) && l.contains_key(k) && g.contains_key(k);
        if let Some(o) = masked_live.as_mut() {
            mask_values(o, field, |k| if differs(k) { BEFORE } else { MASK });
        }
        mask_values(&mut masked_git, field, |k| {
            if differs(k) {
                AFTER
            } else {
                MASK
            }
        });
    }
    // Annotations derived from the values: kubectl's copy of the whole object, and the agent's
    // own content hash (an unsalted hash of a weak password can be guessed).
    let annotation = |o: Option<&Value>, k: &str| {
        o.and_then(|o| o.pointer("/metadata/annotations"))
            .and_then(|a| a.get(k))
            .cloned()
    };
    for k in [LAST_APPLIED, crate::object::ANNOTATION_HASH] {
        let differs = live.is_some() && annotation(live, k) != annotation(Some(git), k);
        let sides = masked_live
            .iter_mut()
            .map(|o| (o, BEFORE))
            .chain(std::iter::once((&mut masked_git, AFTER)));
        for (o, changed) in sides {
            if let Some(v) = o
                .pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut)
                .and_then(|a| a.get_mut(k))
            {
                *v = Value::String(if differs { changed } else { MASK }.into());
            }
        }
    }
    (masked_live, masked_git)
}

fn mask_values(o: &mut Value, field: &str, with: impl Fn(&str) -> &'static str) {
    if let Some(m) = o.get_mut(field).and_then(Value::as_object_mut) {
        for (k, v) in m.iter_mut() {
            *v = Value::String(with(k).into());
        }
    }
}

/// Removes a Secret's values from a message (an API server's error can quote what it was
/// sent): each value, base64 as stored and decoded, becomes `***`. Short values (under 4
/// characters) are left, since masking them would garble ordinary words.
pub fn scrub(text: &str, secret: &Value) -> String {
    if !is_secret(secret) {
        return text.to_string();
    }
    let mut values: Vec<String> = Vec::new();
    for field in ["data", "stringData"] {
        for v in secret
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(Value::as_str)
        {
            values.push(v.to_string());
            if field == "data" {
                if let Some(decoded) =
                    kube_canonical::base64::decode(v).and_then(|b| String::from_utf8(b).ok())
                {
                    values.push(decoded);
                }
            }
        }
    }
    values.retain(|v| v.len() >= 4);
    // Longest first: a value that contains another is masked whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = text.to_string();
    for v in values {
        out = out.replace(&v, MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s",
            "annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},
            "data": data})
    }

    #[test]
    fn masked_values_still_tell_which_keys_differ() {
        let live = secret(json!({"password": "cm90YXRlZA==", "user": "YWRtaW4="}));
        let git = secret(json!({"password": "aHVudGVyMg==", "user": "YWRtaW4="}));
        let (l, g) = mask_pair(Some(&live), &git);
        let l = l.unwrap();
        assert_eq!(
            l["data"],
            json!({"password": "*** (before)", "user": "***"})
        );
        assert_eq!(g["data"], json!({"password": "*** (after)", "user": "***"}));
        assert_eq!(g["metadata"]["annotations"][LAST_APPLIED], "***");
        let text = format!("{l}{g}");
        for clear in ["cm90YXRlZA==", "aHVudGVyMg==", "YWRtaW4=", "hunter2"] {
            assert!(!text.contains(clear), "{clear} in {text}");
        }
    }

    #[test]
    fn other_objects_pass_and_messages_lose_every_value() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}});
        assert_eq!(mask_pair(None, &cm).1, cm);
        let s = secret(json!({"password": "aHVudGVyMg=="}));
        assert_eq!(
            scrub("bad value \"hunter2\" (aHVudGVyMg==) at .data.password", &s),
            "bad value \"***\" (***) at .data.password"
        );
        assert_eq!(scrub("hunter2", &cm), "hunter2");
    }
}
