//! SSM parameter names as the Parameter Store accepts them: `a-zA-Z0-9_.-` in `/`-separated
//! levels, at most 15 levels, no first level starting with `aws` or `ssm` (any case). The
//! services serve one path (`/<project>/<env>/`, the app-data module's); the `{name}` of the
//! API is a name under it. Pure: no I/O.

use std::fmt;

/// Parameter hierarchies are limited to fifteen levels.
pub const MAX_LEVELS: usize = 15;
/// AWS allows 1011 characters counting the parameter's ARN (`arn:aws:ssm:<region>:<account>:
/// parameter`, up to 64 characters); this bound leaves room for the longest.
pub const MAX_FULL_NAME_CHARS: usize = 1011 - 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the parameter name is empty")]
    Empty,
    #[error("{name:?} has {found:?}; a parameter name holds only a-z A-Z 0-9 _ . - and / between levels")]
    Character { name: String, found: char },
    #[error("{name:?} has an empty level (a leading, trailing or doubled /)")]
    EmptyLevel { name: String },
    #[error("{name:?} has {levels} levels; the Parameter Store allows {MAX_LEVELS}")]
    TooDeep { name: String, levels: usize },
    #[error("{name:?} is {chars} characters; the limit is {MAX_FULL_NAME_CHARS}")]
    TooLong { name: String, chars: usize },
    #[error("{name:?} starts with {prefix:?}: names beginning aws or ssm are reserved by AWS")]
    Reserved { name: String, prefix: String },
    #[error("parameter path {path:?} must start and end with / (e.g. /sextant/dev/)")]
    PathShape { path: String },
}

/// Checks a name relative to a path: levels of allowed characters, none empty.
pub fn check_relative(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(found) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')))
    {
        return Err(NameError::Character {
            name: name.to_owned(),
            found,
        });
    }
    if name.split('/').any(str::is_empty) {
        return Err(NameError::EmptyLevel {
            name: name.to_owned(),
        });
    }
    if name.len() > MAX_FULL_NAME_CHARS {
        return Err(NameError::TooLong {
            name: name.to_owned(),
            chars: name.len(),
        });
    }
    Ok(())
}

/// The path the service serves, `/<level>/…/`, or `/` for all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterPath(String);

/// A full name under a [`ParameterPath`], valid for the Parameter Store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterName {
    pub relative: String,
    pub full: String,
}

impl ParameterPath {
    pub fn parse(path: &str) -> Result<Self, NameError> {
        if !(path.starts_with('/') && path.ends_with('/')) {
            return Err(NameError::PathShape {
                path: path.to_owned(),
            });
        }
        if path.len() > 1 {
            let inner = &path[1..path.len() - 1];
            check_relative(inner)?;
            check_levels(path, inner)?;
        }
        Ok(Self(path.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full name of `relative` under this path, refused as the Parameter Store would.
    pub fn name(&self, relative: &str) -> Result<ParameterName, NameError> {
        check_relative(relative)?;
        let full = format!("{}{relative}", self.0);
        check_levels(&full, &full[1..])?;
        if full.len() > MAX_FULL_NAME_CHARS {
            return Err(NameError::TooLong {
                chars: full.len(),
                name: full,
            });
        }
        Ok(ParameterName {
            relative: relative.to_owned(),
            full,
        })
    }

    /// `full` without this path, if it lies under it.
    pub fn relative<'a>(&self, full: &'a str) -> Option<&'a str> {
        full.strip_prefix(self.0.as_str()).filter(|r| !r.is_empty())
    }
}

impl fmt::Display for ParameterPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `levels` is a full name without its leading `/`.
fn check_levels(name: &str, levels: &str) -> Result<(), NameError> {
    let count = levels.split('/').count();
    if count > MAX_LEVELS {
        return Err(NameError::TooDeep {
            name: name.to_owned(),
            levels: count,
        });
    }
    let first = levels.split('/').next().unwrap_or_default();
    let lower = first.to_ascii_lowercase();
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        return Err(NameError::Reserved {
            name: name.to_owned(),
            prefix: first[..3].to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> ParameterPath {
        ParameterPath::parse("/sextant/dev/").expect("a valid path")
    }

    #[test]
    fn a_name_under_the_path_is_its_full_name() {
        let name = path().name("hash-service/log-level").expect("valid");
        assert_eq!(name.full, "/sextant/dev/hash-service/log-level");
        assert_eq!(path().relative(&name.full), Some("hash-service/log-level"));
        assert_eq!(path().relative("/other/x"), None);
    }

    #[test]
    fn refuses_what_the_parameter_store_refuses() {
        let deep = vec!["a"; 14].join("/");
        let long = "a".repeat(MAX_FULL_NAME_CHARS);
        type Expect = fn(&NameError) -> bool;
        let cases: [(&str, Expect); 7] = [
            ("", |e| matches!(e, NameError::Empty)),
            ("has space", |e| {
                matches!(e, NameError::Character { found: ' ', .. })
            }),
            ("semi;colon", |e| {
                matches!(e, NameError::Character { found: ';', .. })
            }),
            ("/leading", |e| matches!(e, NameError::EmptyLevel { .. })),
            ("a//b", |e| matches!(e, NameError::EmptyLevel { .. })),
            (&deep, |e| {
                matches!(e, NameError::TooDeep { levels: 16, .. })
            }),
            (&long, |e| matches!(e, NameError::TooLong { .. })),
        ];
        for (name, expected) in cases {
            let err = path().name(name).expect_err(name);
            assert!(expected(&err), "{name:?}: {err}");
        }
        assert!(path().name(&vec!["a"; 13].join("/")).is_ok(), "15 levels");
    }

    #[test]
    fn names_starting_aws_or_ssm_are_reserved_at_the_first_level_only() {
        let root = ParameterPath::parse("/").expect("the root path");
        for reserved in ["aws/x", "AWSconfig", "Ssm.x"] {
            assert!(
                matches!(root.name(reserved), Err(NameError::Reserved { .. })),
                "{reserved}"
            );
        }
        assert!(path().name("aws-keys").is_ok(), "not the first level");
        assert!(matches!(
            ParameterPath::parse("/aws/"),
            Err(NameError::Reserved { .. })
        ));
    }

    #[test]
    fn a_path_must_start_and_end_with_a_slash() {
        for bad in ["", "//", "sextant/dev/", "/sextant/dev", "/a//b/"] {
            assert!(ParameterPath::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ParameterPath::parse("/").map(|p| p.0), Ok("/".to_owned()));
    }
}
