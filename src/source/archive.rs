//! Local image files: docker-archive tarballs (`docker save`, skopeo; legacy `<id>/layer.tar` and
//! newer `blobs/sha256/...` layouts) and OCI archives (a tar of an OCI layout), plus the detection of
//! what a local image path is.
//!
//! A tarball is indexed once (entry name → offset and size, seeking over the data), then each blob is
//! read in place by seeking to it: random access without extracting anything.

use crate::model::{LayerRef, Target};
use crate::source::layout::{self, read_small, BlobStore, DirStore, StoredImage};
use crate::unpack::{
    normalize_path, read_up_to, sha256_digest, Compression, HashingReader, TarGuard,
};
use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone)]
enum TarItem {
    File {
        offset: u64,
        size: u64,
        /// The entry's first bytes (compression magic of a layer).
        head: Vec<u8>,
    },
    /// A symlink or hard link to another entry (legacy docker-archives link duplicate layers).
    Link(String),
}

/// Small entries of a compressed tarball kept from the index pass (manifests, configs), so that
/// reading them does not cost another decompression pass.
const KEEP_SMALL_ENTRY: u64 = 1 << 20;
const KEEP_SMALL_TOTAL: usize = 32 << 20;

/// A tarball's entries, readable in place. A plain tarball is read by seeking; a gzip or zstd
/// compressed one (`docker save | gzip`) is decompressed again up to the entry for each layer (time,
/// not memory: nothing is extracted).
pub struct TarStore {
    path: PathBuf,
    name: String,
    compression: Compression,
    items: HashMap<String, TarItem>,
    small: HashMap<String, Vec<u8>>,
}

/// The decompressed stream of a (possibly compressed) file.
fn decompressed(
    file: std::fs::File,
    compression: Compression,
) -> std::io::Result<Box<dyn Read + Send>> {
    let buffered = BufReader::with_capacity(256 << 10, file);
    Ok(match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
    })
}

impl TarStore {
    /// Index the tarball: one pass over its headers. A truncated file (an entry that runs past the
    /// end) is an error here, before anything is scanned.
    pub fn index(path: &Path, name: &str) -> anyhow::Result<TarStore> {
        Self::index_compressed(path, name, Compression::None)
    }

    /// Index a tarball stored with `compression` (one decompression pass).
    pub fn index_compressed(
        path: &Path,
        name: &str,
        compression: Compression,
    ) -> anyhow::Result<TarStore> {
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
        let file_len = file
            .metadata()
            .with_context(|| format!("cannot read {name}"))?
            .len();
        let mut items = HashMap::new();
        let mut small = HashMap::new();
        let mut small_total = 0usize;
        let invalid = || format!("{name} is not a valid tar archive (or is truncated)");
        if compression == Compression::None {
            let mut archive = tar::Archive::new(TarGuard::new(BufReader::new(file)));
            let entries = archive
                .entries_with_seek()
                .with_context(|| format!("{name} is not a tar archive"))?;
            for entry in entries {
                let mut entry = entry.with_context(invalid)?;
                let offset = entry.raw_file_position();
                if offset.saturating_add(entry.size()) > file_len {
                    bail!(
                        "{name} is truncated: entry {} needs {} bytes but the file has {file_len}",
                        normalize_path(&String::from_utf8_lossy(&entry.path_bytes())),
                        offset.saturating_add(entry.size())
                    );
                }
                record_entry(&mut entry, &mut items, None).with_context(invalid)?;
            }
        } else {
            let stream = decompressed(file, compression)
                .with_context(|| format!("cannot decompress {name}"))?;
            let mut archive = tar::Archive::new(TarGuard::new(stream));
            let entries = archive
                .entries()
                .with_context(|| format!("{name} is not a tar archive"))?;
            for entry in entries {
                let mut entry = entry.with_context(invalid)?;
                let keep = (small_total < KEEP_SMALL_TOTAL).then_some(&mut small);
                if let Some(n) = record_entry(&mut entry, &mut items, keep).with_context(invalid)? {
                    small_total += n;
                }
            }
            std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).with_context(invalid)?;
        }
        Ok(TarStore {
            path: path.to_path_buf(),
            name: name.to_string(),
            compression,
            items,
            small,
        })
    }

    fn locate(&self, path: &str) -> Option<(String, &TarItem)> {
        let mut p = normalize_path(path);
        for _ in 0..16 {
            match self.items.get(&p)? {
                TarItem::Link(t) => p = t.clone(),
                item => return Some((p, item)),
            }
        }
        None
    }
}

