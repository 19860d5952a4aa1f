//! `cargo xtask lambda-zip [--arch x86_64|arm64|all]`: a deployable zip for the `provided.al2023`
//! Lambda runtime, holding the `layerscan` binary as `bootstrap` (mode 0755).
//!
//! The binary is built for musl, statically linked, so it does not depend on the glibc of the build
//! host (a glibc build on a newer distribution than Amazon Linux 2023 would not start there). The zip
//! is written deterministically (fixed timestamp and mode, one entry) by the fixtures' zip builder.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USAGE: &str =
    "usage: cargo xtask lambda-zip [--arch x86_64|arm64|all]   (default: x86_64)";

struct Arch {
    /// The name Lambda uses (`Architectures`), and the zip's suffix.
    lambda: &'static str,
    triple: &'static str,
    /// C compilers that can build the C dependencies (SQLite, zstd, aws-lc) for the triple.
    compilers: &'static [&'static str],
}

const ARCHES: &[Arch] = &[
    Arch {
        lambda: "x86_64",
        triple: "x86_64-unknown-linux-musl",
        compilers: &["x86_64-linux-musl-gcc", "musl-gcc"],
    },
    Arch {
        lambda: "arm64",
        triple: "aarch64-unknown-linux-musl",
        compilers: &["aarch64-linux-musl-gcc"],
    },
];

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let mut which = "x86_64".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--arch" => {
                which = it
                    .next()
                    .context("--arch needs a value: x86_64, arm64 or all")?
                    .clone()
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    let selected: Vec<&Arch> = match which.as_str() {
        "all" => ARCHES.iter().collect(),
        "x86_64" | "amd64" => vec![&ARCHES[0]],
        "arm64" | "aarch64" => vec![&ARCHES[1]],
        other => bail!("unknown --arch {other:?} (x86_64, arm64 or all)"),
    };
    let mut failures = Vec::new();
    for arch in selected {
        match build_one(root, arch) {
            Ok(zip) => println!("{}", zip.display()),
            Err(e) if which == "all" => {
                eprintln!("xtask: lambda-zip {}: {e:#}", arch.lambda);
                failures.push(arch.lambda);
            }
            Err(e) => return Err(e.context(format!("lambda-zip {}", arch.lambda))),
        }
    }
    if !failures.is_empty() {
        bail!("could not build: {}", failures.join(", "));
    }
    Ok(())
}

fn build_one(root: &Path, arch: &Arch) -> Result<PathBuf> {
    check_target_installed(arch.triple)?;
    let compiler = arch.compilers.iter().find(|c| have(c)).with_context(|| {
        format!(
            "no C compiler for {} (looked for {}); the C dependencies (SQLite, zstd, aws-lc) \
                 need one: on Debian, `apt-get install musl-tools` provides musl-gcc for x86_64",
            arch.triple,
            arch.compilers.join(", ")
        )
    })?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let env_triple = arch.triple.replace('-', "_");
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "--package",
            "layerscan",
            "--bin",
            "layerscan",
        ])
        .args(["--target", arch.triple])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env(format!("CC_{env_triple}"), compiler)
        // Symbols are half the binary; Lambda never needs them.
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --target {} failed ({status})", arch.triple);
    }
    let binary = target_dir
        .join(arch.triple)
        .join("release")
        .join("layerscan");
    let bytes = std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    let mut tree = crate::build::Tree::default();
    tree.file("bootstrap", bytes, 0o755);
    let zip = crate::build::zip_of_tree(&tree)?;
    let out_dir = root.join("target").join("lambda");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let out = out_dir.join(format!("layerscan-{}.zip", arch.lambda));
    std::fs::write(&out, zip).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}

/// With rustup, the target's standard library must be installed; say how when it is not.
fn check_target_installed(triple: &str) -> Result<()> {
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return Ok(()); // no rustup: let cargo report it
    };
    let installed = String::from_utf8_lossy(&out.stdout);
    if !installed.lines().any(|l| l.trim() == triple) {
        bail!("the Rust target {triple} is not installed: run `rustup target add {triple}`");
    }
    Ok(())
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
