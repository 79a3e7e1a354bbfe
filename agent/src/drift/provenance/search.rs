//! The search: candidates, perturbation renders (together where sentinels can be told apart,
//! alone otherwise, bisected when nothing obvious moves the field), the new value read off the
//! sentinel's place in the field, then the proof.

use super::leaves::{self, Leaf};
use super::prove::{self, LiveIndex, Proof, Why};
use super::session::{changed, find, Objects, Outcome, Session};
use super::{dotted, Reason, Result, Segment, Unmapped, ValuesEdit, MAX_CANDIDATES};
use crate::compare;
use crate::drift::ObjectDrift;
use crate::object::{ObjectRef, ANNOTATION_HASH};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub(super) struct Found {
    pub edits: Vec<ValuesEdit>,
    pub unmapped: Vec<Unmapped>,
    pub proof: Proof,
}

struct Target {
    object: ObjectRef,
    pointer: String,
    git: Value,
    live: Value,
    /// Candidate leaves (indices into the leaves).
    candidates: Vec<usize>,
    effects: Vec<(usize, Effect)>,
}

/// How a perturbed leaf moved a field.
#[derive(Debug, Clone)]
enum Effect {
    /// The field is the leaf's value.
    Direct,
    /// The field is `pre`, the leaf's text, then the rest (in Git's render).
    Embedded { pre: String },
    /// The field moved, but holds neither the sentinel nor its text (`add`, `printf`, a
    /// conditional); `rendered` is what it became.
    Computed { rendered: Option<Value> },
}

/// One proposed edit while it is being proved.
struct Plan {
    leaf: usize,
    new: Value,
    targets: Vec<usize>,
}

struct Search<'s, 'a> {
    s: &'s mut Session<'a>,
    leaves: Vec<Leaf>,
    /// Per leaf: the sentinels to try, in order (schema-accepted ones only), and the one in use.
    sentinels: BTreeMap<usize, Vec<Value>>,
    /// Per leaf: the rendered fields it moves, from renders where that can be told.
    moved: BTreeMap<usize, BTreeSet<(ObjectRef, String)>>,
    targets: Vec<Target>,
    bound: bool,
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

    fn sentinel(&self, leaf: usize) -> Option<&Value> {
        self.sentinels.get(&leaf).and_then(|v| v.first())
    }

