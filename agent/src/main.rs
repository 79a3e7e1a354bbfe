//! `sextant`: the command line. Wiring only; every decision lives in the library.

mod cli;

use clap::{Parser, Subcommand, ValueEnum};
use sextant::render::mirrors::ChartMirrors;
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
    /// Show what merging a change would do to an environment's live cluster: the objects Git
    /// changes between two revisions, what a sync would write for each, what it would prune
    /// (docs/preview.md). Writes nothing; exit 0 it would apply, 1 it would fail, 2 unknown.
    Preview {
        #[command(flatten)]
        at: EnvArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
        /// The revision the change is made on (a branch, a tag, a commit).
        #[arg(long, default_value = "HEAD")]
        base: String,
        /// The change's revision (default: the working tree).
        #[arg(long)]
        head: Option<String>,
        #[arg(long, value_enum, default_value_t = PreviewOutput::Markdown)]
        output: PreviewOutput,
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
    /// Values from a SOPS-encrypted file print as `(encrypted value)`.
    Values {
        #[command(flatten)]
        at: EnvArgs,
        #[arg(long)]
        release: String,
        #[arg(long, value_enum, default_value_t = ValuesOutput::Yaml)]
        output: ValuesOutput,
        /// Print the decrypted values themselves; only when stdout is a terminal.
        #[arg(long)]
        show_secrets: bool,
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
enum PreviewOutput {
    Markdown,
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
    let error_code = if matches!(
        cli.command,
        Command::Diff { .. } | Command::Drift { .. } | Command::Preview { .. }
    ) {
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

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Output is built whole before it is written: a failing command prints nothing half-done.
    let out = match &cli.command {
        Command::Run { config, repo_path } => {
            cli::daemon::run(&cli, config.as_deref(), repo_path.as_deref())?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Apply {
            at,
            cluster,
            dry_run,
            force_conflicts,
            prune,
            allow_mass_prune,
            wave_timeout,
            output,
        } => {
            let overrides = cli::apply::Overrides {
                dry_run: *dry_run,
                force_conflicts: *force_conflicts,
                prune: *prune,
                allow_mass_prune: *allow_mass_prune,
                wave_timeout: wave_timeout.as_deref(),
            };
            return cli::apply::apply(&cli, at, cluster, &overrides, *output);
        }
        Command::Drift {
            at,
            cluster,
            output,
        } => return cli::compare::drift(&cli, at, cluster, *output),
        Command::Preview {
            at,
            cluster,
            base,
            head,
            output,
        } => {
            let revisions = cli::preview::Revisions {
                base,
                head: head.as_deref(),
            };
            return cli::preview::preview(&cli, at, cluster, &revisions, *output);
        }
        Command::Diff {
            at,
            cluster,
            output: DiffOutput::Json,
        } => return cli::compare::diff_json(&cli, at, cluster),
        Command::Diff {
            at,
            cluster,
            output: DiffOutput::Text,
        } => return cli::compare::diff_text(&cli, at, cluster),
        Command::Plan { at, output } => cli::show::plan(&cli, at, *output)?,
        Command::Render { at, release } => cli::show::render(&cli, at, release.as_deref())?,
        Command::Promote {
            from,
            to,
            repo,
            release,
            dry_run,
            cluster,
            output,
        } => {
            let args = cli::promote::Args {
                from,
                to,
                repo,
                release: release.as_deref(),
                dry_run: *dry_run,
            };
            cli::promote::promote(&args, cluster, *output)?
        }
        Command::SetImage {
            at,
            release,
            digest,
            path,
        } => cli::edit::set_image(at, release, digest, path.as_deref())?,
        Command::SetValues { file, edits } => cli::edit::set_values(file, edits)?,
        Command::Values {
            at,
            release,
            output,
            show_secrets,
        } => {
            use std::io::IsTerminal as _;
            if *show_secrets && !std::io::stdout().is_terminal() {
                anyhow::bail!(
                    "--show-secrets prints decrypted values only to a terminal; stdout is not one"
                );
            }
            cli::show::values(&cli, at, release, *output, *show_secrets)?
        }
    };
    cli::write_out(&out)?;
    Ok(ExitCode::SUCCESS)
}
