//! Integration tests: the pipeline for local sources (docker-archive, OCI layout, OCI archive,
//! Lambda zips, directories), on images built here with the `tar`, `flate2` and `zstd` crates.

use crate::common::{json, Sandbox};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap()
}

/// One tar entry of a layer.
enum E<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

/// A layer tar, with raw (un-normalised) names written as given.
fn layer_tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        match e {
            E::File(path, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                set_raw_path(&mut h, path);
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
            E::Symlink(path, target) | E::HardLink(path, target) => {
                h.set_entry_type(if matches!(e, E::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_size(0);
                set_raw_path(&mut h, path);
                let name = target.as_bytes();
                h.as_old_mut().linkname[..name.len()].copy_from_slice(name);
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Write the name bytes directly (the `tar` crate refuses `..` in `set_path`, real tars don't).
fn set_raw_path(h: &mut tar::Header, path: &str) {
    let name = path.as_bytes();
    let old = h.as_old_mut();
    old.name = [0; 100];
    old.name[..name.len()].copy_from_slice(name);
}

#[derive(Clone, Copy)]
enum Comp {
    Plain,
    Gzip,
    Zstd,
}

fn compress(tar: &[u8], c: Comp) -> Vec<u8> {
    match c {
        Comp::Plain => tar.to_vec(),
        Comp::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(tar).unwrap();
            gz.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(tar, 3).unwrap(),
    }
}

fn media_type(c: Comp) -> &'static str {
    match c {
        Comp::Plain => "application/vnd.oci.image.layer.v1.tar",
        Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

struct Layer {
    tar: Vec<u8>,
    blob: Vec<u8>,
    comp: Comp,
    created_by: &'static str,
}

fn layer(entries: &[E], comp: Comp, created_by: &'static str) -> Layer {
    let tar = layer_tar(entries);
    let blob = compress(&tar, comp);
    Layer {
        tar,
        blob,
        comp,
        created_by,
    }
}

fn config_for(layers: &[Layer], arch: &str) -> Vec<u8> {
    let mut history =
        vec![json!({"created_by": "/bin/sh -c #(nop) LABEL x=y", "empty_layer": true})];
    for l in layers {
        history.push(json!({ "created_by": l.created_by }));
    }
    serde_json::to_vec(&json!({
        "architecture": arch,
        "os": "linux",
        "config": {"User": "app", "Env": ["PATH=/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha(&l.tar)).collect::<Vec<_>>()},
        "history": history,
    }))
    .unwrap()
}

/// Append a file to a tar builder.
fn add(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, data).unwrap();
}

/// A docker-archive: legacy `<n>/layer.tar` names for plain layers, `blobs/sha256/<hex>` for
/// compressed ones.
fn docker_archive(layers: &[Layer], tags: &[&str]) -> (Vec<u8>, String) {
    docker_archive_with_config(config_for(layers, "amd64"), layers, tags)
}

fn docker_archive_with_config(
    config: Vec<u8>,
    layers: &[Layer],
    tags: &[&str],
) -> (Vec<u8>, String) {
    let config_digest = sha(&config);
    let mut b = tar::Builder::new(Vec::new());
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = match l.comp {
            Comp::Plain => format!("{i:064}/layer.tar"),
            _ => format!("blobs/sha256/{}", hex_of(&sha(&l.blob))),
        };
        add(&mut b, &name, &l.blob);
        names.push(name);
    }
    add(&mut b, &format!("{}.json", hex_of(&config_digest)), &config);
    let manifest = json!([{
        "Config": format!("{}.json", hex_of(&config_digest)),
        "RepoTags": tags,
        "Layers": names,
    }]);
    add(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    (b.into_inner().unwrap(), config_digest)
}

/// Write a blob into an OCI layout dir; returns its descriptor.
fn put_blob(dir: &Path, bytes: &[u8], media_type: &str) -> Value {
    let d = sha(bytes);
    let p = dir.join("blobs/sha256").join(hex_of(&d));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
    json!({"mediaType": media_type, "digest": d, "size": bytes.len()})
}

/// Write an image (config + layers + manifest) into a layout; returns the manifest descriptor.
fn put_image(dir: &Path, layers: &[Layer], arch: &str) -> Value {
    let config = put_blob(
        dir,
        &config_for(layers, arch),
        "application/vnd.oci.image.config.v1+json",
    );
    let layer_descs: Vec<Value> = layers
        .iter()
        .map(|l| put_blob(dir, &l.blob, media_type(l.comp)))
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": layer_descs,
    });
    put_blob(
        dir,
        &serde_json::to_vec(&manifest).unwrap(),
        "application/vnd.oci.image.manifest.v1+json",
    )
}

fn write_index(dir: &Path, manifests: Vec<Value>) {
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

const OS_RELEASE: &[u8] = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nID=debian\n";

const STATUS_V1: &[u8] = b"Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Description: shell

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
Description: gone
";

const STATUS_V2: &[u8] = b"Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Description: shell

Package: curl
Status: install ok installed
Architecture: amd64
Source: curl
Version: 7.88.1-10+deb12u5
Description: url tool
";

fn metadata(name: &str, version: &str) -> Vec<u8> {
    format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: test\n\nBody\n")
        .into_bytes()
}

/// The three-layer image most tests use: gzip base (os, dpkg, python), zstd rewrite of the dpkg
/// status plus a whiteout, plain layer with an opaque dir and a requirements file.
fn standard_layers() -> Vec<Layer> {
    let requests = metadata("requests", "2.31.0");
    let urllib3 = metadata("urllib3", "2.0.0");
    let flask = metadata("Flask", "2.2.0");
    let django = metadata("Django", "4.2.1");
    vec![
        layer(
            &[
                E::File("usr/lib/os-release", OS_RELEASE),
                E::Symlink("etc/os-release", "../usr/lib/os-release"),
                E::File("./var/lib/dpkg/status", STATUS_V1),
                E::File(
                    "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
                    &requests,
                ),
                E::File(
                    "usr/lib/python3/dist-packages/urllib3-2.0.0.dist-info/METADATA",
                    &urllib3,
                ),
                E::File(
                    "opt/venv/lib/python3.11/site-packages/Flask-2.2.0.dist-info/METADATA",
                    &flask,
                ),
            ],
            Comp::Gzip,
            "/bin/sh -c #(nop) ADD file:base in /",
        ),
        layer(
            &[
                E::File("var/lib/dpkg/status", STATUS_V2),
                E::File(
                    "usr/lib/python3/dist-packages/.wh.urllib3-2.0.0.dist-info",
                    b"",
                ),
            ],
            Comp::Zstd,
            "RUN apt-get install -y curl && pip uninstall urllib3",
        ),
        layer(
            &[
                E::File("opt/venv/.wh..wh..opq", b""),
                E::File(
                    "opt/venv/lib/python3.11/site-packages/Django-4.2.1.dist-info/METADATA",
                    &django,
                ),
                E::File("app/requirements.txt", b"requests==2.31.0\nflask>=2.0\n"),
            ],
            Comp::Plain,
            "COPY . /app",
        ),
    ]
}

fn scan(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    sb.cmd()
        .args(args)
        .args(["--format", "json", "--offline"])
        .output()
        .unwrap()
}

fn result<'a>(report: &'a Value, class: &str, kind: &str) -> &'a Value {
    report["Results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Class"] == class && r["Type"] == kind)
        .unwrap_or_else(|| panic!("no {class}/{kind} result in {report:#}"))
}

fn names(result: &Value) -> Vec<String> {
    result["Packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap().to_string())
        .collect()
}

fn package<'a>(result: &'a Value, name: &str) -> &'a Value {
    result["Packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == name)
        .unwrap_or_else(|| panic!("no package {name} in {result:#}"))
}

/// What every scan of `standard_layers()` must show, whatever the container format.
fn assert_standard_inventory(report: &Value, layers: &[Layer]) {
    assert_eq!(report["SchemaVersion"], 2);
    assert_eq!(report["ArtifactType"], "container_image");
    assert_eq!(report["Metadata"]["OS"]["Family"], "debian");
    assert_eq!(report["Metadata"]["OS"]["Name"], "12");
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(&l.tar)).collect();
    assert_eq!(report["Metadata"]["DiffIDs"], json!(diff_ids));
    assert_eq!(report["Metadata"]["ImageConfig"]["config"]["User"], "app");

    let os = result(report, "os-pkgs", "debian");
    assert!(
        os["Target"].as_str().unwrap().ends_with("(debian 12)"),
        "{}",
        os["Target"]
    );
    assert_eq!(names(os), vec!["bash", "curl", "libc6"]);
    let libc = package(os, "libc6");
    assert_eq!(libc["SrcName"], "glibc");
    assert_eq!(libc["Version"], "2.36-9+deb12u4");
    // Unchanged by the layer-1 rewrite of the status file: still introduced by layer 0.
    assert_eq!(libc["Layer"]["DiffID"], diff_ids[0]);
    assert_eq!(libc["Layer"]["Digest"], sha(&layers[0].blob));
    assert_eq!(libc["Layer"]["CreatedBy"], layers[0].created_by);
    let curl = package(os, "curl");
    assert_eq!(curl["Layer"]["DiffID"], diff_ids[1]);
    assert_eq!(curl["Layer"]["CreatedBy"], layers[1].created_by);

    let py = result(report, "lang-pkgs", "python-pkg");
    assert_eq!(py["Target"], "Python");
    // urllib3 was whited out, Flask hidden by the opaque dir.
    assert_eq!(names(py), vec!["Django", "requests"]);
    let django = package(py, "Django");
    assert_eq!(
        django["FilePath"],
        "opt/venv/lib/python3.11/site-packages/Django-4.2.1.dist-info/METADATA"
    );
    assert_eq!(django["Layer"]["DiffID"], diff_ids[2]);

    let pip = result(report, "lang-pkgs", "pip");
    assert_eq!(pip["Target"], "app/requirements.txt");
    let flask = package(pip, "flask");
    assert_eq!(flask["Version"], "");
    assert_eq!(package(pip, "requests")["Version"], "2.31.0");
}

#[test]
fn docker_archive_multi_layer_inventory() {
    let sb = Sandbox::new();
    let layers = standard_layers();
    let (tar, config_digest) = docker_archive(&layers, &["app:1.0"]);
    let path = sb.path().join("app.tar");
    std::fs::write(&path, tar).unwrap();
    let out = scan(&sb, &["image", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_standard_inventory(&report, &layers);
    assert_eq!(report["Metadata"]["ImageID"], config_digest);
    assert_eq!(report["Metadata"]["RepoTags"], json!(["app:1.0"]));
    assert_eq!(report["ArtifactName"], path.to_str().unwrap());
}

#[test]
fn oci_layout_dir_and_archive() {
    let sb = Sandbox::new();
    let layers = standard_layers();
    let dir = sb.path().join("app-oci");
    let mut desc = put_image(&dir, &layers, "amd64");
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": "v2"});
    write_index(&dir, vec![desc]);

    let out = scan(&sb, &["image", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_standard_inventory(&json(&out), &layers);

    let with_ref = format!("{}:v2", dir.display());
    let out = scan(&sb, &["image", &with_ref]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_standard_inventory(&json(&out), &layers);

    let transport = format!("oci:{}:v2", dir.display());
    let out = scan(&sb, &["image", &transport]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_standard_inventory(&json(&out), &layers);

    let missing_ref = format!("{}:v9", dir.display());
    let out = scan(&sb, &["image", &missing_ref]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("v9") && err.contains("v2"), "{err}");

    // The same layout as a tar (an OCI archive), entries prefixed with ./ as `tar -C dir .` does.
    let mut b = tar::Builder::new(Vec::new());
    b.append_dir_all(".", &dir).unwrap();
    let archive = sb.path().join("app-oci.tar");
    std::fs::write(&archive, b.into_inner().unwrap()).unwrap();
    let out = scan(&sb, &["image", archive.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_standard_inventory(&json(&out), &layers);
}

#[test]
fn nested_index_picks_platform_and_lists_available() {
    let sb = Sandbox::new();
    let dir = sb.path().join("multi");
    let amd = vec![layer(
        &[
            E::File("etc/alpine-release", b"3.20.3\n"),
            E::File("etc/os-release", b"ID=alpine\nVERSION_ID=3.20.3\n"),
        ],
        Comp::Gzip,
        "ADD amd",
    )];
    let arm = vec![layer(
        &[E::File("etc/os-release", OS_RELEASE)],
        Comp::Gzip,
        "ADD arm",
    )];
    let mut amd_desc = put_image(&dir, &amd, "amd64");
    amd_desc["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let mut arm_desc = put_image(&dir, &arm, "arm64");
    arm_desc["platform"] = json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
    let mut att = put_blob(&dir, b"{}", "application/vnd.oci.image.manifest.v1+json");
    att["platform"] = json!({"os": "unknown", "architecture": "unknown"});
    let nested = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd_desc, arm_desc, att],
    });
    let mut nested_desc = put_blob(
        &dir,
        &serde_json::to_vec(&nested).unwrap(),
        "application/vnd.oci.image.index.v1+json",
    );
    nested_desc["annotations"] = json!({"org.opencontainers.image.ref.name": "latest"});
    write_index(&dir, vec![nested_desc]);
    let d = dir.to_str().unwrap();

    let out = scan(&sb, &["image", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["Metadata"]["OS"]["Family"], "alpine");

    let out = scan(
        &sb,
        &["image", &format!("{d}:latest"), "--platform", "linux/arm64"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["Metadata"]["OS"]["Family"], "debian");

    let out = scan(&sb, &["image", d, "--platform", "linux/s390x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("linux/s390x")
            && err.contains("linux/amd64")
            && err.contains("linux/arm64/v8"),
        "{err}"
    );
    assert!(!err.contains("unknown/unknown"), "{err}");
}

#[test]
fn tampered_blobs_are_refused_with_their_digest() {
    let sb = Sandbox::new();
    let layers = standard_layers();
    let dir = sb.path().join("oci");
    let desc = put_image(&dir, &layers, "amd64");
    write_index(&dir, vec![desc]);
    // Flip bytes in the zstd layer blob (keeping its name).
    let digest = sha(&layers[1].blob);
    let p = dir.join("blobs/sha256").join(hex_of(&digest));
    let mut bytes = std::fs::read(&p).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&p, bytes).unwrap();
    let out = scan(&sb, &["image", dir.to_str().unwrap(), "--no-cache"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&digest), "{err}");

    // A tampered config is caught before any layer is read.
    let dir2 = sb.path().join("oci2");
    let desc = put_image(&dir2, &layers, "amd64");
    write_index(&dir2, vec![desc]);
    let config_digest = sha(&config_for(&layers, "amd64"));
    let p = dir2.join("blobs/sha256").join(hex_of(&config_digest));
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"app\"", "\"root\"");
    std::fs::write(&p, text).unwrap();
    let out = scan(&sb, &["image", dir2.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&config_digest));

    // A legacy docker-archive layer whose content does not match the config's DiffID.
    let original = standard_layers();
    let mut tampered = standard_layers();
    tampered[2] = layer(
        &[E::File("app/requirements.txt", b"evil==1\n")],
        Comp::Plain,
        "COPY . /app",
    );
    let (archive, _) = docker_archive_with_config(config_for(&original, "amd64"), &tampered, &[]);
    let path = sb.path().join("tampered.tar");
    std::fs::write(&path, &archive).unwrap();
    let out = scan(&sb, &["image", path.to_str().unwrap(), "--no-cache"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&sha(&original[2].tar)) && err.contains("mismatch"),
        "{err}"
    );
}

#[test]
fn bad_inputs_exit_2_with_nothing_on_stdout() {
    let sb = Sandbox::new();
    let layers = standard_layers();
    let (tar, _) = docker_archive(&layers, &[]);

    let truncated = sb.path().join("truncated.tar");
    std::fs::write(&truncated, &tar[..tar.len() / 2]).unwrap();
    let not_image = sb.path().join("notes.txt");
    std::fs::write(&not_image, b"hello, this is not an image\n").unwrap();
    let gz = sb.path().join("app.tar.gz");
    let gz_bytes = compress(&tar, Comp::Gzip);
    std::fs::write(&gz, &gz_bytes[..gz_bytes.len() - 100]).unwrap();
    let missing = sb.path().join("missing.tar");

    // A docker-archive whose gzip layer is corrupt in the middle of the stream.
    let mut bad_layers = standard_layers();
    let mid = bad_layers[0].blob.len() / 2;
    bad_layers[0].blob[mid] ^= 0xff;
    bad_layers[0].blob[mid + 1] ^= 0xff;
    let (corrupt, _) = docker_archive(&bad_layers, &[]);
    let corrupt_path = sb.path().join("corrupt.tar");
    std::fs::write(&corrupt_path, corrupt).unwrap();

    for (path, needle) in [
        (&truncated, "truncated.tar"),
        (&not_image, "notes.txt"),
        (&gz, "app.tar.gz"),
        (&missing, "missing.tar"),
        (&corrupt_path, "corrupt.tar"),
    ] {
        let out = scan(&sb, &["image", path.to_str().unwrap(), "--no-cache"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{needle}: {err}");
        assert!(out.stdout.is_empty(), "{needle}");
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }

    // Not a zip for `layer`, not a directory for `fs`.
    let out = scan(&sb, &["layer", not_image.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("notes.txt"));
    let out = scan(&sb, &["fs", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let out = scan(
        &sb,
        &["layer", "arn:aws:lambda:us-east-1:123456789012:layer:x:1"],
    );
    // The sandbox has no AWS credentials (and instance metadata is off): the ARN cannot be
    // resolved, and the message says why.
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("credentials"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn compressed_docker_archive_scans_like_the_plain_one() {
    let sb = Sandbox::new();
    let layers = standard_layers();
    let (tar, config_digest) = docker_archive(&layers, &["app:1.0"]);
    for comp in [Comp::Gzip, Comp::Zstd] {
        let path = sb.path().join("app.tar.z");
        std::fs::write(&path, compress(&tar, comp)).unwrap();
        let out = scan(&sb, &["image", path.to_str().unwrap(), "--no-cache"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = json(&out);
        assert_standard_inventory(&report, &layers);
        assert_eq!(report["Metadata"]["ImageID"], config_digest);
    }
}

#[test]
fn traversal_entries_stay_inside_the_image_and_hard_links_resolve() {
    let sb = Sandbox::new();
    let meta = metadata("six", "1.16.0");
    let layers = vec![layer(
        &[
            E::File("../../etc/os-release", OS_RELEASE),
            E::File("/../../../var/lib/dpkg/status", STATUS_V1),
            E::File(
                "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
                &meta,
            ),
            E::HardLink(
                "usr/local/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA",
                "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
            ),
        ],
        Comp::Gzip,
        "ADD weird",
    )];
    let (tar, _) = docker_archive(&layers, &[]);
    let path = sb.path().join("weird.tar");
    std::fs::write(&path, tar).unwrap();
    let out = scan(&sb, &["image", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["Metadata"]["OS"]["Family"], "debian");
    assert_eq!(
        names(result(&report, "os-pkgs", "debian")),
        vec!["bash", "libc6"]
    );
    let py = result(&report, "lang-pkgs", "python-pkg");
    let paths: Vec<&str> = py["Packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["FilePath"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec![
            "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
            "usr/local/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA"
        ]
    );
    // Nothing was written outside the sandbox's cache.
    assert!(!sb.path().join("etc").exists());
}

/// Write a zip with the given (name, content) entries.
fn zip_file(path: &Path, entries: &[(String, Vec<u8>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        z.start_file(name.as_str(), opts).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn lambda_layer_zip_with_many_entries() {
    let sb = Sandbox::new();
    let mut entries: Vec<(String, Vec<u8>)> = (0..20_000)
        .map(|i| (format!("python/junk/f{i}.py"), b"x = 1\n".to_vec()))
        .collect();
    entries.push((
        "python/lib/python3.12/site-packages/requests-2.31.0.dist-info/METADATA".into(),
        metadata("requests", "2.31.0"),
    ));
    entries.push((
        "python/requirements.txt".into(),
        b"boto3==1.34.0\n".to_vec(),
    ));
    let path = sb.path().join("layer.zip");
    zip_file(&path, &entries);
    let out = scan(&sb, &["layer", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["ArtifactType"], "lambda_layer");
    let py = result(&report, "lang-pkgs", "python-pkg");
    assert_eq!(names(py), vec!["requests"]);
    let zip_digest = sha(&std::fs::read(&path).unwrap());
    assert_eq!(package(py, "requests")["Layer"]["Digest"], zip_digest);
    let pip = result(&report, "lang-pkgs", "pip");
    assert_eq!(pip["Target"], "python/requirements.txt");
    assert!(report["Results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["Class"] != "os-pkgs"));

    // A function zip: code at the root.
    let fpath = sb.path().join("function.zip");
    zip_file(
        &fpath,
        &[
            (
                "lambda_function.py".into(),
                b"def handler(e, c): pass\n".to_vec(),
            ),
            (
                "six-1.16.0.dist-info/METADATA".into(),
                metadata("six", "1.16.0"),
            ),
        ],
    );
    let out = scan(&sb, &["layer", fpath.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["ArtifactType"], "lambda_function");
    assert_eq!(
        names(result(&report, "lang-pkgs", "python-pkg")),
        vec!["six"]
    );
}

#[cfg(unix)]
#[test]
fn fs_scan_does_not_follow_symlinks_out_of_the_root() {
    let sb = Sandbox::new();
    let outside = sb.path().join("outside");
    let sp = outside.join("evil-6.6.6.dist-info");
    std::fs::create_dir_all(&sp).unwrap();
    std::fs::write(sp.join("METADATA"), metadata("evil", "6.6.6")).unwrap();

    let root = sb.path().join("rootfs");
    let site = root.join("usr/lib/python3.11/site-packages/attrs-23.1.0.dist-info");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("METADATA"), metadata("attrs", "23.1.0")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::write(root.join("usr/lib/os-release"), OS_RELEASE).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
    std::os::unix::fs::symlink(
        &outside,
        root.join("usr/lib/python3.11/site-packages/linked"),
    )
    .unwrap();

    let out = scan(&sb, &["fs", root.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["ArtifactType"], "filesystem");
    assert_eq!(report["Metadata"]["OS"]["Family"], "debian");
    let py = result(&report, "lang-pkgs", "python-pkg");
    assert_eq!(names(py), vec!["attrs"]);
    assert!(package(py, "attrs").get("Layer").is_none());
}

fn cache_entry(sb: &Sandbox, diff_id: &str) -> PathBuf {
    sb.cache()
        .join("layers")
        .join(layerscan::analyzer::ANALYZER_VERSION)
        .join(format!("{diff_id}.json"))
}

#[test]
fn layer_cache_is_used_recomputed_when_corrupt_and_cleaned() {
    let sb = Sandbox::new();
    let layers = standard_layers();
    let (tar, _) = docker_archive(&layers, &[]);
    let path = sb.path().join("app.tar");
    std::fs::write(&path, tar).unwrap();
    let p = path.to_str().unwrap();

    let out = scan(&sb, &["image", p, "--no-cache"]);
    assert!(out.status.success());
    let entry = cache_entry(&sb, &sha(&layers[0].tar));
    assert!(!entry.exists(), "--no-cache writes nothing");

    let out = scan(&sb, &["image", p]);
    assert!(out.status.success());
    for l in &layers {
        assert!(cache_entry(&sb, &sha(&l.tar)).exists());
    }
    let first = json(&out);

    // A cached analysis is used instead of the layer: prove it by editing the entry.
    let mut cached: Value = serde_json::from_slice(&std::fs::read(&entry).unwrap()).unwrap();
    cached["analysis"]["whiteouts"] = json!([]);
    cached["analysis"]["package_sets"] = json!([]);
    std::fs::write(&entry, serde_json::to_vec(&cached).unwrap()).unwrap();
    let out = scan(&sb, &["image", p]);
    assert!(out.status.success());
    let from_cache = json(&out);
    let os = result(&from_cache, "os-pkgs", "debian");
    assert_eq!(package(os, "libc6")["Layer"]["DiffID"], sha(&layers[1].tar));

    // A corrupt entry is dropped and recomputed.
    std::fs::write(&entry, b"{\"truncated").unwrap();
    let out = scan(&sb, &["image", p]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["Results"], first["Results"]);
    assert!(serde_json::from_slice::<Value>(&std::fs::read(&entry).unwrap()).is_ok());

    let out = sb.cmd().args(["cache", "clean"]).output().unwrap();
    assert!(out.status.success());
    assert!(!entry.exists());
    assert!(sb.cache().join("layers").read_dir().is_err());
}

#[test]
fn docker_archive_with_two_images_picks_by_tag() {
    let sb = Sandbox::new();
    let a = vec![layer(
        &[E::File("etc/os-release", OS_RELEASE)],
        Comp::Plain,
        "ADD a",
    )];
    let b = vec![layer(
        &[E::File(
            "etc/os-release",
            b"ID=alpine\nVERSION_ID=3.20.3\nNAME=\"Alpine Linux\"\n",
        )],
        Comp::Gzip,
        "ADD b",
    )];
    let config_a = config_for(&a, "amd64");
    let config_b = config_for(&b, "amd64");
    let mut t = tar::Builder::new(Vec::new());
    add(&mut t, "a/layer.tar", &a[0].blob);
    add(&mut t, "b/layer.tar", &b[0].blob);
    add(&mut t, "a.json", &config_a);
    add(&mut t, "b.json", &config_b);
    let manifest = json!([
        {"Config": "a.json", "RepoTags": ["app:a"], "Layers": ["a/layer.tar"]},
        {"Config": "b.json", "RepoTags": ["app:b"], "Layers": ["b/layer.tar"]},
    ]);
    add(
        &mut t,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    let path = sb.path().join("two.tar");
    std::fs::write(&path, t.into_inner().unwrap()).unwrap();
    let p = path.to_str().unwrap();

    let out = scan(&sb, &["image", p]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["Metadata"]["OS"]["Family"], "debian");

    let out = scan(&sb, &["image", &format!("{p}:b")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["Metadata"]["OS"]["Family"], "alpine");
    assert_eq!(report["Metadata"]["RepoTags"], json!(["app:b"]));
    assert_eq!(report["Metadata"]["ImageID"], sha(&config_b));
    // The compressed legacy layer is named by the digest of its blob.
    assert_eq!(report["Metadata"]["DiffIDs"], json!([sha(&b[0].tar)]));

    let out = scan(&sb, &["image", &format!("{p}:zzz")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("app:a") && err.contains("app:b"), "{err}");
}

#[test]
fn malformed_metadata_is_a_warning_and_the_scan_goes_on() {
    let sb = Sandbox::new();
    let layers = vec![layer(
        &[
            E::File("etc/os-release", OS_RELEASE),
            E::File(
                "usr/lib/python3/dist-packages/broken.dist-info/METADATA",
                b"\xff\xfe garbage without any header\n",
            ),
            E::File(
                "usr/lib/python3/dist-packages/good-1.0.dist-info/METADATA",
                &metadata("good", "1.0"),
            ),
        ],
        Comp::Gzip,
        "ADD",
    )];
    let (tar, _) = docker_archive(&layers, &[]);
    let path = sb.path().join("warn.tar");
    std::fs::write(&path, tar).unwrap();
    let out = scan(&sb, &["image", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(
        names(result(&report, "lang-pkgs", "python-pkg")),
        vec!["good"]
    );
    let warnings = report["Warnings"]
        .as_array()
        .expect("warnings in the report");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("broken.dist-info")),
        "{warnings:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.dist-info"));
}

#[test]
fn oversized_zip_entry_is_skipped_with_a_warning() {
    let sb = Sandbox::new();
    let path = sb.path().join("bomb.zip");
    {
        let f = std::fs::File::create(&path).unwrap();
        let mut z = zip::ZipWriter::new(f);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        z.start_file(
            "python/lib/python3.12/site-packages/bomb-1.0.dist-info/METADATA",
            opts,
        )
        .unwrap();
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..65 {
            z.write_all(&chunk).unwrap();
        }
        z.start_file(
            "python/lib/python3.12/site-packages/ok-1.0.dist-info/METADATA",
            opts,
        )
        .unwrap();
        z.write_all(&metadata("ok", "1.0")).unwrap();
        z.finish().unwrap();
    }
    let out = scan(&sb, &["layer", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(
        names(result(&report, "lang-pkgs", "python-pkg")),
        vec!["ok"]
    );
    assert!(report["Warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("bomb-1.0.dist-info")));
}

/// (Result target kind, name, version, file path, DiffID, created_by) of every package.
fn inventory_of(report: &Value) -> Vec<(String, String, String, String, String, String)> {
    let mut out = Vec::new();
    for r in report["Results"].as_array().unwrap() {
        for p in r["Packages"].as_array().into_iter().flatten() {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            out.push((
                s(&r["Type"]),
                s(&p["Name"]),
                s(&p["Version"]),
                s(&p["FilePath"]),
                s(&p["Layer"]["DiffID"]),
                s(&p["Layer"]["CreatedBy"]),
            ));
        }
    }
    out
}

#[test]
fn committed_fixture_is_the_same_image_as_docker_archive_and_oci_layout() {
    let sb = Sandbox::new();
    let docker = crate::common::testdata("fixtures/debian-app.docker.tar");
    let oci = crate::common::testdata("fixtures/debian-app.oci");
    let out = scan(&sb, &["image", docker.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_docker = json(&out);
    let out = scan(&sb, &["image", &format!("{}:v1", oci.display())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_oci = json(&out);
    assert_eq!(
        from_docker["Metadata"]["DiffIDs"],
        from_oci["Metadata"]["DiffIDs"]
    );
    let inv = inventory_of(&from_docker);
    assert!(inv.len() > 10, "{inv:?}");
    assert_eq!(inv, inventory_of(&from_oci));

    // The arm64 image of the v2 index is a different image.
    let out = scan(
        &sb,
        &[
            "image",
            &format!("{}:v2", oci.display()),
            "--platform",
            "linux/arm64",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arm = json(&out);
    assert_ne!(arm["Metadata"]["ImageID"], from_oci["Metadata"]["ImageID"]);
    assert_eq!(arm["Metadata"]["OS"]["Family"], "debian");
    // Without a name, the platform is looked for in the nested index too.
    let out = scan(
        &sb,
        &["image", oci.to_str().unwrap(), "--platform", "linux/arm64"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(&out)["Metadata"]["ImageID"],
        arm["Metadata"]["ImageID"]
    );
}

#[test]
fn unsupported_media_types_and_ambiguous_layouts_are_named() {
    let sb = Sandbox::new();
    let layers = standard_layers();

    // A layer media type we cannot unpack.
    let dir = sb.path().join("helm");
    let config = put_blob(
        &dir,
        &config_for(&layers[..1], "amd64"),
        "application/vnd.oci.image.config.v1+json",
    );
    let odd = put_blob(
        &dir,
        &layers[0].blob,
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
    );
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": [odd]});
    let desc = put_blob(
        &dir,
        &serde_json::to_vec(&manifest).unwrap(),
        "application/vnd.oci.image.manifest.v1+json",
    );
    write_index(&dir, vec![desc]);
    let out = scan(&sb, &["image", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("application/vnd.cncf.helm.chart.content.v1.tar+gzip"),
        "{err}"
    );

    // Two named images and no name given: the error lists the names.
    let dir = sb.path().join("two");
    let mut a = put_image(&dir, &layers, "amd64");
    a["annotations"] = json!({"org.opencontainers.image.ref.name": "first"});
    let mut b = put_image(&dir, &layers[..1], "amd64");
    b["annotations"] = json!({"org.opencontainers.image.ref.name": "second"});
    write_index(&dir, vec![a, b]);
    let out = scan(&sb, &["image", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("first") && err.contains("second"), "{err}");
    let out = scan(&sb, &["image", &format!("{}:second", dir.display())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(&out)["Metadata"]["DiffIDs"],
        json!([sha(&layers[0].tar)])
    );
}

/// (name, version, file path) of every package, without layer digests (which change when an image
/// is recompressed).
fn packages_of(report: &Value) -> Vec<(String, String, String)> {
    inventory_of(report)
        .into_iter()
        .map(|(_, n, v, p, _, _)| (n, v, p))
        .collect()
}

#[test]
fn images_written_by_skopeo_scan_the_same() {
    let have_skopeo = std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_skopeo {
        eprintln!("skipping: `skopeo` is not installed (apt-get install skopeo)");
        return;
    }
    let sb = Sandbox::new();
    let fixture = crate::common::testdata("fixtures/debian-app.docker.tar");
    let out = scan(&sb, &["image", fixture.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = packages_of(&json(&out));
    assert!(want.len() > 10);

    let src = format!("docker-archive:{}", fixture.display());
    let d = sb.path().display().to_string();
    // (skopeo destination, extra skopeo flags, what to scan)
    let cases = [
        (format!("oci:{d}/oci:v1"), vec![], format!("{d}/oci:v1")),
        (
            format!("oci:{d}/zstd:v1"),
            vec!["--dest-compress-format", "zstd"],
            format!("{d}/zstd"),
        ),
        (
            format!("oci:{d}/chunked:v1"),
            vec!["--dest-compress-format", "zstd:chunked"],
            format!("{d}/chunked"),
        ),
        (
            format!("oci-archive:{d}/app.oci.tar:v1"),
            vec![],
            format!("{d}/app.oci.tar"),
        ),
        (
            format!("docker-archive:{d}/app.tar:app:1"),
            vec![],
            format!("{d}/app.tar"),
        ),
    ];
    for (dest, flags, target) in cases {
        let copy = std::process::Command::new("skopeo")
            .args(["copy", "-q", "--insecure-policy"])
            .args(&flags)
            .args([src.as_str(), dest.as_str()])
            .env("HOME", sb.path())
            .output()
            .unwrap();
        assert!(
            copy.status.success(),
            "skopeo copy to {dest}: {}",
            String::from_utf8_lossy(&copy.stderr)
        );
        let out = scan(&sb, &["image", &target, "--no-cache"]);
        assert!(
            out.status.success(),
            "{target}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(packages_of(&json(&out)), want, "{target}");
    }
}

#[test]
fn fs_scan_of_the_hosts_dpkg_database_matches_dpkg_query() {
    let status = Path::new("/var/lib/dpkg/status");
    let query = std::process::Command::new("dpkg-query")
        .args([
            "-W",
            "-f=${db:Status-Status}\t${Package}\t${Version}\t${Architecture}\n",
        ])
        .output();
    let Some(query) = query.ok().filter(|o| o.status.success()) else {
        eprintln!("skipping: no dpkg-query on this machine");
        return;
    };
    let mut want: Vec<(String, String, String)> = String::from_utf8_lossy(&query.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            (f.next()? == "installed").then(|| {
                (
                    f.next().unwrap_or_default().to_string(),
                    f.next().unwrap_or_default().to_string(),
                    f.next().unwrap_or_default().to_string(),
                )
            })
        })
        .collect();
    want.sort();
    assert!(want.len() > 50, "a Debian host has many packages");

    // A root filesystem holding the host's real dpkg database, scanned in place.
    let sb = Sandbox::new();
    let root = sb.path().join("rootfs");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::copy(status, root.join("var/lib/dpkg/status")).unwrap();
    let out = scan(&sb, &["fs", root.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    let os = report["Results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Class"] == "os-pkgs")
        .expect("an os-pkgs result");
    let mut got: Vec<(String, String, String)> = os["Packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (s(&p["Name"]), s(&p["Version"]), s(&p["Arch"]))
        })
        .collect();
    got.sort();
    assert_eq!(got, want);
}
