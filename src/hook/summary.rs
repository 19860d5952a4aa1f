//! The hook's summary of one scan: the webhook body, the Lambda response and the structured
//! stderr line are all this one document (schema in `docs/ecr-hook.md`).
//!
//! It is built from the report *after* the policy was applied, so its counts, findings and verdict
//! are exactly what the rendered report and the exit code say. Strings that come from the image
//! (package names, versions, titles) are cleaned of control characters and of `<`/`>` (Slack's link
//! and mention syntax) and truncated, so an image cannot format or ping a channel.

use super::event::PushEvent;
use crate::model::{Report, Severity};
use crate::policy::Policy;
use serde::Serialize;

/// The `schema` value; bump on incompatible changes.
pub const SCHEMA: &str = "layerscan.ecr-hook.summary/v1";
/// Findings listed in `top_findings` (and in `text`).
pub const TOP: usize = 10;

/// Counts by severity, serialized in severity order with Trivy's names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    #[serde(rename = "CRITICAL")]
    pub critical: usize,
    #[serde(rename = "HIGH")]
    pub high: usize,
    #[serde(rename = "MEDIUM")]
    pub medium: usize,
    #[serde(rename = "LOW")]
    pub low: usize,
    #[serde(rename = "UNKNOWN")]
    pub unknown: usize,
    pub total: usize,
}

impl SeverityCounts {
    fn add(&mut self, s: Severity) {
        match s {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
            Severity::Unknown => self.unknown += 1,
        }
        self.total += 1;
    }

