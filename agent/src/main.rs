//! `sextant`: the command line. Wiring only; every decision lives in the library.

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use sextant::apply::{cluster::Cluster, sync::SyncOptions};
use sextant::render::{cache::RenderCache, helm::Helm, mirrors::ChartMirrors, Renderer, Settings};
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
    /// The longest one helm invocation may run, e.g. 60s (then helm is killed).
    #[arg(long, global = true, env = "SEXTANT_RENDER_TIMEOUT")]
    render_timeout: Option<String>,
    /// Pull remote charts from mirrors: `REPOSITORY=MIRROR[,…]` (docs/platform.md).
    #[arg(long = "chart-mirrors", global = true, env = "SEXTANT_CHART_MIRRORS", value_parser = ChartMirrors::parse)]
    chart_mirrors: Option<ChartMirrors>,
}

#[derive(Subcommand)]
enum Command {
    /// Print an environment's objects as multi-document YAML, in plan order.
    Render {
        #[command(flatten)]
        at: EnvArgs,
        /// Only this release's objects.
        #[arg(long)]
        release: Option<String>,
    },
    /// Show the sync-waves plan of an environment.
    Plan {
        #[command(flatten)]
        at: EnvArgs,
        #[arg(long, value_enum, default_value_t = PlanOutput::Table)]
        output: PlanOutput,
    },
    /// Apply an environment once, wave by wave, and print a per-wave summary.
    Apply {
        #[command(flatten)]
        at: EnvArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// Send every write as a server-side dry run; wait for nothing, prune nothing.
        #[arg(long)]
        dry_run: bool,
        /// Take over fields another field manager owns (default: the environment's setting).
        #[arg(long)]
        force_conflicts: bool,
        /// Delete objects that left Git (default: the environment's setting).
        #[arg(long)]
        prune: Option<bool>,
        /// Prune even when this revision removes more than spec.sync.pruneLimit of the
        /// environment's objects, or all of them: the operator's yes.
        #[arg(long)]
        allow_mass_prune: bool,
        /// How long each wave may take to become healthy (default: the environment's setting).
        #[arg(long)]
        wave_timeout: Option<String>,
        #[arg(long, value_enum, default_value_t = PlanOutput::Table)]
        output: PlanOutput,
    },
    /// Show what apply would change, as a unified diff per object (or, with `--output json`,
    /// field by field with who changed it); exit 1 when out of sync.
    Diff {
        #[command(flatten)]
        at: EnvArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[arg(long, value_enum, default_value_t = DiffOutput::Text)]
        output: DiffOutput,
    },
    /// Show the live drift of an environment and the values patch a drift pull request would
    /// propose (docs/drift-pull-requests.md), opening nothing; exit 1 when drifted.
    Drift {
        #[command(flatten)]
        at: EnvArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[arg(long, value_enum, default_value_t = DriftOutput::Table)]
        output: DriftOutput,
    },
    /// Run the agent: follow Git (or a working tree) and keep the environments applied.
    Run {
        /// The settings file (every field can also be set by a SEXTANT_* variable).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Local mode: watch this working tree instead of fetching a remote.
        #[arg(long)]
        repo_path: Option<PathBuf>,
    },
    /// Show what qualifies for promotion from one environment to another: the digests, the
    /// gate the source's agent recorded, the registry's verification and the values patch
    /// (docs/promotion.md). Writes the patch into the working tree unless --dry-run.
    Promote {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// The repository (default: the current folder).
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        #[arg(long)]
        release: Option<String>,
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        cluster: ClusterArgs,
        #[arg(long, value_enum, default_value_t = DriftOutput::Table)]
        output: DriftOutput,
    },
    /// Write an image digest into the values file of a release that Helm's last-wins picks
    /// for the key, with the format-preserving editor (CI bumps dev with it).
    SetImage {
        #[command(flatten)]
        at: EnvArgs,
        #[arg(long)]
        release: String,
        /// `sha256:` and 64 lowercase hex digits.
        #[arg(long)]
        digest: String,
        /// The values key (default: the one a promotion declares for the release, else
        /// image.digest).
        #[arg(long)]
        path: Option<String>,
    },
    /// Set values in one YAML file with the format-preserving editor (`make configure` writes
    /// Terraform's outputs with it). EDITS is a JSON file: a list of `{"path": [key or index,
    /// …], "value": any}`, applied in order; every other byte of the file is kept.
    SetValues {
        /// The YAML file to edit in place.
        #[arg(long)]
        file: PathBuf,
        /// The JSON list of edits.
        #[arg(long)]
        edits: PathBuf,
    },
    /// Print the effective values of one release (chart defaults, then each values file).
    Values {
        #[command(flatten)]
        at: EnvArgs,
        #[arg(long)]
        release: String,
        #[arg(long, value_enum, default_value_t = ValuesOutput::Yaml)]
        output: ValuesOutput,
    },
}

