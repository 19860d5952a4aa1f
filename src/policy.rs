//! Policy: which findings count (severity filter, ignore file, `--ignore-unfixed`) and the exit code.
//!
//! The policy is applied to a finished [`Report`] before rendering, so every format shows the same
//! findings and the exit code is decided on exactly what the user sees.
//!
//! Ignore files come in Trivy's two shapes, so that `.trivyignore` / `.trivyignore.yaml` files carry
//! over: the line form (`ID [exp:YYYY-MM-DD]`, `#` comments) and the YAML form (`vulnerabilities:` /
//! `misconfigurations:` lists of `{id, paths, purls, expired_at, statement}`). We are stricter than
//! Trivy on one point: an unknown token or key is an error, not silently skipped, because a typo
//! such as `exp=2024-01-01` or `expires_at:` would otherwise turn a temporary exception into a
//! permanent one.

use crate::cli::ReportArgs;
use crate::model::{Misconfiguration, Package, Report, Severity, Vulnerability};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The ignore file used when `--ignorefile` is not given. When it does not exist, the YAML
/// variants `.layerscanignore.yaml` / `.layerscanignore.yml` are tried; none existing is fine.
pub const DEFAULT_IGNOREFILE: &str = ".layerscanignore";

/// What the user asked for on the command line, plus the parsed ignore file.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Severities that are reported and that trigger `exit_code`. Empty means all.
    pub severities: BTreeSet<Severity>,
    pub exit_code: i32,
    pub ignore_unfixed: bool,
    /// `--fail-on-incomplete`: coverage gaps (content not analysed) also trigger `exit_code`.
    pub fail_on_incomplete: bool,
    pub ignores: IgnoreList,
    /// The moment against which `exp:` / `expired_at` are compared (now, except in tests).
    pub now: OffsetDateTime,
}

/// Why an ignore file could not be used. Always names the file (and the line when there is one).
#[derive(Debug, thiserror::Error)]
pub enum IgnoreFileError {
    #[error("cannot read ignore file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("ignore file {} does not exist (check --ignorefile)", path.display())]
    Missing { path: PathBuf },
    #[error("ignore file {} is not UTF-8 text", path.display())]
    NotText { path: PathBuf },
    #[error("malformed ignore file {}:{line}: {message}", path.display())]
    Malformed {
        path: PathBuf,
        /// 1-based; 0 when the parser could not tell.
        line: u64,
        message: String,
    },
}

/// Which findings an ignore entry may suppress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreScope {
    /// Line-form entries apply to any finding id, as in Trivy.
    Any,
    Vulnerability,
    Misconfiguration,
}

/// One ignore entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreEntry {
    pub id: String,
    pub scope: IgnoreScope,
    /// Glob-ish patterns on the package path / target (`*`, `**`, `?`; a pattern also matches
    /// everything under it as a directory prefix). Empty: every path.
    pub paths: Vec<String>,
    /// Package URLs (`pkg:pypi/requests@2.19.0`); without `@version` any version matches.
    pub purls: Vec<String>,
    pub expired_at: Option<OffsetDateTime>,
    pub statement: Option<String>,
    /// 1-based line of the entry in its file.
    pub line: u64,
}

impl IgnoreEntry {
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        // Trivy's rule: the entry stops applying at the start of its expiry date (UTC).
        self.expired_at.is_some_and(|exp| exp <= now)
    }
}

/// A parsed ignore file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreList {
    /// The file the entries came from (`None`: no ignore file).
    pub source: Option<PathBuf>,
    pub entries: Vec<IgnoreEntry>,
}

impl IgnoreList {
    /// Load the ignore file named by `--ignorefile`. The default name may be absent; a file the user
    /// named explicitly must exist.
    pub fn load(path: &Path) -> Result<IgnoreList, IgnoreFileError> {
        let is_default = path == Path::new(DEFAULT_IGNOREFILE);
        let candidates: Vec<PathBuf> = if is_default {
            vec![
                path.to_path_buf(),
                PathBuf::from(".layerscanignore.yaml"),
                PathBuf::from(".layerscanignore.yml"),
            ]
        } else {
            vec![path.to_path_buf()]
        };
        for candidate in candidates {
            match std::fs::read(&candidate) {
                Ok(bytes) => {
                    let text = String::from_utf8(bytes).map_err(|_| IgnoreFileError::NotText {
                        path: candidate.clone(),
                    })?;
                    return IgnoreList::parse(&candidate, &text);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(IgnoreFileError::Read {
                        path: candidate,
                        source,
                    })
                }
            }
        }
        if is_default {
            Ok(IgnoreList::default())
        } else {
            Err(IgnoreFileError::Missing {
                path: path.to_path_buf(),
            })
        }
    }

