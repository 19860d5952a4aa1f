//! Integration tests: the committed fixtures in `testdata/fixtures/` are current (rebuilt by
//! `cargo xtask fixtures --check`) and are what they claim to be, judged by independent readers: skopeo,
//! dpkg-query, Python's importlib.metadata, and a digest walk written here without layerscan's code.

use crate::common::{root, testdata};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Command;

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn have(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// CI catches fixtures that no longer match `testdata/src` or the generator.
#[test]
fn committed_fixtures_are_up_to_date() {
    // Same cargo, same CARGO_TARGET_DIR (inherited), so this reuses the workspace's build of xtask.
    let out = run_ok(Command::new(env!("CARGO")).current_dir(root()).args([
        "run",
        "--quiet",
        "--package",
        "xtask",
        "--",
        "fixtures",
        "--check",
    ]));
    assert!(out.contains("up to date"), "{out}");
}

fn decompress(blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if blob.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(blob)
            .read_to_end(&mut out)
            .expect("gunzip");
    } else if blob.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        out = zstd::decode_all(blob).expect("unzstd");
    } else {
        out = blob.to_vec();
    }
    out
}

fn tar_entries(tar: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut ar = tar::Archive::new(tar);
    let mut out = BTreeMap::new();
    for e in ar.entries().expect("tar") {
        let mut e = e.expect("tar entry");
        let path = e.path().expect("path").display().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read entry");
        out.insert(path, data);
    }
    out
}