/// Record one entry of the index pass; with `keep`, small files' contents are kept (returns their
/// size). The entry's first bytes are read (for the compression magic of layers).
fn record_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    items: &mut HashMap<String, TarItem>,
    keep: Option<&mut HashMap<String, Vec<u8>>>,
) -> std::io::Result<Option<usize>> {
    let entry_path = normalize_path(&String::from_utf8_lossy(&entry.path_bytes()));
    let kind = entry.header().entry_type();
    if kind.is_file() || kind == tar::EntryType::Continuous {
        let offset = entry.raw_file_position();
        let size = entry.size();
        let mut kept = None;
        let head = match keep {
            Some(map) if size <= KEEP_SMALL_ENTRY => {
                let mut content = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut content)?;
                let head = content.get(..4).unwrap_or(&content).to_vec();
                kept = Some(content.len());
                map.insert(entry_path.clone(), content);
                head
            }
            _ => {
                let mut head = [0u8; 4];
                let n = read_up_to(entry, &mut head)?;
                head.get(..n).unwrap_or_default().to_vec()
            }
        };
        items.insert(entry_path, TarItem::File { offset, size, head });
        return Ok(kept);
    }
    if kind.is_symlink() || kind.is_hard_link() {
        if let Some(target) = entry.link_name_bytes() {
            let target = String::from_utf8_lossy(&target).into_owned();
            let resolved = if kind.is_symlink() {
                let (parent, _) = crate::unpack::split_parent(&entry_path);
                crate::unpack::join_path(parent, &target)
            } else {
                normalize_path(&target)
            };
            items.insert(entry_path, TarItem::Link(resolved));
        }
    }
    Ok(None)
}

impl BlobStore for TarStore {
    fn open(&self, path: &str) -> anyhow::Result<Box<dyn BufRead + Send>> {
        let Some((real, TarItem::File { offset, size, .. })) = self.locate(path) else {
            bail!("{}: no file {path} in the archive", self.name);
        };
        if let Some(content) = self.small.get(&real) {
            return Ok(Box::new(std::io::Cursor::new(content.clone())));
        }
        let mut f = std::fs::File::open(&self.path)
            .with_context(|| format!("cannot open {}", self.name))?;
        if self.compression == Compression::None {
            f.seek(SeekFrom::Start(*offset))
                .with_context(|| format!("{}: seeking to {path}", self.name))?;
            return Ok(Box::new(BufReader::with_capacity(256 << 10, f.take(*size))));
        }
        let mut stream = decompressed(f, self.compression)
            .with_context(|| format!("cannot decompress {}", self.name))?;
        let skipped = std::io::copy(&mut (&mut stream).take(*offset), &mut std::io::sink())
            .with_context(|| format!("{}: decompressing up to {path}", self.name))?;
        if skipped != *offset {
            bail!("{} is truncated before {path}", self.name);
        }
        Ok(Box::new(BufReader::with_capacity(
            64 << 10,
            stream.take(*size),
        )))
    }
    fn exists(&self, path: &str) -> bool {
        self.locate(path).is_some()
    }
    fn size(&self, path: &str) -> Option<u64> {
        match self.locate(path) {
            Some((_, TarItem::File { size, .. })) => Some(*size),
            _ => None,
        }
    }
    fn head(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        match self.locate(path) {
            Some((_, TarItem::File { head, .. })) => Ok(head.clone()),
            _ => bail!("{}: no file {path} in the archive", self.name),
        }
    }
    fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

/// `<hex>` when `path` names a blob by digest (`blobs/sha256/<hex>`, `<hex>.json`, `<hex>.tar`).
fn digest_in_path(path: &str) -> Option<String> {
    let (_, base) = crate::unpack::split_parent(path);
    let stem = base
        .strip_suffix(".json")
        .or_else(|| base.strip_suffix(".tar"))
        .unwrap_or(base);
    let is_hex = stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit());
    let from_blobs = path.contains("blobs/sha256/") || base != stem;
    (is_hex && from_blobs).then(|| format!("sha256:{}", stem.to_ascii_lowercase()))
}

