//! The Debian security tracker's JSON (`https://security-tracker.debian.org/tracker/data/json`):
//!
//! ```text
//! {"<source package>": {"CVE-…"|"TEMP-…": {"description", "scope", "debianbug",
//!     "releases": {"<codename>": {"status", "repositories": {...}, "fixed_version", "urgency", "nodsa"}}}}}
//! ```
//!
//! What we keep is Debian's rating: the `urgency` per (CVE, source package, release). `TEMP-`
//! issues have no CVE id to join on and are skipped. Streamed one package at a time.

use super::{clean, cve_id};
use crate::model::Severity;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::BufRead;

/// Debian's rating of one CVE in one source package and release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebianRating {
    pub cve: String,
    pub package: String,
    /// Codename: `bookworm`, `trixie`, `sid`.
    pub release: String,
    /// As the tracker writes it (`low`, `medium**`, `unimportant`).
    pub urgency: String,
    pub severity: Severity,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DebianStats {
    pub packages: u64,
    /// Ratings kept (CVE × package × release with an urgency that rates).
    pub ratings: u64,
    /// Distinct CVE ids among them.
    pub cves: u64,
}

/// The severity an urgency stands for (Trivy's mapping): `unimportant` and `low` → LOW, `medium`
/// → MEDIUM, `high` → HIGH; trailing `*` (the tracker's notes on how sure it is) are ignored.
/// `not yet assigned`, `end-of-life` and anything else do not rate (`None`).
pub fn urgency_severity(urgency: &str) -> Option<Severity> {
    match urgency.trim().trim_end_matches('*').trim() {
        "unimportant" | "low" => Some(Severity::Low),
        "medium" => Some(Severity::Medium),
        "high" => Some(Severity::High),
        _ => None,
    }
}

/// The Debian codename of an OSV/os-release version (`12`, `12.5`, `Debian:12`), or `None`.
pub fn codename(version: &str) -> Option<&'static str> {
    let v = version.trim();
    let v = v.rsplit(':').next().unwrap_or(v);
    let major = v.split('.').next().unwrap_or(v).trim();
    Some(match major {
        "7" => "wheezy",
        "8" => "jessie",
        "9" => "stretch",
        "10" => "buster",
        "11" => "bullseye",
        "12" => "bookworm",
        "13" => "trixie",
        "14" => "forky",
        "15" => "duke",
        _ => return None,
    })
}

/// Stream the ratings of a tracker JSON to `each`.
pub fn parse<R: BufRead>(
    reader: R,
    mut each: impl FnMut(DebianRating) -> anyhow::Result<()>,
) -> anyhow::Result<DebianStats> {
    let mut stats = DebianStats::default();
    let mut stash = None;
    let mut cves = std::collections::HashSet::new();
    let mut de = serde_json::Deserializer::from_reader(reader);
    let res = serde::Deserializer::deserialize_map(
        &mut de,
        Packages {
            each: &mut each,
            stats: &mut stats,
            stash: &mut stash,
            cves: &mut cves,
        },
    );
    if let Some(e) = stash {
        return Err(e);
    }
    res.map_err(|e| anyhow::anyhow!("not valid Debian security tracker JSON: {e}"))?;
    de.end()
        .map_err(|e| anyhow::anyhow!("not valid Debian security tracker JSON: {e}"))?;
    stats.cves = cves.len() as u64;
    Ok(stats)
}

struct Packages<'a, F> {
    each: &'a mut F,
    stats: &'a mut DebianStats,
    stash: &'a mut Option<anyhow::Error>,
    cves: &'a mut std::collections::HashSet<String>,
}

