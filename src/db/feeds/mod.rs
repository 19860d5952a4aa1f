//! Severity and exploitation feeds that enrich findings by CVE id: NVD's CVE JSON 2.0 data feeds,
//! the Debian security tracker's JSON, CISA's Known Exploited Vulnerabilities catalog and FIRST's
//! EPSS scores. Each parser streams its input (one CVE, package or CSV line in memory at a time)
//! and hands rows to a callback, so a 2 GB NVD download is read in bounded memory.
//!
//! Recognition ([`sniff`]) is by content, so a renamed download is still understood; names only
//! decide which files of a directory are looked at (see `db::import`).

pub mod debian;
pub mod epss;
pub mod kev;
pub mod nvd;

use crate::model::Severity;
use crate::unpack::read_up_to;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The feeds `db import` and `db update` understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FeedKind {
    /// `nvdcve-2.0-<year>.json.gz`, `nvdcve-2.0-modified.json.gz`, `nvdcve-2.0-recent.json.gz`.
    Nvd,
    /// `https://security-tracker.debian.org/tracker/data/json`.
    Debian,
    /// `known_exploited_vulnerabilities.json`.
    Kev,
    /// `epss_scores-<date>.csv.gz`.
    Epss,
}

impl FeedKind {
    pub const ALL: [FeedKind; 4] = [
        FeedKind::Nvd,
        FeedKind::Debian,
        FeedKind::Kev,
        FeedKind::Epss,
    ];

    /// The name used in the database, `db status`, `--feeds` and as the `VendorSeverity` key.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Nvd => "nvd",
            FeedKind::Debian => "debian",
            FeedKind::Kev => "kev",
            FeedKind::Epss => "epss",
        }
    }

    /// What the feed is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            FeedKind::Nvd => "NVD CVE JSON 2.0 feed",
            FeedKind::Debian => "Debian security tracker JSON",
            FeedKind::Kev => "CISA Known Exploited Vulnerabilities catalog",
            FeedKind::Epss => "FIRST EPSS scores",
        }
    }

    pub fn parse(s: &str) -> Option<FeedKind> {
        FeedKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether one file holds the whole feed (an import replaces what the database had) or a part
    /// of it (NVD's per-year files: rows are updated by CVE id, newest `lastModified` wins).
    pub fn is_whole(self) -> bool {
        !matches!(self, FeedKind::Nvd)
    }
}

impl std::fmt::Display for FeedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many leading (decompressed) bytes [`sniff`] looks at.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// Largest single line/string the parsers keep; longer values are dropped (never truncated into
/// something that looks valid).
pub(crate) const MAX_FIELD: usize = 512;

/// Which feed `prefix` (the first bytes of a file, decompressed) starts, if any.
///
/// Each test looks at JSON structure that cannot occur inside a JSON string (where quotes are
/// escaped), so an OSV record that mentions these words is never taken for a feed.
pub fn sniff(prefix: &[u8]) -> Option<FeedKind> {
    let text = String::from_utf8_lossy(prefix);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.starts_with("#model_version") || text.starts_with("cve,epss") {
        return Some(FeedKind::Epss);
    }
    if !text.starts_with('{') {
        return None;
    }
    static NVD: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static KEV: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static DEBIAN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let nvd =
        NVD.get_or_init(|| regex::Regex::new(r#""format"\s*:\s*"NVD_CVE""#).expect("static regex"));
    let kev =
        KEV.get_or_init(|| regex::Regex::new(r#""catalogVersion"\s*:"#).expect("static regex"));
    // `{"<package>": {"CVE-…` (or `TEMP-…`): a map of source packages to issue ids.
    let debian = DEBIAN.get_or_init(|| {
        regex::Regex::new(r#"^\{\s*"[^"\\]{1,200}"\s*:\s*\{\s*"(CVE-|TEMP-)"#)
            .expect("static regex")
    });
    if nvd.is_match(text) {
        Some(FeedKind::Nvd)
    } else if kev.is_match(text) && text.contains("\"vulnerabilities\"") {
        Some(FeedKind::Kev)
    } else if debian.is_match(text) {
        Some(FeedKind::Debian)
    } else {
        None
    }
}

/// A file name that looks like one of the feeds (used to pick feed files out of a directory).
pub fn name_looks_like_feed(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    (n.starts_with("nvdcve-") && (n.ends_with(".json") || n.ends_with(".json.gz")))
        || (n.starts_with("known_exploited_vulnerabilities") && n.ends_with(".json"))
        || (n.starts_with("epss") && (n.ends_with(".csv") || n.ends_with(".csv.gz")))
        || (n.starts_with("debian") && n.contains("tracker") && n.ends_with(".json"))
}

/// The name a feed file is recorded under in the database: the file name without `.gz`
/// (`nvdcve-2.0-2024.json`), so the same file imported twice replaces its own entry.
pub fn record_name(kind: FeedKind, path: &Path) -> String {
    if kind.is_whole() {
        return kind.as_str().to_string();
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| kind.as_str().to_string());
    name.strip_suffix(".gz").unwrap_or(&name).to_string()
}

/// Open a feed file, transparently gunzipping it (by magic bytes, not by name).
pub fn open(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut f = std::fs::File::open(path)?;
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut f, &mut magic)?;
    let head = std::io::Cursor::new(magic.get(..n).unwrap_or_default().to_vec());
    let raw = head.chain(f);
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::read::MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, raw)),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(256 * 1024, raw)))
    }
}

