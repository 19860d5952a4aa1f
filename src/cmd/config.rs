//! `config PATHS...`: audit deployment configuration files.
use crate::cli::ConfigArgs;

pub fn run(_args: ConfigArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not implemented yet")
}
