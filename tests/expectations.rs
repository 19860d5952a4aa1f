//! End to end: every fixture in `testdata/fixtures/` (and the `src/fs/broken` tree) is scanned
//! through the CLI, offline, with the bundled advisory sample, and the findings must be exactly the
//! ones `testdata/README.md` lists in its expectation table (between `<!-- expectations:begin -->` and `<!-- expectations:end -->`).
//!
//! The table is the single written statement of what each fixture must and must not hit, so the
//! README and the scanner cannot drift apart silently: a finding the table does not list, a listed
//! hit that is not found, a wrong `FixedVersion`/`Status`/`Severity`, a documented non-hit that is
//! reported, or a fixture that no scan covers all fail here.
//!
//! A non-hit row only proves something when the bundled data holds a record that could have hit, so
//! each one must name an id that some bundled record carries (as id, alias or upstream id).

use crate::common::{root, testdata, Sandbox};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const BEGIN: &str = "<!-- expectations:begin -->";
const END: &str = "<!-- expectations:end -->";

#[derive(Debug, Clone, PartialEq)]
enum Fixed {
    /// `Status: fixed` with this `FixedVersion`.
    In(String),
    /// `Status: affected`, no `FixedVersion`.
    Unfixed,
}

#[derive(Debug, Clone)]
struct Hit {
    fixed: Fixed,
    severity: Option<String>,
    line: usize,
}

#[derive(Debug, Default)]
struct Expected {
    /// (package, vulnerability id) → what the finding must say.
    hits: BTreeMap<(String, String), Hit>,
    /// (package, vulnerability id) that must not be reported.
    not: BTreeMap<(String, String), usize>,
}

/// One row's cells, trimmed, with backticks removed.
fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().replace('`', ""))
        .collect()
}

/// The README's expectation table, per scan name.
fn read_expectations() -> BTreeMap<String, Expected> {
    let path = testdata("README.md");
    let text = std::fs::read_to_string(&path).expect("testdata/README.md");
    let start = text
        .find(BEGIN)
        .unwrap_or_else(|| panic!("{}: no {BEGIN} marker", path.display()));
    let end = text
        .find(END)
        .unwrap_or_else(|| panic!("{}: no {END} marker", path.display()));
    assert!(start < end, "expectation markers out of order");
    let first_line = text[..start].lines().count();
    let mut out: BTreeMap<String, Expected> = BTreeMap::new();
    let mut header: Option<Vec<String>> = None;
    // Scan groups: "- `name`: `scan`, `scan`" lines, usable in the scan column.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, line) in text[start + BEGIN.len()..end].lines().enumerate() {
        let lineno = first_line + i + 1;
        if let Some(def) = line.trim_start().strip_prefix("- ") {
            let (name, scans) = def
                .split_once(':')
                .filter(|(n, _)| n.trim().starts_with('`') && n.trim().ends_with('`'))
                .unwrap_or_else(|| {
                    panic!("README.md:{lineno}: a group is \"- `name`: `scan`, ...\"")
                });
            let scans: Vec<String> = scans
                .split(',')
                .map(|s| s.trim().replace('`', ""))
                .filter(|s| !s.is_empty())
                .collect();
            assert!(!scans.is_empty(), "README.md:{lineno}: empty group");
            groups.insert(name.trim().replace('`', ""), scans);
            continue;
        }
        if !line.trim_start().starts_with('|') {
            continue;
        }
        let row = cells(line);
        if row
            .iter()
            .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'))
        {
            continue; // the |---| separator
        }
        let Some(h) = &header else {
            assert_eq!(
                row,
                [
                    "scan",
                    "package",
                    "vulnerability",
                    "expect",
                    "fixed",
                    "severity"
                ],
                "README.md:{lineno}: unexpected table header"
            );
            header = Some(row);
            continue;
        };
        assert_eq!(row.len(), h.len(), "README.md:{lineno}: {line}");
        let (scans, package, id, expect, fixed, severity) =
            (&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]);
        assert!(
            !package.is_empty() && !id.is_empty(),
            "README.md:{lineno}: {line}"
        );
        let mut expanded: Vec<String> = Vec::new();
        for name in scans.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match groups.get(name) {
                Some(members) => expanded.extend(members.iter().cloned()),
                None => expanded.push(name.to_string()),
            }
        }
        for scan in &expanded {
            let e = out.entry(scan.clone()).or_default();
            let key = (package.clone(), id.clone());
            match expect.as_str() {
                "hit" => {
                    let fixed = match fixed.as_str() {
                        "" => panic!("README.md:{lineno}: a hit needs a fixed version or `none`"),
                        "none" => Fixed::Unfixed,
                        v => Fixed::In(v.to_string()),
                    };
                    let severity = (!severity.is_empty()).then(|| severity.clone());
                    let prev = e.hits.insert(
                        key,
                        Hit {
                            fixed,
                            severity,
                            line: lineno,
                        },
                    );
                    assert!(
                        prev.is_none(),
                        "README.md:{lineno}: duplicate row for {scan}"
                    );
                }
                "not" => {
                    assert!(
                        fixed.is_empty() && severity.is_empty(),
                        "README.md:{lineno}: a non-hit has no fixed version or severity"
                    );
                    assert!(
                        e.not.insert(key, lineno).is_none(),
                        "README.md:{lineno}: duplicate row for {scan}"
                    );
                }
                other => panic!("README.md:{lineno}: expect must be hit or not, not {other:?}"),
            }
        }
    }
    assert!(
        header.is_some(),
        "README.md: the expectation table is empty"
    );
    for (scan, e) in &out {
        for key in e.not.keys() {
            assert!(
                !e.hits.contains_key(key),
                "README.md: {scan} lists {key:?} both as hit and not"
            );
        }
    }
    out
}

