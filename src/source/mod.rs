//! Fetchers: turn what the user named into a [`Source`], a [`Target`] plus a way to open each layer.
//! After fetch, a registry image, an OCI layout, a docker-archive, a Lambda zip and a directory are
//! indistinguishable to the rest of the pipeline.

use crate::model::{ArtifactType, Target};
use std::io::BufRead;
use std::path::PathBuf;

pub mod archive;
pub mod aws;
pub mod dir;
pub mod lambda_zip;
pub mod layout;
pub mod registry;
pub mod remote_zip;

/// Network fetches (registry blobs, layer zips by URL or ARN) try this many times on 429, 5xx and
/// dropped connections.
pub const FETCH_ATTEMPTS: u32 = 3;

/// How long to wait after failed attempt `attempt` (1-based): 500 ms, then 1 s, ...
pub fn fetch_backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(250u64 << attempt.min(8))
}

/// An error and its causes on one line, each cause's `Display` once (HTTP and SDK errors repeat
/// their source's text in their own). Callers strip URLs that may carry signed queries first.
pub fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let t = err.to_string();
        if !t.is_empty() && !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// The raw content of one layer, as stored.
pub enum LayerBlob {
    /// A layer blob exactly as stored (plain tar, gzip or zstd: the unpacker detects which by magic
    /// bytes and verifies `LayerRef::digest` while it streams, or `LayerRef::diff_id` when there is
    /// no blob digest).
    Tar(Box<dyn BufRead + Send>),
    /// A Lambda layer or function zip on disk (read in place, never unpacked).
    Zip(PathBuf),
    /// A directory on disk (walked in place).
    Dir(PathBuf),
}

/// A fetched artifact.
pub trait Source: Send + Sync {
    fn target(&self) -> &Target;
    fn artifact_type(&self) -> ArtifactType;
    /// Open layer `index` of `target().layers`.
    fn open_layer(&self, index: usize) -> anyhow::Result<LayerBlob>;
    /// Whether this source's layer readers already check each blob against `LayerRef::digest`
    /// (failing the read at the end of a blob that does not match), so the unpacker need not hash
    /// the stored bytes a second time.
    fn verifies_blob_digests(&self) -> bool {
        false
    }
}