    /// `2 CRITICAL, 1 HIGH` (non-zero levels only).
    fn phrase(&self) -> String {
        let parts: Vec<String> = [
            (self.critical, "CRITICAL"),
            (self.high, "HIGH"),
            (self.medium, "MEDIUM"),
            (self.low, "LOW"),
            (self.unknown, "UNKNOWN"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, s)| format!("{n} {s}"))
        .collect();
        parts.join(", ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing at the chosen severities remains.
    Pass,
    /// Findings at the chosen severities remain (the exit code is `--exit-code`).
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    Vulnerability,
    Misconfiguration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopFinding {
    pub kind: FindingKind,
    pub id: String,
    pub severity: Severity,
    /// Vulnerabilities: the package name.
    pub package: Option<String>,
    pub installed_version: Option<String>,
    /// `None` when no fixed version is known.
    pub fixed_version: Option<String>,
    pub title: Option<String>,
}

/// One coverage gap in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryGap {
    /// `rpm-database`, `node-modules`, `go-binary`, ... (as `Coverage.Gaps[].Kind` in the report).
    pub kind: &'static str,
    pub what: &'static str,
    pub meaning: &'static str,
    pub files: u64,
    /// At most [`crate::model::MAX_GAP_PATHS`] paths; `path_count` counts all of them.
    pub paths: Vec<String>,
    pub path_count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub schema: &'static str,
    /// Always `scanned` here; a Lambda invocation that ignores its event answers
    /// `{"schema", "status": "ignored", "reason"}` instead.
    pub status: &'static str,
    pub account: String,
    pub region: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: String,
    /// The image as pulled: `<account>.dkr.ecr.<region>.amazonaws.com/<repo>@<digest>`.
    pub reference: String,
    pub verdict: Verdict,
    /// The process exit code this scan maps to (0, or `--exit-code` on `fail`).
    pub exit_code: i32,
    /// The severities the policy looks at (`--severity`).
    pub severities: Vec<Severity>,
    pub vulnerabilities: SeverityCounts,
    pub misconfigurations: SeverityCounts,
    pub packages: usize,
    /// The most severe findings (at most [`TOP`]), most severe first.
    pub top_findings: Vec<TopFinding>,
    /// What was recognised but not analysed (its packages were not checked), one per kind and
    /// layer; empty when there is no gap.
    pub coverage_gaps: Vec<SummaryGap>,
    /// A few lines for a chat channel (Slack/Teams incoming webhooks show `text`).
    pub text: String,
}

/// Image-supplied text, safe for a chat message and a log line.
fn safe(s: &str, max: usize) -> String {
    let cleaned: String = crate::report::clean(s)
        .chars()
        .filter(|c| !matches!(c, '<' | '>'))
        .collect();
    crate::report::truncate(cleaned.trim(), max)
}

impl Summary {
    /// `report` must already have had `policy` applied.
    pub fn new(event: &PushEvent, reference: &str, report: &Report, policy: &Policy) -> Summary {
        let mut vulnerabilities = SeverityCounts::default();
        let mut misconfigurations = SeverityCounts::default();
        let mut findings: Vec<TopFinding> = Vec::new();
        let mut packages = 0;
        for r in &report.results {
            packages += r.packages.as_ref().map_or(0, Vec::len);
            for v in r.vulnerabilities.iter().flatten() {
                vulnerabilities.add(v.severity);
                findings.push(TopFinding {
                    kind: FindingKind::Vulnerability,
                    id: safe(&v.vulnerability_id, 80),
                    severity: v.severity,
                    package: Some(safe(&v.pkg_name, 120)),
                    installed_version: Some(safe(&v.installed_version, 80)),
                    fixed_version: v
                        .fixed_version
                        .as_deref()
                        .map(|f| safe(f, 120))
                        .filter(|f| !f.is_empty()),
                    title: v.title.as_deref().map(|t| safe(t, 160)),
                });
            }
            for m in r.misconfigurations.iter().flatten() {
                misconfigurations.add(m.severity);
                findings.push(TopFinding {
                    kind: FindingKind::Misconfiguration,
                    id: safe(&m.id, 80),
                    severity: m.severity,
                    package: None,
                    installed_version: None,
                    fixed_version: None,
                    title: Some(safe(&m.title, 160)),
                });
            }
        }
        // Most severe first; at equal severity vulnerabilities with a fix first, then by id.
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.kind.cmp_key().cmp(&b.kind.cmp_key()))
                .then(b.fixed_version.is_some().cmp(&a.fixed_version.is_some()))
                .then(a.id.cmp(&b.id))
                .then(a.package.cmp(&b.package))
                .then(a.installed_version.cmp(&b.installed_version))
        });
        // The same finding in two places (installed metadata and a requirements file) is listed
        // once; the counts keep every occurrence, as the report does.
        findings.dedup_by(|a, b| {
            a.kind == b.kind
                && a.id == b.id
                && a.package == b.package
                && a.installed_version == b.installed_version
        });
        let total = findings.len();
        findings.truncate(TOP);
        let exit_code = policy.exit_code(report);
        let coverage_gaps: Vec<SummaryGap> = report
            .gaps()
            .iter()
            .map(|g| SummaryGap {
                kind: g.kind.as_str(),
                what: g.kind.what(),
                meaning: g.kind.meaning(),
                files: g.files,
                paths: g.paths.iter().map(|p| safe(p, 200)).collect(),
                path_count: g.path_count,
            })
            .collect();
        let verdict = if total > 0 || policy.fails_for_coverage(report) {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        let mut severities: Vec<Severity> = policy.severities.iter().copied().collect();
        severities.sort_by(|a, b| b.cmp(a));
        let mut s = Summary {
            schema: SCHEMA,
            status: "scanned",
            account: event.account.clone(),
            region: event.region.clone(),
            repository: event.repository.clone(),
            tag: event.tag.clone(),
            digest: event.digest.clone(),
            reference: reference.to_string(),
            verdict,
            exit_code,
            severities,
            vulnerabilities,
            misconfigurations,
            packages,
            top_findings: findings,
            coverage_gaps,
            text: String::new(),
        };
        s.text = s.render_text(total);
        s
    }

