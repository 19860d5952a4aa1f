//! Deterministic builders for the formats the fixtures and benchmarks use: layer tars, gzip/zstd blobs,
//! OCI layouts, docker-archive tarballs and Lambda zips.
//!
//! Determinism is the whole point: fixed mtimes, uid/gid 0, entries sorted bytewise, gzip headers without
//! a name or timestamp, a fixed zstd level. Running the generator twice gives identical bytes, which is
//! what lets `cargo xtask fixtures --check` catch stale committed fixtures.

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// 2024-01-01T00:00:00Z: the mtime of every tar entry, and the `created` time of every config.
pub const EPOCH: u64 = 1_704_067_200;
pub const CREATED: &str = "2024-01-01T00:00:00Z";

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

/// One entry of a layer tar, before it is written.
#[derive(Debug, Clone)]
pub enum Entry {
    Dir,
    File {
        data: Vec<u8>,
        mode: u32,
    },
    Symlink(String),
    /// A hard link to another path of the same tar (written after its target).
    HardLink(String),
}

/// The contents of one layer: normalised relative paths (no leading `/`, no trailing `/`) → entries.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub entries: BTreeMap<String, Entry>,
}

impl Tree {
    /// Read a directory into a tree. Regular files keep only their executable bit (0755 or 0644),
    /// because git keeps nothing else; symlinks are kept as links.
    pub fn from_dir(root: &Path) -> Result<Tree> {
        let mut tree = Tree::default();
        walk(root, root, &mut tree).with_context(|| format!("reading {}", root.display()))?;
        Ok(tree)
    }

    pub fn file(&mut self, path: &str, data: impl Into<Vec<u8>>, mode: u32) {
        self.add_parents(path);
        self.entries.insert(
            path.to_string(),
            Entry::File {
                data: data.into(),
                mode,
            },
        );
    }

    pub fn hard_link(&mut self, path: &str, target: &str) {
        self.add_parents(path);
        self.entries
            .insert(path.to_string(), Entry::HardLink(target.to_string()));
    }

    fn add_parents(&mut self, path: &str) {
        let mut p = path;
        while let Some((parent, _)) = p.rsplit_once('/') {
            self.entries.entry(parent.to_string()).or_insert(Entry::Dir);
            p = parent;
        }
    }

    /// A plain (uncompressed) tar of the tree, entries in path order, hard links after their targets.
    pub fn to_tar(&self) -> Result<Vec<u8>> {
        let mut b = tar::Builder::new(Vec::new());
        let mut links = Vec::new();
        for (path, entry) in &self.entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(EPOCH);
            h.set_uid(0);
            h.set_gid(0);
            h.set_username("root")?;
            h.set_groupname("root")?;
            match entry {
                Entry::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{path}/"), std::io::empty())?;
                }
                Entry::File { data, mode } => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(*mode);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, path, data.as_slice())?;
                }
                Entry::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    b.append_link(&mut h, path, target)?;
                }
                Entry::HardLink(target) => links.push((path, target, h)),
            }
        }
        for (path, target, mut h) in links {
            h.set_entry_type(tar::EntryType::Link);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_link(&mut h, path, target)?;
        }
        Ok(b.into_inner()?)
    }
}

