//! Integration tests: matching.
//!
//! Version orders are checked against real oracles (the host's `dpkg --compare-versions`, Python's
//! `packaging`) on real version strings; matching is checked with an in-memory advisory store on
//! OSV records, and, when `../shared/osv/PyPI-all.zip` is present, on the real PyPA database.

use layerscan::advisory::{normalize_name, Advisory};
use layerscan::db::AdvisoryStore;
use layerscan::matcher::match_report;
use layerscan::model::{
    ArtifactType, Identifier, LayerInfo, Metadata, OsInfo, Package, Report, ScanResult, Severity,
    Vulnerability,
};
use layerscan::version;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

// ---------------------------------------------------------------------------------------------
// Helpers

/// An in-memory advisory store, following the `AdvisoryStore` contract.
struct MemStore(Vec<Advisory>);

impl AdvisoryStore for MemStore {
    fn advisories_for(&self, ecosystem_base: &str, name: &str) -> anyhow::Result<Vec<Advisory>> {
        let want = normalize_name(ecosystem_base, name);
        Ok(self
            .0
            .iter()
            .filter(|a| {
                a.affected.iter().any(|af| {
                    af.package.as_ref().is_some_and(|p| {
                        Advisory::ecosystem_base(&p.ecosystem).eq_ignore_ascii_case(ecosystem_base)
                            && normalize_name(ecosystem_base, &p.name) == want
                    })
                })
            })
            .cloned()
            .collect())
    }
    fn advisory_by_id(&self, id: &str) -> anyhow::Result<Option<Advisory>> {
        Ok(self
            .0
            .iter()
            .find(|a| a.id == id)
            .or_else(|| self.0.iter().find(|a| a.aliases.iter().any(|x| x == id)))
            .cloned())
    }
}

fn rec(json: serde_json::Value) -> Advisory {
    Advisory::from_json(json.to_string().as_bytes()).expect("valid test record")
}

fn pkg(name: &str, version: &str) -> Package {
    Package {
        name: name.to_string(),
        version: version.to_string(),
        src_name: None,
        src_version: None,
        arch: None,
        file_path: None,
        layer: LayerInfo::default(),
        identifier: Identifier::default(),
        ecosystem: None,
    }
}

fn os_pkg(name: &str, version: &str, src: &str, src_version: &str) -> Package {
    Package {
        src_name: Some(src.to_string()),
        src_version: Some(src_version.to_string()),
        ..pkg(name, version)
    }
}

fn report(os: Option<(&str, &str)>, kind: &str, packages: Vec<Package>) -> Report {
    Report {
        schema_version: 2,
        created_at: "2026-11-28T00:00:00Z".to_string(),
        artifact_name: "test".to_string(),
        artifact_type: ArtifactType::ContainerImage,
        metadata: Metadata {
            os: os.map(|(f, n)| OsInfo {
                family: f.to_string(),
                name: n.to_string(),
            }),
            ..Metadata::default()
        },
        results: vec![ScanResult {
            target: "test".to_string(),
            class: if kind == "python-pkg" || kind == "pip" {
                "lang-pkgs".to_string()
            } else {
                "os-pkgs".to_string()
            },
            kind: kind.to_string(),
            packages: Some(packages),
            vulnerabilities: None,
            misconfigurations: None,
        }],
        warnings: Vec::new(),
        advisory_source: None,
        expired_ignores: Vec::new(),
        coverage: None,
    }
}

fn run(store: &MemStore, mut r: Report) -> (Vec<Vulnerability>, Vec<String>) {
    match_report(&mut r, store).expect("matching succeeds");
    let vulns = r
        .results
        .into_iter()
        .flat_map(|res| res.vulnerabilities.unwrap_or_default())
        .collect();
    (vulns, r.warnings)
}

fn ids(v: &[Vulnerability]) -> Vec<&str> {
    v.iter().map(|x| x.vulnerability_id.as_str()).collect()
}

fn pypi_record(id: &str, aliases: &[&str], name: &str, ranges: serde_json::Value) -> Advisory {
    rec(serde_json::json!({
        "id": id,
        "aliases": aliases,
        "summary": format!("test flaw {id}"),
        "affected": [{"package": {"ecosystem": "PyPI", "name": name}, "ranges": ranges}],
    }))
}

// ---------------------------------------------------------------------------------------------
// Matching semantics

#[test]
fn git_range_before_ecosystem_range_does_not_stop_the_check() {
    let store = MemStore(vec![pypi_record(
        "PYSEC-2023-74",
        &["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"],
        "requests",
        serde_json::json!([
            {"type": "GIT", "repo": "https://github.com/psf/requests",
             "events": [{"introduced": "0"}, {"fixed": "74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5"}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}
        ]),
    )]);
    let (v, warnings) = run(
        &store,
        report(None, "python-pkg", vec![pkg("Requests", "2.30.0")]),
    );
    assert_eq!(ids(&v), ["CVE-2023-32681"]);
    assert_eq!(v[0].aliases, ["GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"]);
    assert_eq!(v[0].fixed_version.as_deref(), Some("2.31.0"));
    assert_eq!(v[0].status, "fixed");
    assert_eq!(v[0].pkg_name, "Requests");
    assert_eq!(v[0].installed_version, "2.30.0");
    assert!(warnings.is_empty(), "{warnings:?}");
    for safe in ["2.31.0", "2.2.1", "2.32.3"] {
        let (v, _) = run(&store, report(None, "pip", vec![pkg("requests", safe)]));
        assert!(v.is_empty(), "{safe} is not affected: {v:?}");
    }
}

#[test]
fn last_affected_limit_and_versions_lists() {
    let store = MemStore(vec![
        pypi_record(
            "GHSA-aaaa-bbbb-cccc",
            &[],
            "demo",
            serde_json::json!([{"type": "ECOSYSTEM",
                "events": [{"introduced": "1.0"}, {"last_affected": "1.4.2"}]}]),
        ),
        pypi_record(
            "PYSEC-2099-1",
            &[],
            "demo",
            serde_json::json!([{"type": "ECOSYSTEM",
                "events": [{"introduced": "0"}, {"limit": "1.2"}]}]),
        ),
        rec(serde_json::json!({
            "id": "PYSEC-2099-2",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"},
                          "versions": ["0.5", "2.0.0"]}],
        })),
    ]);
    let found = |v: &str| {
        let (f, w) = run(&store, report(None, "python-pkg", vec![pkg("demo", v)]));
        assert!(w.is_empty(), "{w:?}");
        let mut out: Vec<String> = f.into_iter().map(|x| x.vulnerability_id).collect();
        out.sort();
        out
    };
    assert_eq!(found("0.5"), ["PYSEC-2099-1", "PYSEC-2099-2"]);
    assert_eq!(found("1.1"), ["GHSA-aaaa-bbbb-cccc", "PYSEC-2099-1"]);
    assert_eq!(found("1.2"), ["GHSA-aaaa-bbbb-cccc"]);
    assert_eq!(found("1.4.2"), ["GHSA-aaaa-bbbb-cccc"]);
    assert!(found("1.4.3").is_empty());
    // PEP 440 equality in versions lists: 2.0 == 2.0.0.
    assert_eq!(found("2.0"), ["PYSEC-2099-2"]);
    // last_affected means no fix is known.
    let (f, _) = run(&store, report(None, "pip", vec![pkg("demo", "1.3")]));
    assert_eq!(f[0].status, "affected");
    assert_eq!(f[0].fixed_version, None);
}

