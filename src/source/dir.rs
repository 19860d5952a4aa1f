//! A directory on disk (an unpacked root filesystem or a project), walked in place as one layer.

use crate::model::{ArtifactType, LayerRef, Target};
use crate::source::{LayerBlob, Source};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

pub struct DirSource {
    target: Target,
    path: PathBuf,
}

impl DirSource {
    pub fn open(path: &Path, name: &str) -> anyhow::Result<DirSource> {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read {name}"))?;
        if !meta.is_dir() {
            bail!("{name} is not a directory");
        }
        Ok(DirSource {
            target: Target {
                name: name.to_string(),
                // One pseudo-layer without digests: packages found here carry no `Layer`.
                layers: vec![LayerRef {
                    media_type: "directory".to_string(),
                    ..LayerRef::default()
                }],
                ..Target::default()
            },
            path: path.to_path_buf(),
        })
    }
}

impl Source for DirSource {
    fn target(&self) -> &Target {
        &self.target
    }
    fn artifact_type(&self) -> ArtifactType {
        ArtifactType::Filesystem
    }
    fn open_layer(&self, index: usize) -> anyhow::Result<LayerBlob> {
        if index != 0 {
            bail!("{} has one layer, not {}", self.target.name, index + 1);
        }
        Ok(LayerBlob::Dir(self.path.clone()))
    }
}
