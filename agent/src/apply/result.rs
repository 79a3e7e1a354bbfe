//! The result of a sync, as a typed value that the CLI prints and the daemon, metrics and pull
//! request bodies reuse. `--output json` prints it: a documented contract.

use crate::object::ObjectRef;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
    Pruned,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectResult {
    pub release: String,
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub hook: Option<String>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ObjectResult {
    pub fn new(release: &str, r: &ObjectRef, hook: Option<String>, outcome: Outcome) -> Self {
        ObjectResult {
            release: release.to_string(),
            api_version: r.api_version(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            hook,
            outcome,
            message: None,
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaveResult {
    pub wave: i32,
    pub duration_seconds: f64,
    pub objects: Vec<ObjectResult>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub created: usize,
    pub configured: usize,
    pub unchanged: usize,
    pub pruned: usize,
    pub failed: usize,
}

/// Why a sync stopped, kept typed to the daemon: what a person reads (the `SyncError`'s message,
/// Secret values scrubbed), its metric label, and whether a later try of the same revision may
/// fix it. Serialized as the message alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncFailure {
    pub message: String,
    /// `SyncError::metric_label`: bounded, safe as a metric label.
    pub label: &'static str,
    /// `SyncError::is_transient`: the daemon backs off and tries again; otherwise it waits for
    /// the next commit (or the periodic resync).
    pub transient: bool,
}

impl From<&super::error::SyncError> for SyncFailure {
    fn from(e: &super::error::SyncError) -> Self {
        SyncFailure {
            message: e.to_string(),
            label: e.metric_label(),
            transient: e.is_transient(),
        }
    }
}

impl std::fmt::Display for SyncFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::ops::Deref for SyncFailure {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl Serialize for SyncFailure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncResult {
    pub environment: String,
    pub revision: Option<String>,
    pub dry_run: bool,
    pub succeeded: bool,
    /// Why the sync stopped, when it did.
    pub error: Option<SyncFailure>,
    pub duration_seconds: f64,
    pub waves: Vec<WaveResult>,
    pub pruned: Vec<ObjectResult>,
    pub totals: Totals,
    /// The sync stopped at a health gate: an object degraded, or readiness not reached in time.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unhealthy: bool,
}

impl SyncResult {
    pub fn all_objects(&self) -> impl Iterator<Item = &ObjectResult> {
        self.waves
            .iter()
            .flat_map(|w| w.objects.iter())
            .chain(self.pruned.iter())
    }

    /// Recounts `totals` from the objects.
    pub fn count(&mut self) {
        let mut t = Totals::default();
        for o in self.all_objects() {
            match o.outcome {
                Outcome::Created => t.created += 1,
                Outcome::Configured => t.configured += 1,
                Outcome::Unchanged => t.unchanged += 1,
                Outcome::Pruned => t.pruned += 1,
                Outcome::Failed => t.failed += 1,
            }
        }
        self.totals = t;
    }

    /// The human summary of `sextant apply`: one line per wave, then each object failed,
    /// pruned, kept from a prune or written with a note (with the reason), and totals.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "environment {} at {}{}\n",
            self.environment,
            self.revision.as_deref().unwrap_or("(no revision)"),
            if self.dry_run { " (dry run)" } else { "" }
        );
        out.push_str("WAVE  CREATED  CONFIGURED  UNCHANGED  FAILED  SECONDS\n");
        for w in &self.waves {
            let n = |k: Outcome| w.objects.iter().filter(|o| o.outcome == k).count();
            out.push_str(&format!(
                "{:<4}  {:<7}  {:<10}  {:<9}  {:<6}  {:.1}\n",
                w.wave,
                n(Outcome::Created),
                n(Outcome::Configured),
                n(Outcome::Unchanged),
                n(Outcome::Failed),
                w.duration_seconds
            ));
        }
        // Every object with something to say: failed, pruned, kept from a prune (and why), or
        // written with a field left as it is live.
        let kept_from_prune = |o: &ObjectResult| {
            o.outcome == Outcome::Unchanged
                && o.message.is_some()
                && self.pruned.iter().any(|p| std::ptr::eq(p, o))
        };
        let said = |o: &ObjectResult| match o.outcome {
            Outcome::Failed | Outcome::Pruned => true,
            Outcome::Created | Outcome::Configured => o.message.is_some(),
            Outcome::Unchanged => kept_from_prune(o),
        };
        for o in self.all_objects().filter(|o| said(o)) {
            let outcome = if kept_from_prune(o) {
                "Kept".to_string()
            } else {
                format!("{:?}", o.outcome)
            };
            out.push_str(&format!(
                "{} {} {}{}{}\n",
                outcome,
                o.kind,
                o.namespace
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default(),
                o.name,
                o.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ));
        }
        let t = &self.totals;
        out.push_str(&format!(
            "totals: {} created, {} configured, {} unchanged, {} pruned, {} failed\n",
            t.created, t.configured, t.unchanged, t.pruned, t.failed
        ));
        if let Some(e) = &self.error {
            out.push_str(&format!("sync failed: {e}\n"));
        }
        out
    }
}
