//! What `/status` reports and `/readyz` decides on: per environment, the revision, the last sync
//! and the last error. Plain data, updated by the reconcilers.

use crate::apply::result::{SyncResult, Totals};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct WaveSummary {
    pub wave: i32,
    pub duration_seconds: f64,
    pub objects: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastSync {
    pub result: &'static str,
    pub revision: Option<String>,
    pub finished_at: String,
    pub duration_seconds: f64,
    pub totals: Totals,
    pub waves: Vec<WaveSummary>,
    pub error: Option<String>,
}

impl LastSync {
    pub fn of(result: &SyncResult, finished_at: String) -> Self {
        LastSync {
            result: if result.succeeded {
                "succeeded"
            } else {
                "failed"
            },
            revision: result.revision.clone(),
            finished_at,
            duration_seconds: result.duration_seconds,
            totals: result.totals.clone(),
            waves: result
                .waves
                .iter()
                .map(|w| WaveSummary {
                    wave: w.wave,
                    duration_seconds: w.duration_seconds,
                    objects: w.objects.len(),
                    failed: w
                        .objects
                        .iter()
                        .filter(|o| o.outcome == crate::apply::result::Outcome::Failed)
                        .count(),
                })
                .collect(),
            error: result.error.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LastError {
    pub stage: &'static str,
    pub revision: Option<String>,
    pub message: String,
    pub at: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EnvironmentStatus {
    /// The revision last applied successfully.
    pub revision: Option<String>,
    pub last_sync: Option<LastSync>,
    pub last_error: Option<LastError>,
    /// A first sync (of any result) has finished since the agent started.
    pub synced_once: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStatus {
    pub revision: Option<String>,
    pub last_fetch_error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub identity: String,
    pub leader: bool,
    pub source: SourceStatus,
    pub environments: BTreeMap<String, EnvironmentStatus>,
}

impl Status {
    /// Ready once every environment has finished a first sync, or at once on a standby.
    pub fn ready(&self) -> Result<(), String> {
        if !self.leader {
            return Ok(());
        }
        let waiting: Vec<&str> = self
            .environments
            .iter()
            .filter(|(_, e)| !e.synced_once)
            .map(|(n, _)| n.as_str())
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "waiting for the first sync of {}",
                waiting.join(", ")
            ))
        }
    }
}

/// Now, as RFC 3339 UTC.
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_is_ready_after_every_first_sync_and_a_standby_at_once() {
        let mut s = Status {
            leader: true,
            ..Status::default()
        };
        s.environments
            .insert("dev".into(), EnvironmentStatus::default());
        s.environments.insert(
            "prod".into(),
            EnvironmentStatus {
                synced_once: true,
                ..Default::default()
            },
        );
        assert_eq!(s.ready(), Err("waiting for the first sync of dev".into()));
        s.leader = false;
        assert!(s.ready().is_ok());
        s.leader = true;
        s.environments.get_mut("dev").unwrap().synced_once = true;
        assert!(s.ready().is_ok());
    }
}