impl<'de, F: FnMut(DebianRating) -> anyhow::Result<()>> Visitor<'de> for Packages<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of source packages to issues")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(package) = map.next_key::<String>()? {
            self.stats.packages += 1;
            let issues: BTreeMap<String, RawIssue> = map.next_value_seed(Issues)?;
            let Some(package) = clean(Some(package)) else {
                continue;
            };
            for (id, issue) in issues {
                let Some(cve) = cve_id(&id) else { continue };
                for (release, r) in issue.releases {
                    let Some(urgency) = clean(r.urgency) else {
                        continue;
                    };
                    let Some(severity) = urgency_severity(&urgency) else {
                        continue;
                    };
                    let Some(release) = clean(Some(release)) else {
                        continue;
                    };
                    self.stats.ratings += 1;
                    if !self.cves.contains(&cve) {
                        self.cves.insert(cve.clone());
                    }
                    let rating = DebianRating {
                        cve: cve.clone(),
                        package: package.clone(),
                        release,
                        urgency,
                        severity,
                    };
                    if let Err(e) = (self.each)(rating) {
                        *self.stash = Some(e);
                        return Err(de::Error::custom("stopped"));
                    }
                }
            }
        }
        Ok(())
    }
}

/// One package's issues (a few hundred at most; the biggest, the kernel, a few thousand).
struct Issues;

impl<'de> DeserializeSeed<'de> for Issues {
    type Value = BTreeMap<String, RawIssue>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        BTreeMap::<String, RawIssue>::deserialize(d)
    }
}

#[derive(Deserialize)]
struct RawIssue {
    #[serde(default)]
    releases: BTreeMap<String, RawRelease>,
}

#[derive(Deserialize)]
struct RawRelease {
    #[serde(default)]
    urgency: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACKER: &str = r#"{
      "zlib": {
        "CVE-2023-45853": {"description": "MiniZip in zlib", "scope": "remote", "debianbug": 1054290,
          "releases": {
            "bookworm": {"status": "open", "repositories": {"bookworm": "1:1.2.13.dfsg-1"}, "urgency": "unimportant"},
            "sid": {"status": "resolved", "repositories": {"sid": "1:1.3.dfsg-3"}, "fixed_version": "1:1.3.dfsg-3", "urgency": "low**"},
            "bullseye": {"status": "open", "repositories": {}, "urgency": "not yet assigned"}}},
        "TEMP-0000000-ABCDEF": {"releases": {"sid": {"status": "open", "urgency": "high"}}}
      },
      "openssl": {
        "CVE-2024-0001": {"releases": {"bookworm": {"status": "resolved", "urgency": "high", "nodsa": "minor"}}}
      }
    }"#;

    #[test]
    fn keeps_the_urgency_per_cve_package_release() {
        let mut got = Vec::new();
        let stats = parse(TRACKER.as_bytes(), |r| {
            got.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(stats.packages, 2);
        assert_eq!(stats.ratings, 3);
        assert_eq!(stats.cves, 2);
        let key: Vec<(&str, &str, &str, Severity)> = got
            .iter()
            .map(|r| {
                (
                    r.cve.as_str(),
                    r.package.as_str(),
                    r.release.as_str(),
                    r.severity,
                )
            })
            .collect();
        assert_eq!(
            key,
            vec![
                ("CVE-2023-45853", "zlib", "bookworm", Severity::Low),
                ("CVE-2023-45853", "zlib", "sid", Severity::Low),
                ("CVE-2024-0001", "openssl", "bookworm", Severity::High),
            ]
        );
        assert_eq!(got[1].urgency, "low**");
    }

    #[test]
    fn urgencies_and_codenames() {
        assert_eq!(urgency_severity("medium*"), Some(Severity::Medium));
        assert_eq!(urgency_severity("end-of-life"), None);
        assert_eq!(codename("12.5"), Some("bookworm"));
        assert_eq!(codename("Debian:11"), Some("bullseye"));
        assert_eq!(codename("sid"), None);
    }

    #[test]
    fn broken_input_is_an_error() {
        for bad in [&TRACKER[..100], "[]", r#"{"zlib": 3}"#] {
            assert!(parse(bad.as_bytes(), |_| Ok(())).is_err(), "{bad}");
        }
    }
}