fn walk(root: &Path, dir: &Path, tree: &mut Tree) -> Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let path = e.path();
        let rel = rel_path(root, &path)?;
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)?;
            let target = target
                .to_str()
                .with_context(|| format!("non-UTF-8 link target in {}", path.display()))?;
            tree.entries.insert(rel, Entry::Symlink(target.to_string()));
        } else if meta.is_dir() {
            tree.entries.insert(rel, Entry::Dir);
            walk(root, &path, tree)?;
        } else {
            let data =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let mode = if is_executable(&meta) { 0o755 } else { 0o644 };
            tree.entries.insert(rel, Entry::File { data, mode });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

fn rel_path(root: &Path, path: &Path) -> Result<String> {
    let rel = path.strip_prefix(root)?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c.as_os_str().to_str() {
            Some(s) => parts.push(s.to_string()),
            None => bail!("non-UTF-8 path {}", path.display()),
        }
    }
    Ok(parts.join("/"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    gzip_level(data, 6)
}

pub fn gzip_level(data: &[u8], level: u32) -> Result<Vec<u8>> {
    // No file name, mtime 0, fixed OS byte: the header is the same on every machine.
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::new(level));
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

pub fn zstd(data: &[u8]) -> Result<Vec<u8>> {
    Ok(zstd::stream::encode_all(data, 3)?)
}

/// A layer as stored: the blob (possibly compressed) and what a manifest and config say about it.
#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    pub digest: String,
    pub diff_id: String,
    pub compression: Compression,
}

impl Layer {
    pub fn new(tar: &[u8], compression: Compression) -> Result<Layer> {
        let blob = match compression {
            Compression::None => tar.to_vec(),
            Compression::Gzip => gzip(tar)?,
            Compression::Zstd => zstd(tar)?,
        };
        Ok(Layer {
            digest: digest_of(&blob),
            diff_id: digest_of(tar),
            blob,
            compression,
        })
    }

    pub fn oci_media_type(&self) -> &'static str {
        match self.compression {
            Compression::None => OCI_LAYER_TAR,
            Compression::Gzip => OCI_LAYER_GZIP,
            Compression::Zstd => OCI_LAYER_ZSTD,
        }
    }

    pub fn descriptor(&self, media_type: &str) -> serde_json::Value {
        serde_json::json!({
            "mediaType": media_type,
            "digest": self.digest,
            "size": self.blob.len(),
        })
    }
}

/// A JSON document as stored: compact serde_json output (keys sorted, so stable).
pub fn json_bytes(v: &serde_json::Value) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(v)?)
}

pub fn descriptor(media_type: &str, data: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "mediaType": media_type,
        "digest": digest_of(data),
        "size": data.len(),
    })
}

/// The files of an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`), relative to the
/// layout root.
#[derive(Debug, Default)]
pub struct OciLayout {
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub index_manifests: Vec<serde_json::Value>,
}

impl OciLayout {
    /// Store a blob; returns its digest.
    pub fn add_blob(&mut self, data: Vec<u8>) -> String {
        let d = digest_of(&data);
        self.blobs.insert(sha256_hex(&data), data);
        d
    }

    pub fn files(&self) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut out = BTreeMap::new();
        out.insert(
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        );
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": self.index_manifests,
        });
        out.insert("index.json".to_string(), json_bytes(&index)?);
        for (hex, data) in &self.blobs {
            out.insert(format!("blobs/sha256/{hex}"), data.clone());
        }
        Ok(out)
    }
}

/// A tar of named files (a docker-archive), deterministic like the layers.
pub fn tar_of_files(files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>> {
    let mut tree = Tree::default();
    for (path, data) in files {
        tree.file(path, data.clone(), 0o644);
    }
    tree.to_tar()
}

/// A zip of a tree (a Lambda layer or function zip), with directory entries as `zip -r` writes them.
pub fn zip_of_tree(tree: &Tree) -> Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let when = zip::DateTime::from_date_and_time(2024, 1, 1, 0, 0, 0)
        .map_err(|e| anyhow::anyhow!("zip timestamp: {e:?}"))?;
    let base = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(when);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, entry) in &tree.entries {
        match entry {
            Entry::Dir => w.add_directory(format!("{path}/"), base.unix_permissions(0o755))?,
            Entry::File { data, mode } => {
                w.start_file(path.as_str(), base.unix_permissions(*mode))?;
                w.write_all(data)?;
            }
            Entry::Symlink(_) | Entry::HardLink(_) => {
                bail!("{path}: links are not supported in Lambda zips")
            }
        }
    }
    Ok(w.finish()?.into_inner())
}

/// Write `files` under `dir`, creating parents.
pub fn write_files(dir: &Path, files: &BTreeMap<PathBuf, Vec<u8>>) -> Result<()> {
    for (rel, data) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_is_deterministic_and_readable() {
        let mut t = Tree::default();
        t.file("b/x.txt", "x", 0o644);
        t.file("a/y.txt", "y", 0o755);
        t.hard_link("a/z.txt", "a/y.txt");
        let one = t.to_tar().unwrap();
        let two = t.to_tar().unwrap();
        assert_eq!(one, two);
        let mut ar = tar::Archive::new(one.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a/", "a/y.txt", "b/", "b/x.txt", "a/z.txt"]);
    }

    #[test]
    fn gzip_header_has_no_timestamp() {
        let gz = gzip(b"hello").unwrap();
        assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
        assert_eq!(gz, gzip(b"hello").unwrap());
    }
}
