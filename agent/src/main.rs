//! `sextant`: the command line. Wiring only; every decision lives in the library.

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use sextant::render::{cache::RenderCache, helm::Helm, Renderer, Settings};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sextant",
    version,
    about = "A GitOps agent: keeps a Kubernetes cluster on the course that Git sets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The helm binary (default: .tools/bin/helm of the repository, then PATH).
    #[arg(long, global = true, env = "SEXTANT_HELM")]
    helm: Option<PathBuf>,
    /// Where rendered releases and fetched charts are cached.
    #[arg(long, global = true, env = "SEXTANT_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Kubernetes version helm renders for (`.Capabilities.KubeVersion`).
    #[arg(long, global = true, env = "SEXTANT_KUBE_VERSION")]
    kube_version: Option<String>,
    /// Extra API versions helm assumes the cluster serves (`.Capabilities.APIVersions`).
    #[arg(
        long,
        global = true,
        env = "SEXTANT_API_VERSIONS",
        value_delimiter = ','
    )]
    api_versions: Vec<String>,
    /// How many releases render at once (default: the number of CPUs).
    #[arg(long, global = true, env = "SEXTANT_RENDER_PARALLELISM")]
    render_parallelism: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// Print an environment's objects as multi-document YAML, in plan order.
    Render {
        #[arg(long)]
        env: String,
        /// Only this release's objects.
        #[arg(long)]
        release: Option<String>,
        /// The repository (default: the current folder).
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
    /// Show the sync-waves plan of an environment.
    Plan {
        #[arg(long)]
        env: String,
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        #[arg(long, value_enum, default_value_t = PlanOutput::Table)]
        output: PlanOutput,
    },
    /// Print the effective values of one release (chart defaults, then each values file).
    Values {
        #[arg(long)]
        env: String,
        #[arg(long)]
        release: String,
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        #[arg(long, value_enum, default_value_t = ValuesOutput::Yaml)]
        output: ValuesOutput,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum PlanOutput {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum ValuesOutput {
    Yaml,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn renderer(cli: &Cli, repo: &std::path::Path) -> anyhow::Result<Renderer> {
    let helm = Helm::locate(cli.helm.as_deref(), repo)?;
    let cache = RenderCache::new(
        cli.cache_dir
            .clone()
            .unwrap_or_else(sextant::default_cache_dir),
    );
    Ok(Renderer::new(
        helm,
        cache,
        Settings {
            kube_version: cli.kube_version.clone(),
            api_versions: cli.api_versions.clone(),
            parallelism: cli
                .render_parallelism
                .unwrap_or(Settings::default().parallelism),
        },
    ))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Output is built whole before it is written: a failing command prints nothing half-done.
    let out = match &cli.command {
        Command::Plan { env, repo, output } => {
            let (_, plan) = sextant::plan_environment(&renderer(&cli, repo)?, repo, env)?;
            match output {
                PlanOutput::Table => plan.to_table(),
                PlanOutput::Json => serde_json::to_string_pretty(&plan.to_json())? + "\n",
            }
        }
        Command::Render { env, release, repo } => {
            let renderer = renderer(&cli, repo)?;
            let environment = sextant::environment::load(repo, env)?;
            let rendered = renderer.render(&environment, release.as_deref())?;
            let plan = sextant::plan::build(&environment.name, None, rendered.objects)?;
            let mut text = String::new();
            for o in plan.objects() {
                text.push_str(&format!("---\n# Source: {}: {}\n", o.release, o.source));
                text.push_str(&sextant::yaml::to_string(&o.manifest));
            }
            text
        }
        Command::Values {
            env,
            release,
            repo,
            output,
        } => {
            let renderer = renderer(&cli, repo)?;
            let environment = sextant::environment::load(repo, env)?;
            let r = environment.release(release).ok_or_else(|| {
                sextant::render::Error::UnknownRelease {
                    environment: environment.name.clone(),
                    release: release.clone(),
                    known: environment
                        .releases
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })?;
            let values = serde_json::Value::Object(renderer.effective_values(&environment, r)?);
            match output {
                ValuesOutput::Yaml => sextant::yaml::to_string(&values),
                ValuesOutput::Json => serde_json::to_string_pretty(&values)? + "\n",
            }
        }
    };
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("writing to standard output")?;
    Ok(())
}
