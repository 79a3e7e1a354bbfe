//! `registry-testkit`: registries on 127.0.0.1 for tests. Test infrastructure only.
//! - [`Distribution`]: the real CNCF distribution registry (Debian's `docker-registry`), with
//!   pushes of real images and indexes through its HTTP API; optionally behind basic auth.
//! - [`LyingRegistry`]: a tiny fake answering manifest bytes that do not hash to the digest
//!   asked for, which no real registry can be made to do.
//! - [`Moto`]: moto's server as a stand-in ECR.
//! - [`signers`]: independent signers (sigstore-js with @sigstore/mock, Python's cryptography)
//!   that attach signatures to pushed images.
//!
//! Every server is bounded in its start, in its own process group or thread, and stopped when
//! dropped.
//!
//! The binary `registry-testkit serve --push NAME [--push NAME…] --info-file F` runs a
//! [`Distribution`] with freshly pushed images for scripts (`make demo`): it writes the host and
//! the digests to `F` as JSON and serves until SIGINT or SIGTERM.
//!
//! ```no_run
//! # async fn f() {
//! use registry_testkit::Distribution;
//! let registry = Distribution::start();
//! let amd64 = registry.push_image("app", "linux/amd64").await;
//! let arm64 = registry.push_image("app", "linux/arm64/v8").await;
//! let index = registry
//!     .push_index("app", &[("linux/amd64", &amd64), ("linux/arm64/v8", &arm64)])
//!     .await;
//! # let _ = index;
//! # }
//! ```

mod distribution;
pub mod image;
mod lying;
pub mod moto;
mod process;
pub mod signers;

pub use distribution::Distribution;
pub use image::Image;
pub use lying::LyingRegistry;
pub use moto::Moto;
