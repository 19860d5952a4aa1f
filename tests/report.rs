//! Integration tests: policy (severity filter, exit code, ignore files) and the report formats
//! (JSON, table, SARIF, `--output`), on reports built in code with real-looking findings.

use layerscan::cli::{Format, ReportArgs};
use layerscan::model::{
    AdvisorySource, ArtifactType, CauseMetadata, CvssEntry, Identifier, LayerInfo, Metadata,
    Misconfiguration, OsInfo, Package, Report, ScanResult, Severity, Vulnerability,
};
use layerscan::policy::Policy;
use layerscan::report;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const REQUESTS_METADATA: &str =
    "usr/local/lib/python3.12/site-packages/requests-2.19.0.dist-info/METADATA";

fn layer(n: u8, created_by: &str) -> LayerInfo {
    LayerInfo {
        digest: Some(format!("sha256:{}", format!("{n:02x}").repeat(32))),
        diff_id: Some(format!("sha256:{}", format!("{:02x}", n + 0x80).repeat(32))),
        created_by: Some(created_by.to_string()),
    }
}

fn pkg(name: &str, version: &str, purl: &str, file_path: Option<&str>, l: LayerInfo) -> Package {
    Package {
        name: name.into(),
        version: version.into(),
        src_name: None,
        src_version: None,
        arch: None,
        file_path: file_path.map(Into::into),
        layer: l,
        identifier: Identifier {
            purl: Some(purl.into()),
        },
        ecosystem: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn vuln(
    id: &str,
    aliases: &[&str],
    pkg: &str,
    installed: &str,
    fixed: Option<&str>,
    severity: Severity,
    pkg_path: Option<&str>,
    l: LayerInfo,
) -> Vulnerability {
    Vulnerability {
        vulnerability_id: id.into(),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        pkg_name: pkg.into(),
        pkg_path: pkg_path.map(Into::into),
        installed_version: installed.into(),
        fixed_version: fixed.map(Into::into),
        status: if fixed.is_some() { "fixed" } else { "affected" }.into(),
        severity,
        severity_source: Some("osv".into()),
        cvss: BTreeMap::new(),
        title: Some(format!("{pkg}: flaw {id}")),
        primary_url: Some(format!("https://osv.dev/vulnerability/{id}")),
        references: vec![],
        layer: l,
    }
}

fn misconfig(id: &str, severity: Severity, resource: &str, lines: (u32, u32)) -> Misconfiguration {
    Misconfiguration {
        id: id.into(),
        title: format!("{id} title"),
        severity,
        message: format!("Container '{resource}' fails {id}"),
        resolution: "Fix it".into(),
        status: "FAIL".into(),
        cause_metadata: CauseMetadata {
            resource: Some(resource.into()),
            start_line: Some(lines.0),
            end_line: Some(lines.1),
        },
    }
}

/// An image with OS and Python findings, a requirements file and a task definition.
fn sample() -> Report {
    let base = layer(1, "/bin/sh -c #(nop) ADD file:0a1b2c in / ");
    let pip = layer(
        2,
        "RUN /bin/sh -c pip install -r requirements.txt # buildkit",
    );
    let mut critical = vuln(
        "CVE-2024-0001",
        &["DSA-5600-1"],
        "libssl3",
        "3.0.11-1~deb12u2",
        Some("3.0.13-1~deb12u1"),
        Severity::Critical,
        None,
        base.clone(),
    );
    critical.cvss.insert(
        "nvd".into(),
        CvssEntry {
            v3_vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into()),
            v3_score: Some(9.8),
            ..Default::default()
        },
    );
    Report {
        schema_version: 2,
        created_at: "2026-11-28T07:00:00Z".into(),
        artifact_name: "registry.example.com/team/app:1.0".into(),
        artifact_type: ArtifactType::ContainerImage,
        metadata: Metadata {
            os: Some(OsInfo {
                family: "debian".into(),
                name: "12".into(),
            }),
            ..Default::default()
        },
        results: vec![
            ScanResult {
                target: "registry.example.com/team/app:1.0 (debian 12)".into(),
                class: "os-pkgs".into(),
                kind: "debian".into(),
                packages: Some(vec![
                    pkg(
                        "libssl3",
                        "3.0.11-1~deb12u2",
                        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12",
                        None,
                        base.clone(),
                    ),
                    pkg(
                        "zlib1g",
                        "1:1.2.13.dfsg-1",
                        "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?distro=debian-12",
                        None,
                        base.clone(),
                    ),
                ]),
                vulnerabilities: Some(vec![
                    vuln(
                        "CVE-2023-45853",
                        &[],
                        "zlib1g",
                        "1:1.2.13.dfsg-1",
                        None,
                        Severity::Low,
                        None,
                        base.clone(),
                    ),
                    critical,
                ]),
                misconfigurations: None,
            },
            ScanResult {
                target: "Python".into(),
                class: "lang-pkgs".into(),
                kind: "python-pkg".into(),
                packages: Some(vec![pkg(
                    "requests",
                    "2.19.0",
                    "pkg:pypi/requests@2.19.0",
                    Some(REQUESTS_METADATA),
                    pip.clone(),
                )]),
                vulnerabilities: Some(vec![vuln(
                    "CVE-2018-18074",
                    &["GHSA-x84v-xcm2-53pg", "PYSEC-2018-28"],
                    "requests",
                    "2.19.0",
                    Some("2.20.0"),
                    Severity::High,
                    Some(REQUESTS_METADATA),
                    pip.clone(),
                )]),
                misconfigurations: None,
            },
            ScanResult {
                target: "app/requirements.txt".into(),
                class: "lang-pkgs".into(),
                kind: "pip".into(),
                packages: Some(vec![pkg(
                    "urllib3",
                    "1.26.4",
                    "pkg:pypi/urllib3@1.26.4",
                    Some("app/requirements.txt"),
                    pip.clone(),
                )]),
                vulnerabilities: Some(vec![vuln(
                    "GHSA-q2q7-5pp4-w6pg",
                    &["CVE-2021-33503", "PYSEC-2021-108"],
                    "urllib3",
                    "1.26.4",
                    Some("1.26.5"),
                    Severity::Medium,
                    Some("app/requirements.txt"),
                    pip,
                )]),
                misconfigurations: None,
            },
            ScanResult {
                target: "deploy/taskdef.json".into(),
                class: "config".into(),
                kind: "ecs-task-definition".into(),
                packages: None,
                vulnerabilities: None,
                misconfigurations: Some(vec![
                    misconfig("ECS-005", Severity::Low, "web", (3, 20)),
                    misconfig("ECS-001", Severity::High, "web", (5, 12)),
                ]),
            },
        ],
        warnings: vec!["usr/lib/python3/dist-packages/bad.dist-info/METADATA: malformed".into()],
        advisory_source: Some(AdvisorySource {
            kind: "bundled".into(),
            records: 42,
            updated_at: None,
            note: Some("a small bundled sample; run `layerscan db update` for full data".into()),
        }),
        expired_ignores: vec![],
        coverage: None,
    }
}

fn args(
    severity: &[Severity],
    exit_code: i32,
    ignore_unfixed: bool,
    ignorefile: &Path,
) -> ReportArgs {
    ReportArgs {
        format: Format::Json,
        output: None,
        severity: severity.to_vec(),
        exit_code,
        ignore_unfixed,
        fail_on_incomplete: false,
        ignorefile: ignorefile.to_path_buf(),
    }
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
    fn none(&self) -> PathBuf {
        // An empty ignore file: no ignores, explicit and present.
        self.file("empty.ignore", "")
    }
}

/// Apply a policy; return the remaining finding ids (vulns and misconfigs) and the exit code.
fn outcome(report: &mut Report, a: &ReportArgs) -> (Vec<String>, i32) {
    let policy = Policy::from_args(a).expect("policy");
    policy.apply(report);
    let mut ids: Vec<String> = report
        .results
        .iter()
        .flat_map(|r| {
            r.vulnerabilities
                .iter()
                .flatten()
                .map(|v| v.vulnerability_id.clone())
                .chain(r.misconfigurations.iter().flatten().map(|m| m.id.clone()))
        })
        .collect();
    ids.sort();
    (ids, policy.exit_code(report))
}

const ALL_IDS: [&str; 6] = [
    "CVE-2018-18074",
    "CVE-2023-45853",
    "CVE-2024-0001",
    "ECS-001",
    "ECS-005",
    "GHSA-q2q7-5pp4-w6pg",
];

#[test]
fn severity_filter_and_exit_code() {
    let d = Dir::new();
    let mut r = sample();
    let (ids, code) = outcome(
        &mut r,
        &args(&[Severity::Critical, Severity::High], 1, false, &d.none()),
    );
    assert_eq!(ids, ["CVE-2018-18074", "CVE-2024-0001", "ECS-001"]);
    assert_eq!(code, 1);

    // Nothing at UNKNOWN: exit 0 even with --exit-code.
    let mut r = sample();
    let (ids, code) = outcome(&mut r, &args(&[Severity::Unknown], 3, false, &d.none()));
    assert!(ids.is_empty(), "{ids:?}");
    assert_eq!(code, 0);

    // Default --exit-code 0: findings remain but the exit code is 0.
    let mut r = sample();
    let (ids, code) = outcome(&mut r, &args(&Severity::ALL, 0, false, &d.none()));
    assert_eq!(ids, ALL_IDS);
    assert_eq!(code, 0);

    // Packages are never filtered.
    assert_eq!(r.results[0].packages.as_ref().map(Vec::len), Some(2));
}

#[test]
fn ignore_unfixed_drops_affected_only() {
    let d = Dir::new();
    let mut r = sample();
    let (ids, _) = outcome(&mut r, &args(&Severity::ALL, 1, true, &d.none()));
    assert!(!ids.contains(&"CVE-2023-45853".to_string()), "{ids:?}");
    assert_eq!(ids.len(), ALL_IDS.len() - 1);
}

#[test]
fn ignore_by_alias_in_line_form() {
    let d = Dir::new();
    let f = d.file(
        ".layerscanignore",
        "# accepted risks\n\nghsa-x84v-xcm2-53pg   # requests, alias of CVE-2018-18074\nCVE-2021-33503 exp:2999-12-31\nECS-005\n",
    );
    let mut r = sample();
    let (ids, code) = outcome(&mut r, &args(&Severity::ALL, 1, false, &f));
    assert_eq!(ids, ["CVE-2023-45853", "CVE-2024-0001", "ECS-001"]);
    assert_eq!(code, 1);
    assert!(r.expired_ignores.is_empty());

    // Ignoring everything at the chosen severities gives exit 0.
    let f = d.file("all", "CVE-2024-0001\nCVE-2018-18074\nECS-001\n");
    let mut r = sample();
    let (_, code) = outcome(
        &mut r,
        &args(&[Severity::Critical, Severity::High], 1, false, &f),
    );
    assert_eq!(code, 0);
}

#[test]
fn expired_entry_no_longer_applies_and_is_reported() {
    let d = Dir::new();
    let f = d.file(
        "ignore.txt",
        "CVE-2024-0001 exp:2000-01-01\nCVE-2018-18074 exp:2999-12-31\n",
    );
    let mut r = sample();
    let (ids, code) = outcome(&mut r, &args(&Severity::ALL, 4, false, &f));
    assert!(ids.contains(&"CVE-2024-0001".to_string()));
    assert!(!ids.contains(&"CVE-2018-18074".to_string()));
    assert_eq!(code, 4);
    assert_eq!(
        r.expired_ignores,
        [format!(
            "CVE-2024-0001 (expired 2000-01-01; {}:1)",
            f.display()
        )]
    );
    let json: serde_json::Value =
        serde_json::from_slice(&report::render(&r, Format::Json).unwrap()).unwrap();
    assert_eq!(json["ExpiredIgnores"][0], r.expired_ignores[0].as_str());
    let table = String::from_utf8(report::render(&r, Format::Table).unwrap()).unwrap();
    assert!(table.contains("Expired ignore entries"), "{table}");
    assert!(
        table.contains("CVE-2024-0001 (expired 2000-01-01;"),
        "{table}"
    );
}

#[test]
fn yaml_form_with_paths_and_purls() {
    let d = Dir::new();
    // Paths restrict: matching prefix glob ignores, non-matching keeps.
    let f = d.file(
        "ignore.yaml",
        r#"
vulnerabilities:
  - id: CVE-2018-18074
    paths:
      - "usr/local/lib/python3.*/site-packages"
    statement: requests is only used against internal hosts
  - id: CVE-2021-33503
    paths: ["services/**/requirements.txt"]
  - id: CVE-2024-0001
    purls: ["pkg:deb/debian/libssl3"]
  - id: CVE-2023-45853
    expired_at: 2001-02-03
misconfigurations:
  - id: ECS-001
    paths: ["deploy/*.json"]
  - id: ECS-005
    paths: ["other/taskdef.json"]
"#,
    );
    let mut r = sample();
    let (ids, _) = outcome(&mut r, &args(&Severity::ALL, 1, false, &f));
    assert_eq!(ids, ["CVE-2023-45853", "ECS-005", "GHSA-q2q7-5pp4-w6pg"]);
    assert_eq!(r.expired_ignores.len(), 1);
    assert!(r.expired_ignores[0].starts_with("CVE-2023-45853 (expired 2001-02-03;"));

    // A vulnerability entry does not ignore a misconfiguration with the same id, and vice versa.
    let f = d.file("scoped.yaml", "misconfigurations:\n  - id: CVE-2024-0001\n");
    let mut r = sample();
    let (ids, _) = outcome(&mut r, &args(&Severity::ALL, 1, false, &f));
    assert_eq!(ids, ALL_IDS);
}

#[test]
fn yaml_form_is_sniffed_without_extension() {
    let d = Dir::new();
    let f = d.file(
        ".layerscanignore",
        "# team exceptions\nmisconfigurations:\n  - id: ECS-001\n",
    );
    let mut r = sample();
    let (ids, _) = outcome(&mut r, &args(&Severity::ALL, 1, false, &f));
    assert!(!ids.contains(&"ECS-001".to_string()));
    assert!(ids.contains(&"ECS-005".to_string()));
}

#[test]
fn malformed_ignore_files_name_file_and_line() {
    let d = Dir::new();
    let cases = [
        (
            "bad-date",
            "CVE-2024-0001\nCVE-2024-0002 exp:2024-02-30\n",
            ":2:",
        ),
        ("bad-token", "# c\nCVE-2024-0001 until:2025-01-01\n", ":2:"),
        (
            "bad.yaml",
            "vulnerabilities:\n  - id: CVE-2024-0001\n  - id: CVE-2024-0002\n    expires: 2025-01-01\n",
            ":4:",
        ),
        (
            "bad-type.yml",
            "vulnerabilities:\n  - id: CVE-1\n    paths: 7\n",
            "bad-type.yml",
        ),
    ];
    for (name, text, needle) in cases {
        let f = d.file(name, text);
        let err = Policy::from_args(&args(&Severity::ALL, 1, false, &f))
            .err()
            .unwrap_or_else(|| panic!("{name} was accepted"));
        let msg = format!("{err:#}");
        assert!(msg.contains(name), "{name}: {msg}");
        assert!(msg.contains(needle), "{name}: {msg}");
    }
    let missing = d.0.path().join("no-such-ignorefile");
    let err = Policy::from_args(&args(&Severity::ALL, 1, false, &missing))
        .expect_err("missing explicit ignore file");
    assert!(format!("{err:#}").contains("no-such-ignorefile"));
}

#[test]
fn json_always_has_packages_in_package_results() {
    let mut r = sample();
    r.results[1].packages = None;
    let json: serde_json::Value =
        serde_json::from_slice(&report::render(&r, Format::Json).unwrap()).unwrap();
    assert_eq!(json["Results"][1]["Packages"], serde_json::json!([]));
    assert_eq!(json["Results"][0]["Packages"][0]["Name"], "libssl3");
    assert!(
        json["Results"][3].get("Packages").is_none(),
        "config result"
    );
    assert_eq!(
        json["Results"][1]["Vulnerabilities"][0]["Aliases"],
        serde_json::json!(["GHSA-x84v-xcm2-53pg", "PYSEC-2018-28"])
    );
    assert_eq!(json["ArtifactType"], "container_image");
}

#[test]
fn table_rows_order_and_summary() {
    let r = sample();
    let table = String::from_utf8(report::render(&r, Format::Table).unwrap()).unwrap();
    assert!(
        table.trim_end().ends_with(
            "Total: 4 vulnerabilities (CRITICAL: 1, HIGH: 1, MEDIUM: 1, LOW: 1, UNKNOWN: 0), 2 misconfigurations, 4 packages"
        ),
        "{table}"
    );
    assert!(table.contains("Artifact:   registry.example.com/team/app:1.0 (container_image)"));
    assert!(table.contains("OS:         debian 12"));
    assert!(table.contains("Advisories: bundled (42 records)"));
    // Worst first within a target.
    let critical = table.find("CVE-2024-0001").expect("critical row");
    let low = table.find("CVE-2023-45853").expect("low row");
    assert!(critical < low);
    // Layer column: short digest and trimmed created_by.
    assert!(
        table.contains("010101010101 (ADD file:0a1b2c in /)"),
        "{table}"
    );
    assert!(table.contains("deploy/taskdef.json:5-12"), "{table}");
    assert!(!table.contains('\u{1b}'), "no colour without a terminal");
    assert!(table.is_ascii(), "plain ASCII without a terminal");
    insta::assert_snapshot!("table_full", table);
}

#[test]
fn table_lists_packages_when_there_are_no_vulnerabilities() {
    let mut r = sample();
    r.results.truncate(3);
    for res in &mut r.results {
        res.vulnerabilities = None;
    }
    let mut unpinned = r.results[2].packages.as_ref().unwrap()[0].clone();
    unpinned.name = "boto3".into();
    unpinned.version = String::new();
    r.results[2].packages.as_mut().unwrap().push(unpinned);
    if let Some(p) = r.results[0].packages.as_mut() {
        p[0].src_name = Some("openssl".into());
        p[0].src_version = Some("3.0.11-1~deb12u2".into());
    }
    let table = String::from_utf8(report::render(&r, Format::Table).unwrap()).unwrap();
    for needle in [
        "libssl3",
        "3.0.11-1~deb12u2",
        "zlib1g",
        "requests",
        "boto3",
        "(unpinned)",
    ] {
        assert!(table.contains(needle), "{needle}: {table}");
    }
    assert!(table.contains(REQUESTS_METADATA), "{table}");
    assert!(table.contains(
        "Total: 0 vulnerabilities (CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0), 0 misconfigurations, 5 packages"
    ));
    insta::assert_snapshot!("table_packages", table);
}

#[test]
fn table_neutralises_control_characters() {
    let mut r = sample();
    if let Some(v) = r.results[0].vulnerabilities.as_mut() {
        v[0].title = Some("evil\u{1b}]0;pwned\u{7}\ntitle".into());
    }
    let table = String::from_utf8(report::render(&r, Format::Table).unwrap()).unwrap();
    assert!(!table.contains('\u{1b}') && !table.contains('\u{7}'));
    assert!(table.contains("evil ]0;pwned  title"), "{table}");
}

fn sarif(r: &Report) -> serde_json::Value {
    let bytes = report::render(r, Format::Sarif).unwrap();
    // Structure check against the SARIF 2.1.0 object model (serde-sarif's generated types).
    let typed: serde_sarif::sarif::Sarif =
        serde_json::from_slice(&bytes).expect("SARIF deserializes as a SARIF log");
    assert_eq!(typed.runs.len(), 1);
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn sarif_has_what_github_needs() {
    let r = sample();
    let s = sarif(&r);
    assert_eq!(s["version"], "2.1.0");
    assert!(s["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &s["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "layerscan");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert!(driver["informationUri"]
        .as_str()
        .unwrap()
        .starts_with("https://"));

    let rules = driver["rules"].as_array().unwrap();
    let rule_ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(rule_ids.len(), 6);
    let mut dedup = rule_ids.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), rule_ids.len(), "one rule per id");
    for rule in rules {
        assert!(rule["shortDescription"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
        assert!(rule["helpUri"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")));
        let score: f64 = rule["properties"]["security-severity"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((0.0..=10.0).contains(&score));
        assert!(rule["defaultConfiguration"]["level"].is_string());
    }
    let rule = |id: &str| rules.iter().find(|r| r["id"] == id).unwrap();
    // CVSS score when known, else by severity.
    assert_eq!(
        rule("CVE-2024-0001")["properties"]["security-severity"],
        "9.8"
    );
    assert_eq!(
        rule("CVE-2018-18074")["properties"]["security-severity"],
        "8.0"
    );
    assert_eq!(
        rule("GHSA-q2q7-5pp4-w6pg")["properties"]["security-severity"],
        "5.5"
    );
    assert_eq!(
        rule("CVE-2023-45853")["properties"]["security-severity"],
        "2.0"
    );
    assert_eq!(
        rule("CVE-2024-0001")["defaultConfiguration"]["level"],
        "error"
    );
    assert_eq!(
        rule("GHSA-q2q7-5pp4-w6pg")["defaultConfiguration"]["level"],
        "warning"
    );
    assert_eq!(rule("ECS-005")["defaultConfiguration"]["level"], "note");

    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    let find = |id: &str| results.iter().find(|r| r["ruleId"] == id).unwrap();
    for res in results {
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], res["ruleId"]);
        let loc = &res["locations"][0]["physicalLocation"];
        assert!(loc["artifactLocation"]["uri"]
            .as_str()
            .is_some_and(|u| !u.is_empty()));
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(res["partialFingerprints"]["layerscan/v1"].is_string());
        assert!(res["message"]["text"]
            .as_str()
            .unwrap()
            .contains(res["ruleId"].as_str().unwrap()));
    }
    assert_eq!(find("CVE-2024-0001")["level"], "error");
    assert_eq!(find("CVE-2018-18074")["level"], "error");
    assert_eq!(find("GHSA-q2q7-5pp4-w6pg")["level"], "warning");
    assert_eq!(find("CVE-2023-45853")["level"], "note");
    let uri = |id: &str| {
        find(id)["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Image findings point at the image repository, like Trivy.
    assert_eq!(uri("CVE-2024-0001"), "team/app");
    assert_eq!(uri("CVE-2018-18074"), REQUESTS_METADATA);
    assert_eq!(uri("GHSA-q2q7-5pp4-w6pg"), "app/requirements.txt");
    assert_eq!(uri("ECS-001"), "deploy/taskdef.json");
    let region = &find("ECS-001")["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 5);
    assert_eq!(region["endLine"], 12);
    let msg = find("CVE-2018-18074")["message"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    for needle in ["requests", "2.19.0", "2.20.0", "Python"] {
        assert!(msg.contains(needle), "{msg}");
    }
}

#[test]
fn sarif_fingerprints_are_stable_and_distinct() {
    let fps = |r: &Report| -> Vec<String> {
        sarif(r)["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                x["partialFingerprints"]["layerscan/v1"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let a = fps(&sample());
    // A later run: new time, new tag, findings in another order.
    let mut later = sample();
    later.created_at = "2026-12-01T00:00:00Z".into();
    later.artifact_name = "registry.example.com/team/app:1.1".into();
    let b = fps(&later);
    assert_eq!(a, b);
    let mut sorted = a.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), a.len(), "one fingerprint per finding");

    // A different installed version is a different finding.
    let mut bumped = sample();
    if let Some(v) = bumped.results[1].vulnerabilities.as_mut() {
        v[0].installed_version = "2.19.1".into();
    }
    assert_ne!(fps(&bumped)[2], a[2]);
}

#[test]
fn sarif_for_empty_and_local_reports() {
    let mut r = sample();
    r.artifact_name = "./build/app.tar".into();
    for res in &mut r.results {
        res.vulnerabilities = Some(vec![]);
        res.misconfigurations = None;
    }
    let s = sarif(&r);
    assert_eq!(s["runs"][0]["results"], serde_json::json!([]));
    assert_eq!(
        s["runs"][0]["tool"]["driver"]["rules"],
        serde_json::json!([])
    );

    let mut r = sample();
    r.artifact_name = "./build/app.tar".into();
    let s = sarif(&r);
    let res = &s["runs"][0]["results"][0];
    assert_eq!(
        res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "build/app.tar"
    );
}

#[test]
fn output_file_is_written_whole() {
    let d = Dir::new();
    let out = d.0.path().join("report.sarif");
    let bytes = report::render(&sample(), Format::Sarif).unwrap();
    report::write_output(&bytes, Some(&out)).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    let names: Vec<String> = std::fs::read_dir(d.0.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.sarif"], "no temporary file left behind");

    let err = report::write_output(b"{}", Some(&d.0.path().join("nodir/r.json"))).unwrap_err();
    assert!(format!("{err:#}").contains("nodir"), "{err:#}");
    // A directory as --output is an error and leaves the directory alone.
    let err = report::write_output(b"{}", Some(d.0.path())).unwrap_err();
    assert!(format!("{err:#}").contains("directory"), "{err:#}");
}

// The whole chain through the binary (`emit`): `layerscan config` on a Dockerfile without USER gives
// one HIGH finding (DOCKERFILE-001), which makes a small, real report to apply the policy to.

fn dockerfile_sandbox() -> crate::common::Sandbox {
    let sb = crate::common::Sandbox::new();
    std::fs::write(sb.path().join("Dockerfile"), "FROM debian:12\nRUN true\n").unwrap();
    sb
}

#[test]
fn cli_exit_code_severity_and_default_ignorefile() {
    let sb = dockerfile_sandbox();
    let out = sb
        .cmd()
        .args([
            "config",
            "Dockerfile",
            "--format",
            "json",
            "--exit-code",
            "5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let json = crate::common::json(&out);
    assert_eq!(
        json["Results"][0]["Misconfigurations"][0]["ID"],
        "DOCKERFILE-001"
    );

    // Below the chosen severities: exit 0, and the finding is not reported.
    let out = sb
        .cmd()
        .args([
            "config",
            "Dockerfile",
            "-f",
            "json",
            "--exit-code",
            "5",
            "--severity",
            "CRITICAL",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json = crate::common::json(&out);
    assert_eq!(
        json["Results"][0]["Misconfigurations"],
        serde_json::json!([])
    );

    // `.layerscanignore` in the current directory is read without --ignorefile.
    std::fs::write(sb.path().join(".layerscanignore"), "DOCKERFILE-001\n").unwrap();
    let out = sb
        .cmd()
        .args(["config", "Dockerfile", "--exit-code", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("Total: 0 vulnerabilities"), "{table}");
    assert!(table.contains("0 misconfigurations"), "{table}");

    // An expired entry: the finding is back, the report and stderr say why.
    std::fs::write(
        sb.path().join(".layerscanignore"),
        "# temporary\nDOCKERFILE-001 exp:2000-01-01\n",
    )
    .unwrap();
    let out = sb
        .cmd()
        .args(["config", "Dockerfile", "-f", "json", "--exit-code", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let json = crate::common::json(&out);
    assert_eq!(
        json["ExpiredIgnores"][0],
        "DOCKERFILE-001 (expired 2000-01-01; .layerscanignore:2)"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no longer applies"), "{stderr}");
}

#[test]
fn cli_bad_ignorefile_is_exit_2_with_nothing_on_stdout() {
    let sb = dockerfile_sandbox();
    std::fs::write(
        sb.path().join("team.yaml"),
        "vulnerabilities:\n  - id: CVE-2024-0001\nmisconfigurations:\n  - id: DOCKERFILE-001\n    expired: 2030-01-01\n",
    )
    .unwrap();
    let out = sb
        .cmd()
        .args(["config", "Dockerfile", "--ignorefile", "team.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("team.yaml:5"), "{stderr}");
    assert!(stderr.contains("expired"), "{stderr}");

    let out = sb
        .cmd()
        .args(["config", "Dockerfile", "--ignorefile", "absent.ignore"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("absent.ignore"));
}

#[test]
fn bad_ignorefile_fails_before_the_scan_starts() {
    let sb = dockerfile_sandbox();
    std::fs::write(sb.path().join("bad.ignore"), "vulnerabilities: [\n").unwrap();
    // The image does not exist either: the ignore file is what must be reported, since it is read
    // before any fetching (a registry pull would otherwise run for minutes first).
    let out = sb
        .cmd()
        .args(["image", "./no-such-image.tar", "--ignorefile", "bad.ignore"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.ignore"), "{stderr}");
    assert!(!stderr.contains("no-such-image"), "{stderr}");
}

#[test]
fn cli_sarif_to_output_file() {
    let sb = dockerfile_sandbox();
    let out = sb
        .cmd()
        .args([
            "config",
            "Dockerfile",
            "-f",
            "sarif",
            "-o",
            "out/report.sarif",
        ])
        .output()
        .unwrap();
    // The directory does not exist: an error, and no partial report anywhere.
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    std::fs::create_dir(sb.path().join("out")).unwrap();
    let out = sb
        .cmd()
        .args([
            "config",
            "Dockerfile",
            "-f",
            "sarif",
            "-o",
            "out/report.sarif",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty(), "the report goes to the file only");
    let bytes = std::fs::read(sb.path().join("out/report.sarif")).unwrap();
    let s: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let res = &s["runs"][0]["results"][0];
    assert_eq!(res["ruleId"], "DOCKERFILE-001");
    assert_eq!(res["level"], "error");
    assert_eq!(
        res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "Dockerfile"
    );
    assert_eq!(
        res["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Any text in a report (names from images, titles from advisories) renders in every format
    /// without a panic, and the SARIF stays a valid log.
    #[test]
    fn any_text_renders(
        artifact in "\\PC{0,40}",
        target in "\\PC{0,40}",
        name in "\\PC{0,20}",
        version in "\\PC{0,20}",
        title in "\\PC{0,120}",
        created_by in "\\PC{0,80}",
        digest in "\\PC{0,20}",
        line in proptest::option::of(0u32..5),
    ) {
        let mut r = sample();
        r.artifact_name = artifact;
        r.results[1].target = target.clone();
        r.results[3].target = target;
        if let Some(v) = r.results[1].vulnerabilities.as_mut() {
            v[0].pkg_name = name;
            v[0].installed_version = version;
            v[0].title = Some(title.clone());
            v[0].layer.created_by = Some(created_by);
            v[0].layer.digest = Some(digest);
            v[0].pkg_path = Some(title);
        }
        if let Some(m) = r.results[3].misconfigurations.as_mut() {
            m[0].cause_metadata.start_line = line;
        }
        for format in [Format::Json, Format::Table, Format::Sarif] {
            let bytes = report::render(&r, format).unwrap();
            proptest::prop_assert!(!bytes.is_empty());
        }
        let s = sarif(&r);
        proptest::prop_assert_eq!(s["runs"][0]["results"].as_array().map(Vec::len), Some(6));
    }
}

/// The SARIF 2.1.0 JSON schema that `serde-sarif` ships (OASIS's), found in the cargo registry.
fn sarif_schema() -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let src = cargo_home.join("registry").join("src");
    for index in std::fs::read_dir(src).ok()?.flatten() {
        let p = index.path().join("serde-sarif-0.8.0/src/schema.json");
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

/// An independent oracle: validate our SARIF against the official schema with Python's
/// `jsonschema`. Skipped, with the reason printed, where the schema or the validator is missing.
#[test]
fn sarif_validates_against_the_official_schema() {
    let Some(schema) = sarif_schema() else {
        eprintln!("SKIPPED: serde-sarif's schema.json not found in the cargo registry");
        return;
    };
    let has_validator = std::process::Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_validator {
        eprintln!("SKIPPED: python3 with the jsonschema module is not available");
        return;
    }
    let d = Dir::new();
    let mut empty = sample();
    for r in &mut empty.results {
        r.vulnerabilities = None;
        r.misconfigurations = None;
    }
    for (name, report) in [("full", sample()), ("empty", empty)] {
        let file = d.0.path().join(format!("{name}.sarif"));
        std::fs::write(&file, report::render(&report, Format::Sarif).unwrap()).unwrap();
        let script = "import json,sys,jsonschema\n\
            schema=json.load(open(sys.argv[1]))\n\
            doc=json.load(open(sys.argv[2]))\n\
            errs=[f'{list(e.path)}: {e.message}' for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]\n\
            print('\\n'.join(errs)); sys.exit(1 if errs else 0)\n";
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&schema)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn no_format_prints_a_secret_from_the_image() {
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let mut r = sample();
    r.metadata.image_config = Some(serde_json::json!({
        "config": { "Env": [format!("AWS_SECRET_ACCESS_KEY={SECRET}"), "PATH=/usr/bin"] },
        "history": [{ "created_by": format!("ENV AWS_SECRET_ACCESS_KEY={SECRET}") }]
    }));
    let leaky = format!("ENV AWS_SECRET_ACCESS_KEY={SECRET} # buildkit");
    for res in &mut r.results {
        for p in res.packages.iter_mut().flatten() {
            p.layer.created_by = Some(leaky.clone());
        }
        for v in res.vulnerabilities.iter_mut().flatten() {
            v.layer.created_by = Some(leaky.clone());
        }
    }
    for format in [Format::Json, Format::Table, Format::Sarif] {
        let text = String::from_utf8(report::render(&r, format).unwrap()).unwrap();
        assert!(!text.contains(SECRET), "{format:?} leaks: {text}");
        assert!(
            !text.contains("wJalrXUtnFEMI"),
            "{format:?} leaks a prefix: {text}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&report::render(&r, Format::Json).unwrap()).unwrap();
    assert_eq!(
        json["Metadata"]["ImageConfig"]["config"]["Env"],
        serde_json::json!(["AWS_SECRET_ACCESS_KEY=<redacted>", "PATH=/usr/bin"])
    );
    assert_eq!(
        json["Results"][0]["Packages"][0]["Layer"]["CreatedBy"],
        "ENV AWS_SECRET_ACCESS_KEY=<redacted> # buildkit"
    );
}