/// The scanned path (relative to `testdata/`) and the CLI arguments for a scan name:
/// `<fixture>[:<ref>] [(<platform>)]` for `testdata/fixtures/` (zips are Lambda layers or functions,
/// scanned with `layer`; the rest are images), or `src/<dir>` for a tree scanned with `fs`.
fn scan_args(scan: &str) -> (String, Vec<String>) {
    let (target, platform) = match scan.split_once(" (") {
        Some((t, p)) => (t.trim(), Some(p.trim_end_matches(')').trim())),
        None => (scan.trim(), None),
    };
    let (subject, command, path) = if target.starts_with("src/") {
        (target.to_string(), "fs", testdata(target))
    } else {
        let fixture = target.split(':').next().unwrap_or(target);
        let command = if fixture.ends_with(".zip") {
            "layer"
        } else {
            "image"
        };
        (
            format!("fixtures/{fixture}"),
            command,
            testdata("fixtures").join(target),
        )
    };
    let mut args = vec![
        command.to_string(),
        path.to_string_lossy().into_owned(),
        "--format".into(),
        "json".into(),
        "--offline".into(),
    ];
    if let Some(p) = platform {
        args.push("--platform".into());
        args.push(p.into());
    }
    (subject, args)
}

#[derive(Debug)]
struct Finding {
    target: String,
    fixed: Option<String>,
    status: String,
    severity: String,
}

/// Every finding of a scan, per (package, vulnerability id).
fn scan(scan: &str) -> BTreeMap<(String, String), Vec<Finding>> {
    let (_, args) = scan_args(scan);
    let sb = Sandbox::new();
    let out = sb.cmd().args(&args).output().expect("run layerscan");
    assert!(
        out.status.success(),
        "{scan}: exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let report = crate::common::json(&out);
    assert_eq!(
        report["AdvisorySource"]["Kind"].as_str(),
        Some("bundled"),
        "{scan}: not scanned with the bundled sample: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        report["AdvisorySource"]["Records"].as_u64(),
        Some(bundled_files().len() as u64),
        "{scan}: the bundled sample did not load every advisories/*.json record"
    );
    let mut found: BTreeMap<(String, String), Vec<Finding>> = BTreeMap::new();
    for result in report["Results"].as_array().into_iter().flatten() {
        let target = result["Target"].as_str().unwrap_or_default().to_string();
        for v in result["Vulnerabilities"].as_array().into_iter().flatten() {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            found
                .entry((s("PkgName"), s("VulnerabilityID")))
                .or_default()
                .push(Finding {
                    target: target.clone(),
                    fixed: v["FixedVersion"]
                        .as_str()
                        .filter(|f| !f.is_empty())
                        .map(String::from),
                    status: s("Status"),
                    severity: s("Severity"),
                });
        }
    }
    found
}

/// The `advisories/*.json` files.
fn bundled_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("advisories"))
        .expect("advisories/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .collect();
    files.sort();
    files
}

/// Every id the bundled records carry: ids, aliases and upstream ids.
fn bundled_ids() -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for path in bundled_files() {
        let v: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("readable")).expect("json");
        ids.extend(v["id"].as_str().map(String::from));
        for key in ["aliases", "upstream"] {
            ids.extend(
                v[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(String::from)),
            );
        }
    }
    ids
}

#[test]
fn the_readme_table_covers_every_fixture() {
    let expected = read_expectations();
    let scanned: BTreeSet<String> = expected.keys().map(|s| scan_args(s).0).collect();
    for entry in std::fs::read_dir(testdata("fixtures")).expect("testdata/fixtures") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        // Bare package databases for the reader tests (tests/rpm.rs), not something to scan.
        if name == "rpmdb" {
            continue;
        }
        assert!(
            scanned.contains(&format!("fixtures/{name}")),
            "fixtures/{name} has no rows in testdata/README.md's expectation table"
        );
    }
    for scan in expected.keys() {
        let (subject, _) = scan_args(scan);
        assert!(
            testdata(&subject).exists(),
            "the expectation table scans {scan}, but testdata/{subject} does not exist"
        );
    }
}

