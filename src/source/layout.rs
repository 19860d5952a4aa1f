//! OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), read from a directory or from
//! a tar of one (an OCI archive) through a [`BlobStore`].
//!
//! Every blob is read by digest and checked against it: the manifest, the config and (while the
//! unpacker streams them) the layers. A layout can hold many images: `DIR:ref` picks by
//! `org.opencontainers.image.ref.name`, and a (nested) index picks by `--platform`.

use crate::model::{ArtifactType, LayerRef, Target};
use crate::source::{LayerBlob, Source};
use crate::unpack::sha256_digest;
use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::sync::Arc;

/// Manifests, indexes and configs larger than this are refused (they are a few KiB in practice).
pub const MAX_METADATA_BLOB: u64 = 16 << 20;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Layer media types we can unpack (the unpacker detects the compression by magic bytes).
pub const LAYER_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Files of a layout or archive, by their path inside it (`index.json`, `blobs/sha256/<hex>`).
pub trait BlobStore: Send + Sync {
    fn open(&self, path: &str) -> anyhow::Result<Box<dyn BufRead + Send>>;
    fn exists(&self, path: &str) -> bool;
    /// The first bytes (up to 4) of a file: the compression magic of a layer.
    fn head(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let mut head = [0u8; 4];
        let n = crate::unpack::read_up_to(&mut self.open(path)?, &mut head)
            .with_context(|| format!("{}: reading {path}", self.name()))?;
        Ok(head.get(..n).unwrap_or_default().to_vec())
    }
    /// The size of a file, when the store knows it cheaply (for progress bars).
    fn size(&self, _path: &str) -> Option<u64> {
        None
    }
    /// The store as the user named it, for messages.
    fn name(&self) -> &str;
}

/// A layout (or an unpacked docker-archive) in a directory.
pub struct DirStore {
    root: PathBuf,
    name: String,
}

impl DirStore {
    pub fn new(root: impl Into<PathBuf>, name: impl Into<String>) -> DirStore {
        DirStore {
            root: root.into(),
            name: name.into(),
        }
    }
    fn resolve(&self, path: &str) -> PathBuf {
        // Paths are normalised (no `..`, no leading `/`), so this stays inside the root.
        self.root.join(crate::unpack::normalize_path(path))
    }
}