    fn render_text(&self, total: usize) -> String {
        let name = match &self.tag {
            Some(t) => format!("{}:{t}", self.repository),
            None => self.repository.clone(),
        };
        let short = self.digest.get(..19).unwrap_or(&self.digest);
        let verdict = match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        };
        let levels: Vec<&str> = self.severities.iter().map(|s| s.as_str()).collect();
        let mut out = format!(
            "layerscan: {verdict} {name} ({short}) in account {} {}\n",
            self.account, self.region
        );
        if !self.coverage_gaps.is_empty() {
            let parts: Vec<String> = self
                .coverage_gaps
                .iter()
                .map(|g| {
                    let more = g.path_count.saturating_sub(g.paths.len());
                    let mut at = g.paths.join(", ");
                    if more > 0 {
                        at.push_str(&format!(" and {more} more"));
                    }
                    format!("{} ({at})", g.what)
                })
                .collect();
            out.push_str(&format!(
                "NOT ANALYSED, packages not checked: {}\n",
                parts.join("; ")
            ));
        }
        if total == 0 {
            out.push_str(&format!(
                "No findings at {} ({} packages scanned).",
                levels.join(", "),
                self.packages
            ));
            return out;
        }
        let mut counts = Vec::new();
        if self.vulnerabilities.total > 0 {
            counts.push(format!(
                "vulnerabilities: {}",
                self.vulnerabilities.phrase()
            ));
        }
        if self.misconfigurations.total > 0 {
            counts.push(format!(
                "misconfigurations: {}",
                self.misconfigurations.phrase()
            ));
        }
        let mut first = counts.join("; ");
        if let Some(c) = first.get_mut(..1) {
            c.make_ascii_uppercase();
        }
        out.push_str(&first);
        for f in &self.top_findings {
            out.push_str(&format!("\n• {} {}", f.severity, f.id));
            match f.kind {
                FindingKind::Vulnerability => {
                    out.push_str(&format!(
                        " in {} {}",
                        f.package.as_deref().unwrap_or(""),
                        f.installed_version.as_deref().unwrap_or("")
                    ));
                    match &f.fixed_version {
                        Some(fix) => out.push_str(&format!(" (fixed in {fix})")),
                        None => out.push_str(" (no fix yet)"),
                    }
                }
                FindingKind::Misconfiguration => {
                    if let Some(t) = &f.title {
                        out.push_str(&format!(": {t}"));
                    }
                }
            }
        }
        if total > self.top_findings.len() {
            out.push_str(&format!("\n…and {} more", total - self.top_findings.len()));
        }
        out
    }
}

impl FindingKind {
    fn cmp_key(self) -> u8 {
        match self {
            FindingKind::Vulnerability => 0,
            FindingKind::Misconfiguration => 1,
        }
    }
}

/// The webhook body for a scan that ran out of the invocation's time: which image, and what
/// timed out (`message`).
pub fn timed_out(event: &PushEvent, message: &str) -> serde_json::Value {
    serde_json::json!({
        "schema": SCHEMA,
        "status": "timed_out",
        "account": event.account,
        "region": event.region,
        "repository": event.repository,
        "tag": event.tag,
        "digest": event.digest,
        "error": message,
        "text": format!("layerscan: TIMED OUT {}@{}: {message}", event.repository, event.digest),
    })
}