#[test]
fn withdrawn_records_are_skipped() {
    let mut r = pypi_record(
        "PYSEC-2099-3",
        &[],
        "demo",
        serde_json::json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]),
    );
    let store = MemStore(vec![r.clone()]);
    let (v, _) = run(&store, report(None, "pip", vec![pkg("demo", "1.0")]));
    assert_eq!(ids(&v), ["PYSEC-2099-3"]);
    r.withdrawn = Some("2024-01-01T00:00:00Z".to_string());
    let store = MemStore(vec![r]);
    let (v, _) = run(&store, report(None, "pip", vec![pkg("demo", "1.0")]));
    assert!(v.is_empty());
}

#[test]
fn alias_group_is_one_finding_with_severity_from_the_group() {
    let range = serde_json::json!([{"type": "ECOSYSTEM",
        "events": [{"introduced": "0"}, {"fixed": "3.1.3"}]}]);
    let pysec = pypi_record(
        "PYSEC-2099-10",
        &["GHSA-2222-3333-4444"],
        "jinja2",
        range.clone(),
    );
    let mut ghsa = rec(serde_json::json!({
        "id": "GHSA-2222-3333-4444",
        "aliases": ["CVE-2099-0001"],
        "summary": "sandbox escape",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "references": [{"type": "ADVISORY", "url": "https://github.com/advisories/GHSA-2222-3333-4444"}],
        "affected": [{"package": {"ecosystem": "PyPI", "name": "Jinja2"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"fixed": "3.1.4"}]}]}],
    }));
    let store = MemStore(vec![pysec.clone(), ghsa.clone()]);
    let (v, _) = run(&store, report(None, "pip", vec![pkg("Jinja2", "3.1.2")]));
    assert_eq!(v.len(), 1, "{v:?}");
    let f = &v[0];
    assert_eq!(f.vulnerability_id, "CVE-2099-0001");
    assert_eq!(f.aliases, ["GHSA-2222-3333-4444", "PYSEC-2099-10"]);
    assert_eq!(f.severity, Severity::Critical);
    // The GHSA record speaks for the group (no record has the CVE id; GHSA ranks before PYSEC).
    assert_eq!(f.severity_source.as_deref(), Some("cvss_v3"));
    assert_eq!(f.title.as_deref(), Some("sandbox escape"));
    // The group's records disagree (PYSEC: fixed in 3.1.3, GHSA: 3.0.0 up to 3.1.4): 3.1.3 is
    // still covered by GHSA's range, so the nearest real fix is 3.1.4.
    assert_eq!(f.fixed_version.as_deref(), Some("3.1.4"));
    assert_eq!(
        f.primary_url.as_deref(),
        Some("https://github.com/advisories/GHSA-2222-3333-4444")
    );
    assert_eq!(f.cvss.get("ghsa").and_then(|c| c.v3_score), Some(9.8));

    // Only the PYSEC record matches (2.11 is outside GHSA's range): the severity still comes from
    // the alias, fetched by id.
    let (v, _) = run(&store, report(None, "pip", vec![pkg("jinja2", "2.11")]));
    assert_eq!(ids(&v), ["CVE-2099-0001"]);
    assert_eq!(v[0].severity, Severity::Critical);
    assert_eq!(
        v[0].severity_source.as_deref(),
        Some("alias:GHSA-2222-3333-4444")
    );
    assert_eq!(v[0].title.as_deref(), Some("test flaw PYSEC-2099-10"));

    // database_specific severity (GHSA's MODERATE is MEDIUM) when there is no vector.
    ghsa.severity.clear();
    ghsa.database_specific = Some(serde_json::json!({"severity": "MODERATE"}));
    let store = MemStore(vec![pysec.clone(), ghsa]);
    let (v, _) = run(&store, report(None, "pip", vec![pkg("jinja2", "3.1.2")]));
    assert_eq!(v[0].severity, Severity::Medium);
    assert_eq!(v[0].severity_source.as_deref(), Some("database_specific"));
    let (v, _) = run(&store, report(None, "pip", vec![pkg("jinja2", "2.11")]));
    assert_eq!(v[0].severity, Severity::Medium);
    assert_eq!(
        v[0].severity_source.as_deref(),
        Some("alias:GHSA-2222-3333-4444")
    );

    // No severity anywhere.
    let store = MemStore(vec![pysec]);
    let (v, _) = run(&store, report(None, "pip", vec![pkg("jinja2", "3.1.2")]));
    assert_eq!(v[0].severity, Severity::Unknown);
    assert_eq!(v[0].severity_source, None);
    // Without the GHSA record its CVE alias is unknown: the group is PYSEC + its GHSA alias.
    assert_eq!(v[0].vulnerability_id, "GHSA-2222-3333-4444");
    assert_eq!(v[0].aliases, ["PYSEC-2099-10"]);
}

