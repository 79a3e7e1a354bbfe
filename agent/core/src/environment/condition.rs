//! A Prometheus check's condition, as `spec.promotion.checks[].prometheus.condition` declares
//! it: a comparison with a threshold, parsed once at load (`promotion::metric` judges with it).

use serde::{Deserialize, Serialize};

/// A comparison with a threshold: `< 0.01`, `<= 0.25`, `> 0`, `>= 1`, `== 0`, `!= 0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Condition {
    pub op: Op,
    pub threshold: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

impl Condition {
    pub fn holds(&self, v: f64) -> bool {
        match self.op {
            Op::Lt => v < self.threshold,
            Op::Le => v <= self.threshold,
            Op::Gt => v > self.threshold,
            Op::Ge => v >= self.threshold,
            Op::Eq => v == self.threshold,
            Op::Ne => v != self.threshold,
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.threshold)
    }
}

/// Why a condition's text is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error(
        "{text:?} is not a comparison such as \"< 0.01\" (<, <=, >, >=, == or != and a number)"
    )]
    NotAComparison { text: String },
    #[error("{text:?}: {threshold:?} is not a number")]
    NotANumber { text: String, threshold: String },
}

impl TryFrom<String> for Condition {
    type Error = ConditionError;

    fn try_from(text: String) -> Result<Self, ConditionError> {
        let t = text.trim();
        // The two-character operators first, so `<=` is not read as `<` and `=…`.
        let ops = [Op::Le, Op::Ge, Op::Eq, Op::Ne, Op::Lt, Op::Gt];
        let Some((op, rest)) = ops
            .iter()
            .find_map(|op| t.strip_prefix(op.as_str()).map(|rest| (*op, rest.trim())))
        else {
            return Err(ConditionError::NotAComparison { text });
        };
        let Some(threshold) = rest.parse::<f64>().ok().filter(|n| n.is_finite()) else {
            let threshold = rest.to_string();
            return Err(ConditionError::NotANumber { text, threshold });
        };
        Ok(Condition { op, threshold })
    }
}

impl From<Condition> for String {
    fn from(c: Condition) -> String {
        c.to_string()
    }
}
