//! What the enrichment feeds say about one CVE, and which rating a finding shows.
//!
//! # Severity precedence
//!
//! A finding keeps every rating it has, keyed by source (Trivy's `VendorSeverity` map: `nvd`,
//! `debian`, `ubuntu`, `ghsa`, ...), and shows one of them, chosen by [`pick_severity`]:
//!
//! 1. the rating of the finding's own data source ([`source_key`]): for an OS package the
//!    distribution's (`debian`: the security tracker's urgency for that source package and release;
//!    `ubuntu`: the priority OSV's Ubuntu records carry; `alpine`: Alpine publishes none); for a
//!    language package the record's CVSS (`ghsa` for GitHub's advisories, `osv` for PyPA's);
//! 2. else NVD's (`nvd`: CVSS v3.x, else v4.0, else v2);
//! 3. else none (UNKNOWN), unless the caller has another rating of its own.
//!
//! This is Trivy's rule (`getVendorSeverity`), so a Trivy reader sees the same `SeveritySource`
//! and finds the CVSS under the same key. Ratings that do not rate (Debian's `not yet assigned`,
//! UNKNOWN) are never in the map.

use crate::model::Severity;
use std::collections::BTreeMap;

/// One CVSS vector with its base score.
#[derive(Debug, Clone, PartialEq)]
pub struct Cvss {
    pub vector: String,
    pub score: f64,
    /// The qualitative rating the publisher gave (or the score's band when it gave none).
    pub severity: Option<Severity>,
}

/// NVD's vectors for one CVE (Trivy's `CVSS["nvd"]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NvdRating {
    pub v2: Option<Cvss>,
    pub v3: Option<Cvss>,
    pub v40: Option<Cvss>,
    pub cwes: Vec<String>,
    pub published: Option<String>,
    pub last_modified: Option<String>,
}

impl NvdRating {
    /// CVSS v3.x, else v4.0, else v2.
    pub fn severity(&self) -> Option<Severity> {
        [&self.v3, &self.v40, &self.v2]
            .into_iter()
            .find_map(|c| c.as_ref().and_then(|c| c.severity))
    }
}

/// A distribution's rating of a CVE in one of its packages and releases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorRating {
    /// `debian`.
    pub source: String,
    /// Source package.
    pub package: String,
    /// Codename (`bookworm`).
    pub release: String,
    /// As the vendor wrote it (`low**`).
    pub rating: String,
    pub severity: Severity,
}

/// CISA KEV: the CVE is known to be exploited in the wild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownExploited {
    /// `YYYY-MM-DD`.
    pub date_added: String,
    pub due_date: Option<String>,
    /// `Known` when CISA knows of ransomware campaigns using it.
    pub ransomware: Option<String>,
}

/// FIRST EPSS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epss {
    pub score: f64,
    pub percentile: f64,
}

/// Everything the feeds say about one CVE.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CveEnrichment {
    pub nvd: Option<NvdRating>,
    pub vendor: Vec<VendorRating>,
    pub kev: Option<KnownExploited>,
    pub epss: Option<Epss>,
}

impl CveEnrichment {
    pub fn is_empty(&self) -> bool {
        self.nvd.is_none() && self.vendor.is_empty() && self.kev.is_none() && self.epss.is_none()
    }

    /// `source`'s rating for `package` in `release` (a codename); without a rating for that
    /// release, the highest over the package's releases (the tracker rates per release, and a
    /// release it no longer lists is usually older than its ratings).
    pub fn vendor_severity(
        &self,
        source: &str,
        package: &str,
        release: Option<&str>,
    ) -> Option<Severity> {
        let mine = || {
            self.vendor
                .iter()
                .filter(move |v| v.source == source && v.package == package)
        };
        if let Some(rel) = release {
            if let Some(v) = mine().find(|v| v.release == rel) {
                return Some(v.severity);
            }
        }
        mine().map(|v| v.severity).max()
    }
}

