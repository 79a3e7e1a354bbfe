//! `sextant run`: the agent itself, its settings from the file, the variables and the flags.

use crate::Cli;
use std::path::Path;

/// Loads the settings (the flags win over the file and the variables), sets up logging and runs
/// the agent until it is stopped.
pub fn run(cli: &Cli, config: Option<&Path>, repo_path: Option<&Path>) -> anyhow::Result<()> {
    let settings = sextant::config::Settings::load(config, &overrides(cli, repo_path))?;
    // Before the runtime's threads: the allocator's arenas are set per thread.
    sextant::daemon::allocator::configure();
    init_logs(settings.log_format);
    tokio::runtime::Runtime::new()?.block_on(sextant::daemon::run(settings))?;
    Ok(())
}

/// The flags that stand for settings, under the names of the variables they override.
fn overrides(cli: &Cli, repo_path: Option<&Path>) -> Vec<(&'static str, String)> {
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
    overrides
}

/// The log's writer: each event (the formatter writes one at a time) with every value decrypted
/// from a SOPS file replaced (`sextant::render::scrub`).
struct Scrubbed<W>(W);

impl<W: std::io::Write> std::io::Write for Scrubbed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(sextant::render::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
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
        .with_writer(|| Scrubbed(std::io::stderr()));
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
