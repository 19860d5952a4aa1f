//! Analyzers: decide cheaply which files they want (`required`), then turn those files' bytes into
//! package sets. They never see a tar or a zip: the unpacker feeds them.
//!
//! Every analyzer is a pure function of (path, bytes): that keeps them testable with path tables and
//! real files, and lets the pipeline cache a layer's analysis by DiffID. The one exception is
//! requirements files, whose `-r` includes are resolved among the files of the same layer, so they are
//! buffered until [`LayerAnalyzer::finish`].

pub mod apk;
pub mod coverage;
pub mod dpkg;
pub mod os;
pub mod purl;
pub mod python;
pub mod requirements;
pub mod rpm;

use crate::model::{OsInfo, PackageSet, PackageSetKind};
use std::collections::BTreeMap;

/// Bumped whenever analyzer output changes, so cached layer analyses are recomputed.
pub const ANALYZER_VERSION: &str = "4";

/// Files bigger than this are skipped with a warning (a bomb where a METADATA should be).
pub const MAX_FILE_SIZE: u64 = 64 << 20;

/// OS identification files are tiny; anything bigger is not one.
const MAX_OS_FILE_SIZE: usize = 64 << 10;

/// Which analyzer wants a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Os,
    Dpkg,
    Apk,
    Python,
    Requirements,
}

/// Classify a normalised path (no leading slash). No allocation.
pub fn classify(path: &str) -> Option<FileKind> {
    if os::is_os_file(path) {
        return Some(FileKind::Os);
    }
    if dpkg::is_status_file(path) {
        return Some(FileKind::Dpkg);
    }
    if apk::is_installed_db(path) {
        return Some(FileKind::Apk);
    }
    if python::is_metadata_file(path) {
        return Some(FileKind::Python);
    }
    if requirements::is_requirements_file(path) {
        return Some(FileKind::Requirements);
    }
    None
}

/// Does any analyzer want the file at this normalised path (`var/lib/dpkg/status`, no leading slash)?
/// Called for every entry of every layer: must be cheap.
pub fn required(path: &str) -> bool {
    classify(path).is_some()
}

/// What analysing one layer produced.
#[derive(Debug, Default)]
pub struct AnalyzerOutput {
    pub package_sets: Vec<PackageSet>,
    /// OS identification files kept verbatim (`etc/os-release`, ...), resolved after the merge.
    pub os_files: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

/// Collects the wanted files of one layer (fed in stream order) and analyses them.
#[derive(Debug, Default)]
pub struct LayerAnalyzer {
    out: AnalyzerOutput,
    /// Requirements files of this layer (path → text), resolved together in `finish`.
    requirements: BTreeMap<String, String>,
}

impl LayerAnalyzer {
    pub fn new() -> Self {
        Self::default()
    }

    /// One wanted file, complete (under `MAX_FILE_SIZE`).
    pub fn add_file(&mut self, path: &str, content: &[u8]) {
        let Some(kind) = classify(path) else {
            return;
        };
        if content.len() as u64 > MAX_FILE_SIZE {
            self.out.warnings.push(format!(
                "{path}: skipped, {} bytes is more than the {MAX_FILE_SIZE}-byte limit",
                content.len()
            ));
            return;
        }
        let text = decode(content);
        match kind {
            FileKind::Os => {
                if text.len() > MAX_OS_FILE_SIZE {
                    self.out.warnings.push(format!(
                        "{path}: skipped, {} bytes is too big for an OS release file",
                        text.len()
                    ));
                } else {
                    self.out
                        .os_files
                        .insert(path.to_string(), text.into_owned());
                }
            }
            FileKind::Dpkg => {
                let (packages, warnings) = dpkg::parse_status(path, &text);
                self.out.warnings.extend(warnings);
                self.push_set(path, PackageSetKind::Dpkg, packages);
            }
            FileKind::Apk => {
                let (packages, warnings) = apk::parse_installed(path, &text);
                self.out.warnings.extend(warnings);
                self.push_set(path, PackageSetKind::Apk, packages);
            }
            FileKind::Python => match python::parse_metadata(path, &text) {
                Ok(package) => self.push_set(path, PackageSetKind::PythonInstalled, vec![package]),
                Err(warning) => self.out.warnings.push(warning),
            },
            FileKind::Requirements => {
                self.requirements
                    .insert(path.to_string(), text.into_owned());
            }
        }
    }

