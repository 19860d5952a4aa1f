//! The data that moves through the pipeline (see `HOUSE-STYLE.md`):
//! `Target` → `LayerAnalysis` → `Inventory` → findings → `Report`.
//!
//! Report-facing structs serialize with Trivy's field names so that tools that read Trivy JSON read ours.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What kind of artifact a scan looked at (`ArtifactType` in the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactType {
    ContainerImage,
    LambdaLayer,
    LambdaFunction,
    Filesystem,
    Config,
}

/// One layer of a target, as named by its manifest and config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LayerRef {
    /// Digest of the blob as stored (compressed), `sha256:<hex>`.
    pub digest: String,
    /// Digest of the uncompressed tar (`rootfs.diff_ids`), when the config lists it.
    pub diff_id: Option<String>,
    pub media_type: String,
    pub size: Option<u64>,
    /// The `created_by` of the non-empty history entry that produced this layer.
    pub created_by: Option<String>,
}

/// A fetched source, ready to unpack. Every source (registry, docker-archive, OCI layout, zip, directory)
/// becomes one of these.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// What the user named (`ArtifactName`).
    pub name: String,
    pub image_id: Option<String>,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// The image config JSON as read (already digest-verified), when the source has one.
    pub config: Option<serde_json::Value>,
    pub layers: Vec<LayerRef>,
}

/// Operating system found in the image (`Metadata.OS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct OsInfo {
    /// `debian`, `alpine`, `ubuntu`, `amazon`, ...
    pub family: String,
    /// Release: `12`, `3.20.3`, `22.04`, `2023`.
    pub name: String,
}

/// Ecosystems we inventory and match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ecosystem {
    Debian,
    Ubuntu,
    Alpine,
    PyPI,
    /// OS packages whose family we cannot match (e.g. amazon rpm, later).
    Other,
}

/// Which analyzer produced a package set; decides the report's `Result` grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PackageSetKind {
    /// `/var/lib/dpkg/status` or one file of `/var/lib/dpkg/status.d/`.
    Dpkg,
    /// `lib/apk/db/installed`.
    Apk,
    /// One installed Python distribution's metadata file.
    PythonInstalled,
    /// One requirements file (its includes are folded in).
    Requirements,
}

/// Where a package came from, in report form (`Layer{Digest, DiffID, CreatedBy}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct LayerInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(rename = "DiffID", skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl LayerInfo {
    pub fn is_empty(&self) -> bool {
        self.digest.is_none() && self.diff_id.is_none() && self.created_by.is_none()
    }
}

impl From<&LayerRef> for LayerInfo {
    fn from(l: &LayerRef) -> Self {
        LayerInfo {
            digest: Some(l.digest.clone()),
            diff_id: l.diff_id.clone(),
            created_by: l.created_by.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Identifier {
    #[serde(rename = "PURL", skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

/// One installed (or pinned) package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Package {
    /// As written in the metadata (not normalised).
    pub name: String,
    /// Empty for an unpinned requirement.
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The metadata file the package was read from (for language packages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    #[serde(default, skip_serializing_if = "LayerInfo::is_empty")]
    pub layer: LayerInfo,
    #[serde(default)]
    pub identifier: Identifier,
    /// Not in Trivy's schema; used by the matcher.
    #[serde(skip)]
    pub ecosystem: Option<Ecosystem>,
}

/// The packages one analyzer found in one file of one layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSet {
    /// Path of the file the set was read from, relative to the image root without a leading slash
    /// (`var/lib/dpkg/status`), as in tar entries. All internal paths use this form.
    pub path: String,
    pub kind: PackageSetKind,
    pub packages: Vec<Package>,
}

/// Result of analysing one layer in isolation. Cacheable by DiffID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LayerAnalysis {
    pub diff_id: Option<String>,
    /// Small OS identification files kept verbatim (path → contents), resolved after the merge
    /// so that `/etc/os-release -> ../usr/lib/os-release` works across layers.
    pub os_files: BTreeMap<String, String>,
    /// Symlinks seen in this layer (normalised path → target as written).
    pub symlinks: BTreeMap<String, String>,
    pub package_sets: Vec<PackageSet>,
    /// Normalised paths deleted by `.wh.<name>` entries (the deleted path, not the marker).
    pub whiteouts: Vec<String>,
    /// Directories made opaque by `.wh..wh..opq`.
    pub opaque_dirs: Vec<String>,
    /// Non-fatal problems (malformed metadata, files skipped for size).
    pub warnings: Vec<String>,
    /// What this layer holds that no analyzer reads.
    #[serde(default)]
    pub gaps: Vec<LayerGap>,
}

/// A kind of content the scanner recognises but does not analyse: its packages are not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapKind {
    /// `var/lib/rpm/rpmdb.sqlite`, `Packages`, `Packages.db` (and `usr/lib/sysimage/rpm`, ...).
    RpmDatabase,
    /// Installed npm packages: `node_modules/**/package.json`.
    NodeModules,
    /// `package-lock.json`, `npm-shrinkwrap.json`, `yarn.lock`, `pnpm-lock.yaml`, `bun.lock`.
    NodeLockfile,
    /// An executable with Go build information (its module list).
    GoBinary,
    /// `*.jar`, `*.war`, `*.ear`, extracted Maven `pom.properties`, `gradle.lockfile`.
    JavaArchive,
    /// `Gemfile.lock`, installed `specifications/*.gemspec`.
    RubyGems,
    /// `composer.lock`, `vendor/composer/installed.json`.
    PhpComposer,
    /// `*.deps.json`, `packages.lock.json`.
    Dotnet,
    /// `Cargo.lock`.
    RustCargo,
    /// `Pipfile.lock`, `poetry.lock`, `uv.lock`, `pdm.lock` (only `requirements*.txt` are read).
    PythonLockfile,
    /// A zipped Python egg (`*.egg`).
    PythonEgg,
    /// `conda-meta/*.json`.
    Conda,
}

impl GapKind {
    /// What was found, for people.
    pub fn what(self) -> &'static str {
        match self {
            GapKind::RpmDatabase => "rpm package database",
            GapKind::NodeModules => "installed npm packages (node_modules)",
            GapKind::NodeLockfile => "npm/yarn/pnpm lockfile",
            GapKind::GoBinary => "Go executable with build info",
            GapKind::JavaArchive => "Java archive or Maven metadata",
            GapKind::RubyGems => "Ruby gems (Gemfile.lock, gemspecs)",
            GapKind::PhpComposer => "PHP Composer packages",
            GapKind::Dotnet => ".NET dependency file",
            GapKind::RustCargo => "Rust Cargo.lock",
            GapKind::PythonLockfile => "Python lockfile (Pipfile.lock, poetry.lock, uv.lock)",
            GapKind::PythonEgg => "zipped Python egg",
            GapKind::Conda => "conda package metadata",
        }
    }

