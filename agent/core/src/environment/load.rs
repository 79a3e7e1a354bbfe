//! Loading an environment file: read (bounded), parsed as YAML 1.2, checked against the schema
//! and then field by field, every file it names found inside the repository.

use super::*;

/// Loads and validates `environments/<name>/environment.yaml` of `repo`. Every file it names
/// must resolve, symlinks included, inside `repo`.
pub fn load(repo: &Path, name: &str) -> Result<Environment> {
    let dir = repo.join(ENVIRONMENTS_DIR).join(name);
    let file = dir.join(FILE_NAME);
    let known = list(repo);
    if !valid_name(name) {
        let message = format!(
            "{name:?} is not an environment name: a lowercase DNS label such as dev or prod (known environments: {})",
            if known.is_empty() { "none".into() } else { known.join(", ") }
        );
        return Err(Invalid::value("environment name", message).at(&repo.join(ENVIRONMENTS_DIR)));
    }
    if !file.is_file() {
        return Err(Error::Unknown {
            name: name.to_string(),
            file,
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        });
    }
    contain::inside(repo, &file).map_err(|e| Invalid::new("(file)", e).at(&file))?;
    // Before parsing: a values file left out would otherwise read as missing.
    // Read once: what the snapshot left out, checked before parsing (a values file left out
    // would read as missing) and after (the charts and values the file names).
    let omitted = crate::snapshot::omitted(repo);
    if let Some(e) = too_large(&omitted, repo, name, &file, &[], std::slice::from_ref(&dir)) {
        return Err(e);
    }
    let text = yaml::read_text(&file).map_err(|source| Error::Read {
        file: file.clone(),
        source,
    })?;
    let env = parse(repo, &dir, &file, &text, &known)?;
    let values: Vec<PathBuf> = env
        .releases
        .iter()
        .flat_map(|r| r.values.iter().cloned())
        .collect();
    let charts: Vec<PathBuf> = env
        .releases
        .iter()
        .filter_map(|r| match &r.chart {
            Chart::Local(p) => Some(repo.join(p)),
            Chart::Remote { .. } => None,
        })
        .collect();
    match too_large(&omitted, repo, name, &file, &values, &charts) {
        Some(e) => Err(e),
        None => Ok(env),
    }
}

/// The first file the environment reads (its file, a values file, anything in its folder or a
/// local chart) that the snapshot left out as too large ([`crate::snapshot::omitted`]).
fn too_large(
    omitted: &[(String, u64)],
    repo: &Path,
    environment: &str,
    file: &Path,
    values: &[PathBuf],
    charts: &[PathBuf],
) -> Option<Error> {
    omitted.iter().find_map(|(path, size)| {
        let omitted = repo.join(path);
        let read = omitted == file
            || values.contains(&omitted)
            || charts.iter().any(|c| omitted.starts_with(c));
        read.then(|| Error::TooLarge {
            environment: environment.to_string(),
            file: omitted,
            size: *size,
            limit: crate::snapshot::MAX_FILE_BYTES,
        })
    })
}

/// Validates the text of an environment file. `known` lists the repository's environments, for
/// checking `spec.promotion.from`.
pub fn parse(
    repo: &Path,
    dir: &Path,
    file: &Path,
    text: &str,
    known: &[String],
) -> Result<Environment> {
    let invalid = |field: &str, message: String| Invalid::value(field, message).at(file);
    let doc = yaml::parse(text).map_err(|error| match error.out_of_range() {
        Some(e) => Invalid::new(e.field.clone(), e).at(file),
        None => Error::Syntax {
            file: file.to_path_buf(),
            error,
        },
    })?;
    check_schema(&doc).map_err(|e| e.at(file))?;
    // The schema has checked the shapes; what serde still refuses (a duration too long to count)
    // is named by its field.
    let parsed: EnvironmentFile = serde_path_to_error::deserialize(doc).map_err(|e| {
        let field = match e.path().to_string() {
            p if p == "." => "spec".to_string(),
            p => p,
        };
        invalid(&field, e.into_inner().to_string())
    })?;

    let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if parsed.metadata.name != folder {
        return Err(invalid(
            "metadata.name",
            format!(
                "{:?} must match the environment's folder name {folder:?}",
                parsed.metadata.name
            ),
        ));
    }

    let releases = releases(repo, dir, &parsed.spec.releases).map_err(|e| e.at(file))?;
    settings(&parsed, &releases, known).map_err(|e| e.at(file))?;

    Ok(Environment {
        name: parsed.metadata.name,
        repo: repo.to_path_buf(),
        dir: dir.to_path_buf(),
        file: file.to_path_buf(),
        releases,
        drift: parsed.spec.drift,
        promotion: parsed.spec.promotion,
        sync: parsed.spec.sync,
        preview: parsed.spec.preview,
    })
}