/// The first [`SNIFF_BYTES`] of a file, decompressed.
pub fn prefix_of(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut r = open(path)?;
    let mut buf = vec![0u8; SNIFF_BYTES];
    let n = read_up_to(&mut r, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// A CVE id as feeds write it, upper-cased, or `None` when it is not one (`CVE-YYYY-NNNN…`).
pub fn cve_id(s: &str) -> Option<String> {
    let s = s.trim();
    if !s.get(..4)?.eq_ignore_ascii_case("CVE-") {
        return None;
    }
    let tail = s.get(4..)?;
    let (year, num) = tail.split_once('-')?;
    let ok = year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (4..=19).contains(&num.len())
        && num.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| format!("CVE-{year}-{num}"))
}

/// A short, printable value from a feed, or `None` when it is empty, too long or has control
/// characters.
pub(crate) fn clean(s: Option<String>) -> Option<String> {
    let s = s?;
    let t = s.trim();
    (!t.is_empty() && t.len() <= MAX_FIELD && !t.chars().any(char::is_control))
        .then(|| t.to_string())
}

/// A severity spelled by a feed (`CRITICAL`, `High`, `MEDIUM`, ...); `None` for unknown words.
pub(crate) fn severity_word(s: &str) -> Option<Severity> {
    s.parse::<Severity>()
        .ok()
        .filter(|s| *s != Severity::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_by_structure() {
        assert_eq!(
            sniff(br#"{"resultsPerPage":2,"startIndex":0,"totalResults":2,"format":"NVD_CVE","version":"2.0""#),
            Some(FeedKind::Nvd)
        );
        assert_eq!(
            sniff(br#"{ "title": "CISA Catalog", "catalogVersion": "2025.01.01", "vulnerabilities": ["#),
            Some(FeedKind::Kev)
        );
        assert_eq!(
            sniff(br#"{"0ad": {"CVE-2020-0499": {"description": "x", "releases": {"#),
            Some(FeedKind::Debian)
        );
        assert_eq!(
            sniff(b"#model_version:v2025.03.14,score_date:2025-06-01T00:00:00Z\ncve,epss,percentile\n"),
            Some(FeedKind::Epss)
        );
        // An OSV record that talks about these things is still an OSV record.
        assert_eq!(
            sniff(br#"{"id":"X-1","details":"see {\"format\": \"NVD_CVE\"} and \"catalogVersion\":"}"#),
            None
        );
        assert_eq!(sniff(br#"{"id":"CVE-1","affected":[]}"#), None);
        assert_eq!(sniff(b"PK\x03\x04"), None);
    }

    #[test]
    fn cve_ids() {
        assert_eq!(
            cve_id(" cve-2021-44228 ").as_deref(),
            Some("CVE-2021-44228")
        );
        assert_eq!(
            cve_id("CVE-2021-1234567").as_deref(),
            Some("CVE-2021-1234567")
        );
        assert_eq!(cve_id("CVE-21-1234"), None);
        assert_eq!(cve_id("CVE-2021-12"), None);
        assert_eq!(cve_id("GHSA-xxxx"), None);
        assert_eq!(cve_id("CVE-2021-12é4"), None);
    }

    #[test]
    fn feed_names() {
        assert!(name_looks_like_feed("nvdcve-2.0-2024.json.gz"));
        assert!(name_looks_like_feed("known_exploited_vulnerabilities.json"));
        assert!(name_looks_like_feed("epss_scores-2025-01-01.csv.gz"));
        assert!(!name_looks_like_feed("PYSEC-2021-1.json"));
        assert_eq!(
            record_name(FeedKind::Nvd, Path::new("/x/nvdcve-2.0-2024.json.gz")),
            "nvdcve-2.0-2024.json"
        );
        assert_eq!(
            record_name(FeedKind::Kev, Path::new("/x/whatever.json")),
            "kev"
        );
    }
}