/// Which environment of which repository a command works on.
#[derive(clap::Args)]
struct EnvArgs {
    /// The environment: a folder under `environments/`.
    #[arg(long)]
    env: String,
    /// The repository (default: the current folder).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
}

/// How `apply` and `diff` reach the cluster.
#[derive(clap::Args)]
struct ClusterArgs {
    /// The kubeconfig (default: $KUBECONFIG, ~/.kube/config, else in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[arg(long)]
    context: Option<String>,
    /// The agent's namespace, where inventories are kept.
    #[arg(long, env = "SEXTANT_NAMESPACE", default_value = "sextant-system")]
    agent_namespace: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum PlanOutput {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffOutput {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum DriftOutput {
    Table,
    Json,
    Patch,
}

#[derive(Clone, Copy, ValueEnum)]
enum ValuesOutput {
    Yaml,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `diff` keeps kubectl's convention: 1 means "differs", so errors are 2.
    let error_code = if matches!(cli.command, Command::Diff { .. } | Command::Drift { .. }) {
        2
    } else {
        1
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(error_code)
        }
    }
}

/// The cluster `apply` and `diff` talk to: the kubeconfig (or in-cluster), its context checked.
async fn kube_config(args: &ClusterArgs) -> anyhow::Result<kube::Config> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let (kubeconfig, origin) = match &args.kubeconfig {
        Some(path) => (
            Some(
                Kubeconfig::read_from(path)
                    .with_context(|| format!("reading kubeconfig {}", path.display()))?,
            ),
            path.display().to_string(),
        ),
        None => (
            Kubeconfig::read().ok(),
            "the kubeconfig ($KUBECONFIG or ~/.kube/config)".into(),
        ),
    };
    let Some(kc) = kubeconfig else {
        return kube::Config::incluster()
            .context("no kubeconfig found ($KUBECONFIG, ~/.kube/config) and not in a cluster");
    };
    if let Some(want) = &args.context {
        if !kc.contexts.iter().any(|c| &c.name == want) {
            let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
            anyhow::bail!(
                "{origin} has no context {want:?} (its contexts: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            );
        }
    }
    kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .with_context(|| format!("using {origin}"))
}

async fn cluster(args: &ClusterArgs) -> anyhow::Result<Cluster> {
    Ok(Cluster::connect(kube_config(args).await?)?)
}

fn write_out(text: &str) -> anyhow::Result<()> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to standard output")
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
            timeout: match &cli.render_timeout {
                None => sextant::render::helm::DEFAULT_TIMEOUT,
                Some(t) => sextant::duration::parse(t).with_context(|| {
                    format!("--render-timeout {t:?} is not a duration such as 30s or 2m")
                })?,
            },
            chart_mirrors: cli.chart_mirrors.clone().unwrap_or_default(),
        },
    ))
}

/// Waits for SIGTERM or SIGINT, records its number in `caught` and asks the sync to stop. A
/// second signal ends the process at once.
async fn stop_on_signal(
    stop: tokio::sync::watch::Sender<bool>,
    caught: std::sync::Arc<std::sync::atomic::AtomicU8>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    // Linux and the BSDs agree on these numbers.
    const SIGINT: u8 = 2;
    const SIGTERM: u8 = 15;
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    let (number, name) = tokio::select! {
        _ = term.recv() => (SIGTERM, "SIGTERM"),
        _ = int.recv() => (SIGINT, "SIGINT"),
    };
    caught.store(number, std::sync::atomic::Ordering::SeqCst);
    eprintln!("{name}: stopping after the writes under way; the summary follows (a second signal exits at once)");
    let _ = stop.send(true);
    let again = tokio::select! {
        _ = term.recv() => SIGTERM,
        _ = int.recv() => SIGINT,
    };
    std::process::exit(128 + i32::from(again));
}

