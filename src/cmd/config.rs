//! `config PATHS...`: audit deployment configuration files (see [`crate::audit`]).
//!
//! Files named on the command line must parse: a syntax error there is the user's to fix, so it
//! ends the run (exit 2, file:line:column, nothing on stdout). Inside a directory, a file that does
//! not parse is a warning (in the report and on stderr) and the scan goes on. Files of no known
//! format are skipped and counted.

use crate::audit::{self, FileAudit, ParseError};
use crate::cli::ConfigArgs;
use crate::model::{ArtifactType, Metadata, Report, ScanResult};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Bigger files are not configuration (a CDK `tree.json` is a few MiB at most).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Directory names never descended into.
const SKIP_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    ".terraform",
    ".venv",
    "__pycache__",
];
/// Directory depth bound (symlinks are not followed, so this only guards absurd trees).
const MAX_DEPTH: usize = 64;

#[derive(Default)]
struct Scan {
    results: Vec<ScanResult>,
    warnings: Vec<String>,
    unknown: usize,
}

pub fn run(args: ConfigArgs) -> anyhow::Result<i32> {
    let mut scan = Scan::default();
    let mut seen = std::collections::HashSet::new();
    for path in &args.paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, 0, &mut files, &mut scan.warnings)?;
            for f in files {
                // A file reached twice (named and inside a named directory, or through a link)
                // is audited once.
                if !seen.insert(std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone())) {
                    continue;
                }
                if let Err(e) = scan_file(&f, false, &mut scan) {
                    let msg = format!("{e:#}");
                    tracing::warn!("{msg}");
                    scan.warnings.push(msg);
                }
            }
        } else if seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone())) {
            scan_file(path, true, &mut scan)?;
        }
    }
    if scan.unknown > 0 {
        tracing::warn!(
            "skipped {} file(s) of no recognised config format",
            scan.unknown
        );
    }
    let report = Report {
        schema_version: 2,
        created_at: now_rfc3339(),
        artifact_name: args
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
        artifact_type: ArtifactType::Config,
        metadata: Metadata::default(),
        results: scan.results,
        warnings: scan.warnings,
        advisory_source: None,
        expired_ignores: Vec::new(),
        coverage: None,
    };
    crate::cmd::emit(report, &args.report)
}

/// Collect the files under `dir`, sorted, without following symlinks.
fn walk(
    dir: &Path,
    depth: usize,
    files: &mut Vec<PathBuf>,
    warnings: &mut Vec<String>,
) -> anyhow::Result<()> {
    if depth > MAX_DEPTH {
        warnings.push(format!(
            "{}: directory nesting too deep, not scanned",
            dir.display()
        ));
        return Ok(());
    }
    let rd = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read directory {}", dir.display()))?;
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            let name = e.file_name();
            if SKIP_DIRS.iter().any(|s| name == *s) {
                continue;
            }
            walk(&path, depth + 1, files, warnings)?;
        } else if ft.is_file() {
            files.push(path);
        } else if ft.is_symlink() {
            // A link to a regular file is audited where it is linked; links to directories are
            // not followed (no cycles), nor links to devices or pipes.
            if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                files.push(path);
            }
        }
    }
    Ok(())
}

/// Does the file say it is JSON or YAML (so that a syntax error is an error, not "unknown")?
fn claims_structured(path: &Path, text: &str) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if matches!(ext.as_str(), "json" | "yaml" | "yml" | "template") {
        return true;
    }
    let t = text.trim_start_matches('\u{feff}').trim_start();
    t.starts_with('{') || t.starts_with('[') || t.starts_with("---") || t.starts_with("%YAML")
}

fn is_json(path: &Path, text: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with('{')
}

fn describe_parse_error(path: &Path, text: &str, e: &ParseError) -> String {
    let what = if is_json(path, text) { "JSON" } else { "YAML" };
    match (e.line, e.column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}: invalid {what}: {e}", path.display()),
        (Some(l), None) => format!("{}:{l}: invalid {what}: {e}", path.display()),
        _ => format!("{}: invalid {what}: {e}", path.display()),
    }
}

fn scan_file(path: &Path, named: bool, scan: &mut Scan) -> anyhow::Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = file_name.to_ascii_lowercase();
    // In a directory, read only files that can be configuration; the rest are skipped unread.
    if !named {
        let candidate = [".json", ".yaml", ".yml", ".template"]
            .iter()
            .any(|s| lower.ends_with(s))
            || audit::detect::is_dockerfile(&file_name, "");
        if !candidate {
            scan.unknown += 1;
            return Ok(());
        }
    }
    let bytes = read_bounded(path)?;
    let Ok(text) = String::from_utf8(bytes) else {
        scan.unknown += 1;
        return Ok(());
    };
    let target = path.display().to_string();
    match audit::audit_text(&target, &file_name, &text) {
        Ok(FileAudit::Results(r)) => scan.results.extend(r),
        Ok(FileAudit::Unknown) => scan.unknown += 1,
        Err(e) if claims_structured(path, &text) => {
            anyhow::bail!("{}", describe_parse_error(path, &text, &e))
        }
        Err(_) => scan.unknown += 1,
    }
    Ok(())
}

/// Read at most [`MAX_FILE_BYTES`]: a bigger file (or an endless one, like a device) is refused
/// without reading it all.
fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        anyhow::bail!(
            "{}: over the {} MiB limit for a config file; not scanned",
            path.display(),
            MAX_FILE_BYTES / (1024 * 1024)
        );
    }
    Ok(bytes)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