/// The Lambda response (and stderr line) for an event that is not scanned.
pub fn ignored(reason: &str) -> serde_json::Value {
    serde_json::json!({"schema": SCHEMA, "status": "ignored", "reason": reason})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Misconfiguration, ScanResult, Vulnerability};

    fn vuln(id: &str, sev: Severity, pkg: &str, fix: Option<&str>) -> Vulnerability {
        Vulnerability {
            vulnerability_id: id.into(),
            aliases: vec![],
            pkg_name: pkg.into(),
            pkg_path: None,
            installed_version: "1.0".into(),
            fixed_version: fix.map(str::to_string),
            status: if fix.is_some() { "fixed" } else { "affected" }.into(),
            severity: sev,
            severity_source: None,
            cvss: Default::default(),
            title: None,
            primary_url: None,
            references: vec![],
            layer: Default::default(),
        }
    }

    fn report(vulns: Vec<Vulnerability>, misconfigs: Vec<Misconfiguration>) -> Report {
        Report {
            schema_version: 2,
            created_at: String::new(),
            artifact_name: "x".into(),
            artifact_type: crate::model::ArtifactType::ContainerImage,
            metadata: Default::default(),
            results: vec![
                ScanResult {
                    target: "t".into(),
                    class: "os-pkgs".into(),
                    kind: "debian".into(),
                    packages: Some(vec![]),
                    vulnerabilities: Some(vulns),
                    misconfigurations: None,
                },
                ScanResult {
                    target: "cfg".into(),
                    class: "config".into(),
                    kind: "dockerfile".into(),
                    packages: None,
                    vulnerabilities: None,
                    misconfigurations: Some(misconfigs),
                },
            ],
            warnings: vec![],
            advisory_source: None,
            expired_ignores: vec![],
            coverage: None,
        }
    }

    fn event() -> PushEvent {
        PushEvent {
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            repository: "team/app".into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            tag: Some("v1".into()),
        }
    }

    #[test]
    fn counts_order_verdict_and_text() {
        let mut policy = Policy::permissive();
        policy.exit_code = 3;
        let mut vulns = vec![vuln("CVE-2", Severity::Low, "b", None)];
        for i in 0..12 {
            vulns.push(vuln(
                &format!("CVE-1{i:02}"),
                Severity::High,
                "a",
                Some("2.0"),
            ));
        }
        vulns.push(vuln(
            "CVE-9",
            Severity::Critical,
            "<!channel>\u{1b}[31m",
            None,
        ));
        // Listed twice in the report (two files), once in the top findings.
        vulns.push(vuln("CVE-100", Severity::High, "a", Some("2.0")));
        let misconf = Misconfiguration {
            id: "IMG-001".into(),
            title: "Image runs as root".into(),
            severity: Severity::Critical,
            message: String::new(),
            resolution: String::new(),
            status: "FAIL".into(),
            cause_metadata: Default::default(),
        };
        let r = report(vulns, vec![misconf]);
        let s = Summary::new(&event(), "ref", &r, &policy);
        assert_eq!(s.verdict, Verdict::Fail);
        assert_eq!(s.exit_code, 3);
        assert_eq!(
            (
                s.vulnerabilities.critical,
                s.vulnerabilities.high,
                s.vulnerabilities.low,
                s.vulnerabilities.total
            ),
            (1, 13, 1, 15)
        );
        assert_eq!(s.misconfigurations.critical, 1);
        assert_eq!(s.top_findings.len(), TOP);
        let ids: Vec<&str> = s.top_findings.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(&ids[..3], &["CVE-9", "IMG-001", "CVE-100"]);
        assert!(
            !s.text.contains('<') && !s.text.contains('\u{1b}'),
            "{}",
            s.text
        );
        assert!(
            s.text
                .starts_with("layerscan: FAIL team/app:v1 (sha256:abababababab)"),
            "{}",
            s.text
        );
        assert!(
            s.text.contains(
                "Vulnerabilities: 1 CRITICAL, 13 HIGH, 1 LOW; misconfigurations: 1 CRITICAL"
            ),
            "{}",
            s.text
        );
        assert!(
            s.text.contains("• HIGH CVE-100 in a 1.0 (fixed in 2.0)"),
            "{}",
            s.text
        );
        assert!(s.text.ends_with("…and 5 more"), "{}", s.text);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["vulnerabilities"]["HIGH"], 13);
        assert_eq!(
            v["top_findings"][0]["fixed_version"],
            serde_json::Value::Null
        );
        assert_eq!(v["verdict"], "fail");
    }

    #[test]
    fn clean_image_passes() {
        let policy = Policy::permissive();
        let s = Summary::new(&event(), "ref", &report(vec![], vec![]), &policy);
        assert_eq!((s.verdict, s.exit_code), (Verdict::Pass, 0));
        assert!(s.top_findings.is_empty());
        assert!(
            s.text
                .contains("No findings at CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN"),
            "{}",
            s.text
        );
    }
}