    fn push_set(
        &mut self,
        path: &str,
        kind: PackageSetKind,
        mut packages: Vec<crate::model::Package>,
    ) {
        crate::limits::retain_packages(path, &mut packages, &mut self.out.warnings);
        // Replace a set read earlier from the same path in this layer (a tar may hold a path twice;
        // the last entry wins, as on extraction).
        self.out.package_sets.retain(|s| s.path != path);
        self.out.package_sets.push(PackageSet {
            path: path.to_string(),
            kind,
            packages,
        });
    }

    pub fn finish(mut self) -> AnalyzerOutput {
        let (sets, warnings) = requirements::resolve(&self.requirements);
        self.out.warnings.extend(warnings);
        for mut set in sets {
            crate::limits::retain_packages(&set.path, &mut set.packages, &mut self.out.warnings);
            self.out.package_sets.push(set);
        }
        // Warnings quote their input (a line, a field): each is capped, so that their size
        // grows with their number, not with the length of what they quote.
        for w in &mut self.out.warnings {
            crate::limits::cap_owned(w, crate::limits::MAX_MESSAGE);
        }
        self.out.package_sets.sort_by(|a, b| a.path.cmp(&b.path));
        self.out
    }
}

/// Text of a metadata file: UTF-8 (lossy, borrowed when valid), without a byte-order mark.
fn decode(content: &[u8]) -> std::borrow::Cow<'_, str> {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    String::from_utf8_lossy(content)
}

/// After the merge: the OS from the surviving OS files (symlinks already resolved by the applier).
pub fn detect_os(files: &BTreeMap<String, String>) -> Option<OsInfo> {
    os::detect(files)
}

