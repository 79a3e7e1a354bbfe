//! `sextant render`, `sextant plan` and `sextant values`: what Git says, read without a cluster.

use super::renderer;
use crate::{Cli, EnvArgs, PlanOutput, ValuesOutput};

/// `sextant render`: the objects as multi-document YAML, in plan order, each under its source.
pub fn render(
    cli: &Cli,
    EnvArgs { env, repo }: &EnvArgs,
    release: Option<&str>,
) -> anyhow::Result<String> {
    let renderer = renderer(cli, repo)?;
    let environment = sextant::environment::load(repo, env)?;
    let rendered = renderer.render(&environment, release)?;
    let plan = sextant::plan::build(&environment.name, None, rendered.objects)?;
    let mut text = String::new();
    for o in plan.objects() {
        text.push_str(&format!("---\n# Source: {}: {}\n", o.release, o.source));
        text.push_str(&sextant::yaml::to_string(&o.manifest));
    }
    Ok(text)
}

/// `sextant plan`: the sync waves.
pub fn plan(
    cli: &Cli,
    EnvArgs { env, repo }: &EnvArgs,
    output: PlanOutput,
) -> anyhow::Result<String> {
    let (_, plan) = sextant::plan_environment(&renderer(cli, repo)?, repo, env)?;
    Ok(match output {
        PlanOutput::Table => plan.to_table(),
        PlanOutput::Json => serde_json::to_string_pretty(&plan.to_json())? + "\n",
    })
}

/// `sextant values`: the effective values of one release.
pub fn values(
    cli: &Cli,
    EnvArgs { env, repo }: &EnvArgs,
    release: &str,
    output: ValuesOutput,
    show_secrets: bool,
) -> anyhow::Result<String> {
    let renderer = renderer(cli, repo)?;
    let environment = sextant::environment::load(repo, env)?;
    let r = sextant::render::release(&environment, release)?;
    let mut values = serde_json::Value::Object(renderer.effective_values(&environment, r)?);
    if !show_secrets {
        for path in renderer.encrypted_paths(&environment, r)? {
            mask(&mut values, &path);
        }
    }
    Ok(match output {
        ValuesOutput::Yaml => sextant::yaml::to_string(&values),
        ValuesOutput::Json => serde_json::to_string_pretty(&values)? + "\n",
    })
}

/// The value at `path` (keys of mappings) replaced by `(encrypted value)`, when it is there.
fn mask(values: &mut serde_json::Value, path: &[String]) {
    let mut at = values;
    for key in path {
        match at.get_mut(key) {
            Some(next) => at = next,
            None => return,
        }
    }
    *at = serde_json::Value::String(sextant::render::ENCRYPTED.into());
}
