//! The search: candidates, then perturbation renders (together where sentinels can be told
//! apart, alone otherwise, bisected when nothing obvious moves the field) and what each showed.
//! `solve` reads the new values off them; `propose` proves them and places the edits.

use super::leaves::{self, Leaf};
use super::prove::reached_by;
use super::prove::{LiveIndex, Proof};
use super::session::{changed, find, Objects, Outcome, Session};
use super::{dotted, Reason, Result, Unmapped, ValuesEdit, MAX_CANDIDATES};
use crate::drift::ObjectDrift;
use crate::object::{ObjectRef, ANNOTATION_HASH};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub(super) struct Found {
    pub edits: Vec<ValuesEdit>,
    pub unmapped: Vec<Unmapped>,
    pub proof: Proof,
}

pub(super) struct Target {
    pub(super) object: ObjectRef,
    pub(super) pointer: String,
    pub(super) git: Value,
    pub(super) live: Value,
    /// Candidate leaves (indices into the leaves).
    pub(super) candidates: Vec<usize>,
    pub(super) effects: Vec<(usize, Effect)>,
}

/// How a perturbed leaf moved a field.
#[derive(Debug, Clone)]
pub(super) enum Effect {
    /// The field is the leaf's value.
    Direct,
    /// The field is `pre`, the leaf's text, then the rest (in Git's render).
    Embedded { pre: String },
    /// The field moved, but holds neither the sentinel nor its text (`add`, `printf`, a
    /// conditional); `rendered` is what it became.
    Computed { rendered: Option<Value> },
}

/// One proposed edit while it is being proved.
pub(super) struct Plan {
    pub(super) leaf: usize,
    pub(super) new: Value,
    pub(super) targets: Vec<usize>,
}

pub(super) struct Search<'s, 'a> {
    pub(super) s: &'s mut Session<'a>,
    pub(super) leaves: Vec<Leaf>,
    /// Per leaf: the sentinels to try, in order (schema-accepted ones only), and the one in use.
    pub(super) sentinels: BTreeMap<usize, Vec<Value>>,
    /// Per leaf: the rendered fields it moves, from renders where that can be told.
    pub(super) moved: BTreeMap<usize, BTreeSet<(ObjectRef, String)>>,
    pub(super) targets: Vec<Target>,
    pub(super) bound: bool,
}

pub(super) fn run(s: &mut Session<'_>, drift: &[ObjectDrift], live: &[Value]) -> Result<Found> {
    let mut unmapped = Vec::new();
    let mut targets = Vec::new();
    let hash_pointer = format!(
        "/metadata/annotations/{}",
        ANNOTATION_HASH.replace('/', "~1")
    );
    for d in drift.iter().filter(|d| d.release == s.release().name) {
        if d.deleted {
            unmapped.push(Unmapped {
                object: d.reference.clone(),
                pointer: String::new(),
                git: Value::Null,
                live: None,
                reason: Reason::Deleted,
            });
            continue;
        }
        for f in &d.fields {
            let reason = match &f.live {
                None => Some(Reason::RemovedLive),
                Some(_) if f.path == hash_pointer => Some(Reason::NoValuesKey),
                Some(_) => None,
            };
            match (reason, &f.live) {
                (None, Some(live)) => targets.push(Target {
                    object: d.reference.clone(),
                    pointer: f.path.clone(),
                    git: f.git.clone(),
                    live: live.clone(),
                    candidates: Vec::new(),
                    effects: Vec::new(),
                }),
                (reason, _) => unmapped.push(Unmapped {
                    object: d.reference.clone(),
                    pointer: f.path.clone(),
                    git: f.git.clone(),
                    live: f.live.clone(),
                    reason: reason.unwrap_or(Reason::NoValuesKey),
                }),
            }
        }
    }
    let leaves = leaves::leaves(&s.effective);
    let mut search = Search {
        s,
        leaves,
        sentinels: BTreeMap::new(),
        moved: BTreeMap::new(),
        targets,
        bound: false,
    };
    search.find_candidates();
    search.perturb_candidates()?;
    search.perturb_wide()?;
    let (plans, mut rejected) = search.solve();
    let live = LiveIndex::new(live);
    let (kept, proof) = search.prove(plans, &live, &mut rejected)?;
    let mut edits = search.edits(&kept, &mut rejected);
    if !kept.is_empty() {
        let all: Vec<&Plan> = kept.iter().collect();
        let overlay = search.overlay(&all);
        if let Outcome::Rendered(objs) = search.s.render_overlay(&overlay)? {
            unmapped.retain(|u| !reached_by(&objs, u, &live, &mut edits));
        }
    }
    for (t, reason) in rejected {
        let t = &search.targets[t];
        unmapped.push(Unmapped {
            object: t.object.clone(),
            pointer: t.pointer.clone(),
            git: t.git.clone(),
            live: Some(t.live.clone()),
            reason,
        });
    }
    Ok(Found {
        edits,
        unmapped,
        proof,
    })
}

