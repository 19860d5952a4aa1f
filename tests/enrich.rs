//! Integration tests: the severity and exploitation feeds (NVD CVE JSON 2.0, Debian security
//! tracker, CISA KEV, FIRST EPSS) through `db import`, `db update` (from a loopback mirror) and
//! `db status`. The feed files are written here in each publisher's real shape.

use crate::common::Sandbox;
use layerscan::db::{AdvisoryStore, SqliteStore};
use layerscan::model::Severity;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One CVE in NVD's JSON 2.0 shape (`vulnerabilities[].cve`), with a Primary v3.1 metric.
pub fn nvd_cve(
    id: &str,
    vector: &str,
    score: f64,
    severity: &str,
    modified: &str,
) -> serde_json::Value {
    serde_json::json!({"cve": {
        "id": id,
        "sourceIdentifier": "cve@mitre.org",
        "published": "2023-10-14T02:15:09.323",
        "lastModified": modified,
        "vulnStatus": "Analyzed",
        "descriptions": [{"lang": "en", "value": format!("test description of {id}")}],
        "metrics": {"cvssMetricV31": [{
            "source": "nvd@nist.gov", "type": "Primary",
            "cvssData": {"version": "3.1", "vectorString": vector, "baseScore": score,
                         "baseSeverity": severity, "attackVector": "NETWORK"},
            "exploitabilityScore": 3.9, "impactScore": 5.9}]},
        "weaknesses": [{"source": "nvd@nist.gov", "type": "Primary",
                        "description": [{"lang": "en", "value": "CWE-190"}]}],
        "configurations": [{"nodes": [{"operator": "OR", "negate": false, "cpeMatch": [
            {"vulnerable": true, "criteria": "cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*",
             "versionEndIncluding": "1.3", "matchCriteriaId": "00000000-0000-0000-0000-000000000000"}]}]}],
        "references": [{"url": "https://example.invalid/advisory", "source": "cve@mitre.org"}]
    }})
}

