//! The agent's drift requests as one pass of the loop reads them from the forge.

use crate::drift::pr::{Closed, Marker, OpenRequest};
use crate::forge::Request;
use std::collections::{BTreeMap, HashMap};

/// The agent's requests as one pass reads them: the open one of each release (and its body),
/// and how each reviewer-closed (release, fingerprint) ended.
#[derive(Default)]
pub(super) struct Listed {
    pub(super) open: BTreeMap<String, OpenRequest>,
    pub(super) bodies: HashMap<u64, String>,
    pub(super) closed: HashMap<(String, String), Closed>,
}

pub(super) fn listed(environment: &str, requests: &[Request]) -> Listed {
    let mut l = Listed::default();
    for r in requests {
        let Some(m) = Marker::parse(&r.body).filter(|m| m.environment == environment) else {
            continue;
        };
        if r.open {
            l.bodies.insert(r.number, r.body.clone());
            l.open.insert(
                m.release.clone(),
                OpenRequest {
                    number: r.number,
                    kind: r.kind,
                    url: r.url.clone(),
                    marker: m,
                },
            );
        } else if !m.resolved {
            // Closed by a reviewer (the agent marks the ones it closes itself): a merge,
            // or a rejection.
            let state = if r.merged {
                Closed::Merged
            } else {
                Closed::Rejected
            };
            // A merged one wins over a rejected one with the same fingerprint.
            let slot = l.closed.entry((m.release, m.fingerprint)).or_insert(state);
            if state == Closed::Merged {
                *slot = state;
            }
        }
    }
    l
}
