//! Layer analysis cache: one JSON file per layer, keyed by its verified DiffID, under
//! `<cache-dir>/layers/<ANALYZER_VERSION>/<diffid>.json`.
//!
//! Why by DiffID: base layers are shared between images, and a layer's DiffID names its content
//! exactly, so a hit is as good as re-reading the layer. Only layers whose DiffID was verified while
//! streaming are stored. Writes go through a temp file + rename so a crash or a concurrent scan never
//! leaves half a file; an unreadable entry is removed and recomputed.

use crate::analyzer::ANALYZER_VERSION;
use crate::model::LayerAnalysis;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// The `layers/` directory under a cache dir.
pub fn layers_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("layers")
}

#[derive(Debug, Clone)]
pub struct LayerCache {
    /// `<cache-dir>/layers`.
    root: PathBuf,
}

/// `sha256:` + 64 lowercase hex: the only keys allowed (a key becomes a file name).
fn valid_key(diff_id: &str) -> bool {
    diff_id.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl LayerCache {
    /// A cache rooted at `<cache-dir>/layers` (nothing is created until the first write).
    pub fn new(layers_root: impl Into<PathBuf>) -> LayerCache {
        LayerCache {
            root: layers_root.into(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entry_path(&self, diff_id: &str) -> Option<PathBuf> {
        valid_key(diff_id).then(|| {
            self.root
                .join(ANALYZER_VERSION)
                .join(format!("{diff_id}.json"))
        })
    }

    /// The cached analysis of the layer with this DiffID. A corrupt or mismatching entry is removed
    /// and treated as a miss.
    pub fn get(&self, diff_id: &str) -> Option<LayerAnalysis> {
        let path = self.entry_path(diff_id)?;
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice::<LayerAnalysis>(&bytes) {
            Ok(a) if a.diff_id.as_deref() == Some(diff_id) => Some(a),
            _ => {
                tracing::debug!("dropping corrupt layer cache entry {}", path.display());
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Store the analysis of a layer whose DiffID was verified. Atomic: temp file + rename.
    pub fn put(&self, diff_id: &str, analysis: &LayerAnalysis) -> anyhow::Result<()> {
        let Some(path) = self.entry_path(diff_id) else {
            anyhow::bail!("not caching layer {diff_id}: not a sha256 DiffID");
        };
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating cache directory {}", dir.display()))?;
        let json = serde_json::to_vec(analysis).context("serializing layer analysis")?;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{diff_id}.{}.{n}.tmp", std::process::id()));
        std::fs::write(&tmp, &json)
            .with_context(|| format!("writing cache entry {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| {
            let _ = std::fs::remove_file(&tmp);
            format!("writing cache entry {}", path.display())
        })?;
        Ok(())
    }

    /// Remove every cached layer analysis (all analyzer versions). Returns how many entries went.
    pub fn clean(&self) -> anyhow::Result<u64> {
        if !self.root.exists() {
            return Ok(0);
        }
        let mut count = 0;
        for version in std::fs::read_dir(&self.root)
            .with_context(|| format!("reading {}", self.root.display()))?
            .flatten()
        {
            if let Ok(entries) = std::fs::read_dir(version.path()) {
                count += entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .count() as u64;
            }
        }
        std::fs::remove_dir_all(&self.root)
            .with_context(|| format!("removing {}", self.root.display()))?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_corrupt_and_clean() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(layers_dir(tmp.path()));
        assert!(cache.get(D).is_none());
        let a = LayerAnalysis {
            diff_id: Some(D.to_string()),
            whiteouts: vec!["x".into()],
            ..Default::default()
        };
        cache.put(D, &a).unwrap();
        let file = tmp
            .path()
            .join("layers")
            .join(ANALYZER_VERSION)
            .join(format!("{D}.json"));
        assert!(file.exists());
        assert_eq!(cache.get(D), Some(a.clone()));

        std::fs::write(&file, b"{not json").unwrap();
        assert!(cache.get(D).is_none());
        assert!(!file.exists(), "corrupt entry removed");

        cache.put(D, &a).unwrap();
        assert_eq!(cache.clean().unwrap(), 1);
        assert!(cache.get(D).is_none());
    }

    #[test]
    fn keys_must_be_sha256() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(tmp.path());
        assert!(cache
            .put("../../etc/passwd", &LayerAnalysis::default())
            .is_err());
        assert!(cache.get("sha256:../x").is_none());
    }
}
