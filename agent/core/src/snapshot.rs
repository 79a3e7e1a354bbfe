//! What a snapshot of the repository may hold: the largest file the agent checks out or reads,
//! and the list of files a checkout left out for being larger (written by `sextant-source`).

use std::path::Path;

/// The largest file a snapshot holds or the agent reads: 16 MiB, far above a values file or a
/// chart template and far below the 512 MiB memory limit of the agent's shipped Deployment.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The file in a snapshot's root that lists the files left out of it as too large, one
/// `<size> <path>` a line.
pub const OMITTED_FILE: &str = ".sextant-omitted";

/// The files of a snapshot that were too large to check out: (repository path, size in bytes),
/// read from [`OMITTED_FILE`]; empty for a snapshot that left nothing out, or a working tree.
pub fn omitted(root: &Path) -> Vec<(String, u64)> {
    let Ok(text) = std::fs::read_to_string(root.join(OMITTED_FILE)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let (size, path) = l.split_once(' ')?;
            Some((path.to_string(), size.parse().ok()?))
        })
        .collect()
}