/// Open a docker-archive (`manifest.json` + config + layer tars) held by `store`. An archive can hold
/// several images (`docker save a b`): `reference` picks by tag (`app:1.0` or `1.0`), else the first.
pub fn open_docker_archive(
    store: Arc<dyn BlobStore>,
    name: &str,
    reference: Option<&str>,
) -> anyhow::Result<StoredImage> {
    let bytes = read_small(store.as_ref(), "manifest.json")?;
    let entries: Vec<ManifestEntry> = serde_json::from_slice(&bytes)
        .with_context(|| format!("{name}: manifest.json is not a docker-archive manifest"))?;
    let tags = |e: &ManifestEntry| e.repo_tags.clone().unwrap_or_default();
    let entry = match reference {
        None => entries.into_iter().next(),
        Some(r) => {
            let all: Vec<String> = entries.iter().flat_map(tags).collect();
            let found = entries.into_iter().find(|e| {
                tags(e)
                    .iter()
                    .any(|t| t == r || t.rsplit_once(':').is_some_and(|(_, tag)| tag == r))
            });
            if found.is_none() {
                bail!(
                    "{name}: no image tagged {r:?} in the archive (available: {})",
                    if all.is_empty() {
                        "none tagged".to_string()
                    } else {
                        all.join(", ")
                    }
                );
            }
            found
        }
    }
    .with_context(|| format!("{name}: manifest.json lists no image"))?;

    let config_path = normalize_path(&entry.config);
    if !store.exists(&config_path) {
        bail!(
            "{name}: manifest.json names config {config_path}, which the archive does not contain"
        );
    }
    let config_bytes = read_small(store.as_ref(), &config_path)?;
    let config_digest = sha256_digest(&config_bytes);
    if let Some(expected) = digest_in_path(&config_path) {
        if expected != config_digest {
            bail!("{name}: digest mismatch for config {expected}: computed {config_digest}");
        }
    }
    let (config_value, diff_ids, created_by) =
        layout::parse_config(&config_bytes, &config_digest, entry.layers.len(), name)?;

    let mut layers = Vec::with_capacity(entry.layers.len());
    let mut layer_paths = Vec::with_capacity(entry.layers.len());
    for (i, raw_path) in entry.layers.iter().enumerate() {
        let path = normalize_path(raw_path);
        if !store.exists(&path) {
            bail!("{name}: manifest.json names layer {path}, which the archive does not contain");
        }
        let diff_id = diff_ids.get(i).cloned();
        let head = store
            .head(&path)
            .with_context(|| format!("{name}: reading layer {path}"))?;
        let compression = Compression::from_magic(&head);
        let digest = match digest_in_path(&path) {
            Some(d) => d,
            // An uncompressed layer's blob digest is its DiffID (verified while streaming).
            None if compression == Compression::None && diff_id.is_some() => {
                diff_id.clone().unwrap_or_default()
            }
            // A compressed legacy layer: hash it once to name it.
            None => {
                let mut h = HashingReader::new(store.open(&path)?);
                h.drain()
                    .with_context(|| format!("{name}: reading layer {path}"))?;
                h.finish().0
            }
        };
        let media_type = match compression {
            Compression::None => "application/vnd.docker.image.rootfs.diff.tar",
            Compression::Gzip => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        };
        layers.push(LayerRef {
            digest,
            diff_id,
            media_type: media_type.to_string(),
            size: store.size(&path),
            created_by: created_by.get(i).cloned().flatten(),
        });
        layer_paths.push(path);
    }
    Ok(StoredImage {
        target: Target {
            name: name.to_string(),
            image_id: Some(config_digest),
            repo_tags: entry.repo_tags.unwrap_or_default(),
            repo_digests: Vec::new(),
            config: Some(config_value),
            layers,
        },
        store,
        layer_paths,
    })
}

/// Split `DIR:ref` when `DIR` exists and the whole string does not.
pub fn split_local_reference(arg: &str) -> Option<(PathBuf, Option<String>)> {
    if Path::new(arg).exists() {
        return Some((PathBuf::from(arg), None));
    }
    let (path, reference) = arg.rsplit_once(':')?;
    // Only a directory that looks like an image, so that `alpine:3.20` still means the registry
    // image when a directory named `alpine` happens to exist.
    let dir = Path::new(path);
    let is_image_dir =
        dir.is_dir() && (dir.join("index.json").is_file() || dir.join("manifest.json").is_file());
    if !path.is_empty() && !reference.is_empty() && is_image_dir {
        return Some((PathBuf::from(path), Some(reference.to_string())));
    }
    // An OCI archive file with a ref (`app.tar:v2`).
    if !path.is_empty()
        && !reference.is_empty()
        && !reference.contains('/')
        && Path::new(path).is_file()
    {
        return Some((PathBuf::from(path), Some(reference.to_string())));
    }
    None
}

