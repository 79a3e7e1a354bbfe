//! Fault rules, as both test servers keep them: each fires on the requests it matches, until
//! cleared or for a counted number of requests. What a rule matches and what it does are each
//! server's own.

/// A fault rule: how many uses it has left (`None`: until cleared) and what it does.
pub trait Rule {
    type Action: Clone;
    fn uses(&mut self) -> &mut Option<u32>;
    fn action(&self) -> &Self::Action;
}

/// The active rules, in the order they were added.
#[derive(Debug)]
pub struct Rules<R>(Vec<R>);

impl<R> Default for Rules<R> {
    fn default() -> Self {
        Rules(Vec::new())
    }
}

impl<R: Rule> Rules<R> {
    pub fn add(&mut self, rule: R) {
        self.0.push(rule);
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The actions of every rule `applies` accepts that has uses left (at most `limit`), one
    /// use of each consumed; spent rules are dropped.
    fn fire(&mut self, applies: impl Fn(&R) -> bool, limit: usize) -> Vec<R::Action> {
        let mut fired = Vec::new();
        for rule in self.0.iter_mut() {
            if fired.len() == limit || !applies(rule) {
                continue;
            }
            match rule.uses() {
                Some(0) => continue,
                Some(n) => *n -= 1,
                None => {}
            }
            fired.push(rule.action().clone());
        }
        self.0.retain_mut(|r| *r.uses() != Some(0));
        fired
    }

    /// Every matching rule's action (kube-testkit: a delay and an error may both apply).
    pub fn fire_all(&mut self, applies: impl Fn(&R) -> bool) -> Vec<R::Action> {
        self.fire(applies, usize::MAX)
    }

    /// The first matching rule's action (the fake GitHub: one answer replaces the request's).
    pub fn fire_first(&mut self, applies: impl Fn(&R) -> bool) -> Option<R::Action> {
        self.fire(applies, 1).pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone)]
    struct Fault {
        path: &'static str,
        times: Option<u32>,
        code: u16,
    }

    impl Rule for Fault {
        type Action = u16;
        fn uses(&mut self) -> &mut Option<u32> {
            &mut self.times
        }
        fn action(&self) -> &u16 {
            &self.code
        }
    }

    #[test]
    fn counted_rules_fire_that_many_times_and_uncounted_ones_until_cleared() {
        let mut rules = Rules::default();
        rules.add(Fault {
            path: "/a",
            times: Some(2),
            code: 502,
        });
        rules.add(Fault {
            path: "/a",
            times: None,
            code: 503,
        });
        let on = |p: &'static str| move |f: &Fault| f.path == p;
        assert_eq!(rules.fire_all(on("/b")), Vec::<u16>::new());
        assert_eq!(rules.fire_all(on("/a")), [502, 503]);
        assert_eq!(rules.fire_first(on("/a")), Some(502));
        assert_eq!(rules.fire_all(on("/a")), [503], "the counted rule is spent");
        rules.clear();
        assert_eq!(rules.fire_first(on("/a")), None);
    }
}