/// The `VendorSeverity` key of a finding's own data source, from the id of the record it was
/// matched by: `debian` (`DEBIAN-`, `DSA-`, `DLA-`), `ubuntu` (`UBUNTU-`, `USN-`), `alpine`
/// (`ALPINE-`), `amazon` (`ALAS`), `ghsa`, `osv` (`PYSEC-` and other OSV-native databases), `nvd`
/// (a plain `CVE-` record), else the id's prefix in lower case.
pub fn source_key(record_id: &str) -> String {
    let id = record_id.trim().to_ascii_uppercase();
    let prefix = id.split('-').next().unwrap_or(&id);
    match prefix {
        "DEBIAN" | "DSA" | "DLA" | "DTSA" => "debian".into(),
        "UBUNTU" | "USN" => "ubuntu".into(),
        "ALPINE" => "alpine".into(),
        p if p.starts_with("ALAS") => "amazon".into(),
        "GHSA" => "ghsa".into(),
        "PYSEC" => "osv".into(),
        "CVE" => "nvd".into(),
        p => p.to_ascii_lowercase(),
    }
}

/// The shown severity and the key of the source that won, by the precedence in the module docs:
/// `own` (the finding's data source), else `nvd`. `None` when neither rated.
pub fn pick_severity(
    own: &str,
    vendor_severity: &BTreeMap<String, Severity>,
) -> Option<(Severity, String)> {
    [own, "nvd"].into_iter().find_map(|k| {
        vendor_severity
            .get(k)
            .filter(|s| **s != Severity::Unknown)
            .map(|s| (*s, k.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Severity)]) -> BTreeMap<String, Severity> {
        entries.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn the_distribution_wins_for_os_packages_else_nvd() {
        let m = map(&[("debian", Severity::Low), ("nvd", Severity::Critical)]);
        assert_eq!(
            pick_severity("debian", &m),
            Some((Severity::Low, "debian".into()))
        );
        let m = map(&[("nvd", Severity::Critical)]);
        assert_eq!(
            pick_severity("debian", &m),
            Some((Severity::Critical, "nvd".into()))
        );
        let m = map(&[("ghsa", Severity::High), ("nvd", Severity::Medium)]);
        assert_eq!(
            pick_severity("ghsa", &m),
            Some((Severity::High, "ghsa".into()))
        );
        // Another source's rating is kept in the map but does not decide.
        let m = map(&[("ubuntu", Severity::High), ("debian", Severity::Unknown)]);
        assert_eq!(pick_severity("debian", &m), None);
    }

    #[test]
    fn source_keys() {
        assert_eq!(source_key("DEBIAN-CVE-2023-45853"), "debian");
        assert_eq!(source_key("DSA-5000-1"), "debian");
        assert_eq!(source_key("UBUNTU-CVE-2023-1"), "ubuntu");
        assert_eq!(source_key("ALAS2023-2024-1"), "amazon");
        assert_eq!(source_key("GHSA-aaaa-bbbb-cccc"), "ghsa");
        assert_eq!(source_key("PYSEC-2021-1"), "osv");
        assert_eq!(source_key("CVE-2021-1"), "nvd");
        assert_eq!(source_key("MAL-2024-1"), "mal");
    }

    #[test]
    fn vendor_rating_by_release_then_highest() {
        let r = |rel: &str, s| VendorRating {
            source: "debian".into(),
            package: "zlib".into(),
            release: rel.into(),
            rating: String::new(),
            severity: s,
        };
        let e = CveEnrichment {
            vendor: vec![
                r("bookworm", Severity::Low),
                r("bullseye", Severity::Medium),
            ],
            ..CveEnrichment::default()
        };
        assert_eq!(
            e.vendor_severity("debian", "zlib", Some("bookworm")),
            Some(Severity::Low)
        );
        assert_eq!(
            e.vendor_severity("debian", "zlib", Some("trixie")),
            Some(Severity::Medium)
        );
        assert_eq!(e.vendor_severity("debian", "openssl", None), None);
    }
}
