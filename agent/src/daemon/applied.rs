//! What a successful sync applied, shared by the loops that read it (drift, promotion, drift
//! pull requests, rollback): the environment, its objects and its promoted digests, at a revision;
//! and, after a promotion, the verification under way over it.

use std::collections::BTreeMap;
use std::sync::Arc;

/// What a successful sync applied: the environment and its objects (hooks aside), at a revision.
#[derive(Debug)]
pub struct Applied {
    pub environment: crate::environment::Environment,
    pub revision: Option<String>,
    pub objects: Vec<crate::object::Object>,
    /// The digest of each promoted release (the environment's own `promotion.images`).
    pub digests: BTreeMap<String, String>,
    /// When it was applied (Unix seconds).
    pub at: u64,
}

impl Applied {
    pub fn new(
        environment: crate::environment::Environment,
        revision: Option<String>,
        objects: Vec<crate::object::Object>,
    ) -> Self {
        let digests = environment
            .promotion
            .as_ref()
            .map(|p| crate::promotion::digests(&environment, &p.images))
            .unwrap_or_default();
        Applied {
            environment,
            revision,
            objects,
            digests,
            at: super::clock::unix_seconds(),
        }
    }
}

impl Applied {
    /// Whether this is what `revision` of the repository applies.
    pub fn is_revision(&self, revision: &str) -> bool {
        self.revision.as_deref() == Some(revision)
    }
}

/// What the reconciler keeps of the verification under way: its record, and the rendering it
/// replaced (where a breach rolls back to) while this replica still has it.
#[derive(Clone)]
pub struct Watch {
    pub record: crate::promotion::verify::Verification,
    pub previous: Option<Arc<Applied>>,
}
