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
            .env_remove("LAYERSCAN_FEED_MIRROR")
            .env_remove("LAYERSCAN_USERNAME")
            .env_remove("LAYERSCAN_PASSWORD")
            .env_remove("LAYERSCAN_REGISTRY_TOKEN")
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .current_dir(self.path());
        // No AWS identity or endpoint of the developer's or the CI machine's, and no probe of the
        // instance metadata service (169.254.169.254): tests that need AWS set their own
        // loopback endpoints and keys after `cmd()`.
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_ECR",
            "AWS_ENDPOINT_URL_LAMBDA",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "AWS_USE_FIPS_ENDPOINT",
        ] {
            c.env_remove(var);
        }
        c.env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.path().join("aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path().join("aws/credentials"),
            );
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