#[test]
fn documented_non_hits_have_a_bundled_record_that_could_hit() {
    let ids = bundled_ids();
    for (scan, e) in read_expectations() {
        for ((pkg, id), line) in &e.not {
            assert!(
                ids.contains(id),
                "README.md:{line}: {scan}: `{pkg} not {id}` checks nothing: no bundled record names {id}"
            );
        }
    }
}

fn check_scan(name: &str) {
    let expected = read_expectations();
    let e = expected
        .get(name)
        .unwrap_or_else(|| panic!("no rows for {name} in testdata/README.md"));
    let found = scan(name);
    let mut problems = Vec::new();
    for (key, hit) in &e.hits {
        let Some(findings) = found.get(key) else {
            problems.push(format!(
                "missing: {} {} (README.md:{})",
                key.0, key.1, hit.line
            ));
            continue;
        };
        for f in findings {
            let (want_fixed, want_status) = match &hit.fixed {
                Fixed::In(v) => (Some(v.as_str()), "fixed"),
                Fixed::Unfixed => (None, "affected"),
            };
            if f.fixed.as_deref() != want_fixed || f.status != want_status {
                problems.push(format!(
                    "{} {} in {}: FixedVersion {:?} Status {:?}, README.md:{} says {:?} {:?}",
                    key.0, key.1, f.target, f.fixed, f.status, hit.line, want_fixed, want_status
                ));
            }
            if let Some(sev) = &hit.severity {
                if &f.severity != sev {
                    problems.push(format!(
                        "{} {} in {}: Severity {}, README.md:{} says {sev}",
                        key.0, key.1, f.target, f.severity, hit.line
                    ));
                }
            }
        }
    }
    for (key, findings) in &found {
        if let Some(line) = e.not.get(key) {
            problems.push(format!(
                "documented non-hit reported: {} {} in {} (README.md:{line})",
                key.0,
                key.1,
                findings
                    .iter()
                    .map(|f| f.target.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        } else if !e.hits.contains_key(key) {
            problems.push(format!(
                "not in the README table: {} {} ({}) in {}",
                key.0,
                key.1,
                findings.first().map(|f| f.status.as_str()).unwrap_or(""),
                findings
                    .iter()
                    .map(|f| f.target.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{name}: findings and testdata/README.md disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn debian_app_docker_archive() {
    check_scan("debian-app.docker.tar");
}

#[test]
fn debian_app_oci_v1() {
    check_scan("debian-app.oci:v1");
}

#[test]
fn debian_app_oci_v2_amd64() {
    check_scan("debian-app.oci:v2 (linux/amd64)");
}

#[test]
fn debian_app_oci_v2_arm64() {
    check_scan("debian-app.oci:v2 (linux/arm64)");
}

#[test]
fn alpine_app_oci() {
    check_scan("alpine-app.oci:3.20");
}

#[test]
fn distroless_docker_archive() {
    check_scan("distroless.docker.tar");
}

#[test]
fn python_layer_zip() {
    check_scan("python-layer.zip");
}

#[test]
fn function_zip() {
    check_scan("function.zip");
}

/// Not a fixture but a tree with bad files in it: the good packages next to them are still matched.
#[test]
fn fs_broken_tree() {
    check_scan("src/fs/broken");
}

/// Every scan named in the README table has a test above (a new row set needs a new test).
#[test]
fn every_table_scan_has_a_test() {
    let tested = [
        "debian-app.docker.tar",
        "debian-app.oci:v1",
        "debian-app.oci:v2 (linux/amd64)",
        "debian-app.oci:v2 (linux/arm64)",
        "alpine-app.oci:3.20",
        "distroless.docker.tar",
        "python-layer.zip",
        "function.zip",
        "src/fs/broken",
    ];
    for scan in read_expectations().keys() {
        assert!(
            tested.contains(&scan.as_str()),
            "README table scan {scan:?} has no test in tests/expectations.rs"
        );
    }
}

/// `2024-01-02T03:04:05Z` or with fractional seconds: the RFC 3339 UTC form OSV asks for.
fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && s.ends_with('Z')
        && (b.len() == 20 || (b[19] == b'.' && digits(20..b.len() - 1)))
}

/// `PyPI`, `Debian:12`, `Alpine:v3.20`, `Ubuntu:22.04` / `Ubuntu:22.04:LTS`: OSV's ecosystem names.
fn is_known_ecosystem(e: &str) -> bool {
    let numeric = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
    };
    match e.split_once(':') {
        None => e == "PyPI",
        Some(("Debian", rel)) => !rel.contains('.') && numeric(rel),
        Some(("Alpine", rel)) => rel
            .strip_prefix('v')
            .is_some_and(|r| r.split('.').count() == 2 && numeric(r)),
        Some(("Ubuntu", rel)) => {
            let rel = rel.strip_suffix(":LTS").unwrap_or(rel);
            rel.split('.').count() == 2 && numeric(rel)
        }
        _ => false,
    }
}

/// What the bundled records must get right beyond what the parser checks: OSV's field forms,
/// ecosystem names, and the conventions of the databases they imitate.
#[test]
fn bundled_records_follow_osv_and_their_sources_conventions() {
    const REFERENCE_TYPES: [&str; 10] = [
        "ADVISORY",
        "ARTICLE",
        "DETECTION",
        "DISCUSSION",
        "REPORT",
        "FIX",
        "INTRODUCED",
        "PACKAGE",
        "EVIDENCE",
        "WEB",
    ];
    let mut problems = Vec::new();
    for path in bundled_files() {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let v: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("readable")).expect("json");
        let id = v["id"].as_str().unwrap_or_default();
        let mut bad = |what: String| problems.push(format!("{name}: {what}"));
        let upstream: Vec<&str> = v["upstream"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match v["schema_version"].as_str() {
            Some("1.7.0") => {}
            Some("1.6.0") if upstream.is_empty() => {}
            Some("1.6.0") => bad("uses `upstream` (OSV 1.7) but declares schema 1.6.0".into()),
            other => bad(format!("schema_version {other:?}")),
        }
        for key in ["modified", "published", "withdrawn"] {
            if let Some(t) = v.get(key) {
                if !t.as_str().is_some_and(is_rfc3339_utc) {
                    bad(format!("{key} {t} is not an RFC 3339 UTC time"));
                }
            }
        }
        if v["aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a.as_str() == Some(id))
        {
            bad("aliases itself".into());
        }
        // Downstream records name the CVE they track, and only that one.
        for prefix in ["DEBIAN-", "ALPINE-"] {
            if let Some(cve) = id.strip_prefix(prefix) {
                if upstream != [cve] {
                    bad(format!("upstream {upstream:?}, expected [{cve:?}]"));
                }
            }
        }
        if id.starts_with("DSA-") && upstream.is_empty() {
            bad("a DSA record names the CVEs it fixes in upstream".into());
        }
        for s in v["severity"].as_array().into_iter().flatten() {
            let kind = s["type"].as_str().unwrap_or_default();
            if !["CVSS_V2", "CVSS_V3", "CVSS_V4", "Ubuntu"].contains(&kind) {
                bad(format!("severity type {kind:?}"));
            }
        }
        if let Some(sev) = v.pointer("/database_specific/severity") {
            if !["LOW", "MODERATE", "HIGH", "CRITICAL"].contains(&sev.as_str().unwrap_or_default())
            {
                bad(format!("database_specific.severity {sev}"));
            }
        }
        for r in v["references"].as_array().into_iter().flatten() {
            let kind = r["type"].as_str().unwrap_or_default();
            if !REFERENCE_TYPES.contains(&kind) {
                bad(format!("reference type {kind:?}"));
            }
            if !r["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://"))
            {
                bad(format!("reference url {}", r["url"]));
            }
        }
        for aff in v["affected"].as_array().into_iter().flatten() {
            let eco = aff
                .pointer("/package/ecosystem")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !is_known_ecosystem(eco) {
                bad(format!("ecosystem {eco:?}"));
            }
            let pkg = aff
                .pointer("/package/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let purl = aff.pointer("/package/purl").and_then(Value::as_str);
            let want_purl = match eco.split(':').next() {
                Some("Debian") => Some(format!("pkg:deb/debian/{pkg}?arch=source")),
                Some("Alpine") => Some(format!("pkg:apk/alpine/{pkg}")),
                Some("PyPI") => Some(format!("pkg:pypi/{}", pkg.to_ascii_lowercase())),
                _ => None,
            };
            if let (Some(purl), Some(want)) = (purl, want_purl) {
                if purl != want {
                    bad(format!("purl {purl:?}, expected {want:?}"));
                }
            }
            for r in aff["ranges"].as_array().into_iter().flatten() {
                let events = r["events"].as_array().cloned().unwrap_or_default();
                let has = |k: &str| events.iter().any(|e| e.get(k).is_some());
                if has("fixed") && has("last_affected") {
                    bad("a range with both fixed and last_affected (OSV forbids it)".into());
                }
                if (eco.starts_with("Debian") || eco.starts_with("Alpine"))
                    && r["type"] != "ECOSYSTEM"
                {
                    bad(format!("{eco} range of type {}", r["type"]));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "bundled records:\n  {}",
        problems.join("\n  ")
    );
}
