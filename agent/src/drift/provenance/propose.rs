//! From solved values to proposed edits: the proof (edits that fail it tried alone and dropped
//! with the reason), the values file each edit goes in, and how a key inside a list is written.

use super::leaves::{self, Leaf};
use super::prove::{self, LiveIndex, Proof, Why};
use super::search::{Plan, Search};
use super::session::Outcome;
use super::{dotted, Reason, Result, Segment, ValuesEdit};
use crate::object::ObjectRef;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

impl Search<'_, '_> {
    pub(super) fn overlay(&self, plans: &[&Plan]) -> Value {
        let mut overlay = Value::Object(Map::new());
        for p in plans {
            leaves::overlay_set(
                &mut overlay,
                &self.s.effective,
                &self.leaves[p.leaf].key,
                p.new.clone(),
            );
        }
        overlay
    }

    pub(super) fn target_fields(&self, plans: &[&Plan]) -> Vec<(ObjectRef, String)> {
        let mut out: Vec<(ObjectRef, String)> = Vec::new();
        for t in plans.iter().flat_map(|p| &p.targets) {
            let f = (
                self.targets[*t].object.clone(),
                self.targets[*t].pointer.clone(),
            );
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }

    /// Renders with the plans' values and checks the result against live. Plans whose render
    /// fails the proof are tried alone; those that fail alone are dropped with the reason, and
    /// the rest are proved again, together.
    pub(super) fn prove(
        &mut self,
        mut plans: Vec<Plan>,
        live: &LiveIndex,
        rejected: &mut BTreeMap<usize, Reason>,
    ) -> Result<(Vec<Plan>, Proof)> {
        loop {
            if plans.is_empty() {
                return Ok((plans, Proof::default()));
            }
            let all: Vec<&Plan> = plans.iter().collect();
            let proof = self.prove_plans(&all, live)?;
            if let Some(proof) = proof.as_ref().filter(|p| p.holds()) {
                return Ok((plans, proof.clone()));
            }
            let mut keep = Vec::new();
            let mut dropped = false;
            let together = plans.len() > 1;
            for p in plans {
                let alone = if together {
                    self.prove_plans(&[&p], live)?
                } else {
                    proof.clone()
                };
                match alone {
                    Some(proof) if proof.holds() => keep.push(p),
                    other => {
                        dropped = true;
                        let reason = match other {
                            Some(proof) => self.reason(&p, &proof),
                            None if self.bound => Reason::Bound {
                                renders: self.s.renders(),
                            },
                            None => Reason::ProofFailed {
                                keys: vec![self.key(p.leaf)],
                                failures: vec!["helm refuses the proposed values".into()],
                            },
                        };
                        for t in &p.targets {
                            rejected.entry(*t).or_insert_with(|| reason.clone());
                        }
                    }
                }
            }
            if !dropped {
                // Each holds alone but not together: keep none rather than guess.
                let keys = keep.iter().map(|p| self.key(p.leaf)).collect::<Vec<_>>();
                let failures = proof
                    .map(|p| p.failures.iter().map(|f| f.to_string()).collect())
                    .unwrap_or_default();
                let reason = Reason::ProofFailed { keys, failures };
                for t in keep.iter().flat_map(|p| &p.targets) {
                    rejected.entry(*t).or_insert_with(|| reason.clone());
                }
                return Ok((Vec::new(), Proof::default()));
            }
            // A target any of whose plans went is not mapped; its other plans go too.
            keep.retain(|p| p.targets.iter().all(|t| !rejected.contains_key(t)));
            plans = keep;
        }
    }

    pub(super) fn prove_plans(
        &mut self,
        plans: &[&Plan],
        live: &LiveIndex,
    ) -> Result<Option<Proof>> {
        let overlay = self.overlay(plans);
        let targets = self.target_fields(plans);
        Ok(match self.s.render_overlay(&overlay)? {
            Outcome::Rendered(objs) => Some(prove::check(self.s.baseline(), &objs, &targets, live)),
            Outcome::Failed => None,
            Outcome::Bound => {
                self.bound = true;
                None
            }
        })
    }

    pub(super) fn reason(&self, p: &Plan, proof: &Proof) -> Reason {
        let not_live: Vec<String> = proof
            .failures
            .iter()
            .filter(|f| f.why == Why::NotLive)
            .map(|f| format!("{} {}", f.object, f.pointer))
            .collect();
        if !not_live.is_empty() {
            return Reason::MovesOtherFields {
                key: self.key(p.leaf),
                fields: not_live,
            };
        }
        Reason::ProofFailed {
            keys: vec![self.key(p.leaf)],
            failures: proof.failures.iter().map(|f| f.to_string()).collect(),
        }
    }

    /// The proved plans as edits of the values file that wins for each key.
    pub(super) fn edits(
        &self,
        plans: &[Plan],
        rejected: &mut BTreeMap<usize, Reason>,
    ) -> Vec<ValuesEdit> {
        let mut out = Vec::new();
        for p in plans {
            let leaf = &self.leaves[p.leaf];
            let set_by = self
                .s
                .files
                .iter()
                .rev()
                .find(|(_, content)| leaves::get(content, &leaf.key).is_some())
                .map(|(f, _)| f.clone());
            let (file, from_defaults) = match set_by {
                Some(f) => (f, false),
                None => match self.s.release().values.last() {
                    Some(f) => (f.clone(), true),
                    None => {
                        for t in &p.targets {
                            rejected.insert(
                                *t,
                                Reason::NoValuesFile {
                                    key: dotted(&leaf.key),
                                },
                            );
                        }
                        continue;
                    }
                },
            };
            let (key, old, new) = self.written_key(leaf, &p.new, from_defaults);
            let mut fields: Vec<(ObjectRef, String)> = self.target_fields(&[p]);
            for f in self.moved.get(&p.leaf).into_iter().flatten() {
                if !fields.contains(f) {
                    fields.push(f.clone());
                }
            }
            out.push(ValuesEdit {
                dotted: dotted(&key),
                encrypted: super::encrypted_key(&file, &key),
                key,
                file,
                old,
                new,
                from_defaults,
                fields,
            });
        }
        out
    }

    /// Helm replaces lists whole: a key inside a list that only the chart's defaults set is
    /// written as the whole list, with the one item changed.
    pub(super) fn written_key(
        &self,
        leaf: &Leaf,
        new: &Value,
        from_defaults: bool,
    ) -> (Vec<Segment>, Option<Value>, Value) {
        let list_at = leaf.key.iter().position(|s| matches!(s, Segment::Index(_)));
        match list_at {
            Some(at) if from_defaults => {
                let list_key = leaf.key[..at].to_vec();
                let old = leaves::get(&self.s.effective, &list_key).cloned();
                let mut list = old.clone().unwrap_or(Value::Array(Vec::new()));
                leaves::set(&mut list, &leaf.key[at..], new.clone());
                (list_key, old, list)
            }
            _ => (
                leaf.key.clone(),
                leaves::get(&self.s.effective, &leaf.key).cloned(),
                new.clone(),
            ),
        }
    }
}
