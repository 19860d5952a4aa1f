//! `cache clean`.
use crate::cli::CacheCommand;

pub fn run(_cmd: CacheCommand) -> anyhow::Result<i32> {
    anyhow::bail!("not implemented yet")
}
