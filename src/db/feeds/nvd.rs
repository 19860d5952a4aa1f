//! NVD's CVE JSON 2.0 data feeds (`nvdcve-2.0-<year>.json.gz`, `-modified`, `-recent`), per NVD's
//! published schema (`https://csrc.nist.gov/schema/nvd/api/2.0/cve_api_json_2.0.schema`):
//!
//! ```text
//! {"resultsPerPage", "startIndex", "totalResults", "format": "NVD_CVE", "version": "2.0", "timestamp",
//!  "vulnerabilities": [{"cve": {"id", "sourceIdentifier", "published", "lastModified", "vulnStatus",
//!     "descriptions": [{"lang", "value"}], "weaknesses": [{"source", "type", "description": [{"lang", "value"}]}],
//!     "metrics": {"cvssMetricV40": [M], "cvssMetricV31": [M], "cvssMetricV30": [M], "cvssMetricV2": [M]},
//!     "configurations", "references", ...}}]}
//! M = {"source", "type": "Primary"|"Secondary", "cvssData": {"version", "vectorString", "baseScore",
//!      "baseSeverity" (v3.x, v4.0)}, "baseSeverity" (v2), ...}
//! ```
//!
//! The array is streamed one CVE at a time; everything but the fields above is skipped unread
//! (serde's `IgnoredAny`), so memory does not grow with the file.

use super::{clean, cve_id, severity_word};
use crate::db::enrich::Cvss;
use crate::model::Severity;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::io::BufRead;

/// One CVE as the database keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct NvdCve {
    pub id: String,
    pub published: Option<String>,
    pub last_modified: Option<String>,
    /// NVD marks the CVE `Rejected`: an import removes what the database had for it.
    pub rejected: bool,
    pub v2: Option<Cvss>,
    /// CVSS v3.1, else v3.0.
    pub v3: Option<Cvss>,
    pub v40: Option<Cvss>,
    /// `CWE-79`, ... (`NVD-CWE-Other`/`NVD-CWE-noinfo` dropped).
    pub cwes: Vec<String>,
}

impl NvdCve {
    /// NVD's severity: CVSS v3.x, else v4.0, else v2.
    pub fn severity(&self) -> Option<Severity> {
        [&self.v3, &self.v40, &self.v2]
            .into_iter()
            .find_map(|c| c.as_ref().and_then(|c| c.severity))
    }
}

/// What a feed file held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NvdStats {
    pub cves: u64,
    pub rejected: u64,
    /// Entries whose `id` is not a CVE id (skipped).
    pub invalid_ids: u64,
    pub version: Option<String>,
    pub timestamp: Option<String>,
}

/// Stream the CVEs of an NVD 2.0 feed to `each`. An error from `each` stops the parse and is
/// returned as is.
pub fn parse<R: BufRead>(
    reader: R,
    mut each: impl FnMut(NvdCve) -> anyhow::Result<()>,
) -> anyhow::Result<NvdStats> {
    let mut stats = NvdStats::default();
    let mut stash: Option<anyhow::Error> = None;
    let mut format: Option<String> = None;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let res = serde::Deserializer::deserialize_map(
        &mut de,
        Top {
            each: &mut each,
            stats: &mut stats,
            stash: &mut stash,
            format: &mut format,
        },
    );
    if let Some(e) = stash {
        return Err(e);
    }
    res.map_err(|e| anyhow::anyhow!("not a valid NVD CVE JSON 2.0 feed: {e}"))?;
    de.end()
        .map_err(|e| anyhow::anyhow!("not a valid NVD CVE JSON 2.0 feed: {e}"))?;
    if format.as_deref() != Some("NVD_CVE") {
        anyhow::bail!(
            "not an NVD CVE JSON 2.0 feed (format {:?}, expected \"NVD_CVE\")",
            format.unwrap_or_default()
        );
    }
    Ok(stats)
}

struct Top<'a, F> {
    each: &'a mut F,
    stats: &'a mut NvdStats,
    stash: &'a mut Option<anyhow::Error>,
    format: &'a mut Option<String>,
}