    /// What the gap means for the verdict.
    pub fn meaning(self) -> &'static str {
        match self {
            GapKind::RpmDatabase => "OS packages of this image (rpm database) were not checked",
            GapKind::NodeModules => "installed Node.js packages were not checked",
            GapKind::NodeLockfile => {
                "Node.js dependencies pinned in this lockfile were not checked"
            }
            GapKind::GoBinary => "Go modules compiled into this executable were not checked",
            GapKind::JavaArchive => "Java packages were not checked",
            GapKind::RubyGems => "Ruby gems were not checked",
            GapKind::PhpComposer => "PHP packages were not checked",
            GapKind::Dotnet => ".NET packages were not checked",
            GapKind::RustCargo => "Rust crates pinned in this lockfile were not checked",
            GapKind::PythonLockfile => {
                "Python dependencies pinned in this lockfile were not checked"
            }
            GapKind::PythonEgg => "the Python package in this egg was not checked",
            GapKind::Conda => "conda packages were not checked",
        }
    }

    /// The kebab-case name (`rpm-database`), as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            GapKind::RpmDatabase => "rpm-database",
            GapKind::NodeModules => "node-modules",
            GapKind::NodeLockfile => "node-lockfile",
            GapKind::GoBinary => "go-binary",
            GapKind::JavaArchive => "java-archive",
            GapKind::RubyGems => "ruby-gems",
            GapKind::PhpComposer => "php-composer",
            GapKind::Dotnet => "dotnet",
            GapKind::RustCargo => "rust-cargo",
            GapKind::PythonLockfile => "python-lockfile",
            GapKind::PythonEgg => "python-egg",
            GapKind::Conda => "conda",
        }
    }
}

/// One thing a layer holds that no analyzer reads: a file, or a tree of many small files counted
/// at its directory (an installed `node_modules` is one gap, however many packages it has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerGap {
    pub kind: GapKind,
    /// The file, or the tree's directory (`app/node_modules`).
    pub path: String,
    /// Files recognised there.
    pub files: u64,
}

/// Paths listed per [`CoverageGap`]; the rest are counted.
pub const MAX_GAP_PATHS: usize = 5;

/// What a scan did not analyse, per kind and layer, after the merge (whiteouts applied). In the
/// JSON report, one entry of `Coverage.Gaps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CoverageGap {
    pub kind: GapKind,
    /// [`GapKind::what`].
    pub what: String,
    /// [`GapKind::meaning`].
    pub meaning: String,
    /// Files recognised in all (e.g. 50,000 `package.json`).
    pub files: u64,
    /// Where: files, or trees' directories; at most [`MAX_GAP_PATHS`], in path order.
    pub paths: Vec<String>,
    /// How many paths there are in all (`Paths` may list fewer).
    pub path_count: usize,
    /// The layer that holds it (absent for a directory or zip).
    #[serde(default, skip_serializing_if = "LayerInfo::is_empty")]
    pub layer: LayerInfo,
}

