//! Integration tests: registry. A real registry (Debian's `docker-registry`) on loopback, images
//! pushed with `skopeo` from OCI layouts built here. Skipped, with a printed reason, when those
//! tools are not installed (`.ci/run` installs them).

use crate::common::registry::{tools, Registry, PASS, USER};
use layerscan::source::registry::{Credentials, RegistryOptions, RegistrySource};
use layerscan::source::{LayerBlob, Source};
use sha2::Digest as _;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append_data(&mut h, path, &data[..]).expect("tar entry");
    }
    b.into_inner().expect("tar")
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

/// One layer: its uncompressed tar and whether it is stored gzipped.
struct Layer {
    tar: Vec<u8>,
    gzip: bool,
}

/// Descriptor of a blob written into `layout/blobs/sha256`.
fn put_blob(layout: &Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
    let digest = sha256(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).expect("blobs dir");
    std::fs::write(dir.join(digest.trim_start_matches("sha256:")), bytes).expect("blob");
    serde_json::json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
}

/// Write an image into an OCI layout; returns the manifest descriptor.
fn put_image(layout: &Path, arch: &str, layers: &[Layer]) -> serde_json::Value {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        diff_ids.push(sha256(&l.tar));
        descs.push(if l.gzip {
            put_blob(
                layout,
                "application/vnd.oci.image.layer.v1.tar+gzip",
                &gzip(&l.tar),
            )
        } else {
            put_blob(layout, "application/vnd.oci.image.layer.v1.tar", &l.tar)
        });
    }
    let config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"User": "1000", "Env": ["PATH=/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": layers.iter().enumerate().map(|(i, _)| serde_json::json!({"created_by": format!("layer {i} for {arch}")})).collect::<Vec<_>>()
    });
    let config = put_blob(
        layout,
        "application/vnd.oci.image.config.v1+json",
        config.to_string().as_bytes(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": descs,
    });
    let mut d = put_blob(
        layout,
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    );
    d["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
    d
}

fn write_index(layout: &Path, refname: &str, top: serde_json::Value) {
    let mut top = top;
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": refname});
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(layout.join("index.json"), index.to_string()).expect("index.json");
}

fn alpine_layers(marker: &str) -> Vec<Layer> {
    vec![
        Layer {
            tar: tar_of(&[(
                "etc/os-release",
                b"ID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n".to_vec(),
            )]),
            gzip: true,
        },
        Layer {
            tar: tar_of(&[
                (
                    "lib/apk/db/installed",
                    b"P:busybox\nV:1.36.1-r29\nA:x86_64\no:busybox\n\n".to_vec(),
                ),
                ("etc/marker", marker.as_bytes().to_vec()),
            ]),
            gzip: false,
        },
    ]
}

/// A single-platform image in a fresh layout; returns (layout dir, manifest digest).
fn single_image(marker: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("layout dir");
    let m = put_image(dir.path(), "amd64", &alpine_layers(marker));
    let digest = m["digest"].as_str().unwrap_or_default().to_string();
    write_index(dir.path(), "v1", m);
    (dir, digest)
}

fn opts(creds: Option<Credentials>) -> RegistryOptions {
    RegistryOptions {
        platform: "linux/amd64".into(),
        insecure: true,
        timeout: Duration::from_secs(60),
        credentials: creds,
        registry_host: None,
    }
}

fn read_layer(src: &RegistrySource, i: usize) -> std::io::Result<Vec<u8>> {
    let Ok(LayerBlob::Tar(mut r)) = src.open_layer(i) else {
        panic!("open_layer({i}) did not return a tar stream")
    };
    let mut out = Vec::new();
    r.read_to_end(&mut out).map(|_| out)
}

#[test]
fn anonymous_pull_by_tag_and_digest() {
    let Some(()) = tools() else { return };
    let reg = Registry::start(false);
    let (layout, digest) = single_image("anon");
    reg.push(layout.path(), "v1", "team/app:v1", false);

    let src = RegistrySource::open_with(&format!("{}/team/app:v1", reg.host()), opts(None))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let t = src.target();
    assert_eq!(t.layers.len(), 2);
    assert_eq!(
        t.repo_digests,
        vec![format!("{}/team/app@{digest}", reg.host())]
    );
    assert_eq!(t.layers[1].created_by.as_deref(), Some("layer 1 for amd64"));
    // Each layer streams back exactly as stored: its digest is the manifest's.
    for (i, l) in t.layers.iter().enumerate() {
        let bytes = read_layer(&src, i).unwrap_or_else(|e| panic!("layer {i}: {e}"));
        assert_eq!(sha256(&bytes), l.digest);
    }
    let image_id = t.image_id.clone();

    let by_digest =
        RegistrySource::open_with(&format!("{}/team/app@{digest}", reg.host()), opts(None))
            .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(by_digest.target().image_id, image_id);
    assert!(by_digest.target().repo_tags.is_empty());

    let err = RegistrySource::open_with(&format!("{}/team/app:nope", reg.host()), opts(None))
        .err()
        .expect("unknown tag fails");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("manifest unknown") && msg.contains("team/app:nope"),
        "{msg}"
    );
}

