//! Layer analysis cache: one JSON file per layer, named by its DiffID, under
//! `<cache-dir>/layers/<ANALYZER_VERSION>/<diffid>.json`.
//!
//! Why by DiffID: base layers are shared between images, and a layer's DiffID names its content
//! exactly, so a hit is as good as re-reading the layer. But a DiffID comes from the image config,
//! and re-deriving it costs a sha256 pass over the whole uncompressed layer, so each entry also
//! records the content digests that were *verified* while the layer was analysed: the blob digest
//! (checked against the manifest as the blob streamed; for an uncompressed layer it is the DiffID
//! itself) and the DiffID when it was computed. A lookup hits only when the blob the image would
//! have us read is one of them. So an image whose config claims another layer's DiffID can neither
//! poison the entry for that DiffID nor be served from it. Writes go through a temp file + rename,
//! so a crash or a concurrent scan never leaves half a file; an unreadable entry is removed and
//! recomputed.

use crate::analyzer::ANALYZER_VERSION;
use crate::model::LayerAnalysis;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Verified digests kept per entry (the same layer compressed differently, say gzip and plain tar).
const MAX_VERIFIED: usize = 8;

/// What one cache file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// Content digests (`sha256:<hex>`) verified to be the bytes this analysis was computed from.
    verified: Vec<String>,
    analysis: LayerAnalysis,
}

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

    /// The cached analysis of the layer with this DiffID, when it was computed from the blob with
    /// digest `blob_digest`. A corrupt or mismatching entry is removed and treated as a miss; an
    /// entry for the same DiffID made from other bytes is a miss and stays.
    pub fn get(&self, diff_id: &str, blob_digest: &str) -> Option<LayerAnalysis> {
        let entry = self.read(diff_id)?;
        entry
            .verified
            .iter()
            .any(|d| d.eq_ignore_ascii_case(blob_digest))
            .then_some(entry.analysis)
    }

    fn read(&self, diff_id: &str) -> Option<Entry> {
        let path = self.entry_path(diff_id)?;
        // The version directory must be a directory of ours, not a link elsewhere.
        let dir = self.root.join(ANALYZER_VERSION);
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.file_type().is_dir()) {
            tracing::warn!(
                "layer cache {} is not a directory; not using the cache",
                dir.display()
            );
            return None;
        }
        let bytes = match crate::limits::read_regular_file(&path, crate::limits::MAX_CACHE_ENTRY) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                // A FIFO, a device, a symlink (to /dev/zero, out of the cache), a huge file: not
                // ours. Dropped (the link itself, never its target) and recomputed.
                tracing::warn!(
                    "dropping layer cache entry {} ({e}); the layer is analysed again",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
                return None;
            }
        };
        match serde_json::from_slice::<Entry>(&bytes) {
            Ok(e) if e.analysis.diff_id.as_deref() == Some(diff_id) => Some(e),
            _ => {
                tracing::debug!("dropping corrupt layer cache entry {}", path.display());
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Store the analysis of the layer with this DiffID, computed from bytes whose digests in
    /// `verified` were checked while it streamed (at least one is required). When the entry already
    /// holds the same analysis from other verified bytes, their digests are kept beside the new
    /// ones; otherwise the entry is replaced. Atomic: temp file + rename.
    pub fn put(
        &self,
        diff_id: &str,
        verified: &[String],
        analysis: &LayerAnalysis,
    ) -> anyhow::Result<()> {
        let Some(path) = self.entry_path(diff_id) else {
            anyhow::bail!("not caching layer {diff_id}: not a sha256 DiffID");
        };
        if verified.is_empty() || !verified.iter().all(|d| valid_key(d)) {
            anyhow::bail!("not caching layer {diff_id}: no verified sha256 digest of its bytes");
        }
        let mut analysis = analysis.clone();
        analysis.diff_id = Some(diff_id.to_string());
        let mut digests: Vec<String> = verified.to_vec();
        if let Some(old) = self.read(diff_id).filter(|e| e.analysis == analysis) {
            for d in old.verified {
                if !digests.contains(&d) && digests.len() < MAX_VERIFIED {
                    digests.push(d);
                }
            }
        }
        let entry = Entry {
            verified: digests,
            analysis,
        };
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating cache directory {}", dir.display()))?;
        let json = serde_json::to_vec(&entry).context("serializing layer analysis")?;
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

    const B: &str = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    const C: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn analysis(whiteout: &str) -> LayerAnalysis {
        LayerAnalysis {
            diff_id: Some(D.to_string()),
            whiteouts: vec![whiteout.into()],
            ..Default::default()
        }
    }

    #[test]
    fn round_trip_corrupt_and_clean() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(layers_dir(tmp.path()));
        assert!(cache.get(D, B).is_none());
        let a = analysis("x");
        cache.put(D, &[B.to_string()], &a).unwrap();
        let file = tmp
            .path()
            .join("layers")
            .join(ANALYZER_VERSION)
            .join(format!("{D}.json"));
        assert!(file.exists());
        assert_eq!(cache.get(D, B), Some(a.clone()));

        std::fs::write(&file, b"{not json").unwrap();
        assert!(cache.get(D, B).is_none());
        assert!(!file.exists(), "corrupt entry removed");

        cache.put(D, &[B.to_string()], &a).unwrap();
        assert_eq!(cache.clean().unwrap(), 1);
        assert!(cache.get(D, B).is_none());
    }

    /// An entry answers only for the bytes it was computed from: a config that claims this DiffID
    /// for another blob neither reads the entry nor (having other content) keeps its digests in it.
    #[test]
    fn entries_are_bound_to_verified_blob_digests() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(tmp.path());
        cache.put(D, &[B.to_string()], &analysis("x")).unwrap();
        assert!(cache.get(D, C).is_none(), "other blob, same claimed DiffID");
        assert!(
            cache.get(D, B).is_some(),
            "a miss for other bytes keeps the entry"
        );

        // The same content from another blob (plain tar vs gzip): both digests are kept.
        cache.put(D, &[C.to_string()], &analysis("x")).unwrap();
        assert!(cache.get(D, B).is_some() && cache.get(D, C).is_some());

        // Different content under the same DiffID replaces the entry and its digests.
        cache.put(D, &[C.to_string()], &analysis("evil")).unwrap();
        assert!(cache.get(D, B).is_none());
        assert_eq!(cache.get(D, C).unwrap().whiteouts, vec!["evil".to_string()]);

        // Nothing verified, nothing stored.
        assert!(cache.put(B, &[], &analysis("x")).is_err());
        assert!(cache.put(B, &["md5:x".into()], &analysis("x")).is_err());
    }

    #[test]
    fn entries_of_the_old_format_are_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(tmp.path());
        let file = tmp.path().join(ANALYZER_VERSION).join(format!("{D}.json"));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, serde_json::to_vec(&analysis("x")).unwrap()).unwrap();
        assert!(cache.get(D, D).is_none());
        assert!(!file.exists());
    }

    #[test]
    fn keys_must_be_sha256() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(tmp.path());
        assert!(cache
            .put(
                "../../etc/passwd",
                &[B.to_string()],
                &LayerAnalysis::default()
            )
            .is_err());
        assert!(cache.get("sha256:../x", B).is_none());
    }
}
