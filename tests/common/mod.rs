//! Shared test helpers: a fresh temp dir and cache per test, the binary as a command.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub mod registry;

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A path under `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    root().join("testdata").join(rel)
}

/// A per-test sandbox: a temp dir whose `cache/` is the layerscan cache dir.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }
    /// `layerscan` with an isolated cache dir, no network for advisory data, no colours, and
    /// HOME/DOCKER_CONFIG pointing into the sandbox so the developer's credentials are never used.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::cargo_bin("layerscan").expect("binary");
        c.env("LAYERSCAN_CACHE_DIR", self.cache())
            .env("HOME", self.path())
            .env("DOCKER_CONFIG", self.path().join("docker"))
            .env("NO_COLOR", "1")
            .env_remove("LAYERSCAN_DB_MIRROR")
            .env_remove("LAYERSCAN_USERNAME")
            .env_remove("LAYERSCAN_PASSWORD")
            .env_remove("LAYERSCAN_REGISTRY_TOKEN")
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .current_dir(self.path());
        c
    }
}

/// Parse stdout as the JSON report.
pub fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
