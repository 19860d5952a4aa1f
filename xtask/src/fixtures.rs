//! `cargo xtask fixtures [--check]`: build the committed fixtures in `testdata/fixtures/` from the plain
//! sources in `testdata/src/` (see `testdata/README.md` for what each contains).
//!
//! The image metadata (configs with history, manifests, indexes) is written here, the file contents
//! live in `testdata/src/`. Write mode replaces `testdata/fixtures/` exactly; check mode builds the same
//! bytes in memory and fails, listing the files, when the committed ones differ.

use crate::build::*;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn run(root: &Path, check: bool) -> Result<()> {
    let src = root.join("testdata/src");
    let out_dir = root.join("testdata/fixtures");
    let files = generate(&src)?;
    if check {
        let stale = compare(&out_dir, &files)?;
        if !stale.is_empty() {
            bail!(
                "testdata/fixtures is stale ({} files differ from what testdata/src builds):\n  {}\nrun `cargo xtask fixtures` and commit the result",
                stale.len(),
                stale.join("\n  ")
            );
        }
        println!("testdata/fixtures is up to date ({} files)", files.len());
        return Ok(());
    }
    if out_dir.exists() {
        std::fs::remove_dir_all(&out_dir)
            .with_context(|| format!("removing {}", out_dir.display()))?;
    }
    write_files(&out_dir, &files)?;
    let total: usize = files.values().map(Vec::len).sum();
    println!(
        "wrote {} files ({} KiB) to {}",
        files.len(),
        total / 1024,
        out_dir.display()
    );
    Ok(())
}

/// Files that differ, are missing, or should not be there.
fn compare(out_dir: &Path, files: &BTreeMap<PathBuf, Vec<u8>>) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    for (rel, want) in files {
        match std::fs::read(out_dir.join(rel)) {
            Ok(have) if &have == want => {}
            Ok(_) => stale.push(format!("{} (differs)", rel.display())),
            Err(_) => stale.push(format!("{} (missing)", rel.display())),
        }
    }
    if out_dir.exists() {
        let mut present = Vec::new();
        list_files(out_dir, out_dir, &mut present)?;
        for rel in present {
            if !files.contains_key(&rel) {
                stale.push(format!("{} (not generated; remove it)", rel.display()));
            }
        }
    }
    Ok(stale)
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = e?.path();
        if path.is_dir() {
            list_files(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}

/// Everything under `testdata/fixtures/`, relative path → bytes.
pub fn generate(src: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut put = |prefix: &str, files: BTreeMap<String, Vec<u8>>| {
        for (rel, data) in files {
            out.insert(PathBuf::from(prefix).join(rel), data);
        }
    };

    let debian = debian_app(src)?;
    put(
        "",
        [(
            "debian-app.docker.tar".to_string(),
            debian.docker_archive()?,
        )]
        .into(),
    );
    put("debian-app.oci", debian.layout.files()?);

    let alpine = alpine_app(src)?;
    put("alpine-app.oci", alpine.files()?);

    put(
        "",
        [("distroless.docker.tar".to_string(), distroless(src)?)].into(),
    );

    // rpm databases in all the formats the analyzer reads (see testdata/README.md, "rpm databases").
    let db = crate::rpm::build_db(src, RPM_SPECS)?;
    let mut rpmdb: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    rpmdb.insert("sqlite/rpmdb.sqlite".into(), db.sqlite.clone());
    rpmdb.insert(
        "bdb/Packages".into(),
        crate::rpm::berkeley_db(&db.headers, 4096, false)?,
    );
    rpmdb.insert(
        "bdb-be-512/Packages".into(),
        crate::rpm::berkeley_db(&db.headers, 512, true)?,
    );
    put("rpmdb", rpmdb);

    let layer = Tree::from_dir(&src.join("python-layer"))?;
    let function = Tree::from_dir(&src.join("function"))?;
    put(
        "",
        [
            ("python-layer.zip".to_string(), zip_of_tree(&layer)?),
            ("function.zip".to_string(), zip_of_tree(&function)?),
        ]
        .into(),
    );
    Ok(out)
}

/// The packages of the rpm database fixtures (`testdata/src/rpm/specs/`).
const RPM_SPECS: &[&str] = &[
    "bash.spec",
    "libcaret.spec",
    "openssl.spec",
    "sqlite.spec",
    "tzdata.spec",
];

/// One step of a Dockerfile: `Some(layer)` for a step that made a layer, `None` for an empty one.
struct Step<'a> {
    created_by: &'a str,
    layer: Option<&'a Layer>,
}

