//! SARIF 2.1.0 for GitHub code scanning.
//!
//! Built as plain JSON (the shape GitHub documents for uploads) rather than through `serde-sarif`'s
//! builders, so every key we emit is visible here; the tests read the output back with
//! `serde-sarif`'s types to check the structure. Choices follow Trivy's SARIF so that dashboards fed
//! by Trivy keep working: one rule per vulnerability or check id, `security-severity` from the CVSS
//! score (else 9.5/8.0/5.5/2.0/0.0 by severity), image findings located at the image's repository
//! path. `partialFingerprints` hash what identifies a finding (rule, location, package, installed
//! version / resource), never line numbers or tags, so alerts survive re-runs and re-tags.

use crate::model::{ArtifactType, Misconfiguration, Report, ScanResult, Severity, Vulnerability};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// Where users learn about the tool; `repository` in Cargo.toml wins when it is set.
pub const INFORMATION_URI: &str = match option_env!("CARGO_PKG_REPOSITORY") {
    Some(r) if !r.is_empty() => r,
    _ => "https://github.com/layerscan/layerscan",
};
/// The key of our fingerprint in `partialFingerprints`; bump the version if its inputs change.
pub const FINGERPRINT_KEY: &str = "layerscan/v1";

/// SARIF `level` for a severity.
pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// Default `security-severity` by severity, as Trivy does, when no CVSS score is known.
pub fn severity_score(s: Severity) -> f64 {
    match s {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Unknown => 0.0,
    }
}

/// The highest CVSS score recorded for the vulnerability (v3 or v4, any source).
fn cvss_score(v: &Vulnerability) -> Option<f64> {
    v.cvss
        .values()
        .flat_map(|e| [e.v3_score, e.v40_score])
        .flatten()
        .filter(|s| s.is_finite() && (0.0..=10.0).contains(s))
        .reduce(f64::max)
}

fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// Percent-encode what may not appear in a URI path; `:` too, so a relative path never reads as a
/// scheme.
fn encode_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        let c = b as char;
        if c.is_ascii_alphanumeric() || "-._~/!$&'()*+,;=@".contains(c) {
            out.push(c);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A file path as a SARIF artifact URI: relative paths stay relative (GitHub resolves them against
/// the repository root), absolute paths become `file://` URIs.
pub fn path_uri(path: &str) -> String {
    let p = path.replace('\\', "/");
    let mut s = p.as_str();
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }
    if s.starts_with('/') {
        format!("file://{}", encode_path(s))
    } else if s.is_empty() {
        ".".to_string()
    } else {
        encode_path(s)
    }
}

/// Does the artifact name look like a local file or directory rather than a registry reference?
fn is_local_path(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('/')
        || name.starts_with('.')
        || name.starts_with('~')
        || name.contains('\\')
        || [".tar", ".tgz", ".tar.gz", ".tar.zst", ".zip", ".oci"]
            .iter()
            .any(|ext| lower.ends_with(ext))
}

/// The repository path of an image reference, as Trivy puts it in SARIF: no registry host, tag or
/// digest; Docker Hub official images under `library/` (`python:3.12` → `library/python`,
/// `123.dkr.ecr.eu-west-1.amazonaws.com/team/app:1` → `team/app`).
pub fn image_repository_path(reference: &str) -> String {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    let no_tag = match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    };
    let mut parts: Vec<&str> = no_tag.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() > 1 {
        let first = parts[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            parts.remove(0);
        }
    }
    if parts.len() == 1 {
        parts.insert(0, "library");
    }
    parts.join("/")
}

/// The artifact itself as a URI: the image repository path for registry images, the file path for
/// local archives, zips and directories.
pub fn artifact_uri(report: &Report) -> String {
    let name = report.artifact_name.as_str();
    if report.artifact_type == ArtifactType::ContainerImage && !is_local_path(name) {
        encode_path(&image_repository_path(name))
    } else {
        path_uri(name)
    }
}

fn location(uri: &str, start: u32, end: u32, message: &str) -> Value {
    json!({
        "physicalLocation": {
            "artifactLocation": { "uri": uri },
            "region": {
                "startLine": start,
                "startColumn": 1,
                "endLine": end.max(start),
                "endColumn": 1
            }
        },
        "message": { "text": message }
    })
}

/// Where a vulnerability is: the requirements file for pins, the metadata file for installed Python
/// packages, the image (or archive) otherwise.
fn vuln_uri(report: &Report, r: &ScanResult, v: &Vulnerability) -> String {
    if r.kind == "pip" {
        return path_uri(&r.target);
    }
    match v.pkg_path.as_deref().filter(|p| !p.is_empty()) {
        Some(p) if r.class == "lang-pkgs" => path_uri(p),
        _ if report.artifact_type == ArtifactType::Filesystem && r.class == "lang-pkgs" => {
            path_uri(&r.target)
        }
        _ => artifact_uri(report),
    }
}

