//! CISA's Known Exploited Vulnerabilities catalog
//! (`https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json`):
//! `{"title", "catalogVersion", "dateReleased", "count", "vulnerabilities": [{"cveID",
//! "vendorProject", "product", "vulnerabilityName", "dateAdded", "shortDescription", "requiredAction",
//! "dueDate", "knownRansomwareCampaignUse", "notes", "cwes"}]}`. About 1 MB; read whole under a cap.

use super::{clean, cve_id};
use serde::Deserialize;
use std::io::Read;

/// Larger files are refused (the real catalog is ~1.5 MB).
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevEntry {
    pub cve: String,
    /// `YYYY-MM-DD`.
    pub date_added: String,
    pub due_date: Option<String>,
    /// `Known` or `Unknown`.
    pub ransomware: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KevCatalog {
    pub version: Option<String>,
    pub released: Option<String>,
    pub entries: Vec<KevEntry>,
    /// Entries without a CVE id or a valid `dateAdded` (skipped).
    pub invalid: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    catalog_version: Option<String>,
    #[serde(default)]
    date_released: Option<String>,
    vulnerabilities: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    #[serde(rename = "cveID", default)]
    cve_id: Option<String>,
    #[serde(default)]
    date_added: Option<String>,
    #[serde(default)]
    due_date: Option<String>,
    #[serde(default)]
    known_ransomware_campaign_use: Option<String>,
    #[serde(default)]
    vulnerability_name: Option<String>,
}

/// `YYYY-MM-DD`.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

pub fn parse(reader: impl Read) -> anyhow::Result<KevCatalog> {
    let mut buf = Vec::new();
    reader.take(MAX_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_BYTES {
        anyhow::bail!("larger than the {MAX_BYTES}-byte limit for a KEV catalog");
    }
    let raw: Raw = serde_json::from_slice(&buf)
        .map_err(|e| anyhow::anyhow!("not a valid CISA KEV catalog: {e}"))?;
    let mut out = KevCatalog {
        version: clean(raw.catalog_version),
        released: clean(raw.date_released),
        ..KevCatalog::default()
    };
    for e in raw.vulnerabilities {
        let cve = e.cve_id.as_deref().and_then(cve_id);
        let date = clean(e.date_added).filter(|d| is_date(d));
        let (Some(cve), Some(date_added)) = (cve, date) else {
            out.invalid += 1;
            continue;
        };
        out.entries.push(KevEntry {
            cve,
            date_added,
            due_date: clean(e.due_date).filter(|d| is_date(d)),
            ransomware: clean(e.known_ransomware_campaign_use),
            name: clean(e.vulnerability_name),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_catalog() {
        let json = r#"{"title": "CISA Catalog of Known Exploited Vulnerabilities",
          "catalogVersion": "2025.06.02", "dateReleased": "2025-06-02T17:59:04.0484Z", "count": 2,
          "vulnerabilities": [
            {"cveID": "CVE-2021-44228", "vendorProject": "Apache", "product": "Log4j2",
             "vulnerabilityName": "Apache Log4j2 Remote Code Execution Vulnerability", "dateAdded": "2021-12-10",
             "shortDescription": "...", "requiredAction": "...", "dueDate": "2021-12-24",
             "knownRansomwareCampaignUse": "Known", "notes": "", "cwes": ["CWE-20", "CWE-400"]},
            {"cveID": "CVE-2020-1", "dateAdded": "2022-01-01"},
            {"cveID": "CVE-2022-22965", "dateAdded": "not a date"}]}"#;
        let c = parse(json.as_bytes()).unwrap();
        assert_eq!(c.version.as_deref(), Some("2025.06.02"));
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.invalid, 2);
        assert_eq!(c.entries[0].cve, "CVE-2021-44228");
        assert_eq!(c.entries[0].date_added, "2021-12-10");
        assert_eq!(c.entries[0].ransomware.as_deref(), Some("Known"));
        assert!(parse(&b"{\"vulnerabilities\": 3}"[..]).is_err());
        assert!(parse(&b"{\"catalogVersion\": \"1\""[..]).is_err());
    }
}
