//! Drift: where the live cluster departs from what the agent applied — pure.
//!
//! An object's [`Comparison`] (the one apply's skip decision and `sextant diff` read) gives the
//! fields Git sets that differ live, each attributed, from `managedFields`, to the manager that
//! changed it and when; the fields drift ignores are left out (`compare::ignore`). What to do
//! about it is [`policy`]'s decision; [`heal`] is what a heal writes; [`pr`] is the drift pull
//! request's lifecycle.

pub mod heal;
pub mod policy;
pub mod pr;

pub use crate::compare::ignore::ANNOTATION_DRIFT;
use crate::compare::{ignore::annotated_ignore, owner};
pub use crate::compare::{Comparison, FieldDrift, Keep, Respected};
use crate::object::{Object, ObjectRef, MANAGER};
use serde::Serialize;
use serde_json::Value;

/// One object that departs from Git.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectDrift {
    pub release: String,
    #[serde(skip)]
    pub reference: ObjectRef,
    pub object: String,
    /// Deleted from the cluster.
    pub deleted: bool,
    pub fields: Vec<FieldDrift>,
}

impl ObjectDrift {
    /// The managers behind the change, most recent first, without repeats.
    pub fn managers(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.fields.iter().filter_map(|f| f.manager.clone()) {
            if !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }

    /// The earliest change time among the fields.
    pub fn since(&self) -> Option<String> {
        self.fields
            .iter()
            .filter_map(|f| f.changed_at.clone())
            .min()
    }

    /// The same drift with Secret values masked, for anything published.
    pub fn masked(&self) -> ObjectDrift {
        if self.reference.kind != "Secret" || !self.reference.group.is_empty() {
            return self.clone();
        }
        let mut d = self.clone();
        for f in &mut d.fields {
            f.git = Value::String(crate::secrets::MASK.into());
            f.live = f
                .live
                .as_ref()
                .map(|_| Value::String(crate::secrets::MASK.into()));
        }
        d
    }
}

impl ObjectDrift {
    /// The same drift with each field fed by a decrypted SOPS value masked: Git's side reads
    /// "(encrypted value)", the live side "(encrypted value changed)" (the live value of such
    /// a field is as secret as the one it replaced).
    pub fn sealed(&self, sealed: &crate::secrets::Sealed) -> ObjectDrift {
        let mut d = self.clone();
        for f in &mut d.fields {
            if sealed.in_value(&f.git) || f.live.as_ref().is_some_and(|l| sealed.in_value(l)) {
                f.git = Value::String(crate::secrets::ENCRYPTED.into());
                f.live = f
                    .live
                    .as_ref()
                    .map(|_| Value::String(crate::secrets::ENCRYPTED_CHANGED.into()));
            }
        }
        d
    }
}

/// How `o` departs from Git, given its live state (`None`: deleted), or `None` when it does not
/// (or must not be looked at).
pub fn evaluate(
    env: &crate::environment::Environment,
    o: &Object,
    live: Option<&Value>,
) -> Option<ObjectDrift> {
    drifted(o, &Comparison::of(env, o, live))
}

/// How `o` departs from Git, read from its comparison with live.
pub fn drifted(o: &Object, c: &Comparison) -> Option<ObjectDrift> {
    if c.annotated {
        return None;
    }
    let object = o.reference.to_string();
    let fields: Vec<FieldDrift> = c.drifted().cloned().collect();
    (!c.exists || !fields.is_empty()).then(|| ObjectDrift {
        release: o.release.clone(),
        reference: o.reference.clone(),
        object,
        deleted: !c.exists,
        fields,
    })
}

/// Whether the live object is another revision the agent itself applied: its `sextant.io/hash`
/// annotation, which no other manager holds (the live cache keeps no entry of the agent's own),
/// is not the one of `o`. A sync under way (or another replica's)
/// wrote it; comparing it with the older desired state would report the agent's own writes as
/// drift. The object is compared again once the revision it carries is the one applied.
pub fn applied_elsewhere(o: &Object, live: &Value) -> bool {
    let hash = |v: &Value| {
        v.pointer("/metadata/annotations")
            .and_then(|a| a.get(crate::object::ANNOTATION_HASH))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (Some(git), Some(seen)) = (hash(&o.manifest), hash(live)) else {
        return false;
    };
    if git == seen {
        return false;
    }
    let pointer = format!(
        "/metadata/annotations/{}",
        crate::object::ANNOTATION_HASH.replace('/', "~1")
    );
    !owner::held_by_other(live, &owner::fields_path(live, &pointer), MANAGER)
}

/// Whether drift detection must leave the object alone entirely (`sextant.io/drift: ignore` in
/// Git or live).
pub fn annotated(o: &Object, live: Option<&Value>) -> bool {
    annotated_ignore(&o.manifest) || live.is_some_and(annotated_ignore)
}