impl Search<'_, '_> {
    fn find_candidates(&mut self) {
        let mut total = BTreeSet::new();
        for t in &mut self.targets {
            let git_scalar = !matches!(t.git, Value::Object(_) | Value::Array(_));
            for (i, leaf) in self.leaves.iter().enumerate() {
                if leaf.is_scalar() != git_scalar || leaves::matches(&leaf.value, &t.git).is_none()
                {
                    continue;
                }
                if total.len() >= MAX_CANDIDATES && !total.contains(&i) {
                    self.bound = true;
                    continue;
                }
                total.insert(i);
                t.candidates.push(i);
            }
        }
        for (k, i) in total.into_iter().enumerate() {
            let hint = self
                .targets
                .iter()
                .find(|t| t.candidates.contains(&i))
                .map(|t| t.live.clone());
            self.choose_sentinels(i, k, hint.as_ref());
        }
    }

    /// Keeps the sentinels the chart's schema accepts in place of the leaf.
    fn choose_sentinels(&mut self, leaf: usize, k: usize, hint: Option<&Value>) {
        let l = &self.leaves[leaf];
        let ok: Vec<Value> = leaves::sentinels(&l.value, k, hint)
            .into_iter()
            .filter(|v| {
                let mut trial = self.s.effective.clone();
                leaves::set(&mut trial, &l.key, v.clone()) && self.s.schema_accepts(&trial)
            })
            .collect();
        self.sentinels.insert(leaf, ok);
    }

    pub(super) fn sentinel(&self, leaf: usize) -> Option<&Value> {
        self.sentinels.get(&leaf).and_then(|v| v.first())
    }

    pub(super) fn render_group(&mut self, group: &[usize]) -> Result<Outcome> {
        let mut overlay = Value::Object(Map::new());
        for &i in group {
            if let Some(v) = self.sentinel(i).cloned() {
                leaves::overlay_set(&mut overlay, &self.s.effective, &self.leaves[i].key, v);
            }
        }
        let out = self.s.render_overlay(&overlay)?;
        if matches!(out, Outcome::Bound) {
            self.bound = true;
        }
        Ok(out)
    }

