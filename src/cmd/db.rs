//! `db import|update|status`.
use crate::cli::DbCommand;

pub fn run(_cmd: DbCommand) -> anyhow::Result<i32> {
    anyhow::bail!("not implemented yet")
}