#[test]
fn basic_auth_explicit_and_wrong() {
    let Some(()) = tools() else { return };
    let reg = Registry::start(true);
    let (layout, _) = single_image("auth");
    reg.push(layout.path(), "v1", "private/app:v1", false);
    let reference = format!("{}/private/app:v1", reg.host());

    let src = RegistrySource::open_with(&reference, opts(Some(Credentials::basic(USER, PASS))))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let bytes = read_layer(&src, 0).expect("layer 0");
    assert_eq!(sha256(&bytes), src.target().layers[0].digest);

    let err = RegistrySource::open_with(
        &reference,
        opts(Some(Credentials::basic(USER, "not-it-123"))),
    )
    .err()
    .expect("wrong password fails");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("authentication") && msg.contains(&reg.host()),
        "{msg}"
    );
    assert!(!msg.contains("not-it-123"), "{msg}");
}

#[test]
fn multi_platform_index() {
    let Some(()) = tools() else { return };
    let reg = Registry::start(false);
    let dir = tempfile::tempdir().expect("layout dir");
    let amd = put_image(dir.path(), "amd64", &alpine_layers("amd64"));
    let arm = put_image(dir.path(), "arm64", &alpine_layers("arm64"));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd, arm],
    });
    let top = put_blob(
        dir.path(),
        "application/vnd.oci.image.index.v1+json",
        index.to_string().as_bytes(),
    );
    let index_digest = top["digest"].as_str().unwrap_or_default().to_string();
    write_index(dir.path(), "multi", top);
    reg.push(dir.path(), "multi", "multi/app:1", true);

    let mut o = opts(None);
    o.platform = "linux/arm64".into();
    let src = RegistrySource::open_with(&format!("{}/multi/app:1", reg.host()), o)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        src.target().layers[0].created_by.as_deref(),
        Some("layer 0 for arm64")
    );
    assert_eq!(
        src.target().repo_digests,
        vec![format!("{}/multi/app@{index_digest}", reg.host())]
    );

    let src = RegistrySource::open_with(&format!("{}/multi/app:1", reg.host()), opts(None))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        src.target().layers[0].created_by.as_deref(),
        Some("layer 0 for amd64")
    );

    let mut o = opts(None);
    o.platform = "linux/s390x".into();
    let err = RegistrySource::open_with(&format!("{}/multi/app:1", reg.host()), o)
        .err()
        .expect("no s390x image");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("linux/s390x") && msg.contains("linux/amd64, linux/arm64"),
        "{msg}"
    );

    // The same through the CLI.
    let sb = Sandbox::new();
    let reference = format!("{}/multi/app:1", reg.host());
    let out = scan(&sb, &reference)
        .args(["--platform", "linux/arm64"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["Metadata"]["ImageConfig"]["architecture"], "arm64");
    let digests = report["Metadata"]["RepoDigests"].to_string();
    assert!(digests.contains(&index_digest), "{digests}");

    let out = scan(&sb, &reference)
        .args(["--platform", "linux/s390x"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("linux/amd64, linux/arm64"), "{stderr}");
}

#[test]
fn tampered_blob_names_the_digest() {
    let Some(()) = tools() else { return };
    let reg = Registry::start(false);
    let (layout, _) = single_image("tamper");
    reg.push(layout.path(), "v1", "t/app:v1", false);
    let src = RegistrySource::open_with(&format!("{}/t/app:v1", reg.host()), opts(None))
        .unwrap_or_else(|e| panic!("{e:#}"));
    // Layer 1 is an uncompressed tar: flip a byte of file content, same size.
    let digest = src.target().layers[1].digest.clone();
    let path = reg.blob_path(&digest);
    let mut data = std::fs::read(&path).expect("stored blob");
    let pos = data
        .windows(7)
        .position(|w| w == b"busybox")
        .expect("content");
    data[pos] = b'B';
    std::fs::write(&path, &data).expect("tamper");

    let err = read_layer(&src, 1).expect_err("tampered layer must fail");
    let msg = err.to_string();
    assert!(msg.contains(&digest), "{msg}");
    // The untouched layer still verifies.
    assert!(read_layer(&src, 0).is_ok());
}

#[test]
fn registry_stopped_mid_pull() {
    let Some(()) = tools() else { return };
    let mut reg = Registry::start(false);
    let dir = tempfile::tempdir().expect("layout dir");
    // 48 MiB of incompressible content, so the download cannot finish from socket buffers.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let big: Vec<u8> = (0..48 * 1024 * 1024 / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    let layers = vec![Layer {
        tar: tar_of(&[("big.bin", big)]),
        gzip: false,
    }];
    let m = put_image(dir.path(), "amd64", &layers);
    write_index(dir.path(), "v1", m);
    reg.push(dir.path(), "v1", "big/app:v1", false);

    let src = RegistrySource::open_with(&format!("{}/big/app:v1", reg.host()), opts(None))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let digest = src.target().layers[0].digest.clone();
    let Ok(LayerBlob::Tar(mut r)) = src.open_layer(0) else {
        panic!("no tar stream")
    };
    let mut buf = vec![0u8; 64 * 1024];
    r.read_exact(&mut buf).expect("first bytes arrive");
    reg.stop();
    let mut rest = Vec::new();
    let err = r
        .read_to_end(&mut rest)
        .expect_err("the pull must fail, not end early");
    assert!(err.to_string().contains(&digest), "{err}");
}