fn misconfig_uri(report: &Report, r: &ScanResult) -> String {
    let is_image = r.kind == "image-config"
        || (report.artifact_type == ArtifactType::ContainerImage
            && r.target == report.artifact_name);
    if is_image {
        artifact_uri(report)
    } else {
        path_uri(&r.target)
    }
}

struct Rules {
    index: BTreeMap<String, usize>,
    list: Vec<Value>,
}

impl Rules {
    fn index_of(&mut self, id: &str, make: impl FnOnce() -> Value) -> usize {
        if let Some(i) = self.index.get(id) {
            return *i;
        }
        let i = self.list.len();
        self.list.push(make());
        self.index.insert(id.to_string(), i);
        i
    }
}

fn vuln_rule(r: &ScanResult, v: &Vulnerability) -> Value {
    let title = v
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| format!("{} in {}", v.vulnerability_id, v.pkg_name));
    let url = v
        .primary_url
        .clone()
        .unwrap_or_else(|| format!("https://osv.dev/vulnerability/{}", v.vulnerability_id));
    let score = cvss_score(v).unwrap_or_else(|| severity_score(v.severity));
    let name = if r.class == "os-pkgs" {
        "OsPackageVulnerability"
    } else {
        "LanguageSpecificPackageVulnerability"
    };
    let mut help = format!(
        "Vulnerability {}\nSeverity: {}\n{}",
        v.vulnerability_id, v.severity, title
    );
    if !v.aliases.is_empty() {
        help.push_str(&format!("\nAliases: {}", v.aliases.join(", ")));
    }
    let markdown = format!(
        "**Vulnerability {id}**\n| Severity | Package | Fixed Version | Link |\n| --- | --- | --- | --- |\n| {sev} | {pkg} | {fixed} | [{id}]({url}) |\n\n{title}",
        id = v.vulnerability_id,
        sev = v.severity,
        pkg = v.pkg_name,
        fixed = v.fixed_version.as_deref().unwrap_or(""),
    );
    json!({
        "id": v.vulnerability_id,
        "name": name,
        "shortDescription": { "text": title },
        "fullDescription": { "text": title },
        "helpUri": url,
        "help": { "text": help, "markdown": markdown },
        "defaultConfiguration": { "level": level(v.severity) },
        "properties": {
            "precision": "very-high",
            "security-severity": format!("{score:.1}"),
            "tags": ["vulnerability", "security", v.severity.as_str()]
        }
    })
}

fn misconfig_rule(m: &Misconfiguration) -> Value {
    let title = if m.title.trim().is_empty() {
        m.id.clone()
    } else {
        m.title.clone()
    };
    let help = if m.resolution.trim().is_empty() {
        title.clone()
    } else {
        format!("{title}\nResolution: {}", m.resolution)
    };
    json!({
        "id": m.id,
        "name": "Misconfiguration",
        "shortDescription": { "text": title },
        "fullDescription": { "text": title },
        "helpUri": format!("{INFORMATION_URI}#rules"),
        "help": { "text": help, "markdown": help },
        "defaultConfiguration": { "level": level(m.severity) },
        "properties": {
            "precision": "very-high",
            "security-severity": format!("{:.1}", severity_score(m.severity)),
            "tags": ["misconfiguration", "security", m.severity.as_str()]
        }
    })
}

