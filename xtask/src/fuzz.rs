//! `cargo xtask fuzz --minutes N [--seed S] [--release]`: the in-tree fuzzer (`layerscan::fuzz`)
//! for a long run. It is the same test as in `cargo test` (`fuzz::fuzz_every_parser_briefly`),
//! given N minutes over all harnesses and a fresh seed; findings are saved under the target dir's
//! `tmp/fuzz-findings/` and fail the run.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let mut minutes: f64 = 10.0;
    let mut seed: Option<u64> = None;
    let mut release = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => {
                minutes = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|m: &f64| *m > 0.0)
                    .context("--minutes needs a positive number")?;
            }
            "--seed" => {
                seed = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .context("--seed needs a number")?,
                );
            }
            "--release" => release = true,
            other => bail!(
                "unknown option {other:?}\nusage: cargo xtask fuzz --minutes N [--seed S] [--release]"
            ),
        }
    }
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    println!("fuzzing for {minutes} min, seed {seed}");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root)
        .args(["test", "-p", "layerscan", "--test", "tests"]);
    if release {
        cmd.arg("--release");
    }
    cmd.args([
        "--",
        "--exact",
        "fuzz::fuzz_every_parser_briefly",
        "--nocapture",
    ])
    .env("LAYERSCAN_FUZZ_SECONDS", format!("{}", minutes * 60.0))
    .env("LAYERSCAN_FUZZ_SEED", seed.to_string());
    let status = cmd.status().context("running cargo test")?;
    if !status.success() {
        bail!("the fuzz run failed (seed {seed}); see the findings above");
    }
    Ok(())
}
