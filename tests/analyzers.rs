//! Integration tests: analyzers, on this host's real data (dpkg database, Python site-packages,
//! os-release), compared with the tools that own those formats (`dpkg-query`, `importlib.metadata`,
//! the shell). A test whose tool or data is absent prints why and returns.

use layerscan::analyzer::{self, LayerAnalyzer};
use layerscan::model::{PackageSet, PackageSetKind};
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

fn analyze(files: &[(String, Vec<u8>)]) -> analyzer::AnalyzerOutput {
    let mut a = LayerAnalyzer::new();
    for (path, content) in files {
        assert!(analyzer::required(path), "required({path}) should be true");
        a.add_file(path, content);
    }
    a.finish()
}

#[test]
fn dpkg_status_matches_dpkg_query() {
    let status = Path::new("/var/lib/dpkg/status");
    let Ok(content) = std::fs::read(status) else {
        eprintln!("skipped: no {} on this host", status.display());
        return;
    };
    let Some(query) = run(Command::new("dpkg-query").args([
        "-W",
        "-f=${Package}\t${Version}\t${source:Package}\t${source:Version}\t${Architecture}\t${db:Status-Abbrev}\n",
    ])) else {
        eprintln!("skipped: dpkg-query is not available");
        return;
    };
    let mut want: Vec<String> = query
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            // Status-Abbrev: want, status, error; the second letter `i` is "installed".
            let installed = cols
                .get(5)
                .is_some_and(|s| s.as_bytes().get(1) == Some(&b'i'));
            installed.then(|| cols[..5].join("\t"))
        })
        .collect();
    want.sort();

    let out = analyze(&[("var/lib/dpkg/status".into(), content)]);
    assert!(
        out.warnings.is_empty(),
        "warnings on the host's status file: {:?}",
        out.warnings
    );
    let set = out
        .package_sets
        .iter()
        .find(|s| s.kind == PackageSetKind::Dpkg)
        .expect("a dpkg package set");
    assert_eq!(set.path, "var/lib/dpkg/status");
    let mut got: Vec<String> = set
        .packages
        .iter()
        .map(|p| {
            [
                p.name.as_str(),
                &p.version,
                p.src_name.as_deref().unwrap_or(""),
                p.src_version.as_deref().unwrap_or(""),
                p.arch.as_deref().unwrap_or(""),
            ]
            .join("\t")
        })
        .collect();
    got.sort();
    assert!(
        want.len() > 50,
        "suspiciously few installed packages: {}",
        want.len()
    );
    assert_eq!(got, want);
}

/// Every top-level entry of a site-packages dir and its children, as the unpacker would feed them.
fn site_packages_files(dir: &Path, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let rel = format!("{prefix}/{name}");
        if path.is_file() {
            if analyzer::required(&rel) {
                if let Ok(c) = std::fs::read(&path) {
                    files.push((rel, c));
                }
            }
        } else if path.is_dir() {
            for child in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                let rel = format!("{rel}/{}", child.file_name().to_string_lossy());
                if child.path().is_file() && analyzer::required(&rel) {
                    if let Ok(c) = std::fs::read(child.path()) {
                        files.push((rel, c));
                    }
                }
            }
        }
    }
    files
}

const IMPORTLIB_LIST: &str = r#"
import sys, importlib.metadata as m
for d in m.distributions(path=[sys.argv[1]]):
    name = d.metadata["Name"]
    if name is not None and d.version is not None:
        print(f"{name}\t{d.version}")
"#;

fn compare_with_importlib(dir: &Path) -> Option<usize> {
    let listing = run(Command::new("python3")
        .args(["-c", IMPORTLIB_LIST])
        .arg(dir))?;
    let mut want: Vec<String> = listing.lines().map(str::to_string).collect();
    want.sort();
    let files = site_packages_files(dir, "usr/lib/python3/site-packages");
    let out = analyze(&files);
    let sets: Vec<&PackageSet> = out
        .package_sets
        .iter()
        .filter(|s| s.kind == PackageSetKind::PythonInstalled)
        .collect();
    let mut got: Vec<String> = sets
        .iter()
        .flat_map(|s| {
            s.packages
                .iter()
                .map(|p| format!("{}\t{}", p.name, p.version))
        })
        .collect();
    got.sort();
    for s in &sets {
        assert_eq!(s.packages.len(), 1);
        assert_eq!(s.packages[0].file_path.as_deref(), Some(s.path.as_str()));
    }
    assert_eq!(got, want, "site-packages {}", dir.display());
    Some(want.len())
}

