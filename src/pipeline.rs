//! The layer pipeline: for each layer (in parallel, bounded), cache lookup by DiffID or
//! unpack + analyze; then the applier merges in order. OWNER: pipeline helper.

use crate::model::Inventory;
use crate::source::Source;

#[derive(Debug, Clone, Default)]
pub struct PipelineOptions {
    pub parallel: usize,
    /// Layer cache directory (`<cache-dir>/layers`); `None` with `--no-cache`.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Show progress bars (only when stderr is a terminal).
    pub progress: bool,
}

pub fn run(_source: &dyn Source, _opts: &PipelineOptions) -> anyhow::Result<Inventory> {
    anyhow::bail!("not implemented")
}
