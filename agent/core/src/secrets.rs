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

/// What shows where a value decrypted from a SOPS values file would.
pub const ENCRYPTED: &str = "(encrypted value)";
/// What shows for a field fed by an encrypted value that changed (the live side of a drift).
pub const ENCRYPTED_CHANGED: &str = "(encrypted value changed)";

/// The values decrypted from SOPS values files, to keep them out of everything the agent
/// shows or publishes: a value, and its base64 (as a Secret's `data` holds it), wherever it
/// appears in a field or a text. As with [`scrub`], values under 4 characters are left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sealed {
    /// Longest first: a value that contains another is masked whole.
    values: Vec<String>,
}

impl Sealed {
    pub fn new(values: impl IntoIterator<Item = String>) -> Sealed {
        let mut out: Vec<String> = Vec::new();
        for v in values.into_iter().filter(|v| v.len() >= 4) {
            out.push(kube_canonical::base64::encode(v.as_bytes()));
            out.push(v);
        }
        out.sort_by_key(|v| std::cmp::Reverse(v.len()));
        out.dedup();
        Sealed { values: out }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether any decrypted value appears in `text`.
    pub fn in_text(&self, text: &str) -> bool {
        self.values.iter().any(|v| text.contains(v.as_str()))
    }

    /// Whether any decrypted value appears in `value` (a string, or any leaf of it).
    pub fn in_value(&self, value: &Value) -> bool {
        !self.is_empty()
            && match value {
                Value::String(s) => self.in_text(s),
                other => self.in_text(&other.to_string()),
            }
    }

    /// `text` with each decrypted value replaced by [`ENCRYPTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), ENCRYPTED);
            }
        }
        out
    }

    /// A (live, Git) pair of one object for display: each field of Git's side that carries a
    /// decrypted value reads [`ENCRYPTED`], and the live field at the same place reads it too
    /// when equal, [`ENCRYPTED_CHANGED`] when not; a decrypted value anywhere else is scrubbed.
    pub fn mask_pair(&self, live: Option<&Value>, git: &Value) -> (Option<Value>, Value) {
        if self.is_empty() {
            return (live.cloned(), git.clone());
        }
        let mut live = live.cloned();
        let mut git = git.clone();
        self.mask_at(live.as_mut(), &mut git);
        if let Some(l) = live.as_mut() {
            self.scrub_leaves(l);
        }
        (live, git)
    }

    fn mask_at(&self, live: Option<&mut Value>, git: &mut Value) {
        match git {
            Value::Object(m) => {
                let mut live = live.and_then(Value::as_object_mut);
                for (k, g) in m.iter_mut() {
                    let l = live.as_mut().and_then(|l| l.get_mut(k));
                    self.mask_at(l, g);
                }
            }
            Value::Array(items) => {
                let mut live = live.and_then(Value::as_array_mut);
                for (i, g) in items.iter_mut().enumerate() {
                    let l = live.as_mut().and_then(|l| l.get_mut(i));
                    self.mask_at(l, g);
                }
            }
            leaf if self.in_value(leaf) => {
                if let Some(l) = live {
                    let same = *l == *leaf;
                    *l = Value::String(if same { ENCRYPTED } else { ENCRYPTED_CHANGED }.into());
                }
                *leaf = Value::String(ENCRYPTED.into());
            }
            _ => {}
        }
    }

    fn scrub_leaves(&self, v: &mut Value) {
        match v {
            Value::Object(m) => m.values_mut().for_each(|v| self.scrub_leaves(v)),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_leaves(v)),
            Value::String(s) if self.in_text(s) => *s = self.scrub(s),
            _ => {}
        }
    }

    /// `self` and `other` together.
    pub fn with(&self, other: &Sealed) -> Sealed {
        let mut values = self.values.clone();
        values.extend(other.values.iter().cloned());
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Sealed { values }
    }
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

    #[test]
    fn decrypted_values_are_found_and_replaced_in_fields_and_text() {
        let sealed = Sealed::new(["s3cr3t-pass".to_string(), "abc".to_string()]);
        let cases: [(&str, bool, &str); 5] = [
            (
                "url: postgres://u:s3cr3t-pass@db",
                true,
                "url: postgres://u:(encrypted value)@db",
            ),
            // base64, as a Secret's data holds it
            ("czNjcjN0LXBhc3M=", true, "(encrypted value)"),
            ("s3cr3t-pas", false, "s3cr3t-pas"),
            // under 4 characters: left, as ordinary words would be garbled
            ("abc", false, "abc"),
            ("", false, ""),
        ];
        for (text, found, scrubbed) in cases {
            assert_eq!(sealed.in_text(text), found, "{text}");
            assert_eq!(sealed.scrub(text), scrubbed, "{text}");
        }
        assert!(sealed.in_value(&json!("x s3cr3t-pass")));
        assert!(!sealed.in_value(&json!(5432)));
        assert!(!Sealed::default().in_value(&json!("s3cr3t-pass")));
    }

    #[test]
    fn a_field_fed_by_a_decrypted_value_is_masked_on_both_sides() {
        let sealed = Sealed::new(["s3cr3t-pass".to_string()]);
        let git = json!({"kind": "ConfigMap", "data": {"url": "u:s3cr3t-pass@db", "a": "1"},
            "list": ["s3cr3t-pass", "x"]});
        let cases = [
            // live differs: the rotated value shows as changed, never in the clear
            (
                json!({"data": {"url": "u:rotated-pass@db", "a": "1"}, "list": ["s3cr3t-pass", "x"]}),
                json!({"data": {"url": "(encrypted value changed)", "a": "1"},
                    "list": ["(encrypted value)", "x"]}),
            ),
            // live equal: the same mark on both sides, so no changed line
            (
                json!({"data": {"url": "u:s3cr3t-pass@db", "a": "1"}, "note": "s3cr3t-pass"}),
                json!({"data": {"url": "(encrypted value)", "a": "1"}, "note": "(encrypted value)"}),
            ),
        ];
        for (live, shown_live) in cases {
            let (l, g) = sealed.mask_pair(Some(&live), &git);
            assert_eq!(l.unwrap(), shown_live);
            assert_eq!(g["data"]["url"], "(encrypted value)");
            assert_eq!(g["list"], json!(["(encrypted value)", "x"]));
        }
        assert_eq!(Sealed::default().mask_pair(None, &git).1, git);
    }
}