#[test]
fn records_sharing_only_an_alias_are_grouped_and_distinct_flaws_are_not() {
    let r = |id: &str, aliases: &[&str]| {
        pypi_record(
            id,
            aliases,
            "pyyaml",
            serde_json::json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.4"}]}]),
        )
    };
    let store = MemStore(vec![
        r("PYSEC-2099-20", &["CVE-2099-0020"]),
        r("GHSA-5555-6666-7777", &["CVE-2099-0020"]),
        r("PYSEC-2099-21", &["CVE-2099-0021"]),
    ]);
    let (v, _) = run(&store, report(None, "pip", vec![pkg("PyYAML", "5.3.1")]));
    assert_eq!(ids(&v), ["CVE-2099-0020", "CVE-2099-0021"]);
    assert_eq!(v[0].aliases, ["GHSA-5555-6666-7777", "PYSEC-2099-20"]);
    assert_eq!(v[1].aliases, ["PYSEC-2099-21"]);
}

fn debian_record(id: &str, release: &str, name: &str, fixed: &str) -> Advisory {
    rec(serde_json::json!({
        "id": id,
        "upstream": [id.trim_start_matches("DEBIAN-")],
        "affected": [{"package": {"ecosystem": release, "name": name},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
    }))
}

#[test]
fn debian_uses_source_package_and_version_binnmu_and_epoch() {
    let store = MemStore(vec![
        debian_record("DEBIAN-CVE-2099-0100", "Debian:12", "bzip2", "1.0.8-5"),
        debian_record(
            "DEBIAN-CVE-2099-0101",
            "Debian:12",
            "util-linux",
            "2.38.1-5+deb12u2",
        ),
        debian_record("DEBIAN-CVE-2099-0102", "Debian:12", "bzip2", "1.0.8-6"),
    ]);
    let packages = vec![
        // binNMU of source 1.0.8-5: fixed by 1.0.8-5, affected by the flaw fixed in 1.0.8-6.
        os_pkg("libbz2-1.0", "1.0.8-5+b1", "bzip2", "1.0.8-5"),
        // Binary version carries an epoch the source version does not.
        os_pkg(
            "libuuid1",
            "1:2.38.1-5+deb12u1",
            "util-linux",
            "2.38.1-5+deb12u1",
        ),
    ];
    let (v, w) = run(&store, report(Some(("debian", "12.7")), "debian", packages));
    assert!(w.is_empty(), "{w:?}");
    let got: Vec<(&str, &str, Option<&str>)> = v
        .iter()
        .map(|x| {
            (
                x.vulnerability_id.as_str(),
                x.pkg_name.as_str(),
                x.fixed_version.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("CVE-2099-0101", "libuuid1", Some("2.38.1-5+deb12u2")),
            ("CVE-2099-0102", "libbz2-1.0", Some("1.0.8-6")),
        ]
    );
    assert_eq!(v[0].aliases, ["DEBIAN-CVE-2099-0101"]);
    assert_eq!(v[0].installed_version, "1:2.38.1-5+deb12u1");

    // Without a recorded source version, the binNMU suffix is dropped from the binary version.
    let mut p = pkg("bzip2", "1.0.8-5+b1");
    p.src_name = Some("bzip2".into());
    let (v, _) = run(&store, report(Some(("debian", "12")), "debian", vec![p]));
    assert_eq!(ids(&v), ["CVE-2099-0102"]);
}

#[test]
fn dsa_records_fold_into_their_cve_findings() {
    let dsa = |id: &str, cves: &[&str]| {
        rec(serde_json::json!({
            "id": id,
            "upstream": cves,
            "summary": "curl security update",
            "affected": [{"package": {"ecosystem": "Debian:12", "name": "curl"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "7.88.1-10+deb12u4"}]}]}],
        }))
    };
    let p = || {
        vec![os_pkg(
            "libcurl4",
            "7.88.1-10+deb12u3",
            "curl",
            "7.88.1-10+deb12u3",
        )]
    };
    let store = MemStore(vec![
        debian_record(
            "DEBIAN-CVE-2023-38545",
            "Debian:12",
            "curl",
            "7.88.1-10+deb12u4",
        ),
        debian_record(
            "DEBIAN-CVE-2023-38546",
            "Debian:12",
            "curl",
            "7.88.1-10+deb12u4",
        ),
        dsa("DSA-5523-1", &["CVE-2023-38545", "CVE-2023-38546"]),
        dsa("DSA-9999-1", &["CVE-2023-38545", "CVE-2099-9999"]),
    ]);
    let (v, _) = run(&store, report(Some(("debian", "12")), "debian", p()));
    assert_eq!(ids(&v), ["CVE-2023-38545", "CVE-2023-38546"]);
    assert_eq!(
        v[0].aliases,
        ["DEBIAN-CVE-2023-38545", "DSA-5523-1", "DSA-9999-1"]
    );
    assert_eq!(v[1].aliases, ["DEBIAN-CVE-2023-38546", "DSA-5523-1"]);

    // Older exports list a DSA's CVEs as `related`; a DSA whose CVEs are not findings stays one.
    let mut old = dsa("DSA-5523-1", &[]);
    old.related = vec!["CVE-2023-38545".into(), "CVE-2023-38546".into()];
    let lone = dsa("DSA-9998-1", &["CVE-2099-0001", "CVE-2099-0002"]);
    let store = MemStore(vec![
        debian_record(
            "DEBIAN-CVE-2023-38545",
            "Debian:12",
            "curl",
            "7.88.1-10+deb12u4",
        ),
        old,
        lone,
    ]);
    let (v, _) = run(&store, report(Some(("debian", "12")), "debian", p()));
    assert_eq!(ids(&v), ["CVE-2023-38545", "DSA-9998-1"]);
    assert_eq!(v[0].aliases, ["DEBIAN-CVE-2023-38545", "DSA-5523-1"]);
    assert_eq!(v[1].aliases, Vec::<String>::new());
}

