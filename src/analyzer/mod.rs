//! Analyzers: decide cheaply which files they want (`required`), then turn those files' bytes into
//! package sets. They never see a tar or a zip: the unpacker feeds them.
//!
//! OWNER: analyzers helper. The signatures below are the contract with the unpacker/applier.

use crate::model::{OsInfo, PackageSet};
use std::collections::BTreeMap;

/// Bumped whenever analyzer output changes, so cached layer analyses are recomputed.
pub const ANALYZER_VERSION: &str = "1";

/// Files bigger than this are skipped with a warning (a bomb where a METADATA should be).
pub const MAX_FILE_SIZE: u64 = 64 << 20;

/// Does any analyzer want the file at this normalised path (`var/lib/dpkg/status`, no leading slash)?
/// Called for every entry of every layer: must be cheap.
pub fn required(_path: &str) -> bool {
    false
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
pub struct LayerAnalyzer {}

impl LayerAnalyzer {
    pub fn new() -> Self {
        Self::default()
    }
    /// One wanted file, complete (under `MAX_FILE_SIZE`).
    pub fn add_file(&mut self, _path: &str, _content: &[u8]) {}
    pub fn finish(self) -> AnalyzerOutput {
        AnalyzerOutput::default()
    }
}

/// After the merge: the OS from the surviving OS files (symlinks already resolved by the applier).
pub fn detect_os(_files: &BTreeMap<String, String>) -> Option<OsInfo> {
    None
}

/// Fill `Identifier.PURL` and `ecosystem` of each package now that the OS is known
/// (`pkg:deb/debian/...?distro=debian-12`, `pkg:apk/alpine/...`, `pkg:pypi/...`).
pub fn finalize_packages(_sets: &mut [PackageSet], _os: Option<&OsInfo>) {}
