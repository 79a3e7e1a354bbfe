//! Helm values, merged with Helm's own semantics — pure.
//!
//! Two steps, as `helm template -f a.yaml -f b.yaml` does them:
//! 1. [`merge_layers`]: the values files are merged in order (Helm's `mergeMaps`): maps merge
//!    deeply, anything else in a later file replaces, `null` is kept as an explicit value;
//! 2. [`coalesce`]: the result is laid over the chart's defaults (Helm's `CoalesceValues`):
//!    user values win, maps merge deeply, and a user `null` removes the key.

use crate::yaml;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub type Values = Map<String, Value>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: cannot read values: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: invalid YAML: {error}")]
    Syntax {
        file: PathBuf,
        error: yaml::YamlError,
    },
    #[error("{file}: values must be a YAML mapping at the top level, found {found}")]
    NotAMap { file: PathBuf, found: &'static str },
}

/// Reads a values file; an empty file is an empty map, as in Helm.
pub fn read_file(file: &Path) -> Result<Values, Error> {
    let text = yaml::read_text(file).map_err(|source| Error::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse_text(file, &text)
}

/// Values from `text`, read as the contents of `file` (named in an error).
pub fn parse_text(file: &Path, text: &str) -> Result<Values, Error> {
    match yaml::parse(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Null) => Ok(Values::new()),
        Ok(other) => Err(Error::NotAMap {
            file: file.to_path_buf(),
            found: kind_name(&other),
        }),
        Err(error) => Err(Error::Syntax {
            file: file.to_path_buf(),
            error,
        }),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Merges values layers in order, later layers winning (Helm's `mergeMaps`).
pub fn merge_layers<I: IntoIterator<Item = Values>>(layers: I) -> Values {
    layers.into_iter().fold(Values::new(), merge_maps)
}

fn merge_maps(mut base: Values, over: Values) -> Values {
    for (k, v) in over {
        match (base.remove(&k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => {
                base.insert(k, Value::Object(merge_maps(b, o)));
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
    base
}

/// Lays user values over a chart's defaults (Helm's `CoalesceValues` for the top-level chart).
pub fn coalesce(defaults: &Values, mut user: Values) -> Values {
    coalesce_tables(&mut user, defaults);
    user
}

/// Helm's `coalesceTablesFullKey`: `dst` (user) wins; a `null` in `dst` removes the key the
/// chart has there (a `null` where the chart has nothing is kept, as helm 4 keeps it); a map never
/// replaces a scalar, nor a scalar a map.
fn coalesce_tables(dst: &mut Values, src: &Values) {
    for (k, sv) in src {
        match dst.get_mut(k) {
            None => {
                dst.insert(k.clone(), sv.clone());
            }
            Some(Value::Null) => {
                dst.remove(k);
            }
            Some(Value::Object(dv)) => {
                if let Value::Object(sv) = sv {
                    coalesce_tables(dv, sv);
                }
            }
            Some(_) => {}
        }
    }
}

/// The chart's own `values.yaml`, or an empty map when the chart has none.
pub fn chart_defaults(chart_dir: &Path) -> Result<Values, Error> {
    let file = chart_dir.join("values.yaml");
    if file.is_file() {
        read_file(&file)
    } else {
        Ok(Values::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Values {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test literal is a map"),
        }
    }

    #[test]
    fn later_layers_replace_lists_and_scalars_and_merge_maps() {
        let a =
            map(json!({"image": {"tag": "1", "pullPolicy": "Always"}, "ports": [1, 2], "n": 1}));
        let b = map(json!({"image": {"tag": "2"}, "ports": [3], "n": null}));
        let merged = merge_layers([a, b]);
        assert_eq!(
            Value::Object(merged),
            json!({"image": {"tag": "2", "pullPolicy": "Always"}, "ports": [3], "n": null})
        );
    }

    #[test]
    fn user_null_removes_a_chart_default() {
        let defaults = map(json!({"a": 1, "b": {"c": 2, "d": 3}}));
        let user = map(json!({"a": null, "b": {"c": null}}));
        assert_eq!(
            Value::Object(coalesce(&defaults, user)),
            json!({"b": {"d": 3}})
        );
    }

    #[test]
    fn a_scalar_never_replaces_a_user_map_nor_a_map_a_user_scalar() {
        let defaults = map(json!({"a": {"x": 1}, "b": 2}));
        let user = map(json!({"a": 5, "b": {"y": 1}}));
        assert_eq!(
            Value::Object(coalesce(&defaults, user)),
            json!({"a": 5, "b": {"y": 1}})
        );
    }

    #[test]
    fn a_null_without_a_default_is_kept_as_helm_does() {
        let defaults = map(json!({"m": {"a": 1}}));
        let user = map(json!({"extra": null, "m": {"b": null}}));
        assert_eq!(
            Value::Object(coalesce(&defaults, user)),
            json!({"extra": null, "m": {"a": 1, "b": null}})
        );
    }
}