#[test]
fn debian_release_must_match() {
    let store = MemStore(vec![
        debian_record(
            "DEBIAN-CVE-2099-0200",
            "Debian:11",
            "openssl",
            "1.1.1w-0+deb11u1",
        ),
        debian_record(
            "DEBIAN-CVE-2099-0201",
            "Debian:12",
            "openssl",
            "3.0.15-1~deb12u1",
        ),
        debian_record("DEBIAN-CVE-2099-0202", "Debian", "openssl", "3.0.16-1"),
    ]);
    let p = || {
        vec![os_pkg(
            "libssl3",
            "3.0.14-1~deb12u2",
            "openssl",
            "3.0.14-1~deb12u2",
        )]
    };
    let (v, _) = run(&store, report(Some(("debian", "12")), "debian", p()));
    assert_eq!(ids(&v), ["CVE-2099-0201", "CVE-2099-0202"]);
    let (v, _) = run(&store, report(Some(("debian", "11.9")), "debian", p()));
    // 3.0.14 > 1.1.1w: not affected on 11; the release-less record still applies.
    assert_eq!(ids(&v), ["CVE-2099-0202"]);
    let (v, w) = run(&store, report(None, "debian", p()));
    assert_eq!(ids(&v), ["CVE-2099-0202"]);
    assert!(
        w.iter().any(|x| x.contains("Debian release unknown")),
        "{w:?}"
    );
}

#[test]
fn alpine_matches_origin_in_apk_order_and_release() {
    let rec_for = |id: &str, release: &str, fixed: &str| {
        rec(serde_json::json!({
            "id": id,
            "affected": [{"package": {"ecosystem": release, "name": "openssl"},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        }))
    };
    let store = MemStore(vec![
        rec_for("CVE-2099-0300", "Alpine:v3.20", "3.3.2-r0"),
        rec_for("CVE-2099-0301", "Alpine:v3.19", "3.1.7-r0"),
        rec_for("CVE-2099-0302", "Alpine:v3.20", "3.3.1_rc1-r0"),
    ]);
    let mut p = pkg("libcrypto3", "3.3.1-r3");
    p.src_name = Some("openssl".into());
    let (v, _) = run(
        &store,
        report(Some(("alpine", "3.20.3")), "alpine", vec![p.clone()]),
    );
    assert_eq!(ids(&v), ["CVE-2099-0300"]);
    assert_eq!(v[0].pkg_name, "libcrypto3");
    assert_eq!(v[0].fixed_version.as_deref(), Some("3.3.2-r0"));
    p.version = "3.3.2-r0".into();
    let (v, _) = run(
        &store,
        report(Some(("alpine", "3.20.3")), "alpine", vec![p]),
    );
    assert!(v.is_empty());
}

#[test]
fn ubuntu_lts_ecosystems_match_the_release() {
    let store = MemStore(vec![rec(serde_json::json!({
        "id": "UBUNTU-CVE-2099-0400",
        "upstream": ["CVE-2099-0400"],
        "severity": [{"type": "Ubuntu", "score": "high"}],
        "affected": [
            {"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "curl"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "7.81.0-1ubuntu1.16"}]}]},
            {"package": {"ecosystem": "Ubuntu:20.04:LTS", "name": "curl"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "7.68.0-1ubuntu2.22"}]}]}
        ],
    }))]);
    let p = vec![os_pkg(
        "libcurl4",
        "7.81.0-1ubuntu1.15",
        "curl",
        "7.81.0-1ubuntu1.15",
    )];
    let (v, _) = run(
        &store,
        report(Some(("ubuntu", "22.04")), "ubuntu", p.clone()),
    );
    assert_eq!(ids(&v), ["CVE-2099-0400"]);
    assert_eq!(v[0].fixed_version.as_deref(), Some("7.81.0-1ubuntu1.16"));
    assert_eq!(v[0].severity, Severity::High);
    assert_eq!(v[0].severity_source.as_deref(), Some("ubuntu"));
    let (v, _) = run(&store, report(Some(("ubuntu", "24.04")), "ubuntu", p));
    assert!(v.is_empty());
}

#[test]
fn unparsable_and_unpinned_versions() {
    let store = MemStore(vec![pypi_record(
        "PYSEC-2099-30",
        &[],
        "demo",
        serde_json::json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.0"}]}]),
    )]);
    let mut bad = pkg("demo", "not/a.version");
    bad.file_path = Some("app/requirements.txt".into());
    let (v, w) = run(
        &store,
        report(None, "pip", vec![bad, pkg("demo", ""), pkg("demo", "1.0")]),
    );
    // Only the parsable pinned version is matched; the unparsable one is a warning.
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].installed_version, "1.0");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("not/a.version") && w[0].contains("app/requirements.txt"),
        "{w:?}"
    );

    // An unparsable event version skips that range with a warning, and other ranges still count.
    let store = MemStore(vec![pypi_record(
        "PYSEC-2099-31",
        &[],
        "demo",
        serde_json::json!([
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "bogus version"}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}
        ]),
    )]);
    let (v, w) = run(&store, report(None, "pip", vec![pkg("demo", "1.0")]));
    assert_eq!(ids(&v), ["PYSEC-2099-31"]);
    assert!(w.iter().any(|x| x.contains("bogus version")), "{w:?}");
}

