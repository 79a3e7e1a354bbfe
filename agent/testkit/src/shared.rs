//! What the test API server's parts share: its settings, the cluster state behind one lock,
//! the faults, the request log, and the signals that stop it or cut its watches.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::faults::{Faults, RequestRecord};
use crate::handler::Cluster;
use crate::readiness::FailImages;

/// How a test server behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen; port 0 picks a free port. Keep it on 127.0.0.1.
    pub addr: SocketAddr,
    /// Run the simulated controllers (workload readiness, Job completion, …).
    pub controllers: bool,
    /// How long after a write the simulated controllers report an object ready.
    pub ready_delay: Duration,
    /// Events kept for watch resumption; older resourceVersions get `410 Gone`.
    pub history_limit: usize,
    /// How often a watch that asked for bookmarks gets one.
    pub bookmark_interval: Duration,
    /// Images whose workloads never become ready (`Progressing=False`,
    /// `ProgressDeadlineExceeded`); changed at run time with `TestServer::fail_images`.
    pub fail_images: FailImages,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            controllers: true,
            ready_delay: Duration::from_millis(100),
            history_limit: 10_000,
            bookmark_interval: Duration::from_secs(1),
            fail_images: FailImages::default(),
        }
    }
}

/// State shared by every request.
pub(crate) struct Shared {
    pub cluster: Arc<Mutex<Cluster>>,
    pub faults: Mutex<Faults>,
    pub fail_images: Arc<Mutex<FailImages>>,
    pub log: Mutex<Vec<RequestRecord>>,
    pub options: Options,
    pub addr: SocketAddr,
    pub shutdown: watch::Receiver<bool>,
    /// Bumped to end every open watch stream.
    pub cut: watch::Sender<u64>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock is a bug in this crate; keep serving what is there.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
