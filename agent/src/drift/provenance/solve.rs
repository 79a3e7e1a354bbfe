//! Reading the new value off the perturbations: the leaf itself, the leaf's slot between Git's
//! literals, or a constant offset; or the reason there is none — pure.

use super::leaves::{self, Leaf};
use super::search::{Effect, Plan, Search, Target};
use super::{dotted, Reason};
use serde_json::Value;
use std::collections::BTreeMap;

impl Search<'_, '_> {
    /// The new value of each leaf that explains a target, or why there is none.
    pub(super) fn solve(&self) -> (Vec<Plan>, BTreeMap<usize, Reason>) {
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

    pub(super) fn solve_target(&self, t: &Target) -> Result<Vec<(usize, Value)>, Reason> {
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
    pub(super) fn invert_offset(&self, leaf: usize, rendered: &Value, t: &Target) -> Option<Value> {
        let old = self.leaves[leaf].value.as_i64()?;
        let sentinel = self.sentinel(leaf)?.as_i64()?;
        let (git, now, live) = (as_int(&t.git)?, as_int(rendered)?, as_int(&t.live)?);
        let b = git - old;
        (now - sentinel == b).then(|| Value::from(live - b))
    }

    /// Git's text is literals around the leaves' slots; the live text, cut at the same
    /// literals, gives each leaf's new text.
    pub(super) fn solve_embedded(
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