#[test]
fn findings_are_sorted_worst_first_and_carry_package_context() {
    let sev = |id: &str, vector: Option<&str>| {
        let mut r = pypi_record(
            id,
            &[],
            "demo",
            serde_json::json!([{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]),
        );
        if let Some(v) = vector {
            r.severity = vec![layerscan::advisory::SeverityEntry {
                kind: "CVSS_V3".into(),
                score: v.into(),
            }];
        }
        r
    };
    let store = MemStore(vec![
        sev("GHSA-0000-0000-0001", None),
        sev(
            "GHSA-0000-0000-0002",
            Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:N/A:N"),
        ),
        sev(
            "GHSA-0000-0000-0003",
            Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
        ),
        sev(
            "GHSA-0000-0000-0004",
            Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),
        ),
    ]);
    let mut p = pkg("demo", "1.0");
    p.file_path = Some("usr/lib/python3/site-packages/demo-1.0.dist-info/METADATA".into());
    p.layer = LayerInfo {
        digest: Some("sha256:aa".into()),
        diff_id: Some("sha256:bb".into()),
        created_by: None,
    };
    let (v, _) = run(&store, report(None, "python-pkg", vec![p.clone()]));
    let got: Vec<(&str, Severity)> = v
        .iter()
        .map(|x| (x.vulnerability_id.as_str(), x.severity))
        .collect();
    assert_eq!(
        got,
        [
            ("GHSA-0000-0000-0003", Severity::Critical),
            ("GHSA-0000-0000-0004", Severity::High),
            ("GHSA-0000-0000-0002", Severity::Medium),
            ("GHSA-0000-0000-0001", Severity::Unknown),
        ]
    );
    assert!(v
        .iter()
        .all(|x| x.layer == p.layer && x.pkg_path == p.file_path));
    assert!(v.iter().all(|x| x.status == "affected"));
    assert_eq!(
        v[3].primary_url.as_deref(),
        Some("https://osv.dev/vulnerability/GHSA-0000-0000-0001")
    );
}

// ---------------------------------------------------------------------------------------------
// The bundled advisories

fn bundled() -> Vec<(PathBuf, Advisory)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("advisories");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("advisories/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("readable");
        let adv = Advisory::from_json(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push((path, adv));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn bundled_advisories_are_valid_osv_records() {
    let all = bundled();
    assert!(all.len() >= 40, "only {} bundled records", all.len());
    let mut seen = HashSet::new();
    for (path, adv) in &all {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert_eq!(
            stem,
            adv.id,
            "{}: file name must be <ID>.json",
            path.display()
        );
        assert!(seen.insert(adv.id.clone()), "duplicate id {}", adv.id);
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).expect("readable")).expect("json");
        assert!(
            raw.get("schema_version").is_some(),
            "{}: schema_version",
            adv.id
        );
        assert!(
            raw.get("modified").and_then(|m| m.as_str()).is_some(),
            "{}: modified",
            adv.id
        );
        assert!(
            adv.summary.as_deref().is_some_and(|s| !s.is_empty()),
            "{}: summary",
            adv.id
        );
        assert!(!adv.affected.is_empty(), "{}: affected", adv.id);
        for aff in &adv.affected {
            let p = aff.package.as_ref().expect("affected package");
            let base = Advisory::ecosystem_base(&p.ecosystem);
            assert!(
                ["PyPI", "Debian", "Alpine", "Ubuntu"].contains(&base),
                "{}: ecosystem {}",
                adv.id,
                p.ecosystem
            );
            for r in &aff.ranges {
                if r.kind == "GIT" {
                    continue;
                }
                let scheme_base = if r.kind == "SEMVER" { "SEMVER" } else { base };
                for e in &r.events {
                    for v in [&e.introduced, &e.fixed, &e.last_affected, &e.limit]
                        .into_iter()
                        .flatten()
                    {
                        assert!(
                            v == "0" || version::compare(scheme_base, v, v).is_some(),
                            "{}: {v:?} is not a valid {base} version",
                            adv.id
                        );
                    }
                }
            }
            for v in &aff.versions {
                assert!(version::compare(base, v, v).is_some(), "{}: {v:?}", adv.id);
            }
        }
        for s in adv
            .severity
            .iter()
            .chain(adv.affected.iter().flat_map(|a| a.severity.iter()))
        {
            if s.kind.starts_with("CVSS_V3") || s.kind == "CVSS_V4" {
                assert!(
                    s.score.parse::<cvss::Cvss>().is_ok(),
                    "{}: bad vector {}",
                    adv.id,
                    s.score
                );
            }
        }
    }
    let bases: BTreeSet<&str> = all
        .iter()
        .flat_map(|(_, a)| a.affected.iter())
        .filter_map(|a| a.package.as_ref())
        .map(|p| Advisory::ecosystem_base(&p.ecosystem))
        .collect();
    for want in ["PyPI", "Debian", "Alpine"] {
        assert!(bases.contains(want), "no {want} records bundled");
    }
}

#[test]
fn bundled_advisories_find_known_flaws() {
    let store = MemStore(bundled().into_iter().map(|(_, a)| a).collect());
    let (v, w) = run(
        &store,
        report(
            None,
            "pip",
            vec![
                pkg("requests", "2.25.0"),
                pkg("PyYAML", "5.3.1"),
                pkg("urllib3", "1.26.4"),
                pkg("requests", "2.32.3"),
                pkg("aiohttp", "3.8.4"),
                pkg("Pillow", "9.0.0"),
                pkg("Flask", "0.12.2"),
                pkg("Werkzeug", "2.2.2"),
                pkg("idna", "3.6"),
                pkg("certifi", "2022.12.7"),
                pkg("cryptography", "3.3.1"),
                pkg("Jinja2", "2.11.2"),
            ],
        ),
    );
    assert!(w.is_empty(), "{w:?}");
    let has = |pkg: &str, cve: &str| {
        v.iter().any(|x| {
            x.pkg_name == pkg && (x.vulnerability_id == cve || x.aliases.iter().any(|a| a == cve))
        })
    };
    assert!(has("requests", "CVE-2023-32681"), "{v:#?}");
    assert!(has("PyYAML", "CVE-2020-14343"), "{v:#?}");
    assert!(has("urllib3", "CVE-2021-33503"), "{v:#?}");
    for (p, cve) in [
        ("aiohttp", "CVE-2023-37276"),
        ("aiohttp", "CVE-2024-23334"),
        ("Pillow", "CVE-2022-24303"),
        ("Flask", "CVE-2018-1000656"),
        ("Werkzeug", "CVE-2023-25577"),
        ("Werkzeug", "CVE-2024-34069"),
        ("idna", "CVE-2024-3651"),
        ("certifi", "CVE-2023-37920"),
        ("cryptography", "CVE-2020-36242"),
        ("Jinja2", "CVE-2020-28493"),
        ("Jinja2", "CVE-2024-22195"),
    ] {
        assert!(has(p, cve), "{p} {cve}: {v:#?}");
    }
    // certifi 2022.12.7 is the fix for the TrustCor removal; cryptography 3.3.1 predates the
    // 40.x SSH flaw.
    assert!(!has("certifi", "CVE-2022-23491"));
    assert!(!has("cryptography", "CVE-2023-38325"));
    // PYSEC + GHSA pairs are one finding, with the GHSA severity.
    let yaml = v
        .iter()
        .find(|x| x.vulnerability_id == "CVE-2020-14343")
        .expect("pyyaml");
    assert_eq!(yaml.aliases, ["GHSA-8q59-q68h-6hv4", "PYSEC-2021-142"]);
    assert_eq!(yaml.severity, Severity::Critical);
    assert!(
        !v.iter()
            .any(|x| x.installed_version == "2.32.3" && x.vulnerability_id == "CVE-2023-32681"),
        "{v:#?}"
    );
}