    /// Parse ignore-file text; `path` picks the form (`.yaml`/`.yml`) and names the file in errors.
    /// Other names are sniffed: a top-level `vulnerabilities:`-style key or `---` means YAML.
    pub fn parse(path: &Path, text: &str) -> Result<IgnoreList, IgnoreFileError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let by_name = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        let entries = if by_name || looks_like_yaml(text) {
            parse_yaml(path, text)?
        } else {
            parse_lines(path, text)?
        };
        Ok(IgnoreList {
            source: Some(path.to_path_buf()),
            entries,
        })
    }
}

fn looks_like_yaml(text: &str) -> bool {
    let first = text
        .lines()
        .map(str::trim_end)
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some(first) = first else { return false };
    if first == "---" || first.starts_with("--- ") {
        return true;
    }
    [
        "vulnerabilities",
        "misconfigurations",
        "secrets",
        "licenses",
    ]
    .iter()
    .any(|k| {
        first
            .strip_prefix(k)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
    })
}

fn malformed(path: &Path, line: u64, message: impl Into<String>) -> IgnoreFileError {
    IgnoreFileError::Malformed {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// An ID is a single token of letters, digits and `-_.:/+`, starting with a letter or digit
/// (CVE-2024-1234, GHSA-xxxx-xxxx-xxxx, PYSEC-2023-1, DLA-3000-1, ECS-001, AVD-DS-0001).
fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/+".contains(c))
}

fn parse_lines(path: &Path, text: &str) -> Result<Vec<IgnoreEntry>, IgnoreFileError> {
    let mut entries = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx as u64 + 1;
        let mut line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // An inline comment starts at a `#` that follows whitespace.
        if let Some(pos) = line
            .char_indices()
            .find(|&(i, c)| c == '#' && i > 0 && line[..i].ends_with(char::is_whitespace))
            .map(|(i, _)| i)
        {
            line = line[..pos].trim_end();
        }
        let mut tokens = line.split_whitespace();
        let Some(id) = tokens.next() else { continue };
        if id.starts_with("exp:") || !valid_id(id) {
            return Err(malformed(
                path,
                line_no,
                format!(
                    "expected a vulnerability or check ID at the start of the line, found {id:?}"
                ),
            ));
        }
        let mut expired_at = None;
        for tok in tokens {
            match tok.strip_prefix("exp:") {
                Some(date) if expired_at.is_none() => {
                    expired_at = Some(parse_expiry(date).map_err(|m| malformed(path, line_no, m))?);
                }
                Some(_) => {
                    return Err(malformed(path, line_no, "more than one `exp:` date"));
                }
                None => {
                    return Err(malformed(
                        path,
                        line_no,
                        format!(
                            "unexpected {tok:?} after {id} (expected `exp:YYYY-MM-DD` or a `#` comment)"
                        ),
                    ));
                }
            }
        }
        entries.push(IgnoreEntry {
            id: id.to_string(),
            scope: IgnoreScope::Any,
            paths: Vec::new(),
            purls: Vec::new(),
            expired_at,
            statement: None,
            line: line_no,
        });
    }
    Ok(entries)
}

