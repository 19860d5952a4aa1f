//! `image`, `layer`, `fs`: fetch → pipeline → match → audit image config → emit. OWNER: pipeline helper.
use crate::cli::{DbArgs, FsArgs, ImageArgs, LayerArgs, PipelineArgs};
use crate::model::Report;
use crate::source::Source;

/// Everything but the policy: pipeline, report building, matching, image-config audit. Used by the
/// `image`/`layer`/`fs` commands and by `hook ecr`.
pub fn build_report(
    _source: &dyn Source,
    _pipeline: &PipelineArgs,
    _db: &DbArgs,
) -> anyhow::Result<Report> {
    anyhow::bail!("not implemented yet")
}

pub fn image(_args: ImageArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not implemented yet")
}
pub fn layer(_args: LayerArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not implemented yet")
}
pub fn fs(_args: FsArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not implemented yet")
}
