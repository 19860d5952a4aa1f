//! A real registry (Debian's `docker-registry`) on loopback, and `skopeo` to push to it. Shared by
//! the registry and hook tests; skipped, with a printed reason, when the tools are missing.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The htpasswd user of [`Registry::start`]`(true)`.
pub const USER: &str = "scanner";
pub const PASS: &str = "Reg1stry-Pa55";

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `None` (and a printed reason) when the registry tools are missing.
pub fn tools() -> Option<()> {
    for t in ["docker-registry", "skopeo", "htpasswd"] {
        if !have(t) {
            eprintln!(
                "skipping registry test: `{t}` is not installed (apt-get install docker-registry skopeo apache2-utils)"
            );
            return None;
        }
    }
    Some(())
}

/// A `docker-registry serve` on 127.0.0.1, killed on drop.
pub struct Registry {
    child: Option<Child>,
    pub port: u16,
    pub storage: PathBuf,
    /// The htpasswd user and password, when the registry requires them.
    creds: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Without auth, or with the htpasswd user [`USER`]/[`PASS`].
    pub fn start(auth: bool) -> Registry {
        Self::launch(auth.then(|| (USER.to_string(), PASS.to_string())))
    }

    /// With one htpasswd user (e.g. `AWS` and an ECR token's password).
    pub fn start_with_user(user: &str, password: &str) -> Registry {
        Self::launch(Some((user.to_string(), password.to_string())))
    }

    fn launch(creds: Option<(String, String)>) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = dir.path().join("storage");
        let htpasswd = dir.path().join("htpasswd");
        if let Some((user, pass)) = &creds {
            let st = Command::new("htpasswd")
                .args(["-Bbc"])
                .arg(&htpasswd)
                .args([user, pass])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("htpasswd");
            assert!(st.success(), "htpasswd failed");
        }
        // The free port can be taken between our probe and the registry's bind: then the
        // registry exits and we try another port.
        for _ in 0..5 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
                l.local_addr().expect("addr").port()
            };
            let mut cfg = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            );
            if creds.is_some() {
                cfg.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    htpasswd.display()
                ));
            }
            let cfg_path = dir.path().join("config.yml");
            std::fs::write(&cfg_path, cfg).expect("write config");
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&cfg_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start docker-registry");
            // Readiness: our registry answers on the port (bounded wait, not a timing assertion).
            for _ in 0..200 {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if is_registry(port) {
                    return Registry {
                        child: Some(child),
                        port,
                        storage,
                        creds,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("docker-registry did not start");
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `skopeo copy [--all] oci:DIR:ref docker://host/name:tag`.
    pub fn push(&self, layout: &Path, refname: &str, dest: &str, all: bool) {
        self.copy(&format!("oci:{}:{refname}", layout.display()), dest, all);
    }

    /// `skopeo copy [--all] SOURCE docker://host/DEST`, SOURCE in skopeo's transport syntax
    /// (`docker-archive:PATH`, `oci:DIR:ref`, ...).
    pub fn copy(&self, source: &str, dest: &str, all: bool) {
        let mut cmd = Command::new("skopeo");
        cmd.args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
        ]);
        if all {
            cmd.arg("--all");
        }
        if let Some((user, pass)) = &self.creds {
            cmd.arg(format!("--dest-creds={user}:{pass}"));
        }
        cmd.arg(source)
            .arg(format!("docker://{}/{dest}", self.host()));
        let out = cmd.stdin(Stdio::null()).output().expect("run skopeo");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Path of a blob's data in the registry's filesystem storage.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a distribution registry answers `GET /v2/` on `port`.
fn is_registry(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.to_ascii_lowercase()
        .contains("docker-distribution-api-version")
}
