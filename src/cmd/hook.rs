//! `hook ecr`: scan the image an ECR push event names.
use crate::cli::HookCommand;

pub fn run(_cmd: HookCommand) -> anyhow::Result<i32> {
    anyhow::bail!("not implemented yet")
}