// ---- The CLI end to end: `layerscan image REF` against the loopback registry. ----

use crate::common::{json, Sandbox};

fn pushed_private() -> (Registry, String) {
    let reg = Registry::start(true);
    let (layout, _) = single_image("cli");
    reg.push(layout.path(), "v1", "private/app:v1", false);
    let reference = format!("{}/private/app:v1", reg.host());
    (reg, reference)
}

fn scan(sb: &Sandbox, reference: &str) -> assert_cmd::Command {
    let mut c = sb.cmd();
    c.args([
        "image",
        reference,
        "--insecure",
        "--offline",
        "--format",
        "json",
    ])
    // A developer's proxy must not sit between the test and its loopback registry.
    .env("NO_PROXY", "127.0.0.1,localhost")
    .env("no_proxy", "127.0.0.1,localhost");
    c
}

fn assert_auth_failure(out: &std::process::Output, host: &str, secret: Option<&str>) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("stderr: {stderr}");
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(out.stdout.is_empty(), "no report on an error");
    assert!(
        stderr.contains("authentication") && stderr.contains(host),
        "{stderr}"
    );
    if let Some(s) = secret {
        assert!(!stderr.contains(s), "the password leaked: {stderr}");
    }
}

#[test]
fn cli_basic_auth_from_flags_env_and_stdin() {
    let Some(()) = tools() else { return };
    let (reg, reference) = pushed_private();
    let sb = Sandbox::new();

    let out = scan(&sb, &reference)
        .args(["--username", USER, "--password", PASS])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["ArtifactName"], reference.as_str());
    assert_eq!(report["ArtifactType"], "container_image");
    assert_eq!(
        report["Metadata"]["DiffIDs"].as_array().map(Vec::len),
        Some(2)
    );
    let digests = report["Metadata"]["RepoDigests"].to_string();
    assert!(
        digests.contains(&format!("{}/private/app@sha256:", reg.host())),
        "{digests}"
    );
    assert!(
        report.to_string().contains("busybox"),
        "the apk package is found"
    );
    assert!(!report.to_string().contains(PASS));

    let out = scan(&sb, &reference)
        .env("LAYERSCAN_USERNAME", USER)
        .env("LAYERSCAN_PASSWORD", PASS)
        .arg("--no-cache")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = scan(&sb, &reference)
        .args(["--username", USER, "--password-stdin", "--no-cache"])
        .write_stdin(format!("{PASS}\n"))
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cli_basic_auth_from_docker_config() {
    use base64::Engine;
    let Some(()) = tools() else { return };
    let (reg, reference) = pushed_private();
    let sb = Sandbox::new();
    let docker = sb.path().join("docker");
    std::fs::create_dir_all(&docker).expect("docker dir");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
    let config = serde_json::json!({"auths": {reg.host(): {"auth": auth}}});
    std::fs::write(docker.join("config.json"), config.to_string()).expect("config.json");

    let out = scan(&sb, &reference).output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["ArtifactName"], reference.as_str());
}

