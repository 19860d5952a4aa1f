//! OSV records (schema 1.6), the subset the matcher needs. Unknown fields are ignored; fields we rely on
//! are validated when a record is parsed, so an invalid record can't reach the matcher.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    pub id: String,
    #[serde(default)]
    pub modified: Option<String>,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub related: Vec<String>,
    /// OSV 1.7 `upstream`: the upstream ids this (downstream, e.g. `DEBIAN-CVE-…`) record tracks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub references: Vec<Reference>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityEntry {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`.
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<AffectedPackage>,
    #[serde(default)]
    pub severity: Vec<SeverityEntry>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub ecosystem_specific: Option<serde_json::Value>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedPackage {
    /// `PyPI`, `Debian:12`, `Alpine:v3.20`, `Ubuntu:22.04:LTS`, ...
    pub ecosystem: String,
    pub name: String,
    #[serde(default)]
    pub purl: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// `ECOSYSTEM`, `SEMVER` or `GIT`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One range event; exactly one of the fields is set in a valid record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub url: String,
}

/// Why a record was rejected.
#[derive(Debug, thiserror::Error)]
pub enum AdvisoryError {
    #[error("not valid OSV JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("record {id}: {problem}")]
    Invalid { id: String, problem: String },
}

impl Advisory {
    /// Parse and validate one OSV record.
    pub fn from_json(bytes: &[u8]) -> Result<Advisory, AdvisoryError> {
        let adv: Advisory = serde_json::from_slice(bytes)?;
        adv.validate()?;
        Ok(adv)
    }

    /// Structural checks the matcher relies on.
    pub fn validate(&self) -> Result<(), AdvisoryError> {
        let invalid = |problem: String| AdvisoryError::Invalid {
            id: self.id.clone(),
            problem,
        };
        if self.id.trim().is_empty() {
            return Err(invalid("empty id".into()));
        }
        if self.id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(format!("id {:?} contains whitespace", self.id)));
        }
        for (i, a) in self.affected.iter().enumerate() {
            if let Some(p) = &a.package {
                if p.ecosystem.trim().is_empty() || p.name.trim().is_empty() {
                    return Err(invalid(format!(
                        "affected[{i}].package needs a non-empty ecosystem and name"
                    )));
                }
            }
            for r in &a.ranges {
                if !matches!(r.kind.as_str(), "ECOSYSTEM" | "SEMVER" | "GIT") {
                    return Err(invalid(format!(
                        "affected[{i}]: unknown range type {:?} (OSV has ECOSYSTEM, SEMVER, GIT)",
                        r.kind
                    )));
                }
                if r.kind == "GIT" && r.repo.as_deref().is_none_or(|x| x.trim().is_empty()) {
                    return Err(invalid(format!("affected[{i}]: a GIT range needs a repo")));
                }
                if !r.events.iter().any(|e| e.introduced.is_some()) {
                    return Err(invalid(format!(
                        "affected[{i}]: a {} range needs an introduced event",
                        r.kind
                    )));
                }
                for e in &r.events {
                    if [&e.introduced, &e.fixed, &e.last_affected, &e.limit]
                        .iter()
                        .any(|v| v.as_deref().is_some_and(|v| v.trim().is_empty()))
                    {
                        return Err(invalid(format!(
                            "affected[{i}]: a {} range event has an empty version",
                            r.kind
                        )));
                    }
                    let n = [&e.introduced, &e.fixed, &e.last_affected, &e.limit]
                        .iter()
                        .filter(|v| v.is_some())
                        .count();
                    if n != 1 {
                        return Err(invalid(format!(
                            "a {} range event must have exactly one of introduced/fixed/last_affected/limit",
                            r.kind
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The ecosystem's base name (`Debian:12` → `Debian`).
    pub fn ecosystem_base(ecosystem: &str) -> &str {
        ecosystem.split(':').next().unwrap_or(ecosystem)
    }
}

/// The name under which packages are indexed and compared: PEP 503 for PyPI (lowercase, runs of
/// `-`, `_`, `.` become `-`), the name as written elsewhere.
pub fn normalize_name(ecosystem_base: &str, name: &str) -> String {
    if ecosystem_base.eq_ignore_ascii_case("pypi") {
        let mut out = String::with_capacity(name.len());
        let mut sep = false;
        for c in name.trim().chars() {
            if c == '-' || c == '_' || c == '.' {
                sep = true;
            } else {
                if sep && !out.is_empty() {
                    out.push('-');
                }
                sep = false;
                out.push(c.to_ascii_lowercase());
            }
        }
        out
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod validation_tests {
    use super::*;

    fn problem(json: &str) -> String {
        match Advisory::from_json(json.as_bytes()) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn rejects_what_the_matcher_cannot_use() {
        let ok = r#"{"id":"A-1","affected":[{"package":{"ecosystem":"PyPI","name":"x"},
            "ranges":[{"type":"GIT","repo":"https://g.example/x","events":[{"introduced":"0"}]},
                      {"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0"}]}]}]}"#;
        assert_eq!(problem(ok), "");
        assert!(problem(r#"{"id":" "}"#).contains("empty id"));
        assert!(problem(r#"{"id":"A 1"}"#).contains("whitespace"));
        assert!(
            problem(r#"{"id":"A-1","affected":[{"package":{"ecosystem":"PyPI","name":""}}]}"#)
                .contains("non-empty ecosystem and name")
        );
        assert!(problem(
            r#"{"id":"A-1","affected":[{"ranges":[{"type":"RANGE","events":[{"introduced":"0"}]}]}]}"#
        )
        .contains("unknown range type"));
        assert!(problem(
            r#"{"id":"A-1","affected":[{"ranges":[{"type":"GIT","events":[{"introduced":"0"}]}]}]}"#
        )
        .contains("needs a repo"));
        assert!(problem(
            r#"{"id":"A-1","affected":[{"ranges":[{"type":"ECOSYSTEM","events":[{"fixed":"1"}]}]}]}"#
        )
        .contains("introduced"));
        assert!(problem(
            r#"{"id":"A-1","affected":[{"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":""}]}]}]}"#
        )
        .contains("empty version"));
        assert!(problem(
            r#"{"id":"A-1","affected":[{"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0","fixed":"1"}]}]}]}"#
        )
        .contains("exactly one"));
        assert!(problem("{").contains("not valid OSV JSON"));
    }
}
