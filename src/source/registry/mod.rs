//! Registry fetcher. OWNER: registry helper.

use crate::cli::RegistryArgs;
use crate::model::{ArtifactType, Target};
use crate::source::{LayerBlob, Source};

pub struct RegistrySource {
    target: Target,
}

impl RegistrySource {
    /// Resolve `reference` (Docker Hub shorthand, `host[:port]/repo[:tag|@digest]`), authenticate,
    /// fetch the manifest (picking `args.platform` from an index) and the config. Layers are fetched
    /// lazily by `open_layer`.
    pub fn open(reference: &str, _args: &RegistryArgs) -> anyhow::Result<RegistrySource> {
        anyhow::bail!("registry pulls are not implemented yet ({reference})")
    }
}

impl Source for RegistrySource {
    fn target(&self) -> &Target {
        &self.target
    }
    fn artifact_type(&self) -> ArtifactType {
        ArtifactType::ContainerImage
    }
    fn open_layer(&self, _index: usize) -> anyhow::Result<LayerBlob> {
        anyhow::bail!("not implemented")
    }
}