/// The OS packages of `testdata/src/debian-app` and `alpine-app` against the bundled records.
#[test]
fn bundled_advisories_on_the_fixture_os_packages() {
    let store = MemStore(bundled().into_iter().map(|(_, a)| a).collect());
    let debian = vec![
        os_pkg("bsdutils", "1:2.38.1-5+b1", "util-linux", "2.38.1-5"),
        os_pkg("curl", "7.88.1-10+deb12u4", "curl", "7.88.1-10+deb12u4"),
        os_pkg("libc6", "2.36-9+deb12u3", "glibc", "2.36-9+deb12u3"),
        os_pkg("libexpat1", "2.5.0-1", "expat", "2.5.0-1"),
        os_pkg("libssl3", "3.0.11-1~deb12u1", "openssl", "3.0.11-1~deb12u1"),
        os_pkg("wget", "1.21.3-1+b2", "wget", "1.21.3-1"),
        os_pkg("zlib1g", "1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1"),
    ];
    let (v, w) = run(&store, report(Some(("debian", "12")), "debian", debian));
    assert!(w.is_empty(), "{w:?}");
    let got: BTreeSet<(String, String, Option<String>)> = v
        .iter()
        .map(|x| {
            (
                x.pkg_name.clone(),
                x.vulnerability_id.clone(),
                x.fixed_version.clone(),
            )
        })
        .collect();
    let want =
        |p: &str, id: &str, fixed: &str| (p.to_string(), id.to_string(), Some(fixed.to_string()));
    for item in [
        want("bsdutils", "CVE-2024-28085", "2.38.1-5+deb12u1"),
        want("libc6", "CVE-2023-6246", "2.36-9+deb12u4"),
        want("libc6", "CVE-2023-6779", "2.36-9+deb12u4"),
        want("libc6", "CVE-2024-2961", "2.36-9+deb12u6"),
        want("libexpat1", "CVE-2024-45490", "2.5.0-1+deb12u1"),
        want("libssl3", "CVE-2023-5363", "3.0.11-1~deb12u2"),
        want("libssl3", "CVE-2024-6119", "3.0.14-1~deb12u2"),
        want("wget", "CVE-2024-38428", "1.21.3-1+deb12u1"),
    ] {
        assert!(got.contains(&item), "missing {item:?} in {got:#?}");
    }
    // Fixed in the installed versions: glibc's Looney Tunables (u3), curl's SOCKS5 flaw (u4).
    assert!(!got
        .iter()
        .any(|(_, id, _)| id == "CVE-2023-4911" || id == "CVE-2023-38545"));
    // DSA-5611-1 names three CVEs that are all findings: folded into their aliases.
    assert!(
        !got.iter().any(|(_, id, _)| id.starts_with("DSA-")),
        "{got:#?}"
    );
    let glibc = v
        .iter()
        .find(|x| x.vulnerability_id == "CVE-2023-6246")
        .expect("glibc");
    assert_eq!(glibc.aliases, ["DEBIAN-CVE-2023-6246", "DSA-5611-1"]);
    assert_eq!(glibc.severity, Severity::High);
    // The expat and zlib records carry NVD's 9.8 vector: CRITICAL comes first.
    assert_eq!(
        v.first().map(|x| x.severity),
        Some(Severity::Critical),
        "worst first"
    );

    let mut libcrypto = pkg("libcrypto3", "3.3.1-r0");
    libcrypto.src_name = Some("openssl".into());
    let mut expat = pkg("libexpat", "2.6.2-r0");
    expat.src_name = Some("expat".into());
    let mut musl = pkg("musl", "1.2.5-r0");
    musl.src_name = Some("musl".into());
    let (v, w) = run(
        &store,
        report(
            Some(("alpine", "3.20.3")),
            "alpine",
            vec![libcrypto, expat, musl],
        ),
    );
    assert!(w.is_empty(), "{w:?}");
    let got: BTreeSet<(&str, &str, Option<&str>)> = v
        .iter()
        .map(|x| {
            (
                x.pkg_name.as_str(),
                x.vulnerability_id.as_str(),
                x.fixed_version.as_deref(),
            )
        })
        .collect();
    assert!(
        got.contains(&("libcrypto3", "CVE-2024-6119", Some("3.3.2-r0"))),
        "{got:?}"
    );
    assert!(
        got.contains(&("libexpat", "CVE-2024-45490", Some("2.6.3-r0"))),
        "{got:?}"
    );
    assert!(!got.iter().any(|(p, _, _)| *p == "musl"), "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// Version-order oracles

/// Deterministic pseudo-random numbers (no clock, no external state).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// Pairs to check: random pairs plus neighbours in a string sort (the interesting near-misses).
fn sample_pairs(versions: &[String], random: usize) -> Vec<(String, String)> {
    let mut sorted = versions.to_vec();
    sorted.sort();
    let mut rng = Lcg(0x5eed);
    let mut pairs = Vec::new();
    for _ in 0..random {
        let a = &versions[rng.next(versions.len())];
        let b = &versions[rng.next(versions.len())];
        pairs.push((a.clone(), b.clone()));
    }
    for w in sorted
        .windows(2)
        .step_by((sorted.len() / random.max(1)).max(1))
    {
        pairs.push((w[0].clone(), w[1].clone()));
    }
    pairs
}

/// Random versions built from the characters dpkg's ordering treats specially (digit runs with
/// leading zeros, `~`, `+`, `.`, letters, epochs and revisions), paired with near neighbours so
/// that most pairs share a prefix and the comparison reaches the tricky part.
fn synthetic_deb_pairs(n: usize) -> Vec<(String, String)> {
    const PIECES: &[&str] = &[
        "0", "1", "9", "10", "00", "01", ".", "+", "~", "a", "z", "dfsg", "b",
    ];
    let mut rng = Lcg(0xdeb);
    let piece = |rng: &mut Lcg, len: usize| {
        let mut s = String::new();
        for _ in 0..len {
            s.push_str(PIECES[rng.next(PIECES.len())]);
        }
        s
    };
    let mut pairs = Vec::new();
    for _ in 0..n {
        let base = format!("{}{}", rng.next(3), piece(&mut rng, 3));
        let (la, lb) = (rng.next(3), rng.next(3));
        let a_up = format!("{base}{}", piece(&mut rng, la));
        let b_up = format!("{base}{}", piece(&mut rng, lb));
        let with = |rng: &mut Lcg, up: String| -> String {
            let epoch = if rng.next(6) == 0 { "1:" } else { "" };
            let rev = match rng.next(3) {
                0 => String::new(),
                _ => format!("-{}", rng.next(4)),
            };
            format!("{epoch}{up}{rev}")
        };
        let a = with(&mut rng, a_up);
        let b = with(&mut rng, b_up);
        pairs.push((a, b));
    }
    pairs
}

fn real_debian_versions() -> Vec<String> {
    let mut text = String::new();
    if let Ok(out) = Command::new("apt-cache").arg("dumpavail").output() {
        text.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    if let Ok(s) = std::fs::read_to_string("/var/lib/dpkg/status") {
        text.push_str(&s);
    }
    let set: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Version: "))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && !v.contains('\''))
        .collect();
    set.into_iter().collect()
}

#[test]
fn dpkg_order_agrees_with_dpkg_compare_versions() {
    if Command::new("dpkg").arg("--version").output().is_err() {
        eprintln!("skipped: dpkg is not installed on this machine");
        return;
    }
    let mut versions = real_debian_versions();
    if versions.len() < 100 {
        eprintln!(
            "skipped: only {} real Debian versions found (apt-cache dumpavail, /var/lib/dpkg/status)",
            versions.len()
        );
        return;
    }
    // Hand-picked tricky shapes on top of the real ones.
    for v in [
        "1.0~rc1",
        "1.0~~",
        "1.0+b1",
        "1:0.9",
        "1.0-1+deb12u1",
        "1.0a",
        "1.0+",
        "0:1.0",
    ] {
        versions.push(v.to_string());
    }
    for v in &versions {
        assert!(
            version::deb::parse(v).is_some(),
            "real version {v:?} must parse"
        );
    }
    let mut pairs = sample_pairs(&versions, 2500);
    pairs.extend(synthetic_deb_pairs(1500));
    let mut script = String::new();
    for (a, b) in &pairs {
        script.push_str(&format!(
            "if dpkg --compare-versions '{a}' lt '{b}'; then echo L; elif dpkg --compare-versions '{a}' eq '{b}'; then echo E; else echo G; fi\n"
        ));
    }
    let mut child = Command::new("sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    let out = child.wait_with_output().expect("dpkg oracle ran");
    let answers: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(answers.len(), pairs.len());
    let mut disagreements = Vec::new();
    for ((a, b), want) in pairs.iter().zip(&answers) {
        let want = match want.as_str() {
            "L" => Ordering::Less,
            "E" => Ordering::Equal,
            _ => Ordering::Greater,
        };
        let got = version::compare("Debian", a, b);
        if got != Some(want) {
            disagreements.push(format!("{a} vs {b}: dpkg {want:?}, ours {got:?}"));
        }
    }
    eprintln!("dpkg oracle: {} pairs checked", pairs.len());
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

fn shared_pypi_zip() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/osv/PyPI-all.zip");
    p.is_file().then_some(p)
}

fn read_zip_records(path: &PathBuf) -> Vec<Advisory> {
    let file = std::fs::File::open(path).expect("open zip");
    let mut zip = zip::ZipArchive::new(file).expect("zip");
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).expect("entry");
        let name = entry.name().map(|n| n.to_string()).unwrap_or_default();
        if !name.ends_with(".json") {
            continue;
        }
        let mut buf = Vec::new();
        entry.read_to_end(&mut buf).expect("read entry");
        out.push(Advisory::from_json(&buf).unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    out
}

/// Ask Python's `packaging` to order pairs: `L`/`E`/`G`, or `I` when either is invalid.
fn packaging_oracle(pairs: &[(String, String)]) -> Option<Vec<String>> {
    let prog = r#"
import sys
from packaging.version import Version, InvalidVersion
out = []
for line in sys.stdin.read().split("\n"):
    if not line:
        continue
    a, b = line.split("\t")
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        out.append("I"); continue
    out.append("L" if va < vb else ("E" if va == vb else "G"))
print("\n".join(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", prog])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    child.stdin.take()?.write_all(input.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        eprintln!(
            "python packaging oracle failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

fn check_pep440_against_packaging(pairs: &[(String, String)]) -> bool {
    let Some(answers) = packaging_oracle(pairs) else {
        eprintln!("skipped: python3 with `packaging` is not available");
        return false;
    };
    assert_eq!(answers.len(), pairs.len());
    let mut disagreements = Vec::new();
    for ((a, b), want) in pairs.iter().zip(&answers) {
        let want = match want.as_str() {
            "L" => Some(Ordering::Less),
            "E" => Some(Ordering::Equal),
            "G" => Some(Ordering::Greater),
            _ => None,
        };
        let got = version::compare("PyPI", a, b);
        if got != want {
            disagreements.push(format!("{a:?} vs {b:?}: packaging {want:?}, ours {got:?}"));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    true
}

#[test]
fn pep440_order_agrees_with_packaging_on_tricky_versions() {
    let versions: Vec<String> = [
        "1.0",
        "1.0.0",
        "1.0.post1",
        "1.0.post0",
        "1.0-1",
        "1.0.dev0",
        "1.0.dev1",
        "1.0a1",
        "1.0a1.dev1",
        "1.0a1.post1",
        "1.0b2",
        "1.0rc1",
        "1.0c1",
        "1.0RC2",
        "1!0.5",
        "1.0+local",
        "1.0+local.1",
        "1.0+local.a",
        "1.0+1",
        "v1.0",
        "1.0.0.0.1",
        "2.9",
        "2.10",
        "0.9.9",
        "1.0-r1",
        "not-a-version",
        "1.0.x",
        "1.0_rc1",
        "1.0.a1",
        "1.0-alpha-1",
        "1.0preview2",
        "1.0pre1",
        "2024.1",
        "3.0.0b1",
        "19.10b0",
        "1.0.0-rc.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut pairs = Vec::new();
    for a in &versions {
        for b in &versions {
            pairs.push((a.clone(), b.clone()));
        }
    }
    check_pep440_against_packaging(&pairs);
}

#[test]
fn pep440_order_agrees_with_packaging_on_real_pypi_versions() {
    let Some(zip) = shared_pypi_zip() else {
        eprintln!("skipped: ../shared/osv/PyPI-all.zip is absent");
        return;
    };
    let records = read_zip_records(&zip);
    let set: BTreeSet<String> = records
        .iter()
        .flat_map(|r| r.affected.iter())
        .flat_map(|a| a.versions.iter())
        .filter(|v| !v.contains(['\t', '\n']))
        .cloned()
        .collect();
    let versions: Vec<String> = set.into_iter().collect();
    assert!(versions.len() > 1000, "{} versions", versions.len());
    let pairs = sample_pairs(&versions, 3000);
    if check_pep440_against_packaging(&pairs) {
        eprintln!(
            "packaging oracle: {} pairs of real versions checked",
            pairs.len()
        );
    }
}

/// Matching the real PyPA database: every version a record lists must be found for that record,
/// and known flaws are reported for known-vulnerable versions.
#[test]
fn real_pypa_database_matches_known_vulnerable_versions() {
    let Some(zip) = shared_pypi_zip() else {
        eprintln!("skipped: ../shared/osv/PyPI-all.zip is absent");
        return;
    };
    let records = read_zip_records(&zip);
    assert!(records.len() > 2000);
    let store = MemStore(records.clone());

    let (v, _) = run(
        &store,
        report(
            None,
            "pip",
            vec![
                pkg("requests", "2.30.0"),
                pkg("PyYAML", "5.3.1"),
                pkg("urllib3", "1.26.4"),
                pkg("Jinja2", "2.10"),
                pkg("requests", "2.32.3"),
            ],
        ),
    );
    let finding = |name: &str, ver: &str, id: &str| {
        v.iter()
            .find(|x| {
                x.pkg_name == name
                    && x.installed_version == ver
                    && (x.vulnerability_id == id || x.aliases.iter().any(|a| a == id))
            })
            .cloned()
    };
    // PYSEC-2023-74 lists a GIT range before its ECOSYSTEM range.
    let f = finding("requests", "2.30.0", "CVE-2023-32681").expect("requests flaw");
    assert_eq!(f.vulnerability_id, "CVE-2023-32681");
    assert!(f.aliases.contains(&"PYSEC-2023-74".to_string()), "{f:?}");
    assert_eq!(f.fixed_version.as_deref(), Some("2.31.0"));
    let f = finding("PyYAML", "5.3.1", "CVE-2020-14343").expect("pyyaml flaw");
    assert_eq!(f.fixed_version.as_deref(), Some("5.4"));
    assert!(finding("urllib3", "1.26.4", "CVE-2021-33503").is_some());
    // Two intervals in one range ([2.0.0, 2.0.6) and [0, 1.26.17)): the fix on the 1.x line.
    let f = finding("urllib3", "1.26.4", "CVE-2023-43804").expect("urllib3 cookie flaw");
    assert_eq!(f.fixed_version.as_deref(), Some("1.26.17"));
    assert!(finding("Jinja2", "2.10", "CVE-2019-10906").is_some());
    assert!(finding("requests", "2.32.3", "CVE-2023-32681").is_none());
    // One finding per alias group per package.
    let mut seen = HashSet::new();
    for x in &v {
        assert!(
            seen.insert((
                x.pkg_name.clone(),
                x.installed_version.clone(),
                x.vulnerability_id.clone()
            )),
            "duplicate finding {x:?}"
        );
    }

    // Every listed version of every live record is matched (a sample, deterministic).
    let mut rng = Lcg(42);
    let mut checked = 0;
    for _ in 0..400 {
        let r = &records[rng.next(records.len())];
        if r.withdrawn.is_some() {
            continue;
        }
        for a in &r.affected {
            let (Some(p), Some(ver)) = (&a.package, a.versions.first()) else {
                continue;
            };
            if version::compare("PyPI", ver, ver).is_none() {
                continue;
            }
            let (v, _) = run(&store, report(None, "pip", vec![pkg(&p.name, ver)]));
            assert!(
                v.iter()
                    .any(|x| x.vulnerability_id == r.id || x.aliases.contains(&r.id)),
                "{} lists {} {ver} but it was not matched",
                r.id,
                p.name
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}