#[test]
fn cli_missing_and_wrong_credentials() {
    let Some(()) = tools() else { return };
    let (reg, reference) = pushed_private();
    let sb = Sandbox::new();

    let out = scan(&sb, &reference).output().expect("run");
    assert_auth_failure(&out, &reg.host(), None);

    let out = scan(&sb, &reference)
        .args(["--username", USER, "--password", "Wr0ng-Secret-77", "-vv"])
        .output()
        .expect("run");
    assert_auth_failure(&out, &reg.host(), Some("Wr0ng-Secret-77"));

    // Even with every crate's trace logging on, a successful pull never prints the password or
    // the Basic header.
    use base64::Engine;
    let header = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
    let out = scan(&sb, &reference)
        .args(["--username", USER, "--password", PASS])
        .env("LAYERSCAN_LOG", "trace")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.is_empty(), "trace logging is on");
    assert!(
        !stderr.contains(PASS) && !stderr.contains(&header),
        "a credential leaked into the log"
    );
}

#[test]
fn cli_tampered_blob_and_unknown_tag() {
    let Some(()) = tools() else { return };
    let reg = Registry::start(false);
    let (layout, _) = single_image("cli-tamper");
    reg.push(layout.path(), "v1", "t/app:v1", false);
    let sb = Sandbox::new();

    let out = scan(&sb, &format!("{}/t/app:nope", reg.host()))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("t/app:nope") && stderr.contains("manifest unknown"),
        "{stderr}"
    );

    // Flip a byte of the uncompressed layer's file content in the registry's storage.
    let reference = format!("{}/t/app:v1", reg.host());
    let src = RegistrySource::open_with(&reference, opts(None)).unwrap_or_else(|e| panic!("{e:#}"));
    let digest = src.target().layers[1].digest.clone();
    let path = reg.blob_path(&digest);
    let mut data = std::fs::read(&path).expect("stored blob");
    let pos = data
        .windows(7)
        .position(|w| w == b"busybox")
        .expect("content");
    data[pos] = b'B';
    std::fs::write(&path, &data).expect("tamper");

    let out = scan(&sb, &reference)
        .arg("--no-cache")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "no report from a tampered image");
    assert!(stderr.contains(&digest), "{stderr}");
}

#[test]
fn cli_second_scan_is_served_from_the_layer_cache() {
    let Some(()) = tools() else { return };
    let reg = Registry::start(false);
    let (layout, digest) = single_image("cache");
    reg.push(layout.path(), "v1", "c/app:v1", false);
    let sb = Sandbox::new();
    let reference = format!("{}/c/app@{digest}", reg.host());

    let first = scan(&sb, &reference).output().expect("run");
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    // Remove every layer blob from the registry: only the manifest and config remain.
    let src = RegistrySource::open_with(&reference, opts(None)).unwrap_or_else(|e| panic!("{e:#}"));
    for l in &src.target().layers {
        std::fs::remove_file(reg.blob_path(&l.digest)).expect("remove layer blob");
    }

    let second = scan(&sb, &reference).output().expect("run");
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let (mut a, mut b) = (json(&first), json(&second));
    a["CreatedAt"] = serde_json::Value::Null;
    b["CreatedAt"] = serde_json::Value::Null;
    assert_eq!(a, b, "the cached scan reports the same");

    // Without the cache the layers are needed, and gone.
    let third = scan(&sb, &reference)
        .arg("--no-cache")
        .output()
        .expect("run");
    assert_eq!(third.status.code(), Some(2));
    assert!(third.stdout.is_empty());
}