impl<'de, F: FnMut(NvdCve) -> anyhow::Result<()>> Visitor<'de> for Top<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an NVD CVE feed object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => *self.format = map.next_value::<Option<String>>()?,
                "version" => self.stats.version = clean(map.next_value()?),
                "timestamp" => self.stats.timestamp = clean(map.next_value()?),
                "vulnerabilities" => map.next_value_seed(Items {
                    each: &mut *self.each,
                    stats: &mut *self.stats,
                    stash: &mut *self.stash,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct Items<'a, F> {
    each: &'a mut F,
    stats: &'a mut NvdStats,
    stash: &'a mut Option<anyhow::Error>,
}

impl<'de, F: FnMut(NvdCve) -> anyhow::Result<()>> DeserializeSeed<'de> for Items<'_, F> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(NvdCve) -> anyhow::Result<()>> Visitor<'de> for Items<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of {\"cve\": {...}} objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0u64;
        loop {
            let item = match seq.next_element::<RawItem>() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => {
                    return Err(de::Error::custom(format_args!(
                        "vulnerabilities[{index}]: {e}"
                    )))
                }
            };
            index += 1;
            let Some(cve) = convert(item.cve) else {
                self.stats.invalid_ids += 1;
                continue;
            };
            if cve.rejected {
                self.stats.rejected += 1;
            } else {
                self.stats.cves += 1;
            }
            if let Err(e) = (self.each)(cve) {
                *self.stash = Some(e);
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RawItem {
    cve: RawCve,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCve {
    id: String,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    #[serde(default)]
    vuln_status: Option<String>,
    #[serde(default)]
    weaknesses: Vec<RawWeakness>,
    #[serde(default)]
    metrics: RawMetrics,
}

#[derive(Deserialize)]
struct RawWeakness {
    #[serde(default)]
    description: Vec<RawLangString>,
}

#[derive(Deserialize)]
struct RawLangString {
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawMetrics {
    #[serde(rename = "cvssMetricV40", default)]
    v40: Vec<RawMetric>,
    #[serde(rename = "cvssMetricV31", default)]
    v31: Vec<RawMetric>,
    #[serde(rename = "cvssMetricV30", default)]
    v30: Vec<RawMetric>,
    #[serde(rename = "cvssMetricV2", default)]
    v2: Vec<RawMetric>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetric {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    cvss_data: RawCvssData,
    /// v2 keeps its severity beside `cvssData`.
    #[serde(default)]
    base_severity: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCvssData {
    #[serde(default)]
    vector_string: Option<String>,
    #[serde(default)]
    base_score: Option<f64>,
    #[serde(default)]
    base_severity: Option<String>,
}

/// Which CVSS generation a metric list is, for checking its vectors and scores.
#[derive(Clone, Copy)]
enum Gen {
    V2,
    V3,
    V4,
}

fn convert(raw: RawCve) -> Option<NvdCve> {
    let id = cve_id(&raw.id)?;
    let rejected = raw
        .vuln_status
        .as_deref()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("Rejected"));
    let m = raw.metrics;
    let v3 = pick(&m.v31, Gen::V3).or_else(|| pick(&m.v30, Gen::V3));
    let mut cwes: Vec<String> = raw
        .weaknesses
        .into_iter()
        .flat_map(|w| w.description)
        .filter_map(|d| clean(d.value))
        .filter(|v| {
            v.len() <= 16
                && v.strip_prefix("CWE-")
                    .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    cwes.sort();
    cwes.dedup();
    Some(NvdCve {
        id,
        published: clean(raw.published),
        last_modified: clean(raw.last_modified),
        rejected,
        v2: pick(&m.v2, Gen::V2),
        v3,
        v40: pick(&m.v40, Gen::V4),
        cwes,
    })
}

/// NVD's own (`Primary`) metric, else the first valid one (a CNA's `Secondary`).
fn pick(metrics: &[RawMetric], gen: Gen) -> Option<Cvss> {
    let primary = metrics.iter().filter(|m| {
        m.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("Primary"))
    });
    primary.chain(metrics.iter()).find_map(|m| metric(m, gen))
}

fn metric(m: &RawMetric, gen: Gen) -> Option<Cvss> {
    let vector = clean(m.cvss_data.vector_string.clone())?;
    let score = m
        .cvss_data
        .base_score
        .filter(|s| s.is_finite() && (0.0..=10.0).contains(s))?;
    let vector_ok = match gen {
        Gen::V2 => vector.starts_with("AV:") || vector.starts_with("(AV:"),
        Gen::V3 => vector.starts_with("CVSS:3."),
        Gen::V4 => vector.starts_with("CVSS:4."),
    };
    if !vector_ok || vector.len() > 256 {
        return None;
    }
    let word = match gen {
        Gen::V2 => m.base_severity.as_deref(),
        _ => m.cvss_data.base_severity.as_deref(),
    };
    let severity = word.and_then(severity_word).or_else(|| match gen {
        Gen::V2 => Some(v2_severity(score)),
        _ => Some(crate::matcher::severity_from_score(score)),
    });
    Some(Cvss {
        vector,
        score,
        severity: severity.filter(|s| *s != Severity::Unknown),
    })
}

/// CVSS v2's qualitative bands (NVD: 0-3.9 low, 4.0-6.9 medium, 7.0-10 high).
fn v2_severity(score: f64) -> Severity {
    if score >= 7.0 {
        Severity::High
    } else if score >= 4.0 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEED: &str = r#"{
      "resultsPerPage": 3, "startIndex": 0, "totalResults": 3,
      "format": "NVD_CVE", "version": "2.0", "timestamp": "2025-01-02T03:04:05.000",
      "vulnerabilities": [
        {"cve": {"id": "CVE-2023-45853", "sourceIdentifier": "cve@mitre.org",
          "published": "2023-10-14T02:15:09.323", "lastModified": "2024-12-20T17:41:31.237",
          "vulnStatus": "Modified",
          "descriptions": [{"lang": "en", "value": "MiniZip in zlib through 1.3 has an integer overflow"}],
          "metrics": {
            "cvssMetricV31": [
              {"source": "134c704f-9b21-4f2e-91b3-4a467353bcc0", "type": "Secondary",
               "cvssData": {"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
                 "baseScore": 7.5, "baseSeverity": "HIGH"}},
              {"source": "nvd@nist.gov", "type": "Primary",
               "cvssData": {"version": "3.1", "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                 "baseScore": 9.8, "baseSeverity": "CRITICAL", "attackVector": "NETWORK"},
               "exploitabilityScore": 3.9, "impactScore": 5.9}]},
          "weaknesses": [{"source": "nvd@nist.gov", "type": "Primary",
             "description": [{"lang": "en", "value": "CWE-190"}, {"lang": "en", "value": "NVD-CWE-Other"}]}],
          "configurations": [{"nodes": [{"operator": "OR", "negate": false, "cpeMatch": [
             {"vulnerable": true, "criteria": "cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*", "versionEndIncluding": "1.3",
              "matchCriteriaId": "x"}]}]}],
          "references": [{"url": "https://example.com", "source": "cve@mitre.org"}]}},
        {"cve": {"id": "CVE-2002-0001", "published": "2002-01-01T00:00:00.000", "lastModified": "2008-01-01T00:00:00.000",
          "vulnStatus": "Analyzed",
          "metrics": {"cvssMetricV2": [{"source": "nvd@nist.gov", "type": "Primary",
             "cvssData": {"version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:P/I:P/A:P", "baseScore": 7.5},
             "baseSeverity": "HIGH", "acInsufInfo": false}]}}},
        {"cve": {"id": "CVE-2024-0002", "vulnStatus": "Rejected", "metrics": {}}},
        {"cve": {"id": "not-a-cve", "metrics": {}}}
      ]}"#;

    #[test]
    fn parses_the_nvd_2_0_shape() {
        let mut got = Vec::new();
        let stats = parse(FEED.as_bytes(), |c| {
            got.push(c);
            Ok(())
        })
        .unwrap();
        assert_eq!(stats.cves, 2);
        assert_eq!(stats.rejected, 1);
        assert_eq!(stats.invalid_ids, 1);
        assert_eq!(stats.version.as_deref(), Some("2.0"));
        let zlib = &got[0];
        assert_eq!(zlib.id, "CVE-2023-45853");
        let v3 = zlib.v3.as_ref().unwrap();
        // NVD's Primary metric wins over the CNA's Secondary one.
        assert_eq!(v3.score, 9.8);
        assert!(v3.vector.ends_with("C:H/I:H/A:H"));
        assert_eq!(zlib.severity(), Some(Severity::Critical));
        assert_eq!(zlib.cwes, vec!["CWE-190"]);
        assert_eq!(
            zlib.last_modified.as_deref(),
            Some("2024-12-20T17:41:31.237")
        );
        let old = &got[1];
        assert!(old.v3.is_none());
        assert_eq!(old.v2.as_ref().unwrap().score, 7.5);
        assert_eq!(old.severity(), Some(Severity::High));
        assert!(got[2].rejected);
    }

    #[test]
    fn callback_errors_stop_the_parse() {
        let mut n = 0;
        let err = parse(FEED.as_bytes(), |_| {
            n += 1;
            anyhow::bail!("writer gone")
        })
        .unwrap_err();
        assert_eq!(n, 1);
        assert_eq!(err.to_string(), "writer gone");
    }

    #[test]
    fn broken_feeds_are_errors_not_panics() {
        for bad in [
            &FEED[..FEED.len() / 2],
            r#"{"format": "NVD_CVE", "vulnerabilities": [{"cve": {"metrics": {}}}]}"#,
            r#"{"format": "OTHER", "vulnerabilities": []}"#,
            r#"[1, 2]"#,
            "",
        ] {
            assert!(parse(bad.as_bytes(), |_| Ok(())).is_err(), "{bad}");
        }
        // A bad score or vector is dropped, not trusted.
        let odd = r#"{"format": "NVD_CVE", "vulnerabilities": [{"cve": {"id": "CVE-2020-1234",
            "metrics": {"cvssMetricV31": [{"type": "Primary", "cvssData": {"vectorString": "junk", "baseScore": 99}}]}}}]}"#;
        let mut got = Vec::new();
        parse(odd.as_bytes(), |c| {
            got.push(c);
            Ok(())
        })
        .unwrap();
        assert!(got[0].v3.is_none() && got[0].severity().is_none());
    }
}