impl CoverageGap {
    /// One line for people: "rpm package database at var/lib/rpm/rpmdb.sqlite: OS packages of this
    /// image (rpm database) were not checked".
    pub fn describe(&self) -> String {
        let mut at = self.paths.join(", ");
        if self.path_count > self.paths.len() {
            at.push_str(&format!(" and {} more", self.path_count - self.paths.len()));
        }
        let files = if self.files as usize > self.path_count {
            format!(" ({} files)", self.files)
        } else {
            String::new()
        };
        format!("{} at {at}{files}: {}", self.what, self.meaning)
    }
}

/// Our addition (`Coverage`): what the scan recognised but did not analyse. Absent when nothing
/// was left out that the scanner knows of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Coverage {
    pub gaps: Vec<CoverageGap>,
}

/// The merged view of a target after whiteouts are applied.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub os: Option<OsInfo>,
    /// Package sets that survive the merge, in a stable order (by path).
    pub package_sets: Vec<PackageSet>,
    pub warnings: Vec<String>,
    /// What was recognised but not analysed, in layer order.
    pub gaps: Vec<CoverageGap>,
}

/// Severity levels, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "UNKNOWN" => Ok(Severity::Unknown),
            "LOW" => Ok(Severity::Low),
            "MEDIUM" | "MODERATE" => Ok(Severity::Medium),
            "HIGH" => Ok(Severity::High),
            "CRITICAL" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity {other:?} (expected CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN)"
            )),
        }
    }
}

/// A CVSS entry in the report (`CVSS: {"nvd": {"V3Vector": ..., "V3Score": ...}}` in Trivy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CvssEntry {
    #[serde(rename = "V3Vector", skip_serializing_if = "Option::is_none")]
    pub v3_vector: Option<String>,
    #[serde(rename = "V3Score", skip_serializing_if = "Option::is_none")]
    pub v3_score: Option<f64>,
    #[serde(rename = "V40Vector", skip_serializing_if = "Option::is_none")]
    pub v40_vector: Option<String>,
    #[serde(rename = "V40Score", skip_serializing_if = "Option::is_none")]
    pub v40_score: Option<f64>,
}

/// One vulnerability finding for one package (`Vulnerabilities[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vulnerability {
    #[serde(rename = "VulnerabilityID")]
    pub vulnerability_id: String,
    /// Our addition: the other ids of the alias group.
    pub aliases: Vec<String>,
    pub pkg_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkg_path: Option<String>,
    pub installed_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// `fixed` or `affected`.
    pub status: String,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity_source: Option<String>,
    #[serde(rename = "CVSS", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cvss: BTreeMap<String, CvssEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(rename = "PrimaryURL", skip_serializing_if = "Option::is_none")]
    pub primary_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    #[serde(default, skip_serializing_if = "LayerInfo::is_empty")]
    pub layer: LayerInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CauseMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
}

/// One failed config check (`Misconfigurations[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Misconfiguration {
    #[serde(rename = "ID")]
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub message: String,
    pub resolution: String,
    /// Always `FAIL` in our reports (we list failures only).
    pub status: String,
    pub cause_metadata: CauseMetadata,
}

/// One `Results[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScanResult {
    pub target: String,
    pub class: String,
    #[serde(rename = "Type")]
    pub kind: String,
    /// Always present for package results (Trivy's consumers expect the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<Package>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerabilities: Option<Vec<Vulnerability>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misconfigurations: Option<Vec<Misconfiguration>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    #[serde(rename = "OS", skip_serializing_if = "Option::is_none")]
    pub os: Option<OsInfo>,
    #[serde(rename = "ImageID", skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    #[serde(rename = "DiffIDs", default, skip_serializing_if = "Vec::is_empty")]
    pub diff_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_digests: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_config: Option<serde_json::Value>,
}

/// Which advisory data a scan used (our addition).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AdvisorySource {
    /// `bundled` or `database`.
    pub kind: String,
    pub records: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The whole report; the JSON output *is* this struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Report {
    pub schema_version: u32,
    pub created_at: String,
    pub artifact_name: String,
    pub artifact_type: ArtifactType,
    pub metadata: Metadata,
    pub results: Vec<ScanResult>,
    /// Our additions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory_source: Option<AdvisorySource>,
    /// Ignore-file entries that had expired and so no longer applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expired_ignores: Vec<String>,
    /// What was recognised but not analysed; absent when there is no gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
}

impl Report {
    /// The coverage gaps (none when `Coverage` is absent).
    pub fn gaps(&self) -> &[CoverageGap] {
        self.coverage.as_ref().map_or(&[], |c| c.gaps.as_slice())
    }
}