#[test]
fn cli_credential_helper_and_registry_token() {
    use std::os::unix::fs::PermissionsExt;
    let Some(()) = tools() else { return };
    let (reg, reference) = pushed_private();
    let sb = Sandbox::new();
    // A docker credential helper (`docker-credential-NAME get`, server on stdin, JSON on stdout)
    // that only knows our registry.
    let bin = sb.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let helper = bin.join("docker-credential-layerscantest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = \"{host}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASS}\"}}' \"$server\"\n  exit 0\nfi\necho 'credentials not found in native keychain'\nexit 1\n",
            host = reg.host()
        ),
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let docker = sb.path().join("docker");
    std::fs::create_dir_all(&docker).expect("docker dir");

    for config in [
        serde_json::json!({"credHelpers": {reg.host(): "layerscantest"}}),
        serde_json::json!({"credsStore": "layerscantest"}),
    ] {
        std::fs::write(docker.join("config.json"), config.to_string()).expect("config.json");
        let out = scan(&sb, &reference)
            .env("PATH", &path)
            .arg("--no-cache")
            .output()
            .expect("run");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{config}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A bearer token this registry does not accept: an authentication error that says where the
    // credentials came from, without the token.
    let out = scan(&sb, &reference)
        .env("PATH", &path)
        .args(["--registry-token", "bogus-token-4242"])
        .output()
        .expect("run");
    assert_auth_failure(&out, &reg.host(), Some("bogus-token-4242"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--registry-token"));

    // --registry-token comes before LAYERSCAN_USERNAME/LAYERSCAN_PASSWORD (but after the flags).
    let out = scan(&sb, &reference)
        .env("LAYERSCAN_USERNAME", USER)
        .env("LAYERSCAN_PASSWORD", PASS)
        .args(["--registry-token", "bogus-token-4242"])
        .output()
        .expect("run");
    assert_auth_failure(&out, &reg.host(), Some("bogus-token-4242"));
    let out = scan(&sb, &reference)
        .args(["--username", USER, "--password", PASS])
        .args(["--registry-token", "bogus-token-4242", "--no-cache"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A TCP proxy in front of the registry that cuts every connection after `limit` bytes of
/// response: the registry going away in the middle of a layer.
fn cutting_proxy(upstream: u16, limit: usize) -> (u16, Arc<AtomicUsize>) {
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
    let port = listener.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut c_read, mut s_write) = match (client.try_clone(), server.try_clone()) {
                (Ok(c), Ok(s)) => (c, s),
                _ => continue,
            };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut s_write);
            });
            std::thread::spawn(move || {
                let (mut server, mut client) = (server, client);
                let mut sent = 0usize;
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match server.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let n = n.min(limit.saturating_sub(sent));
                    if n == 0 || client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
    (port, connections)
}

#[test]
fn cli_registry_gone_mid_pull() {
    let Some(()) = tools() else { return };
    let reg = Registry::start(false);
    let dir = tempfile::tempdir().expect("layout dir");
    let big: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let layers = vec![Layer {
        tar: tar_of(&[("big.bin", big)]),
        gzip: false,
    }];
    let m = put_image(dir.path(), "amd64", &layers);
    write_index(dir.path(), "v1", m);
    reg.push(dir.path(), "v1", "gone/app:v1", false);
    let layer_digest = {
        let src = RegistrySource::open_with(&format!("{}/gone/app:v1", reg.host()), opts(None))
            .unwrap_or_else(|e| panic!("{e:#}"));
        src.target().layers[0].digest.clone()
    };

    let (proxy, _) = cutting_proxy(reg.port, 1024 * 1024);
    let sb = Sandbox::new();
    let out = scan(&sb, &format!("127.0.0.1:{proxy}/gone/app:v1"))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty(), "no report after a failed pull");
    eprintln!("stderr: {stderr}");
    assert!(stderr.contains(&layer_digest), "{stderr}");
}

/// `HTTP_PROXY` (for a plain-HTTP registry under --insecure) is honoured, and `NO_PROXY` exempts.
/// The "proxy" is a TCP pass-through: docker-registry accepts absolute-form request targets.
#[test]
fn cli_http_proxy_and_no_proxy() {
    let Some(()) = tools() else { return };
    let reg = Registry::start(false);
    let (layout, _) = single_image("proxy");
    reg.push(layout.path(), "v1", "p/app:v1", false);
    let (proxy, connections) = cutting_proxy(reg.port, usize::MAX);
    let sb = Sandbox::new();
    let reference = format!("{}/p/app:v1", reg.host());
    let proxy_url = format!("http://127.0.0.1:{proxy}");
    let without_no_proxy = |c: &mut assert_cmd::Command| {
        for v in [
            "NO_PROXY",
            "no_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            c.env_remove(v);
        }
    };

    let mut c = scan(&sb, &reference);
    without_no_proxy(&mut c);
    let out = c
        .env("HTTP_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .arg("--no-cache")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let through_proxy = connections.load(Ordering::SeqCst);
    assert!(
        through_proxy > 0,
        "the registry was reached through HTTP_PROXY"
    );

    let mut c = scan(&sb, &reference);
    without_no_proxy(&mut c);
    let out = c
        .env("HTTP_PROXY", &proxy_url)
        .env("http_proxy", &proxy_url)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .arg("--no-cache")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        through_proxy,
        "NO_PROXY bypasses the proxy"
    );
}
