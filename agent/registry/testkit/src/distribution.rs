//! `docker-registry` (Debian's package of CNCF distribution 2.8) on 127.0.0.1 with its storage in
//! a temporary folder, optionally behind htpasswd basic auth, and pushes to it through the
//! distribution HTTP API: blobs (monolithic upload), image manifests, indexes.

use crate::image::{self, Image};
use crate::process::{http_status, Server};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub struct Distribution {
    server: Server,
    auth: Option<(String, String)>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn binary() -> &'static str {
    ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect(
            "docker-registry is missing: run `make tools` as root (Debian package docker-registry)",
        )
}

impl Distribution {
    /// A registry anyone may pull from and push to.
    pub fn start() -> Distribution {
        Distribution::launch(None)
    }

    /// A registry that answers 401 without `user`'s `password` (htpasswd, bcrypt).
    pub fn start_with_basic_auth(user: &str, password: &str) -> Distribution {
        Distribution::launch(Some((user.to_string(), password.to_string())))
    }

    fn launch(auth: Option<(String, String)>) -> Distribution {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut auth_section = String::new();
        if let Some((user, password)) = &auth {
            // bcrypt's lowest cost: a test's password, checked on every request.
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("{user}:{hash}\n")).expect("write htpasswd");
            auth_section = format!(
                "auth:\n  htpasswd:\n    realm: sextant-test\n    path: {}\n",
                file.display()
            );
        }
        let (root, data) = (dir.path().to_path_buf(), dir.path().join("data"));
        let server = Server::start(
            "docker-registry",
            |port| {
                let config = root.join(format!("config-{port}.yml"));
                std::fs::write(
                    &config,
                    format!(
                        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n{auth_section}http:\n  addr: 127.0.0.1:{port}\n",
                        data.display()
                    ),
                )
                .expect("write registry config");
                let mut c = Command::new(binary());
                c.arg("serve").arg(config);
                c
            },
            // The API root answers 200, or 401 behind auth: either way it serves.
            |port| matches!(http_status(port, "/v2/"), Some(200 | 401)),
            Duration::from_secs(10),
        );
        Distribution {
            server,
            auth,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// `127.0.0.1:PORT`, the registry part of a repository.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.server.port)
    }

    /// `127.0.0.1:PORT/name`.
    pub fn repository(&self, name: &str) -> String {
        format!("{}/{name}", self.host())
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.auth {
            Some((user, password)) => r.basic_auth(user, Some(password)),
            None => r,
        }
    }

    /// Uploads a blob to `name` in one PUT (POST to open the upload, PUT with the digest).
    pub async fn push_blob(&self, name: &str, bytes: &[u8]) -> String {
        let digest = image::sha256(bytes);
        let base = format!("http://{}", self.host());
        let started = self
            .request(
                reqwest::Method::POST,
                &format!("{base}/v2/{name}/blobs/uploads/"),
            )
            .send()
            .await
            .expect("start a blob upload");
        assert_eq!(
            started.status(),
            202,
            "start upload: {:?}",
            started.text().await
        );
        let location = started
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .expect("the upload's Location")
            .to_string();
        let url = if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let put = self
            .request(reqwest::Method::PUT, &format!("{url}{sep}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("upload a blob");
        assert_eq!(put.status(), 201, "upload: {:?}", put.text().await);
        digest
    }

    /// Stores `bytes` as a manifest of `media_type` under `reference` (its digest, or a tag);
    /// returns the digest the registry computed, checked against our own.
    pub async fn push_manifest(
        &self,
        name: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let put = self
            .request(
                reqwest::Method::PUT,
                &format!("http://{}/v2/{name}/manifests/{reference}", self.host()),
            )
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .expect("put a manifest");
        let status = put.status();
        let said = put
            .headers()
            .get("docker-content-digest")
            .and_then(|d| d.to_str().ok())
            .map(str::to_string);
        assert_eq!(status, 201, "put manifest: {:?}", put.text().await);
        let digest = image::sha256(bytes);
        assert_eq!(
            said.as_deref(),
            Some(digest.as_str()),
            "the registry's digest"
        );
        digest
    }

    /// Pushes a real image for `platform` (config, layer, OCI manifest) to `name`; its digest.
    pub async fn push_image(&self, name: &str, platform: &str) -> String {
        let image = Image::new(name, platform);
        self.push(name, &image).await
    }

    /// Pushes `image`'s blobs and manifest; its digest.
    pub async fn push(&self, name: &str, image: &Image) -> String {
        self.push_blob(name, &image.layer).await;
        self.push_blob(name, &image.config).await;
        self.push_manifest(name, &image.digest(), image::OCI_MANIFEST, &image.manifest)
            .await
    }

    /// Pushes an OCI index over manifests already in `name`: `(platform, digest)` each.
    pub async fn push_index(&self, name: &str, entries: &[(&str, &str)]) -> String {
        let mut sized = Vec::new();
        for (platform, digest) in entries {
            sized.push((*platform, *digest, self.manifest_size(name, digest).await));
        }
        let bytes = image::index(&sized);
        self.push_manifest(name, &image::sha256(&bytes), image::OCI_INDEX, &bytes)
            .await
    }

    async fn manifest_size(&self, name: &str, digest: &str) -> usize {
        let got = self
            .request(
                reqwest::Method::GET,
                &format!("http://{}/v2/{name}/manifests/{digest}", self.host()),
            )
            .header("accept", image::OCI_MANIFEST)
            .send()
            .await
            .expect("get a manifest");
        assert_eq!(got.status(), 200, "{name}@{digest} is not in the registry");
        got.bytes().await.expect("manifest bytes").len()
    }
}