/// A whole NVD 2.0 feed file, gzipped.
pub fn nvd_feed_gz(items: &[serde_json::Value]) -> Vec<u8> {
    let doc = serde_json::json!({
        "resultsPerPage": items.len(), "startIndex": 0, "totalResults": items.len(),
        "format": "NVD_CVE", "version": "2.0", "timestamp": "2025-06-01T03:00:00.000",
        "vulnerabilities": items,
    });
    gzip(doc.to_string().as_bytes())
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

pub const CRITICAL_V31: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";

fn tracker() -> String {
    serde_json::json!({
        "zlib": {"CVE-2023-45853": {"description": "MiniZip in zlib", "scope": "remote",
            "releases": {"bookworm": {"status": "open", "repositories": {"bookworm": "1:1.2.13.dfsg-1"},
                                      "urgency": "low"}}}},
        "openssl": {"CVE-2024-0001": {"releases": {"bookworm": {"status": "resolved",
            "repositories": {"bookworm": "3.0.15-1~deb12u1"}, "fixed_version": "3.0.11-1", "urgency": "not yet assigned"}}}}
    })
    .to_string()
}

fn kev() -> String {
    serde_json::json!({
        "title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2025.06.02",
        "dateReleased": "2025-06-02T17:59:04.0484Z", "count": 1,
        "vulnerabilities": [{"cveID": "CVE-2023-45853", "vendorProject": "zlib", "product": "zlib",
            "vulnerabilityName": "test", "dateAdded": "2024-02-01", "shortDescription": "test",
            "requiredAction": "Apply updates", "dueDate": "2024-02-22",
            "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": ["CWE-190"]}]
    })
    .to_string()
}

fn epss_gz() -> Vec<u8> {
    gzip(
        b"#model_version:v2025.03.14,score_date:2025-06-01T12:55:00Z\ncve,epss,percentile\n\
          CVE-2023-45853,0.01234,0.85\nCVE-2024-0001,0.5,0.99\n",
    )
}

fn db_file(sb: &Sandbox) -> PathBuf {
    sb.cache().join("db").join("advisories.sqlite")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

#[test]
fn import_of_the_four_feeds_then_lookup_by_cve() {
    let sb = Sandbox::new();
    let feeds = sb.path().join("feeds");
    std::fs::create_dir_all(&feeds).unwrap();
    write(
        &feeds,
        "nvdcve-2.0-2023.json.gz",
        &nvd_feed_gz(&[
            nvd_cve(
                "CVE-2023-45853",
                CRITICAL_V31,
                9.8,
                "CRITICAL",
                "2024-01-01T00:00:00.000",
            ),
            nvd_cve(
                "CVE-2023-0002",
                "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
                1.8,
                "LOW",
                "2024-01-01T00:00:00.000",
            ),
        ]),
    );
    // A later `modified` file rates CVE-2023-0002 again; an older copy of it must not win.
    write(
        &feeds,
        "nvdcve-2.0-modified.json.gz",
        &nvd_feed_gz(&[nvd_cve(
            "CVE-2023-0002",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
            7.5,
            "HIGH",
            "2025-01-01T00:00:00.000",
        )]),
    );
    write(&feeds, "debian-security-tracker.json", tracker().as_bytes());
    write(
        &feeds,
        "known_exploited_vulnerabilities.json",
        kev().as_bytes(),
    );
    // Renamed: recognised by content when named on the command line.
    let epss = write(sb.path(), "scores.bin", &epss_gz());
    let out = sb
        .cmd()
        .args(["db", "import"])
        .arg(&feeds)
        .arg(&epss)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("NVD CVE JSON 2.0 feed: 3 CVEs from 2 files, 2 in the database"),
        "{err}"
    );
    assert!(
        err.contains("CISA Known Exploited Vulnerabilities catalog: 1 CVEs"),
        "{err}"
    );

    let store = SqliteStore::open(&db_file(&sb)).unwrap();
    let e = store
        .enrichment("cve-2023-45853")
        .unwrap()
        .expect("enriched");
    let nvd = e.nvd.as_ref().unwrap();
    assert_eq!(nvd.v3.as_ref().unwrap().score, 9.8);
    assert_eq!(nvd.v3.as_ref().unwrap().vector, CRITICAL_V31);
    assert_eq!(nvd.severity(), Some(Severity::Critical));
    assert_eq!(nvd.cwes, vec!["CWE-190"]);
    assert_eq!(
        e.vendor_severity("debian", "zlib", Some("bookworm")),
        Some(Severity::Low)
    );
    assert_eq!(e.kev.as_ref().unwrap().date_added, "2024-02-01");
    assert_eq!(e.epss.unwrap().percentile, 0.85);
    let later = store.enrichment("CVE-2023-0002").unwrap().unwrap();
    assert_eq!(later.nvd.unwrap().severity(), Some(Severity::High));
    // `not yet assigned` is no rating.
    let o = store.enrichment("CVE-2024-0001").unwrap().unwrap();
    assert!(o.vendor.is_empty() && o.nvd.is_none() && o.epss.is_some());
    assert!(store.enrichment("CVE-1999-0001").unwrap().is_none());
    drop(store);

    // Importing the older per-year file again does not undo the modified file.
    let out = sb
        .cmd()
        .args(["db", "import"])
        .arg(feeds.join("nvdcve-2.0-2023.json.gz"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let store = SqliteStore::open(&db_file(&sb)).unwrap();
    let later = store.enrichment("CVE-2023-0002").unwrap().unwrap();
    assert_eq!(later.nvd.unwrap().severity(), Some(Severity::High));
    drop(store);

    let status = text(&sb.cmd().args(["db", "status"]).output().unwrap().stdout);
    assert!(status.contains("Severity feeds:"), "{status}");
    assert!(status.contains("nvd      2 CVEs"), "{status}");
    assert!(status.contains("2025.06.02"), "{status}");
    let j: serde_json::Value = serde_json::from_slice(
        &sb.cmd()
            .args(["db", "status", "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(j["FeedRows"]["nvd"], 2);
    assert_eq!(j["FeedRows"]["kev"], 1);
}

#[test]
fn a_broken_feed_names_the_file_and_leaves_the_database_alone() {
    let sb = Sandbox::new();
    let good = write(
        sb.path(),
        "known_exploited_vulnerabilities.json",
        kev().as_bytes(),
    );
    assert!(sb
        .cmd()
        .args(["db", "import"])
        .arg(&good)
        .output()
        .unwrap()
        .status
        .success());
    let before = std::fs::read(db_file(&sb)).unwrap();
    let full = nvd_feed_gz(&[nvd_cve(
        "CVE-2023-45853",
        CRITICAL_V31,
        9.8,
        "CRITICAL",
        "2024-01-01T00:00:00.000",
    )]);
    // A truncated download: the gzip stream ends early.
    let cut = write(
        sb.path(),
        "nvdcve-2.0-2023.json.gz",
        &full[..full.len() - 20],
    );
    let out = sb.cmd().args(["db", "import"]).arg(&cut).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("nvdcve-2.0-2023.json.gz") && err.contains("not changed"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(db_file(&sb)).unwrap(), before);
    // Named like a feed, but an HTML error page.
    let dir = sb.path().join("d");
    std::fs::create_dir_all(&dir).unwrap();
    write(
        &dir,
        "epss_scores-current.csv.gz",
        b"<html>rate limited</html>",
    );
    let out = sb.cmd().args(["db", "import"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("named like a feed file"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read(db_file(&sb)).unwrap(), before);
}

#[test]
fn a_version_2_database_is_read_and_upgraded_by_the_next_import() {
    let sb = Sandbox::new();
    let rec = sb.path().join("PYSEC-1.json");
    std::fs::write(
        &rec,
        r#"{"id":"PYSEC-1","affected":[{"package":{"ecosystem":"PyPI","name":"x"}}]}"#,
    )
    .unwrap();
    assert!(sb
        .cmd()
        .args(["db", "import"])
        .arg(&rec)
        .output()
        .unwrap()
        .status
        .success());
    // Make it what an older layerscan wrote: schema 2, no feed tables.
    {
        let c = rusqlite::Connection::open(db_file(&sb)).unwrap();
        c.execute_batch(
            "DROP TABLE feeds; DROP TABLE nvd; DROP TABLE vendor_severity; DROP TABLE kev; \
             DROP TABLE epss; DELETE FROM info WHERE key LIKE 'rows:%'; \
             UPDATE info SET value = '2' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&db_file(&sb)).unwrap();
    assert_eq!(store.advisories_for("PyPI", "x").unwrap().len(), 1);
    assert!(store.enrichment("CVE-2023-45853").unwrap().is_none());
    drop(store);
    let st = text(&sb.cmd().args(["db", "status"]).output().unwrap().stdout);
    assert!(st.contains("No severity feeds"), "{st}");
    let nvd = write(
        sb.path(),
        "nvdcve-2.0-2023.json.gz",
        &nvd_feed_gz(&[nvd_cve(
            "CVE-2023-45853",
            CRITICAL_V31,
            9.8,
            "CRITICAL",
            "2024-01-01T00:00:00.000",
        )]),
    );
    let out = sb.cmd().args(["db", "import"]).arg(&nvd).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let c = rusqlite::Connection::open(db_file(&sb)).unwrap();
    let v: String = c
        .query_row(
            "SELECT value FROM info WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, layerscan::db::sqlite::SCHEMA_VERSION);
    let store = SqliteStore::open(&db_file(&sb)).unwrap();
    assert_eq!(store.advisories_for("PyPI", "x").unwrap().len(), 1);
    assert!(store.enrichment("CVE-2023-45853").unwrap().is_some());
}

/// A loopback file server: path → body, with an ETag per file and 304 on `If-None-Match`.
pub struct FileServer {
    pub url: String,
    pub log: Arc<Mutex<Vec<(String, u16)>>>,
}

pub fn serve(files: HashMap<String, Vec<u8>>) -> FileServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut inm = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.trim().eq_ignore_ascii_case("if-none-match") {
                        inm = Some(v.trim().to_string());
                    }
                }
            }
            let (code, body): (u16, &[u8]) = match files.get(&path) {
                None => (404, b""),
                Some(b) => {
                    let etag = format!("\"{}\"", b.len());
                    if inm.as_deref() == Some(etag.as_str()) {
                        (304, b"")
                    } else {
                        (200, b.as_slice())
                    }
                }
            };
            log2.lock().unwrap().push((path.clone(), code));
            let etag = files
                .get(&path)
                .map(|b| format!("ETag: \"{}\"\r\n", b.len()))
                .unwrap_or_default();
            let reason = match code {
                200 => "OK",
                304 => "Not Modified",
                _ => "Not Found",
            };
            let head = format!(
                "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\n{etag}Connection: close\r\n\r\n",
                body.len()
            );
            let _ = stream
                .write_all(head.as_bytes())
                .and_then(|_| stream.write_all(body));
            let _ = stream.flush();
        }
    });
    FileServer { url, log }
}

/// Every file `db update --feeds all` asks a mirror for; NVD years without data get an empty feed.
pub fn feed_mirror_files(with: &[(&str, Vec<u8>)]) -> HashMap<String, Vec<u8>> {
    let year = time::OffsetDateTime::now_utc().year();
    let mut files = HashMap::new();
    for y in layerscan::db::update::NVD_FIRST_YEAR..=year {
        files.insert(format!("/feeds/nvdcve-2.0-{y}.json.gz"), nvd_feed_gz(&[]));
    }
    files.insert(
        "/feeds/nvdcve-2.0-modified.json.gz".into(),
        nvd_feed_gz(&[]),
    );
    files.insert(
        "/feeds/debian-security-tracker.json".into(),
        tracker().into_bytes(),
    );
    files.insert(
        "/feeds/known_exploited_vulnerabilities.json".into(),
        kev().into_bytes(),
    );
    files.insert("/feeds/epss_scores-current.csv.gz".into(), epss_gz());
    for (name, body) in with {
        files.insert(format!("/feeds/{name}"), body.clone());
    }
    files
}

#[test]
fn update_fetches_the_feeds_from_a_mirror_then_only_revalidates() {
    let sb = Sandbox::new();
    let files = feed_mirror_files(&[(
        "nvdcve-2.0-2023.json.gz",
        nvd_feed_gz(&[nvd_cve(
            "CVE-2023-45853",
            CRITICAL_V31,
            9.8,
            "CRITICAL",
            "2024-01-01T00:00:00.000",
        )]),
    )]);
    let n_files = files.len();
    let srv = serve(files);
    let base = format!("{}/feeds", srv.url);
    let run = || {
        sb.cmd()
            .args(["db", "update", "--ecosystems", "", "--feed-mirror", &base])
            .output()
            .unwrap()
    };
    let out = run();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("nvdcve-2.0-2023.json: 1 rows from"), "{err}");
    let store = SqliteStore::open(&db_file(&sb)).unwrap();
    let e = store.enrichment("CVE-2023-45853").unwrap().unwrap();
    assert_eq!(e.nvd.unwrap().severity(), Some(Severity::Critical));
    assert!(e.kev.is_some() && e.epss.is_some() && !e.vendor.is_empty());
    drop(store);
    assert_eq!(srv.log.lock().unwrap().len(), n_files);
    assert!(srv.log.lock().unwrap().iter().all(|(_, c)| *c == 200));

    let out = run();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("kev: unchanged since the last download"),
        "{err}"
    );
    let log = srv.log.lock().unwrap();
    assert_eq!(log.len(), 2 * n_files);
    assert!(log[n_files..].iter().all(|(_, c)| *c == 304), "{log:?}");
}

#[test]
fn a_missing_feed_file_fails_the_update_and_changes_nothing() {
    let sb = Sandbox::new();
    let mut files = feed_mirror_files(&[]);
    files.remove("/feeds/epss_scores-current.csv.gz");
    let srv = serve(files);
    let out = sb
        .cmd()
        .args(["db", "update", "--ecosystems", "", "--feed-mirror"])
        .arg(format!("{}/feeds", srv.url))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("epss_scores-current.csv.gz: HTTP 404"),
        "{err}"
    );
    assert!(!db_file(&sb).exists());
}
