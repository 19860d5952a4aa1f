//! Input caps through the CLI: a malformed digest is a clear error naming the field, an over-long
//! package field is a warning and the entry is skipped, and the report stays small.

use crate::common::{testdata, Sandbox};
use serde_json::Value;
use sha2::Digest;
use std::path::Path;
use std::time::{Duration, Instant};

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let d = sha(bytes);
    std::fs::write(layout.join("blobs/sha256").join(&d[7..]), bytes).unwrap();
    d
}

/// The alpine fixture layout with its config edited by `edit` (config, manifest and index are
/// rewritten with the new digests, so only the edit is wrong).
fn layout_with_config(sb: &Sandbox, edit: impl FnOnce(&mut Value)) -> std::path::PathBuf {
    let layout = sb.path().join("edited.oci");
    copy_dir(&testdata("fixtures/alpine-app.oci"), &layout);
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mdigest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mpath = layout.join("blobs/sha256").join(&mdigest[7..]);
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(mpath).unwrap()).unwrap();
    let cdigest = manifest["config"]["digest"].as_str().unwrap().to_string();
    let mut config: Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&cdigest[7..])).unwrap(),
    )
    .unwrap();
    edit(&mut config);
    let config = serde_json::to_vec(&config).unwrap();
    manifest["config"]["digest"] = put_blob(&layout, &config).into();
    manifest["config"]["size"] = config.len().into();
    let manifest = serde_json::to_vec(&manifest).unwrap();
    index["manifests"][0]["digest"] = put_blob(&layout, &manifest).into();
    index["manifests"][0]["size"] = manifest.len().into();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    layout
}

#[test]
fn an_8_mib_diff_id_is_a_clear_error_fast() {
    let sb = Sandbox::new();
    let layout = layout_with_config(&sb, |c| {
        c["rootfs"]["diff_ids"][0] = format!("sha256:{}", "a".repeat(8 << 20)).into();
    });
    let started = Instant::now();
    let out = sb
        .cmd()
        .args(["image", layout.to_str().unwrap(), "-f", "json"])
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rootfs.diff_ids[0]"), "{err}");
    assert!(err.contains("is not a sha256 digest"), "{err}");
    assert!(
        err.len() < 4096,
        "the message quotes a capped value: {} bytes",
        err.len()
    );

    // Upper-case hex is not a sha256 digest either (everything downstream compares strings).
    let sb = Sandbox::new();
    let layout = layout_with_config(&sb, |c| {
        let d = c["rootfs"]["diff_ids"][0]
            .as_str()
            .unwrap()
            .to_ascii_uppercase();
        c["rootfs"]["diff_ids"][0] = d.replace("SHA256:", "sha256:").into();
    });
    let out = sb
        .cmd()
        .args(["image", layout.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("rootfs.diff_ids[0]"));
}

#[test]
fn a_long_created_by_is_cut_in_the_report() {
    let sb = Sandbox::new();
    let layout = layout_with_config(&sb, |c| {
        for h in c["history"].as_array_mut().unwrap() {
            h["created_by"] = "RUN x".repeat(20_000).into();
        }
    });
    let out = sb
        .cmd()
        .args(["image", layout.to_str().unwrap(), "-f", "json", "--offline"])
        .output()
        .unwrap();
    // The config itself is in the report (Trivy's ImageConfig) as read; the layer's CreatedBy on
    // every package is cut.
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let created_by = json["Results"][0]["Packages"][0]["Layer"]["CreatedBy"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(created_by.len() < 5000, "{}", created_by.len());
    assert!(
        created_by.starts_with("RUN x") && created_by.ends_with("…[truncated]"),
        "{created_by:.80}"
    );
}

#[test]
fn an_8_mib_requirement_version_is_a_warning_and_a_small_report() {
    let sb = Sandbox::new();
    let dir = sb.path().join("app");
    std::fs::create_dir(&dir).unwrap();
    let text = format!(
        "requests==2.31.0\nhuge=={}\nurllib3==2.0.0\n",
        "1".repeat(8 << 20)
    );
    std::fs::write(dir.join("requirements.txt"), text).unwrap();
    let out = sb
        .cmd()
        .args(["fs", dir.to_str().unwrap(), "-f", "json", "--offline"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        out.stdout.len() < 64 << 10,
        "report is {} bytes",
        out.stdout.len()
    );
    assert!(
        out.stderr.len() < 64 << 10,
        "stderr is {} bytes",
        out.stderr.len()
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = json["Results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["Packages"].as_array().into_iter().flatten())
        .filter_map(|p| p["Name"].as_str())
        .collect();
    assert!(
        names.contains(&"requests") && names.contains(&"urllib3"),
        "{names:?}"
    );
    assert!(!names.contains(&"huge"), "{names:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("more than the 512-byte limit; skipped"),
        "{err}"
    );
}