fn config(
    arch: &str,
    variant: Option<&str>,
    container: Value,
    steps: &[Step<'_>],
) -> Result<Vec<u8>> {
    let diff_ids: Vec<&str> = steps
        .iter()
        .filter_map(|s| s.layer.map(|l| l.diff_id.as_str()))
        .collect();
    let history: Vec<Value> = steps
        .iter()
        .map(|s| {
            let mut h = json!({"created": CREATED, "created_by": s.created_by});
            if s.layer.is_none() {
                h["empty_layer"] = json!(true);
            }
            if s.created_by.contains("# buildkit") {
                h["comment"] = json!("buildkit.dockerfile.v0");
            }
            h
        })
        .collect();
    let mut cfg = json!({
        "architecture": arch,
        "os": "linux",
        "created": CREATED,
        "config": container,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    if let Some(v) = variant {
        cfg["variant"] = json!(v);
    }
    json_bytes(&cfg)
}

fn manifest(
    media_type: &str,
    config_type: &str,
    config: &[u8],
    layers: &[Value],
) -> Result<Vec<u8>> {
    json_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, config),
        "layers": layers,
    }))
}

fn layer_from(
    src: &Path,
    dir: &str,
    compression: Compression,
    extra: impl FnOnce(&mut Tree),
) -> Result<Layer> {
    let mut tree = Tree::from_dir(&src.join(dir))?;
    extra(&mut tree);
    Layer::new(&tree.to_tar()?, compression)
}

struct DebianApp {
    layers: Vec<Layer>,
    config: Vec<u8>,
    layout: OciLayout,
}

const DEBIAN_BASE_STEP: &str = "/bin/sh -c #(nop) ADD file:4b1be1de1a1e5aa608c688cad2824587262081866180d7368feb79d33ca05953 in / ";
const DEBIAN_APP_STEP: &str =
    "RUN /bin/sh -c pip install --no-cache-dir -r /app/requirements.txt # buildkit";
const DEBIAN_UPDATE_STEP: &str = "RUN /bin/sh -c pip install --no-cache-dir certifi==2022.12.7 && apt-get purge -y wget && rm -rf /srv/legacy # buildkit";

fn debian_container_config() -> Value {
    json!({
        "Env": [
            "PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8",
            "PYTHONDONTWRITEBYTECODE=1",
            // AWS's documented example key: a plaintext secret for the config auditor to flag (and for
            // tests that check no output ever prints it).
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ],
        "Cmd": ["gunicorn", "--bind", "0.0.0.0:8000", "app.main:app"],
        "WorkingDir": "/app",
        "ExposedPorts": {"8000/tcp": {}},
        "Labels": {"org.opencontainers.image.source": "https://example.com/layerscan/debian-app"},
    })
}

fn debian_steps<'a>(base: &'a Layer, app: &'a Layer, update: Option<&'a Layer>) -> Vec<Step<'a>> {
    let mut steps = vec![
        Step { created_by: DEBIAN_BASE_STEP, layer: Some(base) },
        Step { created_by: "/bin/sh -c #(nop)  CMD [\"bash\"]", layer: None },
        Step { created_by: "ENV PYTHONDONTWRITEBYTECODE=1 AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY # buildkit", layer: None },
        Step { created_by: DEBIAN_APP_STEP, layer: Some(app) },
    ];
    if let Some(u) = update {
        steps.push(Step {
            created_by: DEBIAN_UPDATE_STEP,
            layer: Some(u),
        });
    }
    steps.push(Step {
        created_by: "WORKDIR /app # buildkit",
        layer: None,
    });
    steps.push(Step {
        created_by: "CMD [\"gunicorn\" \"--bind\" \"0.0.0.0:8000\" \"app.main:app\"] # buildkit",
        layer: None,
    });
    steps
}

