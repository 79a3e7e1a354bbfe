//! `registry-testkit`: the tests' real registry from the command line (`make demo`), beside
//! `kube-testkit` and `fake-github`: docker-registry on 127.0.0.1, holding images pushed to it
//! as real blobs and manifests.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use registry_testkit::{Distribution, Image};
use test_serving::cli;

/// Start docker-registry on a free port of 127.0.0.1, push the images asked for, and serve
/// until interrupted (SIGINT or SIGTERM); prints the registry's host (`127.0.0.1:PORT`) on
/// stdout. Its storage is a fresh folder under the temporary directory (TMPDIR), removed on
/// exit, with the registry's process group.
#[derive(Args)]
struct Flags {
    /// Push one new image to this repository (`hash-service`); repeat it for more: each
    /// image has a layer of its own, so a digest of its own.
    #[arg(long = "push", value_name = "NAME")]
    push: Vec<String>,
    /// The platform of the images pushed, `os/architecture[/variant]`.
    #[arg(long, default_value = "linux/amd64")]
    platform: String,
    /// Once serving, write `{host, images: [{repository, digest}]}` here as JSON, the
    /// images in the order of `--push`.
    #[arg(long)]
    info_file: Option<PathBuf>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let Flags {
        push,
        platform,
        info_file,
    } = cli::serve_flags(
        "registry-testkit",
        "The CNCF distribution registry on 127.0.0.1 with pushed images (test infrastructure only)",
    );
    // Bounded (10 s, five ports tried); it panics with the reason when it cannot start.
    let registry = Distribution::start();
    let mut images = Vec::new();
    for (i, name) in push.iter().enumerate() {
        let image = Image::new(&format!("{name} {i}"), &platform);
        let digest = registry.push(name, &image).await;
        images.push(serde_json::json!({"repository": registry.repository(name), "digest": digest}));
    }
    if let Some(path) = &info_file {
        let info = serde_json::json!({"host": registry.host(), "images": images});
        cli::write_atomically(path, format!("{info:#}\n").as_bytes(), 0o644)
            .with_context(|| format!("write {}", path.display()))?;
    }
    println!("{}", registry.host());
    cli::until_interrupted().await?;
    // Dropping it kills the registry's process group and removes its storage.
    drop(registry);
    Ok(())
}