/// Open a local image path: a docker-archive or OCI archive tarball, or an OCI layout (or unpacked
/// docker-archive) directory, detected by content.
pub fn open_local_image(
    path: &Path,
    reference: Option<&str>,
    name: &str,
    platform: &str,
) -> anyhow::Result<StoredImage> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {name}"))?;
    let store: Arc<dyn BlobStore> = if meta.is_dir() {
        Arc::new(DirStore::new(path, name))
    } else {
        let mut head = [0u8; 4];
        let n = std::fs::File::open(path)
            .and_then(|mut f| read_up_to(&mut f, &mut head))
            .with_context(|| format!("cannot read {name}"))?;
        let head = head.get(..n).unwrap_or_default();
        if head.starts_with(b"PK") {
            bail!("{name} is a zip file, not an image (for a Lambda layer or function use `layerscan layer`)");
        }
        // `docker save | gzip` works too, at the cost of one decompression pass per layer.
        Arc::new(TarStore::index_compressed(
            path,
            name,
            Compression::from_magic(head),
        )?)
    };
    let has_manifest = store.exists("manifest.json");
    let has_index = store.exists("index.json");
    if has_manifest && (reference.is_none() || !has_index) {
        open_docker_archive(store, name, reference)
    } else if has_index {
        layout::open_layout(store, name, reference, platform)
    } else {
        let hint = if meta.is_dir() {
            "; to scan a directory's files use `layerscan fs`"
        } else {
            ""
        };
        bail!(
            "{name} is not a container image: no manifest.json (docker-archive) or index.json (OCI layout){hint}"
        )
    }
}

/// All entry names of a tarball's index, sorted (for tests and messages).
pub fn entry_names(store: &TarStore) -> Vec<String> {
    let sorted: BTreeMap<&String, ()> = store.items.keys().map(|k| (k, ())).collect();
    sorted.into_keys().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_paths() {
        let hex = "ab".repeat(32);
        assert_eq!(
            digest_in_path(&format!("blobs/sha256/{hex}")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(
            digest_in_path(&format!("{hex}.json")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(digest_in_path(&format!("{hex}/layer.tar")), None);
        assert_eq!(digest_in_path("config.json"), None);
    }

    #[test]
    fn huge_pax_header_in_an_archive_is_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "manifest.json", &b"[]\n"[..])
            .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_size(8 << 20);
        h.set_mode(0o644);
        b.append_data(&mut h, "PaxHeaders/x", std::io::repeat(b'a').take(8 << 20))
            .unwrap();
        let bytes = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bomb.tar");
        std::fs::write(&p, &bytes).unwrap();
        let err = TarStore::index(&p, "bomb.tar").err().unwrap();
        assert!(format!("{err:#}").contains("header extension"), "{err:#}");
    }

    #[test]
    fn local_references() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = tmp.path().join("app-oci");
        std::fs::create_dir_all(&layout).unwrap();
        std::fs::write(layout.join("index.json"), b"{}").unwrap();
        let plain = tmp.path().join("alpine");
        std::fs::create_dir_all(&plain).unwrap();
        let l = layout.to_str().unwrap();
        assert_eq!(
            split_local_reference(&format!("{l}:v2")),
            Some((layout.clone(), Some("v2".to_string())))
        );
        assert_eq!(split_local_reference(l), Some((layout.clone(), None)));
        // A directory that is no image does not capture a registry-looking reference.
        assert_eq!(
            split_local_reference(&format!("{}:3.20", plain.display())),
            None
        );
        assert_eq!(split_local_reference("registry.example/app:1"), None);
    }

    #[test]
    fn truncated_tarball_is_an_error() {
        let mut b = tar::Builder::new(Vec::new());
        let data = vec![1u8; 10_000];
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "manifest.json", &data[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.tar");
        std::fs::write(&p, &bytes[..4000]).unwrap();
        let err = TarStore::index(&p, "t.tar").err().unwrap();
        assert!(format!("{err:#}").contains("truncated"), "{err:#}");
        std::fs::write(&p, &bytes).unwrap();
        let store = TarStore::index(&p, "t.tar").unwrap();
        assert_eq!(entry_names(&store), vec!["manifest.json".to_string()]);
        let mut content = Vec::new();
        store
            .open("./manifest.json")
            .unwrap()
            .read_to_end(&mut content)
            .unwrap();
        assert_eq!(content, data);
    }
}