fn debian_app(src: &Path) -> Result<DebianApp> {
    let perl_link = |t: &mut Tree| t.hard_link("usr/bin/perl", "usr/bin/perl5.36.0");
    let base = layer_from(src, "debian-app/layer1-base", Compression::Gzip, perl_link)?;
    let app_tar = Tree::from_dir(&src.join("debian-app/layer2-app"))?.to_tar()?;
    let app = Layer::new(&app_tar, Compression::Zstd)?;
    let update = layer_from(src, "debian-app/layer3-update", Compression::None, |_| {})?;
    let arm_base = layer_from(src, "debian-app/arm64-base", Compression::Gzip, perl_link)?;

    let amd64_config = config(
        "amd64",
        None,
        debian_container_config(),
        &debian_steps(&base, &app, Some(&update)),
    )?;
    let arm64_config = config(
        "arm64",
        Some("v8"),
        debian_container_config(),
        &debian_steps(&arm_base, &app, None),
    )?;

    let mut layout = OciLayout::default();
    let oci_descs = |ls: &[&Layer]| -> Vec<Value> {
        ls.iter()
            .map(|l| l.descriptor(l.oci_media_type()))
            .collect()
    };
    let amd64_manifest = manifest(
        OCI_MANIFEST,
        OCI_CONFIG,
        &amd64_config,
        &oci_descs(&[&base, &app, &update]),
    )?;
    // The arm64 image is a Docker schema2 manifest: gzip layers only, so its app layer is the same tar
    // as amd64's (same DiffID) stored with a different compression (different digest).
    let arm_app = Layer::new(&app_tar, Compression::Gzip)?;
    let arm64_manifest = manifest(
        DOCKER_MANIFEST,
        DOCKER_CONFIG,
        &arm64_config,
        &[
            arm_base.descriptor(DOCKER_LAYER_GZIP),
            arm_app.descriptor(DOCKER_LAYER_GZIP),
        ],
    )?;
    for l in [&base, &app, &update, &arm_base, &arm_app] {
        layout.add_blob(l.blob.clone());
    }
    layout.add_blob(amd64_config.clone());
    layout.add_blob(arm64_config);
    layout.add_blob(amd64_manifest.clone());
    layout.add_blob(arm64_manifest.clone());

    let amd64 = json!({"architecture": "amd64", "os": "linux"});
    let arm64 = json!({"architecture": "arm64", "os": "linux", "variant": "v8"});
    let mut nested = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            descriptor(OCI_MANIFEST, &amd64_manifest),
            descriptor(DOCKER_MANIFEST, &arm64_manifest),
        ],
    });
    nested["manifests"][0]["platform"] = amd64.clone();
    nested["manifests"][1]["platform"] = arm64;
    let nested = json_bytes(&nested)?;
    layout.add_blob(nested.clone());

    let mut v1 = descriptor(OCI_MANIFEST, &amd64_manifest);
    v1["platform"] = amd64;
    v1["annotations"] = json!({ REF_NAME: "v1" });
    let mut v2 = descriptor(OCI_INDEX, &nested);
    v2["annotations"] = json!({ REF_NAME: "v2" });
    layout.index_manifests = vec![v1, v2];

    Ok(DebianApp {
        layers: vec![base, app, update],
        config: amd64_config,
        layout,
    })
}

impl DebianApp {
    /// The image in the layout `docker save` writes since Docker 25 (`manifest.json` naming blobs under
    /// `blobs/sha256/`), with the layers kept compressed as stored (gzip, zstd, plain).
    fn docker_archive(&self) -> Result<Vec<u8>> {
        let mut files = BTreeMap::new();
        let config_hex = sha256_hex(&self.config);
        let mut layer_paths = Vec::new();
        for l in &self.layers {
            let hex = sha256_hex(&l.blob);
            layer_paths.push(format!("blobs/sha256/{hex}"));
            files.insert(format!("blobs/sha256/{hex}"), l.blob.clone());
        }
        files.insert(format!("blobs/sha256/{config_hex}"), self.config.clone());
        let manifest = json!([{
            "Config": format!("blobs/sha256/{config_hex}"),
            "RepoTags": ["layerscan/debian-app:1.0"],
            "Layers": layer_paths,
        }]);
        files.insert("manifest.json".into(), json_bytes(&manifest)?);
        let top = self
            .layers
            .last()
            .map(|l| sha256_hex(&l.blob))
            .unwrap_or_default();
        files.insert(
            "repositories".into(),
            json_bytes(&json!({"layerscan/debian-app": {"1.0": top}}))?,
        );
        tar_of_files(&files)
    }
}