impl BlobStore for DirStore {
    fn open(&self, path: &str) -> anyhow::Result<Box<dyn BufRead + Send>> {
        let p = self.resolve(path);
        let f = std::fs::File::open(&p)
            .with_context(|| format!("{}: cannot open {path}", self.name))?;
        Ok(Box::new(std::io::BufReader::with_capacity(256 << 10, f)))
    }
    fn exists(&self, path: &str) -> bool {
        self.resolve(path).is_file()
    }
    fn size(&self, path: &str) -> Option<u64> {
        std::fs::metadata(self.resolve(path)).ok().map(|m| m.len())
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Read a small file (manifest, config, index) whole, refusing anything over `MAX_METADATA_BLOB`.
pub fn read_small(store: &dyn BlobStore, path: &str) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    store
        .open(path)?
        .take(MAX_METADATA_BLOB + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("{}: reading {path}", store.name()))?;
    if buf.len() as u64 > MAX_METADATA_BLOB {
        bail!(
            "{}: {path} is larger than {MAX_METADATA_BLOB} bytes, too large for image metadata",
            store.name()
        );
    }
    Ok(buf)
}

/// `blobs/sha256/<hex>` for a digest; anything but a well-formed sha256 digest is refused (a digest
/// becomes a path, so it must never contain `/` or `..`).
pub fn blob_path(digest: &str) -> anyhow::Result<String> {
    let digest = crate::limits::sha256_digest("descriptor digest", digest)?;
    Ok(format!("blobs/sha256/{}", &digest["sha256:".len()..]))
}

/// Read a metadata blob by digest and verify it.
pub fn read_verified_blob(store: &dyn BlobStore, digest: &str) -> anyhow::Result<Vec<u8>> {
    let path = blob_path(digest)?;
    if !store.exists(&path) {
        bail!("{}: blob {digest} is missing", store.name());
    }
    let bytes = read_small(store, &path)?;
    let computed = sha256_digest(&bytes);
    if !computed.eq_ignore_ascii_case(digest) {
        bail!(
            "{}: digest mismatch for blob {digest}: computed {computed}",
            store.name()
        );
    }
    Ok(bytes)
}

#[derive(Debug, Clone, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    fn display(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{v}", self.os, self.architecture),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
    fn is_unknown(&self) -> bool {
        self.os == "unknown" || self.architecture == "unknown"
    }
    /// Does this platform match `os/arch[/variant]`? Without a requested variant any variant matches.
    fn matches(&self, wanted: &str) -> bool {
        let mut parts = wanted.split('/');
        let os = parts.next().unwrap_or_default();
        let arch = parts.next().unwrap_or_default();
        let variant = parts.next();
        let norm_arch = |a: &str| match a {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            other => other.to_string(),
        };
        if !self.os.eq_ignore_ascii_case(os) || norm_arch(&self.architecture) != norm_arch(arch) {
            return false;
        }
        match variant {
            None | Some("") => true,
            Some(v) => self.variant.as_deref().unwrap_or_default() == v,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexOrManifest {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// The parts of an image config the pipeline uses.
#[derive(Debug, Default, Deserialize)]
struct ConfigView {
    #[serde(default)]
    rootfs: Option<RootFs>,
    #[serde(default)]
    history: Vec<History>,
}

#[derive(Debug, Default, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct History {
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    empty_layer: bool,
}

/// A local image (OCI layout, OCI archive or docker-archive) ready to unpack.
pub struct StoredImage {
    pub(crate) target: Target,
    pub(crate) store: Arc<dyn BlobStore>,
    /// Path inside the store of each layer's blob.
    pub(crate) layer_paths: Vec<String>,
}

impl Source for StoredImage {
    fn target(&self) -> &Target {
        &self.target
    }
    fn artifact_type(&self) -> ArtifactType {
        ArtifactType::ContainerImage
    }
    fn open_layer(&self, index: usize) -> anyhow::Result<LayerBlob> {
        let path = self
            .layer_paths
            .get(index)
            .with_context(|| format!("no layer {index} in {}", self.target.name))?;
        Ok(LayerBlob::Tar(self.store.open(path)?))
    }
}

/// Parse an image config: its digest (the ImageID), DiffIDs and `created_by` of non-empty history
/// entries, one per layer. `layer_count` is checked against the DiffIDs.
pub(crate) fn parse_config(
    bytes: &[u8],
    digest: &str,
    layer_count: usize,
    name: &str,
) -> anyhow::Result<(serde_json::Value, Vec<String>, Vec<Option<String>>)> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .with_context(|| format!("{name}: config {digest} is not valid JSON"))?;
    let view: ConfigView = serde_json::from_value(value.clone())
        .with_context(|| format!("{name}: config {digest} is not an image config"))?;
    let diff_ids = view.rootfs.map(|r| r.diff_ids).unwrap_or_default();
    for (i, d) in diff_ids.iter().enumerate() {
        crate::limits::sha256_digest(&format!("{name}: config {digest} rootfs.diff_ids[{i}]"), d)?;
    }
    if diff_ids.len() != layer_count {
        bail!(
            "{name}: config {digest} lists {} DiffIDs but the manifest has {layer_count} layers",
            diff_ids.len()
        );
    }
    let mut created_by: Vec<Option<String>> = view
        .history
        .into_iter()
        .filter(|h| !h.empty_layer)
        .map(|h| {
            h.created_by
                .map(|c| crate::limits::cap(&c, crate::limits::MAX_TEXT_FIELD).into_owned())
        })
        .collect();
    // History is optional and sometimes incomplete: only use it when it lines up with the layers.
    if created_by.len() != layer_count {
        created_by = vec![None; layer_count];
    }
    Ok((value, diff_ids, created_by))
}

fn is_index(media_type: &str, parsed: &IndexOrManifest) -> bool {
    media_type == OCI_INDEX
        || media_type == DOCKER_MANIFEST_LIST
        || (media_type.is_empty() && parsed.manifests.is_some())
}

/// Open an OCI layout held by `store`. `reference` is the `:ref` part of `DIR:ref`; `platform` is
/// `os/arch[/variant]`.
pub fn open_layout(
    store: Arc<dyn BlobStore>,
    name: &str,
    reference: Option<&str>,
    platform: &str,
) -> anyhow::Result<StoredImage> {
    let index_bytes = read_small(store.as_ref(), "index.json")?;
    let index: IndexOrManifest = serde_json::from_slice(&index_bytes)
        .with_context(|| format!("{name}: index.json is not a valid OCI index"))?;
    let all = index.manifests.unwrap_or_default();
    if all.is_empty() {
        bail!("{name}: index.json lists no manifests");
    }
    let top_name = |d: &Descriptor| {
        d.annotations
            .get(REF_NAME)
            .or_else(|| d.annotations.get(CONTAINERD_NAME))
            .cloned()
    };
    let candidates: Vec<Descriptor> = match reference {
        Some(r) => {
            let found: Vec<Descriptor> = all
                .iter()
                .filter(|d| {
                    d.annotations.get(REF_NAME).map(String::as_str) == Some(r)
                        || d.annotations.get(CONTAINERD_NAME).is_some_and(|n| {
                            n == r || n.rsplit_once(':').is_some_and(|(_, tag)| tag == r)
                        })
                })
                .cloned()
                .collect();
            if found.is_empty() {
                let names: Vec<String> = all.iter().filter_map(top_name).collect();
                bail!(
                    "{name}: no image named {r:?} in the layout (available: {})",
                    if names.is_empty() {
                        "none named".to_string()
                    } else {
                        names.join(", ")
                    }
                );
            }
            found
        }
        None => all.clone(),
    };
    let repo_tags: Vec<String> = candidates
        .iter()
        .filter_map(|d| d.annotations.get(CONTAINERD_NAME).cloned())
        .take(1)
        .collect();

    // Walk down (nested) indexes to one image manifest.
    let mut available = Vec::new();
    let manifest = select(
        store.as_ref(),
        &candidates,
        platform,
        name,
        reference.is_none(),
        0,
        &mut available,
    )?;
    let Some(manifest) = manifest else {
        available.dedup();
        bail!(
            "{name}: no image for platform {platform} (available: {})",
            if available.is_empty() {
                "none listed".to_string()
            } else {
                available.join(", ")
            }
        );
    };
    let (manifest_digest, manifest) = manifest;
    let config = manifest
        .config
        .with_context(|| format!("{name}: manifest {manifest_digest} has no config"))?;
    let layers = manifest.layers.unwrap_or_default();
    if !config.media_type.is_empty()
        && config.media_type != OCI_CONFIG
        && config.media_type != DOCKER_CONFIG
    {
        bail!(
            "{name}: manifest {manifest_digest} is not a container image (config media type {})",
            config.media_type
        );
    }
    for l in &layers {
        if !LAYER_MEDIA_TYPES.contains(&l.media_type.as_str()) {
            bail!(
                "{name}: unsupported layer media type {:?} for layer {}",
                l.media_type,
                l.digest
            );
        }
    }
    let config_bytes = read_verified_blob(store.as_ref(), &config.digest)?;
    let (config_value, diff_ids, created_by) =
        parse_config(&config_bytes, &config.digest, layers.len(), name)?;

    let mut layer_refs = Vec::with_capacity(layers.len());
    let mut layer_paths = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        let path = blob_path(&l.digest)?;
        if !store.exists(&path) {
            bail!("{name}: layer blob {} is missing", l.digest);
        }
        layer_paths.push(path);
        layer_refs.push(LayerRef {
            digest: l.digest.clone(),
            diff_id: diff_ids.get(i).cloned(),
            media_type: l.media_type.clone(),
            size: l.size,
            created_by: created_by.get(i).cloned().flatten(),
        });
    }
    Ok(StoredImage {
        target: Target {
            name: name.to_string(),
            image_id: Some(config.digest.clone()),
            repo_tags,
            repo_digests: Vec::new(),
            config: Some(config_value),
            layers: layer_refs,
        },
        store,
        layer_paths,
    })
}

/// A fetched descriptor: an index (its entries) or an image manifest.
enum Node {
    Index(Vec<Descriptor>),
    Manifest(String, Box<IndexOrManifest>),
}

fn fetch(store: &dyn BlobStore, d: &Descriptor, name: &str) -> anyhow::Result<Node> {
    let bytes = read_verified_blob(store, &d.digest)?;
    let parsed: IndexOrManifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{name}: blob {} is not a manifest or index", d.digest))?;
    let mt = if d.media_type.is_empty() {
        parsed.media_type.clone()
    } else {
        d.media_type.clone()
    };
    if is_index(&mt, &parsed) {
        return Ok(Node::Index(parsed.manifests.unwrap_or_default()));
    }
    if !(mt == OCI_MANIFEST || mt == DOCKER_MANIFEST || (mt.is_empty() && parsed.layers.is_some()))
    {
        bail!(
            "{name}: unsupported manifest media type {mt:?} for {}",
            d.digest
        );
    }
    Ok(Node::Manifest(d.digest.clone(), Box::new(parsed)))
}

/// Pick the image manifest for `platform` from one level of the index tree, descending into nested
/// indexes: the only entry, else the entries whose platform matches, else nested indexes without a
/// platform. Several images with neither platform nor a chosen name: the user must name one
/// (`DIR:ref`). `None` when no platform matches; `available` collects the platforms seen.
fn select(
    store: &dyn BlobStore,
    level: &[Descriptor],
    platform: &str,
    name: &str,
    top_unnamed: bool,
    depth: usize,
    available: &mut Vec<String>,
) -> anyhow::Result<Option<(String, IndexOrManifest)>> {
    if depth > 8 {
        bail!("{name}: indexes nested too deeply");
    }
    let descend = |d: &Descriptor, available: &mut Vec<String>| match fetch(store, d, name)? {
        Node::Index(children) => select(
            store,
            &children,
            platform,
            name,
            false,
            depth + 1,
            available,
        ),
        Node::Manifest(digest, m) => Ok(Some((digest, *m))),
    };
    if let [only] = level {
        return descend(only, available);
    }
    for d in level
        .iter()
        .filter(|d| d.platform.as_ref().is_some_and(|p| p.matches(platform)))
    {
        if let Some(found) = descend(d, available)? {
            return Ok(Some(found));
        }
    }
    available.extend(
        level
            .iter()
            .filter_map(|d| d.platform.as_ref())
            .filter(|p| !p.is_unknown())
            .map(Platform::display),
    );
    let unplatformed: Vec<&Descriptor> = level.iter().filter(|d| d.platform.is_none()).collect();
    let any_platform = level.iter().any(|d| d.platform.is_some());
    if any_platform {
        // Nested indexes beside platform-specific manifests may hold the platform.
        for d in unplatformed {
            if let Node::Index(children) = fetch(store, d, name)? {
                if let Some(found) = select(
                    store,
                    &children,
                    platform,
                    name,
                    false,
                    depth + 1,
                    available,
                )? {
                    return Ok(Some(found));
                }
            }
        }
        return Ok(None);
    }
    let names: Vec<String> = level
        .iter()
        .filter_map(|d| d.annotations.get(REF_NAME).cloned())
        .collect();
    if top_unnamed && names.len() > 1 {
        bail!(
            "{name} holds {} images; pick one with {name}:<ref> (available: {})",
            level.len(),
            names.join(", ")
        );
    }
    // Several manifests and nothing to choose by: the first is the image (as docker does).
    match level.first() {
        Some(d) => descend(d, available),
        None => bail!("{name}: index lists no manifests"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_paths_refuse_traversal() {
        let hex = "a".repeat(64);
        assert_eq!(
            blob_path(&format!("sha256:{hex}")).unwrap(),
            format!("blobs/sha256/{hex}")
        );
        assert!(blob_path("sha256:../../etc/passwd").is_err());
        assert!(blob_path(&format!("sha512:{hex}")).is_err());
        assert!(blob_path("nocolon").is_err());
    }

    #[test]
    fn platform_matching() {
        let p = Platform {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        assert!(p.matches("linux/arm64"));
        assert!(p.matches("linux/arm64/v8"));
        assert!(p.matches("linux/aarch64"));
        assert!(!p.matches("linux/arm64/v7"));
        assert!(!p.matches("linux/amd64"));
        assert_eq!(p.display(), "linux/arm64/v8");
    }
}
