//! Local mode's trigger: a recursive `notify` watch of a working tree that turns bursts of
//! changes into one signal per quiet period, ignoring `.git/`, `target/`, `.cache/` and `.tools/`.
//!
//! The root is watched non-recursively and each other top-level directory recursively, so the
//! ignored trees (often the biggest: `.git/`, `target/`) cost no inotify watches at all; a
//! top-level directory created later is added when its creation is seen.

use std::path::{Component, Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::error::{Result, SourceError};

/// Directory names never watched and never signalled, at any depth.
pub const IGNORED_DIRS: &[&str] = &[".git", "target", ".cache", ".tools"];

/// A burst that never goes quiet still signals after this many debounce periods.
const MAX_DELAY_PERIODS: u32 = 10;

/// Keeps the watch alive; dropping it stops watching and closes the receiver.
pub struct Watcher {
    _inner: Arc<Mutex<notify::RecommendedWatcher>>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

/// Watches `root` and sends `()` once the tree has been quiet for `debounce` after a change
/// (at the latest `10 × debounce` into a continuous burst). The channel holds one pending
/// signal: changes while one is pending coalesce into it. Needs no async runtime; the receiver
/// works with any.
pub fn watch(root: &Path, debounce: Duration) -> Result<(Watcher, mpsc::Receiver<()>)> {
    let root = root
        .canonicalize()
        .map_err(|e| SourceError::io("resolve", root, e))?;
    let (raw_tx, raw_rx) = std_mpsc::channel::<notify::Event>();
    let watch_err = |path: &Path, e: notify::Error| SourceError::Watch {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let inner = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        Ok(event) => {
            let _ = raw_tx.send(event);
        }
        Err(e) => tracing::warn!(error = %e, "file watch error"),
    })
    .map_err(|e| watch_err(&root, e))?;
    let inner = Arc::new(Mutex::new(inner));
    {
        let mut w = inner.lock().unwrap_or_else(|p| p.into_inner());
        w.watch(&root, RecursiveMode::NonRecursive)
            .map_err(|e| watch_err(&root, e))?;
        let entries = std::fs::read_dir(&root).map_err(|e| SourceError::io("list", &root, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !is_ignored(&root, &path) {
                w.watch(&path, RecursiveMode::Recursive)
                    .map_err(|e| watch_err(&path, e))?;
            }
        }
    }

    let (tx, rx) = mpsc::channel(1);
    let weak = Arc::downgrade(&inner);
    let thread_root = root.clone();
    std::thread::Builder::new()
        .name("sextant-watch".into())
        .spawn(move || debounce_loop(&thread_root, debounce, &raw_rx, &tx, &weak))
        .map_err(|e| SourceError::io("start watcher thread for", &root, e))?;
    Ok((Watcher { _inner: inner }, rx))
}

/// Runs until the watcher is dropped (its event sender closes) or the receiver is dropped.
fn debounce_loop(
    root: &Path,
    debounce: Duration,
    raw: &std_mpsc::Receiver<notify::Event>,
    tx: &mpsc::Sender<()>,
    watcher: &std::sync::Weak<Mutex<notify::RecommendedWatcher>>,
) {
    let max_delay = debounce * MAX_DELAY_PERIODS;
    loop {
        // Wait for the first relevant event of a burst.
        let Ok(event) = raw.recv() else { return };
        if !relevant(root, &event, watcher) {
            continue;
        }
        let started = Instant::now();
        loop {
            match raw.recv_timeout(debounce) {
                Ok(event) => {
                    relevant(root, &event, watcher);
                    if started.elapsed() >= max_delay {
                        break;
                    }
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => break,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        match tx.try_send(()) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(())) => {}
            Err(mpsc::error::TrySendError::Closed(())) => return,
        }
    }
}

/// Whether `event` is a change outside the ignored directories; also starts watching top-level
/// directories created after the watch began.
fn relevant(
    root: &Path,
    event: &notify::Event,
    watcher: &std::sync::Weak<Mutex<notify::RecommendedWatcher>>,
) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        // Reads (a render of this very tree) must not trigger a sync.
        return false;
    }
    let mut any = false;
    for path in &event.paths {
        if is_ignored(root, path) {
            continue;
        }
        any = true;
        if matches!(event.kind, EventKind::Create(_))
            && path.parent() == Some(root)
            && path.is_dir()
        {
            if let Some(w) = watcher.upgrade() {
                let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = w.watch(path, RecursiveMode::Recursive) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot watch new directory");
                }
            }
        }
    }
    any
}

/// Whether `path` (under `root`) lies in an ignored directory.
pub(crate) fn is_ignored(root: &Path, path: &Path) -> bool {
    let rel: PathBuf = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    rel.components().any(|c| match c {
        Component::Normal(name) => IGNORED_DIRS.iter().any(|d| name == *d),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_vcs_build_and_cache_dirs_at_any_depth() {
        let root = Path::new("/repo");
        for p in [
            "/repo/.git/index",
            "/repo/target/debug/x",
            "/repo/a/.cache/y",
            "/repo/.tools/helm",
            "/repo/.git",
        ] {
            assert!(is_ignored(root, Path::new(p)), "{p}");
        }
        for p in [
            "/repo/values.yaml",
            "/repo/envs/prod/values.yaml",
            "/repo/targets/x",
            "/repo/.github/w.yml",
        ] {
            assert!(!is_ignored(root, Path::new(p)), "{p}");
        }
    }
}
