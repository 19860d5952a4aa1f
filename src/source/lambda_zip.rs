//! AWS Lambda layer and function zips, read in place (never unpacked to disk).
//!
//! A layer's content is what Lambda unpacks under `/opt` (`python/`, `python/lib/python3.x/
//! site-packages/`, `bin/`, `lib/`, ...); a function zip has its code and packages at the root. The
//! unpacker walks either the same way; only the `ArtifactType` differs.

use crate::model::{ArtifactType, LayerRef, Target};
use crate::source::{LayerBlob, Source};
use crate::unpack::{read_up_to, HashingReader};
use anyhow::{bail, Context};
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// Top-level directories of a Lambda layer (what the runtimes look for under `/opt`).
const LAYER_DIRS: &[&str] = &[
    "python",
    "nodejs",
    "java",
    "ruby",
    "bin",
    "lib",
    "extensions",
    "etc",
    "share",
    "include",
];

pub struct LambdaZipSource {
    target: Target,
    path: PathBuf,
    kind: ArtifactType,
}

impl LambdaZipSource {
    /// Open a zip on disk. `name` is what the user named (`ArtifactName`). The zip's sha256 becomes
    /// the layer digest; entries are only listed here, read later by the unpacker.
    pub fn open(path: &Path, name: &str) -> anyhow::Result<LambdaZipSource> {
        let mut file = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
        let mut head = [0u8; 4];
        let n = read_up_to(&mut file, &mut head).with_context(|| format!("cannot read {name}"))?;
        let head = head.get(..n).unwrap_or_default();
        if !(head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")) {
            bail!("{name} is not a zip file (a Lambda layer or function is a .zip)");
        }
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
        let mut hashing = HashingReader::new(BufReader::with_capacity(256 << 10, file));
        hashing
            .drain()
            .with_context(|| format!("cannot read {name}"))?;
        let (digest, size) = hashing.finish();

        let file = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
        let zip = zip::ZipArchive::new(BufReader::new(file))
            .with_context(|| format!("{name} is not a valid zip file"))?;
        let mut all_in_layer_dirs = !zip.is_empty();
        for raw in zip.file_names_raw() {
            let name = String::from_utf8_lossy(raw);
            let norm = crate::unpack::normalize_path(&name.replace('\\', "/"));
            let top = norm.split('/').next().unwrap_or_default();
            let is_root_file = !norm.contains('/') && !name.ends_with('/');
            if is_root_file || !LAYER_DIRS.contains(&top) {
                all_in_layer_dirs = false;
                break;
            }
        }
        let kind = if all_in_layer_dirs {
            ArtifactType::LambdaLayer
        } else {
            ArtifactType::LambdaFunction
        };
        Ok(LambdaZipSource {
            target: Target {
                name: name.to_string(),
                layers: vec![LayerRef {
                    digest,
                    diff_id: None,
                    media_type: "application/zip".to_string(),
                    size: Some(size),
                    created_by: None,
                }],
                ..Target::default()
            },
            path: path.to_path_buf(),
            kind,
        })
    }
}

impl Source for LambdaZipSource {
    fn target(&self) -> &Target {
        &self.target
    }
    fn artifact_type(&self) -> ArtifactType {
        self.kind
    }
    fn open_layer(&self, index: usize) -> anyhow::Result<LayerBlob> {
        if index != 0 {
            bail!("{} has one layer, not {}", self.target.name, index + 1);
        }
        Ok(LayerBlob::Zip(self.path.clone()))
    }
}