/// Alpine 3.20 with apk, as an OCI layout with OCI media types and the ref name `3.20`.
fn alpine_app(src: &Path) -> Result<OciLayout> {
    let base = layer_from(src, "alpine-app/layer1-base", Compression::Gzip, |t| {
        t.hard_link("bin/sh", "bin/busybox");
        t.file("bin/busybox", "#!/bin/busybox placeholder\n", 0o755);
    })?;
    let app = layer_from(src, "alpine-app/layer2-app", Compression::Gzip, |_| {})?;
    let cfg = config(
        "amd64",
        None,
        json!({
            "User": "1000:1000",
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": ["python3", "-m", "app"],
            "WorkingDir": "/app",
        }),
        &[
            Step { created_by: "/bin/sh -c #(nop) ADD file:33ebe56b967747a97dcec01bc2559962bee8823686c9739d26be060381bbb3ca in / ", layer: Some(&base) },
            Step { created_by: "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]", layer: None },
            Step { created_by: "RUN /bin/sh -c apk add --no-cache python3=3.12.3-r1 && pip install -r /app/requirements.txt # buildkit", layer: Some(&app) },
            Step { created_by: "USER 1000:1000 # buildkit", layer: None },
        ],
    )?;
    let m = manifest(
        OCI_MANIFEST,
        OCI_CONFIG,
        &cfg,
        &[
            base.descriptor(OCI_LAYER_GZIP),
            app.descriptor(OCI_LAYER_GZIP),
        ],
    )?;
    let mut layout = OciLayout::default();
    layout.add_blob(base.blob);
    layout.add_blob(app.blob);
    layout.add_blob(cfg);
    layout.add_blob(m.clone());
    let mut d = descriptor(OCI_MANIFEST, &m);
    d["annotations"] = json!({ REF_NAME: "3.20" });
    layout.index_manifests = vec![d];
    Ok(layout)
}

/// Distroless (dpkg `status.d/`), in the classic `docker save` layout (`<id>/layer.tar`, `<id>/json`,
/// `<id>/VERSION`, `<config-hex>.json`). The second `layer.tar` is gzip-compressed despite its name, so
/// readers must detect compression by magic bytes.
fn distroless(src: &Path) -> Result<Vec<u8>> {
    let base = layer_from(src, "distroless/layer1-base", Compression::None, |_| {})?;
    let libs = layer_from(src, "distroless/layer2-libs", Compression::Gzip, |_| {})?;
    let cfg = config(
        "amd64",
        None,
        json!({
            "User": "65532",
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            ],
            "WorkingDir": "/home/nonroot",
        }),
        &[
            Step { created_by: "bazel build //base:base_nonroot_amd64_debian12 (base-files, netbase, tzdata, ca-certificates)", layer: Some(&base) },
            Step { created_by: "bazel build //base:base_nonroot_amd64_debian12 (libc6, libssl3)", layer: Some(&libs) },
        ],
    )?;
    let mut files = BTreeMap::new();
    let mut layer_paths = Vec::new();
    let mut parent: Option<String> = None;
    for l in [&base, &libs] {
        // Docker's v1 layer id: a digest of the chain, here of the parent id and the DiffID.
        let id =
            sha256_hex(format!("{}{}", parent.clone().unwrap_or_default(), l.diff_id).as_bytes());
        let mut v1 = json!({"id": id, "created": CREATED, "os": "linux"});
        if let Some(p) = &parent {
            v1["parent"] = json!(p);
        }
        files.insert(format!("{id}/VERSION"), b"1.0".to_vec());
        files.insert(format!("{id}/json"), json_bytes(&v1)?);
        files.insert(format!("{id}/layer.tar"), l.blob.clone());
        layer_paths.push(format!("{id}/layer.tar"));
        parent = Some(id);
    }
    let config_name = format!("{}.json", sha256_hex(&cfg));
    files.insert(config_name.clone(), cfg);
    files.insert(
        "manifest.json".into(),
        json_bytes(&json!([{
            "Config": config_name,
            "RepoTags": ["gcr.io/distroless/base-nonroot-debian12:fixture"],
            "Layers": layer_paths,
        }]))?,
    );
    files.insert(
        "repositories".into(),
        json_bytes(&json!({"gcr.io/distroless/base-nonroot-debian12": {"fixture": parent.unwrap_or_default()}}))?,
    );
    tar_of_files(&files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> PathBuf {
        crate::project_root().join("testdata/src")
    }

    #[test]
    fn generation_is_deterministic() {
        let a = generate(&src()).unwrap();
        let b = generate(&src()).unwrap();
        assert_eq!(a, b);
        assert!(a.contains_key(Path::new("debian-app.docker.tar")));
        assert!(a.contains_key(Path::new("debian-app.oci/index.json")));
    }

    #[test]
    fn every_layout_blob_matches_its_name() {
        let files = generate(&src()).unwrap();
        let mut n = 0;
        for (path, data) in &files {
            let p = path.to_string_lossy();
            if let Some((_, hex)) = p.split_once("/blobs/sha256/") {
                assert_eq!(sha256_hex(data), hex, "{p}");
                n += 1;
            }
        }
        assert!(n > 10, "only {n} blobs");
    }
}