fn resolve_chart(
    repo: &Path,
    spec: &ChartSpec,
    version: Option<&str>,
) -> std::result::Result<Chart, Problem> {
    match spec {
        ChartSpec::Remote {
            repository,
            name,
            version,
        } => Ok(Chart::Remote {
            repository: repository.trim_end_matches('/').to_string(),
            name: name.clone(),
            version: version.clone(),
        }),
        ChartSpec::Path(s) if s.starts_with("oci://") => {
            let version = version.ok_or_else(|| {
                Problem::Value(format!(
                    "{s:?} is an OCI chart: set the release's `version` to an exact chart version"
                ))
            })?;
            let (repository, name) = s
                .trim_end_matches('/')
                .rsplit_once('/')
                .filter(|(r, n)| !n.is_empty() && r.len() > "oci:/".len())
                .ok_or_else(|| {
                    Problem::Value(format!(
                        "{s:?} is not an OCI chart reference such as oci://registry/path/chart"
                    ))
                })?;
            Ok(Chart::Remote {
                repository: repository.to_string(),
                name: name.to_string(),
                version: version.to_string(),
            })
        }
        ChartSpec::Path(s) if s.contains("://") => Err(Problem::Value(format!(
            "{s:?}: a chart in a Helm repository is written as {{repository, name, version}}"
        ))),
        ChartSpec::Path(s) => Ok(Chart::Local(contain::chart_dir(repo, s)?)),
    }
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the embedded schema is JSON");
        jsonschema::validator_for(&schema).expect("the embedded schema is a valid JSON Schema")
    })
}

/// Checks a document against the schema; on failure the first error, its field written as
/// `spec.releases[0].wave`.
fn check_schema(doc: &Value) -> std::result::Result<(), Invalid> {
    let Some(error) = validator().iter_errors(doc).next() else {
        return Ok(());
    };
    let pointer = error.instance_path().to_string();
    Err(Invalid::value(
        field_from_pointer(&pointer),
        error.to_string(),
    ))
}

/// `/spec/releases/0/wave` → `spec.releases[0].wave`.
pub fn field_from_pointer(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    if out.is_empty() {
        "(document)".into()
    } else {
        out
    }
}

/// Each release resolved: its chart and values files found inside the repository, names unique.
fn releases(
    repo: &Path,
    dir: &Path,
    specs: &[ReleaseSpec],
) -> std::result::Result<Vec<Release>, Invalid> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut releases = Vec::with_capacity(specs.len());
    for (i, r) in specs.iter().enumerate() {
        let at = format!("spec.releases[{i}]");
        if let Some(first) = seen.insert(&r.name, i) {
            return Err(Invalid::value(
                format!("{at}.name"),
                format!(
                    "duplicate release name {:?} (first declared at spec.releases[{first}])",
                    r.name
                ),
            ));
        }
        let chart = resolve_chart(repo, &r.chart, r.version.as_deref())
            .map_err(|e| Invalid::new(format!("{at}.chart"), e))?;
        let mut values = Vec::with_capacity(r.values.len());
        for (j, v) in r.values.iter().enumerate() {
            let path = contain::values_file(repo, dir, v)
                .map_err(|e| Invalid::new(format!("{at}.values[{j}]"), e))?;
            values.push(path);
        }
        let requires = requirements(&at, &r.requires)?;
        releases.push(Release {
            requires,
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            chart,
            wave: r.wave,
            values,
            drift: r.drift.clone(),
        });
    }

    Ok(releases)
}

/// A release's `requires`, each entry a kind written `<group>/<version>/<Kind>`.
fn requirements(
    at: &str,
    specs: &[RequirementSpec],
) -> std::result::Result<Vec<Requirement>, Invalid> {
    specs
        .iter()
        .enumerate()
        .map(|(j, spec)| {
            let (text, from_cluster, field) = match spec {
                RequirementSpec::Kind(k) => (k, false, format!("{at}.requires[{j}]")),
                RequirementSpec::Detailed { kind, from } => (
                    kind,
                    *from == Provider::Cluster,
                    format!("{at}.requires[{j}].kind"),
                ),
            };
            Requirement::parse(text, from_cluster).ok_or_else(|| {
                Invalid::value(
                    field,
                    format!("{text:?} is not a kind: write <group>/<version>/<Kind>, e.g. gateway.networking.k8s.io/v1/Gateway (v1/<Kind> for the core group)"),
                )
            })
        })
        .collect()
}

/// The settings that refer to releases, environments, durations and shares.
fn settings(
    parsed: &EnvironmentFile,
    releases: &[Release],
    known: &[String],
) -> std::result::Result<(), Invalid> {
    let invalid = Invalid::value;
    if let Some(p) = &parsed.spec.promotion {
        promoted::check(p, releases)?;
        if p.from == parsed.metadata.name {
            return Err(invalid(
                "spec.promotion.from",
                "an environment cannot promote from itself".into(),
            ));
        }
        if !known.iter().any(|k| k == &p.from) {
            return Err(invalid(
                "spec.promotion.from",
                format!(
                    "environment {:?} does not exist (known environments: {})",
                    p.from,
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
