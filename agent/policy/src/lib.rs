//! Gatekeeper's decision, reproduced for tests: a ConstraintTemplate's Rego evaluated by a real
//! Rego engine (regorus) with the input Gatekeeper builds (`input.review.object`,
//! `input.parameters`), and a Constraint's `spec.match` (kinds, namespaces, excluded namespaces)
//! deciding which objects it reviews. Pure over JSON values: the caller renders the charts.

use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ConstraintTemplate {name}: {message}")]
    Template { name: String, message: String },
    #[error("constraint {kind}/{name}: {message}")]
    Constraint {
        kind: String,
        name: String,
        message: String,
    },
    #[error("constraint {kind}/{name}: no ConstraintTemplate declares kind {kind}")]
    NoTemplate { kind: String, name: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A ConstraintTemplate: the constraint kind it declares, its Rego package and source.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    pub kind: String,
    package: String,
    rego: String,
}

impl Template {
    pub fn from_object(obj: &Value) -> Result<Template> {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let err = |message: &str| Error::Template {
            name: name.clone(),
            message: message.to_string(),
        };
        let kind = obj
            .pointer("/spec/crd/spec/names/kind")
            .and_then(Value::as_str)
            .ok_or_else(|| err("no spec.crd.spec.names.kind"))?;
        let rego = obj
            .pointer("/spec/targets/0/rego")
            .and_then(Value::as_str)
            .ok_or_else(|| err("no spec.targets[0].rego"))?;
        let package = rego
            .lines()
            .find_map(|l| l.trim().strip_prefix("package "))
            .map(|p| p.trim().to_string())
            .ok_or_else(|| err("the Rego declares no package"))?;
        // Gatekeeper requires the template's name to be its kind, lower-cased.
        if name != kind.to_lowercase() {
            return Err(err(&format!(
                "name must be {:?}, its kind lower-cased",
                kind.to_lowercase()
            )));
        }
        let t = Template {
            name: name.clone(),
            kind: kind.to_string(),
            package,
            rego: rego.to_string(),
        };
        t.engine()?; // compiles, or says why not
        Ok(t)
    }

    fn engine(&self) -> Result<regorus::Engine> {
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(true);
        engine
            .add_policy(format!("{}.rego", self.name), self.rego.clone())
            .map_err(|e| Error::Template {
                name: self.name.clone(),
                message: e.to_string(),
            })?;
        Ok(engine)
    }

    /// The messages of `data.<package>.violation` for one object and the constraint's parameters.
    pub fn violations(&self, object: &Value, parameters: &Value) -> Result<Vec<String>> {
        let mut engine = self.engine()?;
        let input = serde_json::json!({
            "review": {
                "object": object,
                "kind": kind_of(object),
                "namespace": object["metadata"]["namespace"],
                "name": object["metadata"]["name"],
                "operation": "CREATE",
            },
            "parameters": parameters,
        });
        let err = |e: &dyn std::fmt::Display| Error::Template {
            name: self.name.clone(),
            message: e.to_string(),
        };
        engine.set_input(regorus::Value::from_json_str(&input.to_string()).map_err(|e| err(&e))?);
        let result = engine
            .eval_rule(format!("data.{}.violation", self.package))
            .map_err(|e| err(&e))?;
        let json: Value = serde_json::from_str(&result.to_json_str().map_err(|e| err(&e))?)
            .map_err(|e| err(&e))?;
        let mut msgs: Vec<String> = json
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["msg"].as_str().map(str::to_string))
            .collect();
        msgs.sort();
        Ok(msgs)
    }
}

fn kind_of(object: &Value) -> Value {
    let api = object["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api.rsplit_once('/').unwrap_or(("", api));
    serde_json::json!({"group": group, "version": version, "kind": object["kind"]})
}

/// A Constraint: which template's rules, with which parameters, for which objects.
#[derive(Debug, Clone)]
pub struct Constraint {
    pub kind: String,
    pub name: String,
    pub enforcement_action: String,
    pub labels: BTreeMap<String, String>,
    parameters: Value,
    kinds: Vec<(Vec<String>, Vec<String>)>,
    namespaces: Option<Vec<String>>,
    excluded_namespaces: Vec<String>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Gatekeeper's namespace patterns: exact, or a prefix ending in `*`.
fn ns_matches(pattern: &str, ns: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => ns.starts_with(prefix),
        None => pattern == ns,
    }
}

impl Constraint {
    pub fn from_object(obj: &Value) -> Result<Constraint> {
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let m = &obj["spec"]["match"];
        let kinds = m["kinds"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| (strings(&k["apiGroups"]), strings(&k["kinds"])))
            .collect::<Vec<_>>();
        if kinds.is_empty() {
            return Err(Error::Constraint {
                kind,
                name,
                message: "spec.match.kinds is empty: it would review every kind".into(),
            });
        }
        Ok(Constraint {
            enforcement_action: obj["spec"]["enforcementAction"]
                .as_str()
                .unwrap_or("deny")
                .to_string(),
            labels: obj["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            parameters: obj["spec"]["parameters"].clone(),
            kinds,
            namespaces: m.get("namespaces").map(strings),
            excluded_namespaces: strings(&m["excludedNamespaces"]),
            kind,
            name,
        })
    }

    /// Whether Gatekeeper would review `object` (its namespace as it will be applied) under this
    /// constraint.
    pub fn matches(&self, object: &Value) -> bool {
        let api = object["apiVersion"].as_str().unwrap_or_default();
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        let kind = object["kind"].as_str().unwrap_or_default();
        let kind_ok = self.kinds.iter().any(|(groups, kinds)| {
            (groups.iter().any(|g| g == "*" || g == group))
                && kinds.iter().any(|k| k == "*" || k == kind)
        });
        let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
        let included = self
            .namespaces
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| ns_matches(p, ns)));
        let excluded = self.excluded_namespaces.iter().any(|p| ns_matches(p, ns));
        kind_ok && included && !excluded
    }

    pub fn parameters(&self) -> &Value {
        &self.parameters
    }
}

/// Every template and constraint of a set of rendered objects, checked to fit together.
#[derive(Debug, Clone)]
pub struct PolicySet {
    pub templates: BTreeMap<String, Template>,
    pub constraints: Vec<Constraint>,
}

impl PolicySet {
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Result<PolicySet> {
        let mut templates = BTreeMap::new();
        let mut constraints = Vec::new();
        for o in objects {
            let api = o["apiVersion"].as_str().unwrap_or_default();
            if o["kind"] == "ConstraintTemplate" {
                let t = Template::from_object(o)?;
                templates.insert(t.kind.clone(), t);
            } else if api.starts_with("constraints.gatekeeper.sh/") {
                constraints.push(Constraint::from_object(o)?);
            }
        }
        for c in &constraints {
            if !templates.contains_key(&c.kind) {
                return Err(Error::NoTemplate {
                    kind: c.kind.clone(),
                    name: c.name.clone(),
                });
            }
        }
        Ok(PolicySet {
            templates,
            constraints,
        })
    }

    /// `(constraint name, message)` of every violation of `object` under the constraints that
    /// match it.
    pub fn review(&self, object: &Value) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for c in self.constraints.iter().filter(|c| c.matches(object)) {
            for msg in self.templates[&c.kind].violations(object, c.parameters())? {
                out.push((c.name.clone(), msg));
            }
        }
        Ok(out)
    }

    pub fn constraint(&self, name: &str) -> Option<&Constraint> {
        self.constraints.iter().find(|c| c.name == name)
    }
}