    fn render_group(&mut self, group: &[usize]) -> Result<Outcome> {
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

    /// The new value of each leaf that explains a target, or why there is none.
    fn solve(&self) -> (Vec<Plan>, BTreeMap<usize, Reason>) {
        let mut plans: Vec<Plan> = Vec::new();
        let mut rejected = BTreeMap::new();
        for (ti, t) in self.targets.iter().enumerate() {
            match self.solve_target(t) {
                Err(reason) => {
                    rejected.insert(ti, reason);
                }
                Ok(news) => {
                    for (leaf, new) in news {
                        match plans.iter_mut().find(|p| p.leaf == leaf) {
                            Some(p) if p.new == new => p.targets.push(ti),
                            Some(p) => {
                                let reason = Reason::Conflict {
                                    key: dotted(&self.leaves[leaf].key),
                                    values: vec![p.new.clone(), new.clone()],
                                };
                                for &o in &p.targets {
                                    rejected.insert(o, reason.clone());
                                }
                                rejected.insert(ti, reason);
                            }
                            None => plans.push(Plan {
                                leaf,
                                new,
                                targets: vec![ti],
                            }),
                        }
                    }
                }
            }
        }
        // A conflicted key is no plan; neither is a plan whose targets all went.
        plans.retain(|p| p.targets.iter().all(|t| !rejected.contains_key(t)));
        (plans, rejected)
    }

    fn key(&self, leaf: usize) -> String {
        dotted(&self.leaves[leaf].key)
    }

    fn solve_target(&self, t: &Target) -> Result<Vec<(usize, Value)>, Reason> {
        let type_err = |leaf: &Leaf, live: &Value| Reason::Type {
            key: dotted(&leaf.key),
            expected: leaves::kind_name(&leaf.value),
            live: leaves::kind_name(live),
        };
        if let Some((i, _)) = t.effects.iter().find(|(_, e)| matches!(e, Effect::Direct)) {
            let leaf = &self.leaves[*i];
            return leaves::convert(&leaf.value, &t.live)
                .map(|new| vec![(*i, new)])
                .ok_or_else(|| type_err(leaf, &t.live));
        }
        let mut slots: Vec<(usize, usize, usize)> = Vec::new();
        for (i, e) in &t.effects {
            if let (Effect::Embedded { pre, .. }, Some(old)) =
                (e, leaves::rendered(&self.leaves[*i].value))
            {
                let (start, end) = (pre.len(), pre.len() + old.len());
                let taken = slots
                    .iter()
                    .any(|(l, s, e)| *l == *i || (start < *e && *s < end));
                if !taken {
                    slots.push((*i, start, end));
                }
            }
        }
        if !slots.is_empty() {
            return self.solve_embedded(t, slots);
        }
        let computed: Vec<(usize, Option<&Value>)> = t
            .effects
            .iter()
            .filter_map(|(i, e)| match e {
                Effect::Computed { rendered } => Some((*i, rendered.as_ref())),
                _ => None,
            })
            .collect();
        if let [(i, Some(rendered))] = computed.as_slice() {
            if let Some(new) = self.invert_offset(*i, rendered, t) {
                return Ok(vec![(*i, new)]);
            }
        }
        if !computed.is_empty() {
            let mut keys: Vec<String> = computed.iter().map(|(i, _)| self.key(*i)).collect();
            keys.sort();
            keys.dedup();
            return Err(Reason::Computed { keys });
        }
        Err(if self.bound {
            Reason::Bound {
                renders: self.s.renders(),
            }
        } else {
            Reason::NoValuesKey
        })
    }

    /// `field = leaf + b` (Helm's `add`): when the sentinel shows the same offset, the leaf that
    /// renders the live value is `live - b`.
    fn invert_offset(&self, leaf: usize, rendered: &Value, t: &Target) -> Option<Value> {
        let old = self.leaves[leaf].value.as_i64()?;
        let sentinel = self.sentinel(leaf)?.as_i64()?;
        let (git, now, live) = (as_int(&t.git)?, as_int(rendered)?, as_int(&t.live)?);
        let b = git - old;
        (now - sentinel == b).then(|| Value::from(live - b))
    }

    /// Git's text is literals around the leaves' slots; the live text, cut at the same
    /// literals, gives each leaf's new text.
    fn solve_embedded(
        &self,
        t: &Target,
        mut slots: Vec<(usize, usize, usize)>,
    ) -> Result<Vec<(usize, Value)>, Reason> {
        slots.sort_by_key(|s| s.1);
        let git = t.git.as_str().unwrap_or_default();
        let mut literals = Vec::new();
        let mut at = 0;
        for (_, s, e) in &slots {
            literals.push(&git[at..*s]);
            at = *e;
        }
        literals.push(&git[at..]);
        let keys: Vec<String> = slots.iter().map(|(i, _, _)| self.key(*i)).collect();
        let mut pattern = String::from(literals[0]);
        for (k, lit) in keys.iter().zip(&literals[1..]) {
            pattern.push_str(&format!("{{{k}}}{lit}"));
        }
        let not_producible = || Reason::NotProducible {
            keys: keys.clone(),
            pattern: pattern.clone(),
        };
        let live = leaves::rendered(&t.live).ok_or_else(not_producible)?;
        let texts = cut(&live, &literals).ok_or_else(not_producible)?;
        let mut out = Vec::new();
        for ((i, _, _), text) in slots.iter().zip(texts) {
            let leaf = &self.leaves[*i];
            if leaves::rendered(&leaf.value).as_deref() == Some(text) {
                continue;
            }
            let new = leaves::convert(&leaf.value, &Value::String(text.to_string())).ok_or(
                Reason::Type {
                    key: dotted(&leaf.key),
                    expected: leaves::kind_name(&leaf.value),
                    live: "a string",
                },
            )?;
            out.push((*i, new));
        }
        if out.is_empty() {
            return Err(not_producible());
        }
        Ok(out)
    }

    fn overlay(&self, plans: &[&Plan]) -> Value {
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

    fn target_fields(&self, plans: &[&Plan]) -> Vec<(ObjectRef, String)> {
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
    fn prove(
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

    fn prove_plans(&mut self, plans: &[&Plan], live: &LiveIndex) -> Result<Option<Proof>> {
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

    fn reason(&self, p: &Plan, proof: &Proof) -> Reason {
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
    fn edits(&self, plans: &[Plan], rejected: &mut BTreeMap<usize, Reason>) -> Vec<ValuesEdit> {
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
    fn written_key(
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

/// A field reported missing live (a list-map item whose key changed live, such as a
/// `containerPort`) that the proved render holds as live does: it is the edits' work too.
fn reached_by(objs: &Objects, u: &Unmapped, live: &LiveIndex, edits: &mut [ValuesEdit]) -> bool {
    if u.reason != Reason::RemovedLive {
        return false;
    }
    let (Some(obj), Some(l)) = (find(objs, &u.object), live.get(&u.object)) else {
        return false;
    };
    if obj
        .pointer(&u.pointer)
        .is_none_or(|now| leaves::same(now, &u.git))
    {
        return false;
    }
    let reached = !compare::differences(obj, l)
        .iter()
        .any(|d| prove::overlaps(&d.path, &u.pointer));
    if !reached {
        return false;
    }
    let field = (u.object.clone(), u.pointer.clone());
    let owner = edits.iter().position(|e| {
        e.fields.iter().any(|(r, p)| {
            prove::same_object(r, &u.object)
                && (p.starts_with(&format!("{}/", u.pointer)) || *p == u.pointer)
        })
    });
    match owner.and_then(|i| edits.get_mut(i)) {
        Some(e) => {
            if !e.fields.contains(&field) {
                e.fields.push(field);
            }
            true
        }
        None => false,
    }
}

fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

/// Cuts `text` at `literals` (first, between-slots, last): the texts in the slots, leftmost
/// first; `None` when `text` does not have that shape.
fn cut<'t>(text: &'t str, literals: &[&str]) -> Option<Vec<&'t str>> {
    let (first, rest) = literals.split_first()?;
    let (last, middle) = rest.split_last()?;
    let mut body = text.strip_prefix(first)?.strip_suffix(last)?;
    let mut out = Vec::new();
    for lit in middle {
        if lit.is_empty() {
            // Two slots side by side: no way to tell where one ends.
            return None;
        }
        let at = body.find(lit)?;
        out.push(&body[..at]);
        body = &body[at + lit.len()..];
    }
    out.push(body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_text_is_cut_at_the_literals_around_the_slots() {
        assert_eq!(
            cut("repo:0.2.0@sha256:9", &["", ":", "@", ""]),
            Some(vec!["repo", "0.2.0", "sha256:9"])
        );
        assert_eq!(cut("other/0.2.0", &["repo:", ""]), None);
        assert_eq!(cut("ab", &["", "", ""]), None);
    }
}