/// Fill `Identifier.PURL` and `ecosystem` of each package now that the OS is known
/// (`pkg:deb/debian/...?distro=debian-12`, `pkg:apk/alpine/...`, `pkg:pypi/...`).
pub fn finalize_packages(sets: &mut [PackageSet], os: Option<&OsInfo>) {
    purl::finalize(sets, os)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_path_table() {
        let table: &[(&str, Option<FileKind>)] = &[
            ("etc/os-release", Some(FileKind::Os)),
            ("usr/lib/os-release", Some(FileKind::Os)),
            ("etc/debian_version", Some(FileKind::Os)),
            ("etc/alpine-release", Some(FileKind::Os)),
            ("etc/lsb-release", Some(FileKind::Os)),
            ("etc/system-release", Some(FileKind::Os)),
            ("etc/redhat-release", Some(FileKind::Os)),
            ("etc/amazon-linux-release", Some(FileKind::Os)),
            ("etc/os-release.bak", None),
            ("opt/etc/os-release", None),
            ("var/lib/dpkg/status", Some(FileKind::Dpkg)),
            ("var/lib/dpkg/status-old", None),
            ("var/lib/dpkg/status.d/libc6", Some(FileKind::Dpkg)),
            (
                "var/lib/dpkg/status.d/libpython3.11-minimal",
                Some(FileKind::Dpkg),
            ),
            ("var/lib/dpkg/status.d/libc6.md5sums", None),
            ("var/lib/dpkg/status.d/", None),
            ("var/lib/dpkg/status.d/sub/x", None),
            ("var/lib/dpkg/available", None),
            ("lib/apk/db/installed", Some(FileKind::Apk)),
            ("usr/lib/apk/db/installed", Some(FileKind::Apk)),
            ("lib/apk/db/scripts.tar", None),
            (
                "usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA",
                Some(FileKind::Python),
            ),
            (
                "python/lib/python3.12/site-packages/requests-2.31.0.dist-info/METADATA",
                Some(FileKind::Python),
            ),
            ("x.dist-info/RECORD", None),
            ("METADATA", None),
            ("dist-info/METADATA", None),
            ("site-packages/crcmod-1.7.egg-info", Some(FileKind::Python)),
            (
                "site-packages/foo.egg-info/PKG-INFO",
                Some(FileKind::Python),
            ),
            ("site-packages/foo.egg-info/SOURCES.txt", None),
            (
                "site-packages/foo-1.0.egg/EGG-INFO/PKG-INFO",
                Some(FileKind::Python),
            ),
            ("requirements.txt", Some(FileKind::Requirements)),
            ("app/dev-requirements.txt", Some(FileKind::Requirements)),
            ("app/requirements-dev.txt", Some(FileKind::Requirements)),
            ("app/Requirements.txt", Some(FileKind::Requirements)),
            ("requirements/base.txt", Some(FileKind::Requirements)),
            ("app/requirements/prod.txt", Some(FileKind::Requirements)),
            ("requirements.in", None),
            ("requirements.txt.bak", None),
            ("constraints.txt", None),
            ("requirements/sub/x.txt", None),
            ("usr/lib/python3/site-packages/foo/requirements.txt", None),
            ("usr/bin/python3", None),
            ("", None),
        ];
        for (path, want) in table {
            assert_eq!(classify(path), *want, "classify({path:?})");
            assert_eq!(required(path), want.is_some(), "required({path:?})");
        }
    }

    #[test]
    fn layer_analyzer_routes_files_and_sorts_sets() {
        let mut a = LayerAnalyzer::new();
        a.add_file(
            "var/lib/dpkg/status",
            b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13\nArchitecture: amd64\n",
        );
        a.add_file(
            "etc/os-release",
            b"\xEF\xBB\xBFID=debian\nVERSION_ID=\"12\"\n",
        );
        a.add_file("app/requirements.txt", b"flask==3.0.0\n");
        a.add_file(
            "site-packages/a-1.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: a\nVersion: 1\n\nbody\n",
        );
        a.add_file("usr/bin/ls", b"ignored");
        let out = a.finish();
        let paths: Vec<_> = out.package_sets.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "app/requirements.txt",
                "site-packages/a-1.dist-info/METADATA",
                "var/lib/dpkg/status"
            ]
        );
        assert_eq!(
            out.os_files.get("etc/os-release").map(String::as_str),
            Some("ID=debian\nVERSION_ID=\"12\"\n")
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn malformed_python_metadata_is_a_warning() {
        let mut a = LayerAnalyzer::new();
        a.add_file(
            "sp/x-1.dist-info/METADATA",
            b"Metadata-Version: 2.1\nVersion: 1\n",
        );
        let out = a.finish();
        assert!(out.package_sets.is_empty());
        assert_eq!(out.warnings.len(), 1);
        assert!(
            out.warnings[0].contains("sp/x-1.dist-info/METADATA"),
            "{:?}",
            out.warnings
        );
    }

    const FUZZ_PATHS: [&str; 6] = [
        "etc/os-release",
        "var/lib/dpkg/status",
        "lib/apk/db/installed",
        "sp/x-1.dist-info/METADATA",
        "requirements.txt",
        "requirements/base.txt",
    ];

    fn analyze_everywhere(content: &[u8]) {
        let mut a = LayerAnalyzer::new();
        for path in FUZZ_PATHS {
            a.add_file(path, content);
        }
        let out = a.finish();
        let mut sets = out.package_sets;
        let os = detect_os(&out.os_files);
        finalize_packages(&mut sets, os.as_ref());
    }

    proptest::proptest! {
        #[test]
        fn no_panic_on_arbitrary_bytes(content in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            analyze_everywhere(&content);
        }

        #[test]
        fn no_panic_on_format_like_text(
            content in "([A-Za-z0-9:=#@ \\-\\[\\];.()<>~!*'\"/,\t\r\n\\\\]|-r |Package: |Status: |Version: |P:|V:|Name: |ID=|https://|é){0,120}"
        ) {
            analyze_everywhere(content.as_bytes());
        }
    }
}
