//! What the test servers' command lines share (`kube-testkit`, `fake-github`,
//! `registry-testkit`, run by `make demo`): logs on stderr, files that readers poll for written
//! whole, and serving until SIGINT or SIGTERM.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Logs on stderr (stdout carries the address), filtered by `RUST_LOG`: requests are logged at
/// debug level.
pub fn init_logs() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}

/// Writes `contents` to `path` with permissions `mode` through a temporary file beside it, so a
/// reader polling for `path` never sees it half written.
pub fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(contents)?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// Returns at the first SIGINT or SIGTERM.
pub async fn until_interrupted() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_written_whole_with_its_mode_and_nothing_left_beside_it() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("token");
        write_atomically(&path, b"first", 0o600).expect("written");
        write_atomically(&path, b"second", 0o600).expect("replaced");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["token"]);
    }
}

/// A test server's command line: one `serve` command and its flags.
#[derive(clap::Parser)]
struct Serving<S: clap::Args> {
    #[command(subcommand)]
    command: Command<S>,
}

#[derive(clap::Subcommand)]
enum Command<S: clap::Args> {
    // Its help is the flags' own doc comment.
    Serve(S),
}

/// The flags of `<name> serve`, parsed from this process's command line (`--help` prints
/// `about` and the flags' own help); exits with clap's message on bad flags.
pub fn serve_flags<S: clap::Args>(name: &'static str, about: &'static str) -> S {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Serving::<S>::command()
        .name(name)
        .bin_name(name)
        .about(about)
        .get_matches();
    match Serving::<S>::from_arg_matches(&matches) {
        Ok(Serving {
            command: Command::Serve(flags),
        }) => flags,
        Err(e) => e.exit(),
    }
}
