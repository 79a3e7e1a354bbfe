//! `kube-testkit`: run the test API server from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use sextant_testkit::{FailImages, Options, TestServer};
use test_serving::cli;

/// Serve until interrupted (SIGINT or SIGTERM); prints the bound address on stdout.
#[derive(Args)]
struct Flags {
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Write a kubeconfig pointing at the server here.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Milliseconds before simulated controllers report objects ready.
    #[arg(long, default_value_t = 100)]
    ready_delay_ms: u64,
    /// Disable the simulated controllers.
    #[arg(long)]
    no_controllers: bool,
    /// Workloads with an image containing this substring (a digest `sha256:…`) never
    /// become ready: `Progressing=False`, `ProgressDeadlineExceeded`. Repeatable; changed
    /// at run time with `PUT /testkit/fail-readiness-images`.
    #[arg(long = "fail-readiness-image", value_name = "SUBSTRING",
          value_parser = clap::builder::NonEmptyStringValueParser::new())]
    fail_readiness_images: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // Requests are logged at debug level: `RUST_LOG=sextant_testkit=debug`.
    cli::init_logs();
    let Flags {
        addr,
        kubeconfig,
        ready_delay_ms,
        no_controllers,
        fail_readiness_images,
    } = cli::serve_flags(
        "kube-testkit",
        "A kube-compatible test API server (test infrastructure only)",
    );
    let options = Options {
        addr,
        controllers: !no_controllers,
        ready_delay: Duration::from_millis(ready_delay_ms),
        fail_images: FailImages::new(fail_readiness_images),
        ..Options::default()
    };
    let server = TestServer::start(options)?;
    if let Some(path) = &kubeconfig {
        server.write_kubeconfig(path)?;
    }
    println!("{}", server.addr());
    cli::until_interrupted().await?;
    server.stop();
    Ok(())
}