/// Check one image manifest: config and layer blobs match their descriptors, and each decompressed
/// layer matches the config's DiffID. Returns (architecture, number of layers).
fn check_image(blob: &dyn Fn(&str) -> Vec<u8>, manifest: &Value) -> (String, usize) {
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .expect("config digest");
    let config_bytes = blob(config_digest);
    assert_eq!(sha(&config_bytes), config_digest);
    assert_eq!(
        manifest["config"]["size"].as_u64(),
        Some(config_bytes.len() as u64)
    );
    let config: Value = serde_json::from_slice(&config_bytes).expect("config JSON");
    let diff_ids = config["rootfs"]["diff_ids"].as_array().expect("diff_ids");
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(diff_ids.len(), layers.len());
    for (l, diff_id) in layers.iter().zip(diff_ids) {
        let d = l["digest"].as_str().expect("layer digest");
        let data = blob(d);
        assert_eq!(sha(&data), d);
        assert_eq!(l["size"].as_u64(), Some(data.len() as u64), "{d}");
        let media = l["mediaType"].as_str().expect("mediaType");
        let tar = decompress(&data);
        let compressed = tar.len() != data.len() || tar != data;
        assert_eq!(
            compressed,
            media.contains("gzip") || media.contains("zstd"),
            "{media} vs content of {d}"
        );
        assert_eq!(Some(sha(&tar).as_str()), diff_id.as_str(), "{d}");
    }
    // History: one non-empty entry per layer.
    let non_empty = config["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["empty_layer"] != Value::Bool(true))
        .count();
    assert_eq!(non_empty, layers.len());
    (
        config["architecture"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        layers.len(),
    )
}

fn check_layout(dir: &Path) -> BTreeMap<String, (String, usize)> {
    let blob = |d: &str| -> Vec<u8> {
        let hex = d.strip_prefix("sha256:").expect("sha256 digest");
        std::fs::read(dir.join("blobs/sha256").join(hex)).expect("blob")
    };
    let layout: Value =
        serde_json::from_slice(&std::fs::read(dir.join("oci-layout")).expect("oci-layout"))
            .expect("oci-layout JSON");
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("index.json"))
            .expect("index JSON");
    let mut images = BTreeMap::new();
    for d in index["manifests"].as_array().expect("manifests") {
        let name = d["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .expect("ref name")
            .to_string();
        let digest = d["digest"].as_str().expect("digest");
        let bytes = blob(digest);
        assert_eq!(sha(&bytes), digest);
        assert_eq!(d["size"].as_u64(), Some(bytes.len() as u64));
        let doc: Value = serde_json::from_slice(&bytes).expect("manifest JSON");
        assert_eq!(doc["mediaType"], d["mediaType"]);
        if doc["manifests"].is_array() {
            for m in doc["manifests"].as_array().into_iter().flatten() {
                let md = m["digest"].as_str().expect("digest");
                let mb = blob(md);
                assert_eq!(sha(&mb), md);
                let mdoc: Value = serde_json::from_slice(&mb).expect("manifest JSON");
                assert_eq!(mdoc["mediaType"], m["mediaType"]);
                let (arch, n) = check_image(&blob, &mdoc);
                assert_eq!(m["platform"]["architecture"].as_str(), Some(arch.as_str()));
                images.insert(format!("{name}/{arch}"), (arch, n));
            }
        } else {
            images.insert(name, check_image(&blob, &doc));
        }
    }
    images
}

fn check_docker_archive(path: &Path) -> (String, usize) {
    let files = tar_entries(&std::fs::read(path).expect("archive"));
    let manifest: Value =
        serde_json::from_slice(files.get("manifest.json").expect("manifest.json")).expect("JSON");
    let image = &manifest[0];
    let config_bytes = files
        .get(image["Config"].as_str().expect("Config"))
        .expect("config file");
    let config: Value = serde_json::from_slice(config_bytes).expect("config JSON");
    let diff_ids = config["rootfs"]["diff_ids"].as_array().expect("diff_ids");
    let layers = image["Layers"].as_array().expect("Layers");
    assert_eq!(layers.len(), diff_ids.len());
    let mut kinds = BTreeSet::new();
    for (l, diff_id) in layers.iter().zip(diff_ids) {
        let data = files.get(l.as_str().expect("layer path")).expect("layer");
        kinds.insert(data.first().copied());
        assert_eq!(Some(sha(&decompress(data)).as_str()), diff_id.as_str());
    }
    assert!(
        kinds.len() > 1,
        "layers should not all share one compression"
    );
    (
        config["architecture"].as_str().unwrap_or_default().into(),
        layers.len(),
    )
}

/// Digests, sizes, DiffIDs and media types of every fixture image, checked with nothing but sha2,
/// flate2, zstd and tar.
#[test]
fn every_fixture_blob_matches_its_digest_and_diff_id() {
    let debian = check_layout(&testdata("fixtures/debian-app.oci"));
    let want: BTreeMap<String, (String, usize)> = [
        ("v1", ("amd64", 3)),
        ("v2/amd64", ("amd64", 3)),
        ("v2/arm64", ("arm64", 2)),
    ]
    .into_iter()
    .map(|(k, (a, n))| (k.to_string(), (a.to_string(), n)))
    .collect();
    assert_eq!(debian, want);
    let alpine = check_layout(&testdata("fixtures/alpine-app.oci"));
    assert_eq!(alpine.get("3.20"), Some(&("amd64".to_string(), 2)));
    assert_eq!(
        check_docker_archive(&testdata("fixtures/debian-app.docker.tar")),
        ("amd64".to_string(), 3)
    );
    assert_eq!(
        check_docker_archive(&testdata("fixtures/distroless.docker.tar")),
        ("amd64".to_string(), 2)
    );
}

/// The layers carry what `testdata/README.md` says: whiteouts, an opaque dir, links.
#[test]
fn debian_app_layers_carry_whiteouts_opaque_dir_and_links() {
    let dir = testdata("fixtures/debian-app.oci");
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let read = |d: &str| std::fs::read(dir.join("blobs/sha256").join(hex(d))).unwrap();
    let manifest: Value =
        serde_json::from_slice(&read(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let layers: Vec<Vec<u8>> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| decompress(&read(l["digest"].as_str().unwrap())))
        .collect();
    let mut kinds = BTreeMap::new();
    let mut ar = tar::Archive::new(layers[0].as_slice());
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        let link = e.link_name().unwrap().map(|l| l.display().to_string());
        kinds.insert(path, (e.header().entry_type(), link));
    }
    assert_eq!(
        kinds.get("etc/os-release"),
        Some(&(
            tar::EntryType::Symlink,
            Some("../usr/lib/os-release".into())
        ))
    );
    assert_eq!(
        kinds.get("usr/bin/perl"),
        Some(&(tar::EntryType::Link, Some("usr/bin/perl5.36.0".into())))
    );
    let top = tar_entries(&layers[2]);
    for p in [
        "usr/local/lib/python3.12/site-packages/.wh.certifi-2022.9.24.dist-info",
        "usr/bin/.wh.wget",
        "srv/legacy/.wh..wh..opq",
        "usr/local/lib/python3.12/site-packages/certifi-2022.12.7.dist-info/METADATA",
    ] {
        assert!(top.contains_key(p), "{p} missing from layer 3");
    }
    let status = String::from_utf8_lossy(&top["var/lib/dpkg/status"]).into_owned();
    assert!(!status.contains("Package: wget\n") && status.contains("Package: zlib1g\n"));
    let base = tar_entries(&layers[0]);
    let status = String::from_utf8_lossy(&base["var/lib/dpkg/status"]).into_owned();
    assert!(status.contains("Package: wget\n"));
}

/// skopeo (containers/image) reads and copies every image; `copy` verifies every blob digest.
#[test]
fn skopeo_accepts_every_fixture_image() {
    if !have("skopeo", "--version") {
        eprintln!("skipped: skopeo is not installed (apt-get install skopeo)");
        return;
    }
    let fx = testdata("fixtures");
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            format!("oci:{}:v1", fx.join("debian-app.oci").display()),
            None,
            "amd64",
            3,
        ),
        (
            format!("oci:{}:v2", fx.join("debian-app.oci").display()),
            None,
            "amd64",
            3,
        ),
        (
            format!("oci:{}:v2", fx.join("debian-app.oci").display()),
            Some("arm64"),
            "arm64",
            2,
        ),
        (
            format!("oci:{}:3.20", fx.join("alpine-app.oci").display()),
            None,
            "amd64",
            2,
        ),
        (
            format!(
                "docker-archive:{}",
                fx.join("debian-app.docker.tar").display()
            ),
            None,
            "amd64",
            3,
        ),
        (
            format!(
                "docker-archive:{}",
                fx.join("distroless.docker.tar").display()
            ),
            None,
            "amd64",
            2,
        ),
    ];
    for (i, (reference, arch, want_arch, want_layers)) in cases.iter().enumerate() {
        let mut inspect = Command::new("skopeo");
        if let Some(a) = arch {
            inspect.args(["--override-arch", a]);
        }
        inspect.args(["inspect", reference.as_str()]);
        let v: Value = serde_json::from_str(&run_ok(&mut inspect)).expect("skopeo JSON");
        assert_eq!(v["Architecture"], *want_arch, "{reference}");
        assert_eq!(
            v["Layers"].as_array().map(Vec::len),
            Some(*want_layers),
            "{reference}"
        );
        let dest = format!("oci:{}:copy", tmp.path().join(i.to_string()).display());
        let mut copy = Command::new("skopeo");
        if let Some(a) = arch {
            copy.args(["--override-arch", a]);
        }
        run_ok(copy.args(["copy", "--quiet", reference.as_str(), dest.as_str()]));
    }
}