    /// Candidates whose sentinels can be told apart go in one render; the others, and any
    /// target that render leaves ambiguous, are perturbed one at a time.
    fn perturb_candidates(&mut self) -> Result<()> {
        let all: BTreeSet<usize> = self
            .targets
            .iter()
            .flat_map(|t| t.candidates.iter().copied())
            .filter(|i| self.sentinel(*i).is_some())
            .collect();
        let (batch, mut singles): (Vec<usize>, Vec<usize>) = all
            .into_iter()
            .partition(|i| self.sentinel(*i).is_some_and(leaves::distinctive));
        let mut pending = vec![batch];
        while let Some(group) = pending.pop() {
            if group.is_empty() {
                continue;
            }
            if group.len() == 1 {
                singles.push(group[0]);
                continue;
            }
            match self.render_group(&group)? {
                Outcome::Bound => return Ok(()),
                Outcome::Failed => {
                    let (a, b) = group.split_at(group.len() / 2);
                    pending.push(a.to_vec());
                    pending.push(b.to_vec());
                }
                Outcome::Rendered(objs) => {
                    let retry = self.observe(&group, &objs, None);
                    singles.extend(retry);
                }
            }
        }
        singles.sort_unstable();
        singles.dedup();
        for leaf in singles {
            if !self.perturb_alone(leaf, None)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Renders one leaf perturbed, trying its sentinels in turn until helm accepts one.
    /// `false` once the bound is reached.
    fn perturb_alone(&mut self, leaf: usize, wide: Option<&[usize]>) -> Result<bool> {
        loop {
            if self.sentinel(leaf).is_none() {
                return Ok(true);
            }
            match self.render_group(&[leaf])? {
                Outcome::Bound => return Ok(false),
                Outcome::Failed => {
                    if let Some(v) = self.sentinels.get_mut(&leaf) {
                        v.remove(0);
                    }
                }
                Outcome::Rendered(objs) => {
                    self.observe(&[leaf], &objs, wide);
                    return Ok(true);
                }
            }
        }
    }

    /// Reads a render with `group` perturbed: which fields each leaf moves, and how it moves
    /// the targets it is a candidate for (or, in the wide search, the targets in `wide`).
    /// Returns the leaves that must be perturbed alone to tell.
    fn observe(&mut self, group: &[usize], objs: &Objects, wide: Option<&[usize]>) -> Vec<usize> {
        let baseline = self.s.baseline();
        let alone = group.len() == 1;
        for (r, obj) in objs {
            let Some(base) = find(baseline, r) else {
                continue;
            };
            let mut paths = Vec::new();
            changed(base, obj, "", &mut paths);
            for p in paths {
                let v = obj.pointer(&p);
                for &i in group {
                    let hit = alone
                        || v.is_some_and(|v| {
                            self.sentinel(i).is_some_and(|s| leaves::appears(s, v))
                        });
                    if hit {
                        self.moved
                            .entry(i)
                            .or_default()
                            .insert((r.clone(), p.clone()));
                    }
                }
            }
        }
        let mut retry = Vec::new();
        for ti in 0..self.targets.len() {
            let t = &self.targets[ti];
            let in_group: Vec<usize> = group
                .iter()
                .copied()
                .filter(|i| match wide {
                    Some(w) => w.contains(&ti),
                    None => t.candidates.contains(i),
                })
                .collect();
            if in_group.is_empty() {
                continue;
            }
            let Some(obj) = find(objs, &t.object) else {
                // The perturbation renamed or removed the object: this says nothing of the
                // field, unless the leaf was alone (then it is the object's identity).
                if !alone {
                    retry.extend(in_group);
                }
                continue;
            };
            let v = obj.pointer(&t.pointer);
            if v.is_some_and(|v| leaves::same(v, &t.git)) {
                continue;
            }
            let hits: Vec<usize> = in_group
                .iter()
                .copied()
                .filter(|i| {
                    v.is_some_and(|v| self.sentinel(*i).is_some_and(|s| leaves::appears(s, v)))
                })
                .collect();
            if hits.is_empty() {
                if alone {
                    let e = Effect::Computed {
                        rendered: v.cloned(),
                    };
                    self.targets[ti].effects.push((group[0], e));
                } else {
                    retry.extend(in_group);
                }
                continue;
            }
            let Some(v) = v else { continue };
            for &i in &hits {
                match self.classify(i, &hits, v, &self.targets[ti].git) {
                    Some(e) => self.targets[ti].effects.push((i, e)),
                    None if alone => self.targets[ti].effects.push((
                        i,
                        Effect::Computed {
                            rendered: Some(v.clone()),
                        },
                    )),
                    None => retry.push(i),
                }
            }
        }
        retry
    }

    /// Direct when the field is the sentinel; embedded when the field's text, with the other
    /// hits' sentinels put back to their values, is Git's text with this leaf's value in the
    /// sentinel's place; `None` otherwise.
    fn classify(&self, leaf: usize, hits: &[usize], v: &Value, git: &Value) -> Option<Effect> {
        let s = self.sentinel(leaf)?;
        if leaves::same(v, s) {
            return Some(Effect::Direct);
        }
        let (Value::String(text), Value::String(git)) = (v, git) else {
            return None;
        };
        let mark = leaves::rendered(s)?;
        let mut text = text.clone();
        for &o in hits.iter().filter(|o| **o != leaf) {
            let (Some(os), Some(old)) = (
                self.sentinel(o).and_then(leaves::rendered),
                leaves::rendered(&self.leaves[o].value),
            ) else {
                return None;
            };
            text = text.replace(&os, &old);
        }
        let at = text.find(&mark)?;
        let (pre, suf) = (&text[..at], &text[at + mark.len()..]);
        let old = leaves::rendered(&self.leaves[leaf].value)?;
        (format!("{pre}{old}{suf}") == *git).then(|| Effect::Embedded {
            pre: pre.to_string(),
        })
    }

    /// For targets no candidate moves: every other scalar leaf of a fitting type is perturbed
    /// in one render, and the groups that move a target are halved until single leaves remain.
    fn perturb_wide(&mut self) -> Result<()> {
        let open: Vec<usize> = (0..self.targets.len())
            .filter(|t| self.targets[*t].effects.is_empty())
            .collect();
        if open.is_empty() || self.bound {
            return Ok(());
        }
        let (numeric, textual): (Vec<usize>, Vec<usize>) = open
            .into_iter()
            .partition(|t| self.targets[*t].git.is_number());
        for (targets, numbers_only) in [(numeric, true), (textual, false)] {
            if targets.is_empty() {
                continue;
            }
            let group: Vec<usize> = (0..self.leaves.len())
                .filter(|i| {
                    let v = &self.leaves[*i].value;
                    v.is_number() || (!numbers_only && v.as_str().is_some_and(|s| !s.is_empty()))
                })
                .collect();
            let next = self.sentinels.len();
            for (k, &i) in group.iter().enumerate() {
                if !self.sentinels.contains_key(&i) {
                    self.choose_sentinels(i, next + k, None);
                }
            }
            let group: Vec<usize> = group
                .into_iter()
                .filter(|i| self.sentinel(*i).is_some())
                .collect();
            self.bisect(group, targets)?;
            if self.bound {
                break;
            }
        }
        Ok(())
    }

    fn bisect(&mut self, group: Vec<usize>, targets: Vec<usize>) -> Result<()> {
        let mut pending = vec![(group, targets)];
        while let Some((group, targets)) = pending.pop() {
            if group.is_empty() || targets.is_empty() {
                continue;
            }
            if group.len() == 1 {
                if !self.perturb_alone(group[0], Some(&targets))? {
                    return Ok(());
                }
                continue;
            }
            let halves = |g: &[usize]| {
                let (a, b) = g.split_at(g.len() / 2);
                (a.to_vec(), b.to_vec())
            };
            match self.render_group(&group)? {
                Outcome::Bound => return Ok(()),
                Outcome::Failed => {
                    let (a, b) = halves(&group);
                    pending.push((a, targets.clone()));
                    pending.push((b, targets));
                }
                Outcome::Rendered(objs) => {
                    let moved: Vec<usize> = targets
                        .into_iter()
                        .filter(|t| {
                            let t = &self.targets[*t];
                            find(&objs, &t.object)
                                .map(|o| o.pointer(&t.pointer))
                                .is_none_or(|v| !v.is_some_and(|v| leaves::same(v, &t.git)))
                        })
                        .collect();
                    let (a, b) = halves(&group);
                    pending.push((a, moved.clone()));
                    pending.push((b, moved));
                }
            }
        }
        Ok(())
    }

    pub(super) fn key(&self, leaf: usize) -> String {
        dotted(&self.leaves[leaf].key)
    }
}
