//! Reading one setting: a non-empty variable wins over the file's field, and an error names
//! whichever of the two the value came from.

use super::{invalid, ConfigError};
use crate::duration;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// A value and where it came from, for error messages.
pub(super) struct Sourced<T> {
    pub(super) value: T,
    pub(super) origin: String,
}

/// The variables and the file (by its path, for error messages) the settings are read from.
pub(super) struct Sources<'a> {
    pub(super) env: &'a HashMap<String, String>,
    pub(super) path: &'a str,
}

impl Sources<'_> {
    /// The variable `var` when set and not empty, else the file's `field`.
    pub(super) fn pick(
        &self,
        var: &str,
        field: &str,
        from_file: Option<String>,
    ) -> Option<Sourced<String>> {
        match self.env.get(var).filter(|v| !v.is_empty()) {
            Some(v) => Some(Sourced {
                value: v.clone(),
                origin: var.to_string(),
            }),
            None => from_file.map(|v| Sourced {
                value: v,
                origin: format!("{}: field `{field}`", self.path),
            }),
        }
    }

    /// A duration such as `30s`, or `default` when neither source sets it.
    pub(super) fn duration(
        &self,
        var: &str,
        field: &str,
        from_file: Option<String>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match self.pick(var, field, from_file) {
            None => Ok(default),
            Some(s) => duration::parse(&s.value).ok_or_else(|| {
                invalid(
                    &s.origin,
                    format!("{:?} is not a duration such as 30s, 5m or 1h", s.value),
                )
            }),
        }
    }

    pub(super) fn path(
        &self,
        var: &str,
        field: &str,
        from_file: Option<PathBuf>,
    ) -> Option<PathBuf> {
        self.pick(var, field, from_file.map(|p| p.display().to_string()))
            .map(|s| PathBuf::from(s.value))
    }

    /// `true` or `false`, when either source sets it.
    pub(super) fn flag(
        &self,
        var: &str,
        field: &str,
        from_file: Option<bool>,
    ) -> Result<Option<bool>, ConfigError> {
        self.pick(var, field, from_file.map(|b| b.to_string()))
            .map(|s| {
                s.value
                    .parse()
                    .map_err(|_| invalid(&s.origin, format!("{:?} is not true or false", s.value)))
            })
            .transpose()
    }
}