/// `YYYY-MM-DD` (midnight UTC, as Trivy) or an RFC 3339 timestamp.
fn parse_expiry(s: &str) -> Result<OffsetDateTime, String> {
    let s = s.trim();
    let date_fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(s, date_fmt) {
        return Ok(date.midnight().assume_utc());
    }
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).map_err(|_| {
        format!("invalid expiry date {s:?} (expected YYYY-MM-DD or an RFC 3339 timestamp)")
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYamlIgnore {
    #[serde(default)]
    vulnerabilities: Option<Vec<serde_saphyr::Spanned<RawYamlEntry>>>,
    #[serde(default)]
    misconfigurations: Option<Vec<serde_saphyr::Spanned<RawYamlEntry>>>,
    /// Accepted for compatibility with `.trivyignore.yaml`; we report no secrets or licenses.
    #[serde(default)]
    #[allow(dead_code)]
    secrets: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    licenses: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYamlEntry {
    id: String,
    #[serde(default)]
    paths: Option<Vec<String>>,
    #[serde(default)]
    purls: Option<Vec<String>>,
    #[serde(default)]
    expired_at: Option<String>,
    #[serde(default)]
    statement: Option<String>,
}

fn parse_yaml(path: &Path, text: &str) -> Result<Vec<IgnoreEntry>, IgnoreFileError> {
    let only_comments = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---");
    if only_comments {
        return Ok(Vec::new());
    }
    let raw: Option<RawYamlIgnore> = serde_saphyr::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        // The first line of the parser's message; the rest is a source snippet.
        let msg = e.to_string();
        let first = msg.lines().next().unwrap_or("invalid YAML").trim();
        // The file and line are in our prefix already.
        let first = regex::Regex::new(r"^(?:error:\s*)?(?:line \d+ column \d+:\s*)?")
            .map(|re| re.replace(first, "").into_owned())
            .unwrap_or_else(|_| first.to_string());
        malformed(path, line, first)
    })?;
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let mut entries = Vec::new();
    let lists = [
        (raw.vulnerabilities, IgnoreScope::Vulnerability),
        (raw.misconfigurations, IgnoreScope::Misconfiguration),
    ];
    for (list, scope) in lists {
        for spanned in list.unwrap_or_default() {
            let line = spanned.referenced.line();
            let e = spanned.value;
            let id = e.id.trim();
            if !valid_id(id) {
                return Err(malformed(path, line, format!("invalid id {:?}", e.id)));
            }
            let expired_at = match e.expired_at.as_deref() {
                Some(s) => Some(parse_expiry(s).map_err(|m| malformed(path, line, m))?),
                None => None,
            };
            let paths: Vec<String> = e.paths.unwrap_or_default();
            if let Some(bad) = paths.iter().find(|p| p.trim().is_empty()) {
                return Err(malformed(
                    path,
                    line,
                    format!("empty path {bad:?} in the paths of {id}"),
                ));
            }
            entries.push(IgnoreEntry {
                id: id.to_string(),
                scope,
                paths,
                purls: e.purls.unwrap_or_default(),
                expired_at,
                statement: e.statement,
                line,
            });
        }
    }
    Ok(entries)
}

/// Normalise a path for matching: forward slashes, no leading `./` or `/`.
fn norm_path(p: &str) -> String {
    let p = p.replace('\\', "/");
    let mut s = p.as_str();
    loop {
        if let Some(rest) = s.strip_prefix("./") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix('/') {
            s = rest;
        } else {
            break;
        }
    }
    s.trim_end_matches('/').to_string()
}

/// Glob match: `**` any characters, `*` any characters but `/`, `?` one character but `/`. A pattern
/// also matches any path below it (`usr/lib/python3` matches `usr/lib/python3/x/METADATA`).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern = norm_path(pattern);
    let path = norm_path(path);
    if pattern.is_empty() {
        return true;
    }
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                // `**/` also matches zero directories.
                if chars.peek() == Some(&'/') {
                    chars.next();
                    re.push_str("(?:.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push_str("(?:/.*)?$");
    regex::Regex::new(&re).is_ok_and(|r| r.is_match(&path))
}

/// `pkg:type/ns/name@version?qualifiers#subpath` without version, qualifiers and subpath.
fn purl_base(purl: &str) -> &str {
    let end = purl.find(['@', '?', '#']).unwrap_or(purl.len());
    &purl[..end]
}

fn purl_matches(pattern: &str, purl: &str) -> bool {
    let pattern = pattern.trim();
    if pattern.contains('@') {
        // Qualifiers on either side do not change what package it is.
        let strip = |s: &str| s.split(['?', '#']).next().unwrap_or("").to_string();
        strip(pattern).eq_ignore_ascii_case(&strip(purl))
    } else {
        purl_base(pattern).eq_ignore_ascii_case(purl_base(purl))
    }
}

impl Policy {
    pub fn from_args(args: &ReportArgs) -> anyhow::Result<Policy> {
        let ignores = IgnoreList::load(&args.ignorefile)?;
        Ok(Policy {
            severities: args.severity.iter().copied().collect(),
            exit_code: args.exit_code,
            ignore_unfixed: args.ignore_unfixed,
            fail_on_incomplete: args.fail_on_incomplete,
            ignores,
            now: OffsetDateTime::now_utc(),
        })
    }

    /// A policy that keeps everything and always exits 0.
    pub fn permissive() -> Policy {
        Policy {
            severities: Severity::ALL.into_iter().collect(),
            exit_code: 0,
            ignore_unfixed: false,
            fail_on_incomplete: false,
            ignores: IgnoreList::default(),
            now: OffsetDateTime::now_utc(),
        }
    }

    fn severity_selected(&self, s: Severity) -> bool {
        self.severities.is_empty() || self.severities.contains(&s)
    }

    /// Entries that still apply now.
    fn active(&self) -> impl Iterator<Item = &IgnoreEntry> {
        self.ignores
            .entries
            .iter()
            .filter(|e| !e.is_expired(self.now))
    }

    fn vuln_ignored(&self, v: &Vulnerability, target: &str, packages: &[Package]) -> bool {
        self.active()
            .filter(|e| e.scope != IgnoreScope::Misconfiguration)
            .any(|e| {
                let id_hit = e.id.eq_ignore_ascii_case(&v.vulnerability_id)
                    || v.aliases.iter().any(|a| e.id.eq_ignore_ascii_case(a));
                if !id_hit {
                    return false;
                }
                if !e.paths.is_empty() {
                    let mut candidates: Vec<&str> = vec![target];
                    if let Some(p) = v.pkg_path.as_deref() {
                        candidates.push(p);
                    }
                    let hit = e
                        .paths
                        .iter()
                        .any(|pat| candidates.iter().any(|c| path_matches(pat, c)));
                    if !hit {
                        return false;
                    }
                }
                if !e.purls.is_empty() {
                    let hit = packages
                        .iter()
                        .filter(|p| {
                            p.name == v.pkg_name
                                && p.version == v.installed_version
                                && (v.pkg_path.is_none() || p.file_path == v.pkg_path)
                        })
                        .filter_map(|p| p.identifier.purl.as_deref())
                        .any(|purl| e.purls.iter().any(|pat| purl_matches(pat, purl)));
                    if !hit {
                        return false;
                    }
                }
                true
            })
    }

    fn misconfig_ignored(&self, m: &Misconfiguration, target: &str) -> bool {
        self.active()
            .filter(|e| e.scope != IgnoreScope::Vulnerability)
            .any(|e| {
                e.id.eq_ignore_ascii_case(&m.id)
                    && (e.paths.is_empty() || e.paths.iter().any(|p| path_matches(p, target)))
                    // purls say nothing about a config file.
                    && e.purls.is_empty()
            })
    }

    /// Is this vulnerability kept by the policy (severity, unfixed, ignore file)?
    pub fn keeps_vulnerability(&self, v: &Vulnerability, target: &str, pkgs: &[Package]) -> bool {
        if !self.severity_selected(v.severity) {
            return false;
        }
        if self.ignore_unfixed {
            let no_fix = v
                .fixed_version
                .as_deref()
                .is_none_or(|f| f.trim().is_empty());
            if no_fix || v.status.eq_ignore_ascii_case("affected") {
                return false;
            }
        }
        !self.vuln_ignored(v, target, pkgs)
    }

    /// Is this misconfiguration kept by the policy (severity, ignore file)?
    pub fn keeps_misconfiguration(&self, m: &Misconfiguration, target: &str) -> bool {
        self.severity_selected(m.severity) && !self.misconfig_ignored(m, target)
    }

    /// Expired entries, described for the report (`ID (expired YYYY-MM-DD; FILE:LINE)`).
    pub fn expired_entries(&self) -> Vec<String> {
        let file = self
            .ignores
            .source
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let date_fmt = time::macros::format_description!("[year]-[month]-[day]");
        self.ignores
            .entries
            .iter()
            .filter(|e| e.is_expired(self.now))
            .map(|e| {
                let when = e
                    .expired_at
                    .and_then(|t| t.format(date_fmt).ok())
                    .unwrap_or_default();
                format!("{} (expired {when}; {file}:{})", e.id, e.line)
            })
            .collect()
    }

    /// Drop findings the policy excludes; record expired ignore entries in the report (and warn on
    /// stderr, since an expired exception silently coming back would surprise a CI run).
    pub fn apply(&self, report: &mut Report) {
        for expired in self.expired_entries() {
            tracing::warn!("ignore entry {expired} no longer applies");
            if !report.expired_ignores.contains(&expired) {
                report.expired_ignores.push(expired);
            }
        }
        for result in &mut report.results {
            let target = result.target.as_str();
            let packages = result.packages.as_deref().unwrap_or(&[]);
            if let Some(vulns) = result.vulnerabilities.as_mut() {
                vulns.retain(|v| self.keeps_vulnerability(v, target, packages));
            }
            if let Some(misconfigs) = result.misconfigurations.as_mut() {
                misconfigs.retain(|m| self.keeps_misconfiguration(m, target));
            }
        }
    }

    /// Does the policy fail this report because part of the target was not analysed?
    pub fn fails_for_coverage(&self, report: &Report) -> bool {
        self.fail_on_incomplete && !report.gaps().is_empty()
    }

    /// 0, or `--exit-code` when findings at the chosen severities remain (or, with
    /// `--fail-on-incomplete`, when the report has coverage gaps).
    pub fn exit_code(&self, report: &Report) -> i32 {
        let remaining = report.results.iter().any(|r| {
            r.vulnerabilities
                .iter()
                .flatten()
                .any(|v| self.severity_selected(v.severity))
                || r.misconfigurations
                    .iter()
                    .flatten()
                    .any(|m| self.severity_selected(m.severity))
        });
        if remaining || self.fails_for_coverage(report) {
            self.exit_code
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn line_form_ids_dates_and_comments() {
        let text = "# header\n\nCVE-2023-0001\nGHSA-aaaa-bbbb-cccc exp:2024-01-31  # until upgrade\n  PYSEC-2023-9\t\n";
        let list = IgnoreList::parse(&p(".layerscanignore"), text).unwrap();
        let ids: Vec<_> = list.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            ["CVE-2023-0001", "GHSA-aaaa-bbbb-cccc", "PYSEC-2023-9"]
        );
        assert_eq!(list.entries[1].line, 4);
        assert_eq!(
            list.entries[1].expired_at,
            Some(time::macros::datetime!(2024-01-31 0:00 UTC))
        );
        assert!(list.entries.iter().all(|e| e.scope == IgnoreScope::Any));
    }

    #[test]
    fn line_form_errors_name_line() {
        for (text, line) in [
            ("CVE-1\nCVE-2 exp:2024-13-01\n", 2),
            ("CVE-1 exp=2024-01-01\n", 1),
            ("\n\nexp:2024-01-01\n", 3),
            ("CVE-1 exp:2024-01-01 exp:2025-01-01\n", 1),
            ("\"CVE-1\"\n", 1),
        ] {
            match IgnoreList::parse(&p("ign"), text) {
                Err(IgnoreFileError::Malformed { line: l, path, .. }) => {
                    assert_eq!(l, line, "{text:?}");
                    assert_eq!(path, p("ign"));
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn yaml_form_by_name_and_by_sniffing() {
        let text = "vulnerabilities:\n  - id: CVE-2022-40897\n    paths:\n      - \"usr/local/lib/python3.9/site-packages/setuptools-58.1.0.dist-info/METADATA\"\n    statement: Accept the risk\n  - id: CVE-2023-29491\n    expired_at: 2023-09-01\nmisconfigurations:\n  - id: ECS-001\n    paths: [\"deploy/taskdef.json\"]\nsecrets:\n  - id: aws-access-key-id\n";
        for name in ["ignore.yaml", "ignore-file"] {
            let list = IgnoreList::parse(&p(name), text).unwrap();
            assert_eq!(list.entries.len(), 3, "{name}");
            let e = &list.entries[0];
            assert_eq!(e.scope, IgnoreScope::Vulnerability);
            assert_eq!(e.paths.len(), 1);
            assert_eq!(e.statement.as_deref(), Some("Accept the risk"));
            assert_eq!(e.line, 2);
            assert_eq!(
                list.entries[1].expired_at,
                Some(time::macros::datetime!(2023-09-01 0:00 UTC))
            );
            assert_eq!(list.entries[1].line, 6);
            assert_eq!(list.entries[2].scope, IgnoreScope::Misconfiguration);
        }
    }

    #[test]
    fn yaml_errors_name_line() {
        let cases = [
            (
                "vulnerabilities:\n  - id: CVE-1\n  - id: CVE-2\n    expires_at: 2024-01-01\n",
                4,
            ),
            (
                "vulnerabilities:\n  - id: CVE-1\n    expired_at: someday\n",
                2,
            ),
            ("vulnerabilities:\n  - paths: [a]\n", 2),
            ("vulnerabilities: [\n", 0),
        ];
        for (text, line) in cases {
            match IgnoreList::parse(&p("x.yml"), text) {
                Err(IgnoreFileError::Malformed { line: l, .. }) => {
                    if line > 0 {
                        assert_eq!(l, line, "{text:?}");
                    }
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn empty_files_are_empty_lists() {
        assert!(IgnoreList::parse(&p("a.yaml"), "")
            .unwrap()
            .entries
            .is_empty());
        assert!(IgnoreList::parse(&p("a.yaml"), "# nothing\n")
            .unwrap()
            .entries
            .is_empty());
        assert!(IgnoreList::parse(&p("a"), "\n# c\n")
            .unwrap()
            .entries
            .is_empty());
    }

    #[test]
    fn glob_paths() {
        assert!(path_matches(
            "usr/lib/python3",
            "usr/lib/python3/dist-packages/x/METADATA"
        ));
        assert!(path_matches("/usr/lib/python3/", "usr/lib/python3/a"));
        assert!(!path_matches("usr/lib/python3", "usr/lib/python3.11/a"));
        assert!(path_matches("**/requirements.txt", "requirements.txt"));
        assert!(path_matches(
            "**/requirements.txt",
            "app/svc/requirements.txt"
        ));
        assert!(path_matches("app/*.txt", "./app/req.txt"));
        assert!(!path_matches("app/*.txt", "app/sub/req.txt"));
        assert!(path_matches("app/re?.txt", "app/req.txt"));
        assert!(!path_matches("a.b", "aXb"), "dots are literal");
    }

    #[test]
    fn purls() {
        assert!(purl_matches(
            "pkg:pypi/requests",
            "pkg:pypi/requests@2.19.0"
        ));
        assert!(purl_matches(
            "pkg:pypi/requests@2.19.0",
            "pkg:pypi/requests@2.19.0"
        ));
        assert!(!purl_matches(
            "pkg:pypi/requests@2.20.0",
            "pkg:pypi/requests@2.19.0"
        ));
        assert!(purl_matches(
            "pkg:deb/debian/libssl3",
            "pkg:deb/debian/libssl3@3.0.11-1?arch=amd64&distro=debian-12"
        ));
        assert!(!purl_matches(
            "pkg:deb/debian/libssl",
            "pkg:deb/debian/libssl3@1"
        ));
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let dir = std::env::temp_dir().join(format!("layerscan-policy-{}", std::process::id()));
        let missing = dir.join("nope.ignore");
        assert!(matches!(
            IgnoreList::load(&missing),
            Err(IgnoreFileError::Missing { .. })
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn parsing_never_panics(text in "\\PC{0,200}") {
            let _ = IgnoreList::parse(&p("ignore"), &text);
            let _ = IgnoreList::parse(&p("ignore.yaml"), &text);
        }

        #[test]
        fn line_form_shapes_never_panic(
            text in "([A-Za-z0-9:#-]{0,12}( exp:[0-9T:Z-]{0,25})?( +#[^\n]{0,10})?\r?\n){0,6}"
        ) {
            let _ = IgnoreList::parse(&p("ignore"), &text);
        }

        #[test]
        fn globs_never_panic(pattern in "\\PC{0,30}", path in "\\PC{0,30}") {
            let _ = path_matches(&pattern, &path);
            let _ = purl_matches(&pattern, &path);
        }
    }
}
