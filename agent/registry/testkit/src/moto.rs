//! moto's server (PyPI `moto[server]`, which `make tools` installs) on 127.0.0.1 as a stand-in
//! ECR, killed with its process group when dropped; and the ECR calls a test needs to fill it
//! (through aws-sdk-ecr with static test credentials).
//!
//! moto makes up its digests: `PutImage` without `imageDigest` stores sha256 of the layer
//! digests joined (for an index, which has no layers, sha256 of a random number below 101); with
//! one, it stores what it was given unchecked. Neither is sha256 of the manifest unless a test
//! passes exactly that.

use crate::process::{http_status, Server};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;
use std::time::Duration;

/// moto's default account: its repositories live in this registry id.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "eu-west-1";

pub struct Moto {
    server: Server,
}

/// `moto_server` from `.tools/bin` (`make tools`), else from `PATH`, else `python3 -m moto.server`.
fn command() -> Command {
    let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../.tools/bin/moto_server");
    if tools.is_file() {
        return Command::new(tools);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("moto_server").is_file()))
        .unwrap_or(false);
    if on_path {
        return Command::new("moto_server");
    }
    let mut c = Command::new("python3");
    c.args(["-m", "moto.server"]);
    c
}

/// Static credentials in the environment, for the default chain of a verifier under test; the
/// same in every test, set once per process (nextest runs each test in its own).
pub fn use_test_credentials() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Before any client of this process reads the environment.
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    });
}

impl Moto {
    pub fn start() -> Moto {
        let server = Server::start(
            "moto_server (run `make tools`: PyPI moto[server])",
            |port| {
                let mut c = command();
                c.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
                c
            },
            |port| http_status(port, "/moto-api/").is_some(),
            Duration::from_secs(10),
        );
        Moto { server }
    }

    /// `http://127.0.0.1:PORT`, the endpoint for every AWS API.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port)
    }

    /// The image repository a verifier is given for an ECR repository `name`.
    pub fn repository(name: &str) -> String {
        format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}")
    }

    pub async fn client(&self) -> aws_sdk_ecr::Client {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(self.url())
            .http_client(http)
            .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await;
        aws_sdk_ecr::Client::new(&config)
    }

    pub async fn create_repository(&self, name: &str) {
        self.client()
            .await
            .create_repository()
            .repository_name(name)
            .send()
            .await
            .expect("moto creates the repository");
    }

    /// `PutImage` of `manifest` (tagged `tag`); `digest` as the request's `imageDigest`, if any.
    /// Returns the digest moto answers with.
    pub async fn put_image(
        &self,
        name: &str,
        manifest: &[u8],
        media_type: &str,
        tag: &str,
        digest: Option<&str>,
    ) -> String {
        let text = String::from_utf8(manifest.to_vec()).expect("a manifest is text");
        let put = self
            .client()
            .await
            .put_image()
            .repository_name(name)
            .image_manifest(text)
            .image_manifest_media_type(media_type)
            .image_tag(tag)
            .set_image_digest(digest.map(str::to_string))
            .send()
            .await
            .expect("moto stores the image");
        put.image()
            .and_then(|i| i.image_id())
            .and_then(|id| id.image_digest())
            .expect("moto answers the image's digest")
            .to_string()
    }
}