/// dpkg itself reads the fixture databases and agrees on what is installed.
#[test]
fn dpkg_query_reads_the_fixture_dpkg_databases() {
    if !have("dpkg-query", "--version") {
        eprintln!("skipped: dpkg-query is not installed");
        return;
    }
    let q = |admindir: &Path| {
        run_ok(Command::new("dpkg-query").arg("--admindir").arg(admindir).args([
            "-W",
            "-f=${Package} ${Version} ${source:Package} ${source:Version} ${db:Status-Abbrev}\\n",
        ]))
    };
    let base = q(&testdata("src/debian-app/layer1-base/var/lib/dpkg"));
    for line in [
        "bsdutils 1:2.38.1-5+b1 util-linux 2.38.1-5 ii ",
        "curl 7.88.1-10+deb12u4 curl 7.88.1-10+deb12u4 iH ",
        "libbz2-1.0 1.0.8-5+b1 bzip2 1.0.8-5 ii ",
        "libssl1.1 1.1.1w-0+deb11u1 openssl 1.1.1w-0+deb11u1 rc ",
        "libssl3 3.0.11-1~deb12u1 openssl 3.0.11-1~deb12u1 ii ",
        "wget 1.21.3-1+b2 wget 1.21.3-1 ii ",
        "zlib1g 1:1.2.13.dfsg-1 zlib 1:1.2.13.dfsg-1 ii ",
    ] {
        assert!(base.lines().any(|l| l == line), "{line:?} not in\n{base}");
    }
    assert_eq!(base.lines().count(), 14);
    let top = q(&testdata("src/debian-app/layer3-update/var/lib/dpkg"));
    assert_eq!(top.lines().count(), 13);
    assert!(!top.contains("wget"));
    let arm = q(&testdata("src/debian-app/arm64-base/var/lib/dpkg"));
    assert!(arm.contains("libssl3 3.0.13-1~deb12u1 openssl"), "{arm}");

    // Distroless: concatenate the status.d stanzas (not the .md5sums) into one database.
    let tmp = tempfile::tempdir().unwrap();
    let mut all = String::new();
    for layer in ["layer1-base", "layer2-libs"] {
        let dir = testdata(&format!("src/distroless/{layer}/var/lib/dpkg/status.d"));
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_none())
            .collect();
        names.sort();
        for p in names {
            all.push_str(&std::fs::read_to_string(p).unwrap());
            all.push('\n');
        }
    }
    std::fs::write(tmp.path().join("status"), all).unwrap();
    let dl = q(tmp.path());
    assert!(
        dl.contains("libc6 2.36-9+deb12u4 glibc 2.36-9+deb12u4 ii "),
        "{dl}"
    );
    assert!(
        dl.contains("libssl3 3.0.11-1~deb12u2 openssl 3.0.11-1~deb12u2 ii "),
        "{dl}"
    );
    assert_eq!(dl.lines().count(), 6);
}