/// The SARIF log as a JSON value.
pub fn to_value(report: &Report) -> Value {
    let mut rules = Rules {
        index: BTreeMap::new(),
        list: Vec::new(),
    };
    let mut results = Vec::new();
    for r in &report.results {
        for v in r.vulnerabilities.iter().flatten() {
            let rule_index = rules.index_of(&v.vulnerability_id, || vuln_rule(r, v));
            let uri = vuln_uri(report, r, v);
            let fixed = v.fixed_version.as_deref().unwrap_or("none");
            let text = format!(
                "Package: {}\nInstalled Version: {}\nVulnerability: {}\nSeverity: {}\nFixed Version: {}\nTarget: {}",
                v.pkg_name, v.installed_version, v.vulnerability_id, v.severity, fixed, r.target
            );
            let loc_msg = format!("{}: {}@{}", r.target, v.pkg_name, v.installed_version);
            let fp = fingerprint(&[
                &v.vulnerability_id,
                &uri,
                &r.class,
                &r.kind,
                &v.pkg_name,
                &v.installed_version,
                v.pkg_path.as_deref().unwrap_or(""),
            ]);
            results.push(json!({
                "ruleId": v.vulnerability_id,
                "ruleIndex": rule_index,
                "level": level(v.severity),
                "message": { "text": text },
                "locations": [location(&uri, 1, 1, &loc_msg)],
                "partialFingerprints": { FINGERPRINT_KEY: fp }
            }));
        }
        for m in r.misconfigurations.iter().flatten() {
            let rule_index = rules.index_of(&m.id, || misconfig_rule(m));
            let uri = misconfig_uri(report, r);
            let cm = &m.cause_metadata;
            let start = cm.start_line.filter(|l| *l > 0).unwrap_or(1);
            let end = cm.end_line.filter(|l| *l >= start).unwrap_or(start);
            let resource = cm.resource.as_deref().unwrap_or("");
            let text = if resource.is_empty() {
                format!("{}: {}\nTarget: {}", m.id, m.message, r.target)
            } else {
                format!(
                    "{}: {}\nResource: {resource}\nTarget: {}",
                    m.id, m.message, r.target
                )
            };
            let fp = fingerprint(&[&m.id, &uri, &r.kind, resource, &m.message]);
            results.push(json!({
                "ruleId": m.id,
                "ruleIndex": rule_index,
                "level": level(m.severity),
                "message": { "text": text },
                "locations": [location(&uri, start, end, &m.title)],
                "partialFingerprints": { FINGERPRINT_KEY: fp }
            }));
        }
    }
    let mut driver = Map::new();
    driver.insert("name".into(), json!("layerscan"));
    driver.insert("fullName".into(), json!("layerscan supply-chain scanner"));
    driver.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    driver.insert("informationUri".into(), json!(INFORMATION_URI));
    driver.insert("rules".into(), Value::Array(rules.list));
    // Coverage gaps: what the tool could not analyse is a tool execution notification (SARIF
    // 2.1.0 §3.20.21), not a result: GitHub code scanning shows it without opening an alert.
    let notifications: Vec<Value> = report
        .gaps()
        .iter()
        .map(|g| {
            let locations: Vec<Value> = g
                .paths
                .iter()
                .map(|p| {
                    json!({
                        "physicalLocation": { "artifactLocation": { "uri": path_uri(p) } },
                        "message": { "text": g.what }
                    })
                })
                .collect();
            json!({
                "level": "warning",
                "descriptor": { "id": format!("coverage/{}", g.kind.as_str()) },
                "message": { "text": format!("Not analysed: {}", g.describe()) },
                "locations": locations,
                "properties": { "kind": g.kind.as_str(), "files": g.files, "pathCount": g.path_count }
            })
        })
        .collect();
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": Value::Object(driver) },
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "columnKind": "utf16CodeUnits",
            "properties": {
                "artifactName": report.artifact_name,
                "artifactType": report.artifact_type,
            }
        }]
    })
}

pub fn render(report: &Report) -> anyhow::Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(&to_value(report))
        .map_err(|e| anyhow::anyhow!("serializing the SARIF report: {e}"))?;
    v.push(b'\n');
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_like_trivy() {
        assert_eq!(image_repository_path("python:3.12-slim"), "library/python");
        assert_eq!(image_repository_path("alpine"), "library/alpine");
        assert_eq!(
            image_repository_path("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1.2"),
            "team/app"
        );
        assert_eq!(
            image_repository_path("localhost:5000/app@sha256:abcd"),
            "library/app"
        );
        assert_eq!(
            image_repository_path("ghcr.io/org/img:v1@sha256:ff"),
            "org/img"
        );
        assert_eq!(image_repository_path("org/img"), "org/img");
    }

    #[test]
    fn path_uris() {
        assert_eq!(path_uri("./deploy/task def.json"), "deploy/task%20def.json");
        assert_eq!(path_uri("/abs/x.yaml"), "file:///abs/x.yaml");
        assert_eq!(path_uri("./app-oci/:v2"), "app-oci/%3Av2");
        assert_eq!(path_uri("dir\\req.txt"), "dir/req.txt");
        assert_eq!(path_uri("ü.txt"), "%C3%BC.txt");
    }

    #[test]
    fn levels_and_scores() {
        assert_eq!(level(Severity::Critical), "error");
        assert_eq!(level(Severity::High), "error");
        assert_eq!(level(Severity::Medium), "warning");
        assert_eq!(level(Severity::Low), "note");
        assert_eq!(level(Severity::Unknown), "note");
        assert_eq!(severity_score(Severity::High), 8.0);
    }
}
