//! Project tasks: `cargo xtask fixtures [--check]` builds the committed test fixtures deterministically;
//! `cargo xtask bench [...]` runs the speed and memory benchmarks (never part of `cargo test`).

use anyhow::{bail, Result};
use std::path::PathBuf;
use std::process::ExitCode;

mod bench;
mod build;
mod fixtures;
mod fuzz;
mod lambda_zip;
mod rpm;

const USAGE: &str = "usage:
  cargo xtask fixtures [--check]   build testdata/fixtures from testdata/src (--check: fail if stale)
  cargo xtask bench [OPTIONS]      speed and memory benchmarks (see `cargo xtask bench --help`)
  cargo xtask fuzz --minutes N [--seed S] [--release]
                                   the in-tree fuzzer over every parser for N minutes
  cargo xtask lambda-zip [--arch x86_64|arm64|all]
                                   target/lambda/layerscan-<arch>.zip for the provided.al2023 runtime";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    match args.first().map(String::as_str) {
        Some("fixtures") => {
            let mut check = false;
            for a in &args[1..] {
                match a.as_str() {
                    "--check" => check = true,
                    other => bail!("unknown option {other:?}\n{USAGE}"),
                }
            }
            fixtures::run(&root, check)
        }
        Some("bench") => bench::run(&root, &args[1..]),
        Some("lambda-zip") => lambda_zip::run(&root, &args[1..]),
        Some("fuzz") => fuzz::run(&root, &args[1..]),
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown task {other:?}\n{USAGE}"),
    }
}

/// The workspace root (the parent of `xtask/`). `cargo run` sets CARGO_MANIFEST_DIR at run time too; prefer
/// that, because a build shared between clones (one CARGO_TARGET_DIR) may hold a binary compiled in
/// another clone.
fn project_root() -> PathBuf {
    let here = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    here.parent().map(PathBuf::from).unwrap_or(here)
}
