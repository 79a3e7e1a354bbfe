//! A content-addressed store of rendered releases: the key is the sha256 of everything that
//! decides helm's output, so an entry never goes stale and an unchanged release is never
//! rendered twice.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct RenderCache {
    dir: PathBuf,
}

impl RenderCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RenderCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, area: &str, key: &str) -> PathBuf {
        self.dir.join(area).join(key)
    }

    pub fn get(&self, area: &str, key: &str) -> Option<String> {
        std::fs::read_to_string(self.path(area, key)).ok()
    }

    /// Stores an entry atomically (write to a temporary file, then rename), so that a reader
    /// never sees half an entry even with several agents sharing the folder.
    pub fn put(&self, area: &str, key: &str, content: &str) -> std::io::Result<()> {
        let dir = self.dir.join(area);
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        tmp.write_all(content.as_bytes())?;
        tmp.persist(dir.join(key)).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Hashes a folder's files (relative paths and contents, in sorted order).
pub fn hash_dir(hasher: &mut Sha256, root: &Path) -> std::io::Result<()> {
    let mut files = Vec::new();
    collect_files(root, root, &mut files)?;
    files.sort();
    for rel in files {
        let content = std::fs::read(root.join(&rel))?;
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    Ok(())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ty = entry.file_type()?;
        if ty.is_dir() {
            collect_files(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_hash_changes_with_any_file_and_not_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("t")).unwrap();
        std::fs::write(dir.path().join("Chart.yaml"), "name: a").unwrap();
        std::fs::write(dir.path().join("t/x.yaml"), "x").unwrap();
        let digest = || {
            let mut h = Sha256::new();
            hash_dir(&mut h, dir.path()).unwrap();
            hex::encode(h.finalize())
        };
        let first = digest();
        assert_eq!(first, digest());
        std::fs::write(dir.path().join("t/x.yaml"), "y").unwrap();
        assert_ne!(first, digest());
    }

    #[test]
    fn stores_and_reads_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RenderCache::new(dir.path());
        assert_eq!(cache.get("render", "k"), None);
        cache.put("render", "k", "doc").unwrap();
        assert_eq!(cache.get("render", "k").as_deref(), Some("doc"));
    }
}