/// Python's own metadata reader sees the distributions the README lists, with names as written.
#[test]
fn importlib_metadata_reads_the_fixture_site_packages() {
    if !have("python3", "--version") {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let cases = [
        (
            "src/debian-app/layer1-base/usr/local/lib/python3.12/site-packages",
            "Jinja2 2.11.2,MarkupSafe 2.1.3,PyYAML 5.3.1,certifi 2022.9.24,cryptography 3.3.1,idna 3.6,requests 2.25.1,urllib3 1.26.4",
        ),
        (
            "src/debian-app/layer2-app/usr/local/lib/python3.12/site-packages",
            "Pillow 9.0.0,aiohttp 3.8.4",
        ),
        (
            "src/python-layer/python/lib/python3.12/site-packages",
            "certifi 2022.9.24,charset-normalizer 3.3.2,requests 2.25.1,urllib3 1.26.4",
        ),
        (
            "src/function",
            "Jinja2 2.11.2,PyYAML 5.3.1,aiohttp 3.8.4,six 1.16.0",
        ),
        (
            "src/alpine-app/layer2-app/usr/lib/python3.12/site-packages",
            "Werkzeug 2.2.2,idna 3.6",
        ),
    ];
    let script = "import importlib.metadata as m, sys\n\
                  print(','.join(sorted(d.metadata['Name'] + ' ' + d.version for d in m.distributions(path=[sys.argv[1]]))))";
    for (dir, want) in cases {
        let got = run_ok(
            Command::new("python3")
                .args(["-c", script])
                .arg(testdata(dir)),
        );
        assert_eq!(got.trim(), want, "{dir}");
    }
}

/// The Lambda zips are laid out as Lambda unpacks them: a layer under `python/`, a function at the root.
#[test]
fn lambda_zips_have_the_lambda_layouts() {
    let names = |p: &str| -> Vec<String> {
        let f = std::fs::File::open(testdata(p)).unwrap();
        let mut z = zip::ZipArchive::new(f).unwrap();
        (0..z.len())
            .map(|i| z.by_index(i).unwrap().name().unwrap().to_string())
            .collect()
    };
    let layer = names("fixtures/python-layer.zip");
    assert!(layer
        .iter()
        .any(|n| n == "python/lib/python3.12/site-packages/requests-2.25.1.dist-info/METADATA"));
    assert!(layer.iter().any(|n| n == "python/requirements.txt"));
    assert!(layer.iter().any(|n| n == "python/"), "directory entries");
    let function = names("fixtures/function.zip");
    assert!(function
        .iter()
        .any(|n| n == "aiohttp-3.8.4.dist-info/METADATA"));
    assert!(function.iter().any(|n| n == "requirements.txt"));
    assert!(function.iter().all(|n| !n.starts_with("python/")));
}

fn packages_of(report: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for r in report["Results"].as_array().into_iter().flatten() {
        for p in r["Packages"].as_array().into_iter().flatten() {
            out.insert((
                r["Target"].as_str().unwrap_or_default().to_string(),
                p["Name"].as_str().unwrap_or_default().to_string(),
                p["Version"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

/// The final debian-app image is what `testdata/README.md` promises after the merge: layer 3's
/// whiteouts, rewritten dpkg status and opaque directory took effect; non-installed stanzas are out.
#[test]
fn debian_app_final_inventory_matches_the_readme() {
    let sb = crate::common::Sandbox::new();
    let image = testdata("fixtures/debian-app.docker.tar");
    let out = sb
        .cmd()
        .args([
            "image",
            image.to_str().unwrap(),
            "--format",
            "json",
            "--offline",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = crate::common::json(&out);
    let pkgs = packages_of(&report);
    let names: BTreeSet<(&str, &str)> = pkgs
        .iter()
        .map(|(_, n, v)| (n.as_str(), v.as_str()))
        .collect();
    for want in [
        ("bsdutils", "1:2.38.1-5+b1"),
        ("libssl3", "3.0.11-1~deb12u1"),
        ("zlib1g", "1:1.2.13.dfsg-1"),
        ("certifi", "2022.12.7"),
        ("Jinja2", "2.11.2"),
        ("PyYAML", "5.3.1"),
        ("Pillow", "9.0.0"),
        ("Django", "3.2.0"),
        ("gunicorn", ""),
    ] {
        assert!(names.contains(&want), "{want:?} missing from {names:?}");
    }
    for (gone, why) in [
        ("wget", "deleted by layer 3's dpkg status"),
        ("curl", "half-installed"),
        ("libssl1.1", "config-files only"),
        ("itsdangerous", "srv/legacy is opaque in layer 3"),
    ] {
        assert!(
            !names.iter().any(|(n, _)| *n == gone),
            "{gone} listed ({why})"
        );
    }
    assert!(!names.contains(&("certifi", "2022.9.24")), "whited out");
    assert!(pkgs.iter().all(|(t, _, _)| !t.contains("srv/legacy")));
}

/// `src/fs/broken`: every bad file is a warning naming it, and the good packages next to them are listed.
#[test]
fn broken_tree_warns_per_file_and_goes_on() {
    let sb = crate::common::Sandbox::new();
    let dir = testdata("src/fs/broken");
    let out = sb
        .cmd()
        .args(["fs", dir.to_str().unwrap(), "--format", "json", "--offline"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = crate::common::json(&out);
    let names: BTreeSet<String> = packages_of(&report)
        .into_iter()
        .map(|(_, n, v)| format!("{n} {v}"))
        .collect();
    for want in [
        "libexpat1 2.5.0-1",
        "zlib1g 1:1.2.13.dfsg-1",
        "six 1.16.0",
        "requests 2.25.1",
    ] {
        assert!(names.contains(want), "{want} missing from {names:?}");
    }
    let warnings: Vec<String> = report["Warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w.as_str().map(String::from))
        .collect();
    for file in [
        "var/lib/dpkg/status",
        "broken_pkg-1.0.dist-info/METADATA",
        "requirements.txt",
    ] {
        assert!(
            warnings.iter().any(|w| w.contains(file)),
            "no warning names {file}: {warnings:?}"
        );
    }
}