fn init_logs(format: sextant::config::LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match format {
        sextant::config::LogFormat::Json => true,
        sextant::config::LogFormat::Pretty => false,
        sextant::config::LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Output is built whole before it is written: a failing command prints nothing half-done.
    let out = match &cli.command {
        Command::Run { config, repo_path } => {
            let mut overrides = Vec::new();
            if let Some(p) = repo_path {
                overrides.push(("SEXTANT_REPO_PATH", p.display().to_string()));
            }
            if let Some(h) = &cli.helm {
                overrides.push(("SEXTANT_HELM", h.display().to_string()));
            }
            if let Some(c) = &cli.cache_dir {
                overrides.push(("SEXTANT_CACHE_DIR", c.display().to_string()));
            }
            if let Some(t) = &cli.render_timeout {
                overrides.push(("SEXTANT_RENDER_TIMEOUT", t.clone()));
            }
            let settings = sextant::config::Settings::load(config.as_deref(), &overrides)?;
            // Before the runtime's threads: the allocator's arenas are set per thread.
            sextant::daemon::allocator::configure();
            init_logs(settings.log_format);
            tokio::runtime::Runtime::new()?.block_on(sextant::daemon::run(settings))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Apply {
            at: EnvArgs { env, repo },
            cluster,
            dry_run,
            force_conflicts,
            prune,
            allow_mass_prune,
            wave_timeout,
            output,
        } => {
            let (environment, plan) = sextant::plan_environment(&renderer(&cli, repo)?, repo, env)?;
            let mut opts = SyncOptions::for_environment(&environment);
            opts.dry_run = *dry_run;
            opts.force_conflicts |= *force_conflicts;
            opts.prune = prune.unwrap_or(opts.prune);
            opts.prune_guard.allow_mass_prune |= *allow_mass_prune;
            opts.agent_namespace = cluster.agent_namespace.clone();
            if let Some(t) = wave_timeout {
                opts.wave_timeout = sextant::duration::parse(t).with_context(|| {
                    format!("--wave-timeout {t:?} is not a duration such as 90s or 5m")
                })?;
            }
            // SIGTERM or SIGINT stops the sync as the agent's shutdown does (no new wave, no
            // more waiting; the writes under way finish), and the partial result is printed.
            let (stop, stopping) = tokio::sync::watch::channel(false);
            opts.stop = Some(stopping);
            let caught = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
            let result = tokio::runtime::Runtime::new()?.block_on(async {
                let cluster = self::cluster(cluster).await?;
                let signals = tokio::spawn(stop_on_signal(stop, caught.clone()));
                let result = sextant::apply::sync::sync(&cluster, &environment, &plan, &opts).await;
                signals.abort();
                anyhow::Ok(result)
            })?;
            let signal = caught.load(std::sync::atomic::Ordering::SeqCst);
            write_out(&match output {
                PlanOutput::Table => result.to_table(),
                PlanOutput::Json => serde_json::to_string_pretty(&result)? + "\n",
            })?;
            return Ok(match signal {
                0 if result.succeeded => ExitCode::SUCCESS,
                0 => ExitCode::FAILURE,
                // The shell's convention for a process ended by a signal.
                s => ExitCode::from(128 + s),
            });
        }
        Command::Drift {
            at: EnvArgs { env, repo },
            cluster,
            output,
        } => {
            let renderer = renderer(&cli, repo)?;
            let (environment, plan) = sextant::plan_environment(&renderer, repo, env)?;
            let reports = tokio::runtime::Runtime::new()?.block_on(async {
                let cluster = self::cluster(cluster).await?;
                anyhow::Ok(
                    sextant::report::drift::report(&renderer, &cluster, &environment, &plan)
                        .await?,
                )
            })?;
            write_out(&match output {
                DriftOutput::Table => sextant::report::drift::table(&reports),
                DriftOutput::Json => {
                    let doc = serde_json::json!({
                        "environment": environment.name, "revision": plan.revision,
                        "in_sync": reports.is_empty(), "releases": reports,
                    });
                    serde_json::to_string_pretty(&doc)? + "\n"
                }
                DriftOutput::Patch => sextant::report::drift::patch(&reports),
            })?;
            return Ok(if reports.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Diff {
            at: EnvArgs { env, repo },
            cluster,
            output: DiffOutput::Json,
        } => {
            let (environment, plan) = sextant::plan_environment(&renderer(&cli, repo)?, repo, env)?;
            let drifted = tokio::runtime::Runtime::new()?.block_on(async {
                let cluster = self::cluster(cluster).await?;
                anyhow::Ok(sextant::apply::diff::drift(&cluster, &environment, &plan, 8).await?)
            })?;
            let objects: Vec<serde_json::Value> = drifted
                .iter()
                .map(|d| {
                    let r = &d.reference;
                    serde_json::json!({
                        "release": d.release, "apiVersion": r.api_version(), "kind": r.kind,
                        "namespace": r.namespace, "name": r.name, "deleted": d.deleted,
                        "fields": d.fields,
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "environment": environment.name, "revision": plan.revision,
                "in_sync": objects.is_empty(), "objects": objects,
            });
            write_out(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
            return Ok(if drifted.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Diff {
            at: EnvArgs { env, repo },
            cluster,
            output: DiffOutput::Text,
        } => {
            let (environment, plan) = sextant::plan_environment(&renderer(&cli, repo)?, repo, env)?;
            let diffs = tokio::runtime::Runtime::new()?.block_on(async {
                let cluster = self::cluster(cluster).await?;
                anyhow::Ok(sextant::apply::diff::diff(&cluster, &environment, &plan, 8).await?)
            })?;
            let text: String = diffs.iter().map(|d| d.diff.clone()).collect();
            write_out(&text)?;
            return Ok(if diffs.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Plan {
            at: EnvArgs { env, repo },
            output,
        } => {
            let (_, plan) = sextant::plan_environment(&renderer(&cli, repo)?, repo, env)?;
            match output {
                PlanOutput::Table => plan.to_table(),
                PlanOutput::Json => serde_json::to_string_pretty(&plan.to_json())? + "\n",
            }
        }
        Command::Render {
            at: EnvArgs { env, repo },
            release,
        } => {
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
        Command::Promote {
            from,
            to,
            repo,
            release,
            dry_run,
            cluster,
            output,
        } => {
            let settings = sextant::config::RegistrySettings::from_env()?;
            let registry = sextant_registry::Registries::new(settings.config(), None);
            let rows = tokio::runtime::Runtime::new()?.block_on(async {
                // The gates the source's agent recorded, when its cluster answers.
                let gates = match self::cluster(cluster).await {
                    Ok(c) => sextant::apply::record::load::<
                        Vec<((String, String), sextant::promotion::gate::Gate)>,
                    >(
                        &c,
                        &cluster.agent_namespace,
                        &sextant::apply::record::gates_name(from),
                    )
                    .await
                    .ok()
                    .flatten()
                    .map(|v| v.into_iter().collect::<std::collections::BTreeMap<_, _>>()),
                    Err(_) => None,
                };
                sextant::report::promotion::report(
                    repo,
                    from,
                    to,
                    release.as_deref(),
                    &registry,
                    gates.as_ref(),
                )
                .await
            })?;
            if !dry_run {
                for r in &rows {
                    if let (Some(file), Some(after)) = (&r.file, &r.after) {
                        std::fs::write(repo.join(file), after)
                            .with_context(|| format!("writing {file}"))?;
                    }
                }
            }
            match output {
                DriftOutput::Table => sextant::report::promotion::table(&rows),
                DriftOutput::Json => serde_json::to_string_pretty(&rows)? + "\n",
                DriftOutput::Patch => sextant::report::promotion::patch(&rows),
            }
        }
        Command::SetImage {
            at: EnvArgs { env, repo },
            release,
            digest,
            path,
        } => {
            let edit = sextant::promotion::set_image(repo, env, release, digest, path.as_deref())?;
            if edit.before == edit.after {
                format!("{}: {} already {digest}\n", edit.path, edit.key)
            } else {
                format!("{}: {} set to {digest}\n", edit.path, edit.key)
            }
        }
        Command::SetValues { file, edits } => set_values(file, edits)?,
        Command::Values {
            at: EnvArgs { env, repo },
            release,
            output,
        } => {
            let renderer = renderer(&cli, repo)?;
            let environment = sextant::environment::load(repo, env)?;
            let r = sextant::render::release(&environment, release)?;
            let values = serde_json::Value::Object(renderer.effective_values(&environment, r)?);
            match output {
                ValuesOutput::Yaml => sextant::yaml::to_string(&values),
                ValuesOutput::Json => serde_json::to_string_pretty(&values)? + "\n",
            }
        }
    };
    write_out(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `sextant set-values`: reads the edits, applies them to the file's text, writes it back only
/// when something changed, and says which paths changed.
fn set_values(file: &std::path::Path, edits: &std::path::Path) -> anyhow::Result<String> {
    use sextant_yamledit::Key;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Step {
        Index(usize),
        Name(String),
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Edit {
        path: Vec<Step>,
        value: serde_json::Value,
    }
    let list = std::fs::read_to_string(edits)
        .with_context(|| format!("reading --edits {}", edits.display()))?;
    let list: Vec<Edit> = serde_json::from_str(&list).with_context(|| {
        format!(
            "--edits {}: not a JSON list of {{\"path\": [...], \"value\": ...}}",
            edits.display()
        )
    })?;
    let before =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let changes: Vec<(Vec<Key>, serde_json::Value)> = list
        .into_iter()
        .map(|e| {
            let path = e
                .path
                .into_iter()
                .map(|s| match s {
                    Step::Index(i) => Key::Index(i),
                    Step::Name(n) => Key::Map(n),
                })
                .collect();
            (path, e.value)
        })
        .collect();
    let mut report = String::new();
    let mut text = before.clone();
    for (path, value) in &changes {
        let next = sextant_yamledit::set(&text, path, value).with_context(|| {
            format!(
                "{}: setting {}",
                file.display(),
                sextant_yamledit::path_string(path)
            )
        })?;
        let verb = if next == text { "already" } else { "set" };
        report.push_str(&format!(
            "{}: {} {verb} {value}\n",
            file.display(),
            sextant_yamledit::path_string(path)
        ));
        text = next;
    }
    if text != before {
        std::fs::write(file, &text).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(report)
}