#[test]
fn python_metadata_matches_importlib() {
    let Some(listing) = run(Command::new("python3").args([
        "-c",
        "import site; print('\\n'.join(site.getsitepackages()))",
    ])) else {
        eprintln!("skipped: python3 is not available");
        return;
    };
    let mut dirs: Vec<String> = listing.lines().map(str::to_string).collect();
    // Debian's own dist-packages has egg-info files and directories as well as dist-info.
    dirs.push("/usr/lib/python3/dist-packages".into());
    let mut compared = 0;
    for dir in dirs {
        let dir = Path::new(&dir);
        if !dir.is_dir() {
            continue;
        }
        if let Some(n) = compare_with_importlib(dir) {
            eprintln!("{}: {n} distributions agree", dir.display());
            compared += n;
        }
    }
    if compared == 0 {
        eprintln!("skipped: no site-packages with distributions on this host");
    }
}

#[test]
fn os_release_matches_the_shell() {
    let Ok(text) = std::fs::read_to_string("/etc/os-release") else {
        eprintln!("skipped: no /etc/os-release");
        return;
    };
    let Some(shell) = run(Command::new("sh").args([
        "-c",
        ". /etc/os-release; printf '%s\\t%s' \"$ID\" \"$VERSION_ID\"",
    ])) else {
        eprintln!("skipped: no sh");
        return;
    };
    let (id, version) = shell.split_once('\t').unwrap_or((&shell, ""));
    let out = analyze(&[("etc/os-release".into(), text.into_bytes())]);
    let os = analyzer::detect_os(&out.os_files).expect("an OS");
    let family = if id == "amzn" { "amazon" } else { id };
    assert_eq!(os.family, family);
    if !version.is_empty() {
        assert_eq!(os.name, version);
    }
}

#[test]
fn layer_with_every_kind_gets_purls() {
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "etc/os-release".into(),
            b"ID=alpine\nVERSION_ID=3.20.3\n".to_vec(),
        ),
        (
            "lib/apk/db/installed".into(),
            b"P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\n\nP:libssl3\nV:3.3.2-r0\nA:x86_64\no:openssl\n"
                .to_vec(),
        ),
        (
            "app/requirements.txt".into(),
            b"-r requirements/base.txt\nDjango==4.2.7 \\\n  --hash=sha256:00\n".to_vec(),
        ),
        (
            "app/requirements/base.txt".into(),
            b"requests[socks]==2.31.0 ; python_version >= \"3.8\"\nboto3>=1.34\n".to_vec(),
        ),
        (
            "usr/lib/python3.12/site-packages/PyYAML-6.0.1.dist-info/METADATA".into(),
            b"Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.1\n\nName: body\n".to_vec(),
        ),
    ];
    let out = analyze(&files);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let mut sets = out.package_sets;
    let os = analyzer::detect_os(&out.os_files);
    analyzer::finalize_packages(&mut sets, os.as_ref());
    let summary: Vec<(String, Vec<String>)> = sets
        .iter()
        .map(|s| {
            (
                s.path.clone(),
                s.packages
                    .iter()
                    .map(|p| p.identifier.purl.clone().unwrap_or_default())
                    .collect(),
            )
        })
        .collect();
    let expect = |p: &str, v: &[&str]| {
        (
            p.to_string(),
            v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        summary,
        [
            expect(
                "app/requirements.txt",
                &[
                    "pkg:pypi/django@4.2.7",
                    "pkg:pypi/requests@2.31.0",
                    "pkg:pypi/boto3"
                ]
            ),
            expect(
                "lib/apk/db/installed",
                &[
                    "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.3",
                    "pkg:apk/alpine/libssl3@3.3.2-r0?arch=x86_64&distro=3.20.3"
                ]
            ),
            expect(
                "usr/lib/python3.12/site-packages/PyYAML-6.0.1.dist-info/METADATA",
                &["pkg:pypi/pyyaml@6.0.1"]
            ),
        ]
    );
}
