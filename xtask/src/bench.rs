//! `cargo xtask bench`: speed and memory benchmarks.

use anyhow::Result;
use std::path::Path;

pub fn run(_root: &Path, _args: &[String]) -> Result<()> {
    anyhow::bail!("not yet implemented")
}
