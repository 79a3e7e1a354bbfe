//! `fake-github`: run the fake GitHub from the command line (`make demo`), beside `kube-testkit`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use forge_testkit::{FakeGitHub, Options};
use test_serving::cli;

/// Serve until interrupted (SIGINT or SIGTERM); prints the API URL on stdout. The bare
/// repository lives in a fresh folder under the temporary directory (TMPDIR), removed on exit.
#[derive(Args)]
struct Flags {
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The repository, `owner/name`.
    #[arg(long, default_value = "acme/deploy")]
    repository: String,
    /// Commit every file under this folder to the default branch before serving.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// The seed commit's message.
    #[arg(long, default_value = "the platform")]
    seed_message: String,
    /// Write the token the fake accepts here (mode 0600).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Once serving, write `{url, git_base, repository_path, default_branch, head}` here as
    /// JSON; `git daemon --base-path=<git_base>` serves the repository as `<name>.git`.
    #[arg(long)]
    info_file: Option<PathBuf>,
}

/// Every file under `root`, as (path relative to it with `/` separators, bytes), sorted.
fn files_under(root: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .context("a file outside the seed folder")?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
            out.push((rel, bytes));
        }
    }
    out.sort();
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // Requests are logged at debug level: `RUST_LOG=forge_testkit=debug`.
    cli::init_logs();
    let Flags {
        addr,
        repository,
        seed,
        seed_message,
        token_file,
        info_file,
    } = cli::serve_flags(
        "fake-github",
        "A fake GitHub over a real bare repository (test infrastructure only)",
    );
    let (owner, repo) = repository
        .split_once('/')
        .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
        .with_context(|| format!("--repository {repository:?} is not owner/name"))?;
    let options = Options {
        addr,
        owner: owner.into(),
        repo: repo.into(),
        ..Options::default()
    };
    let fake = FakeGitHub::start(options)?;
    let branch = fake.options().default_branch.clone();
    if let Some(dir) = &seed {
        let files = files_under(dir)?;
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        fake.seed(&branch, &files, &seed_message)?;
    }
    if let Some(path) = &token_file {
        cli::write_atomically(path, fake.options().token.as_bytes(), 0o600)
            .with_context(|| format!("write {}", path.display()))?;
    }
    if let Some(path) = &info_file {
        let info = serde_json::json!({
            "url": fake.url(),
            "git_base": fake.dir(),
            "repository_path": fake.repo_path(),
            "default_branch": branch,
            "head": fake.branch_sha(&branch),
        });
        cli::write_atomically(path, format!("{info:#}\n").as_bytes(), 0o644)
            .with_context(|| format!("write {}", path.display()))?;
    }
    println!("{}", fake.url());
    cli::until_interrupted().await?;
    // Dropping the fake stops it and removes its repository.
    fake.stop();
    Ok(())
}
