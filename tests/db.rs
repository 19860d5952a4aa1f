//! Integration tests: db. `db import`/`update`/`status` through the CLI; OSV downloads come from a
//! loopback HTTP server each test starts.

use crate::common::Sandbox;
use layerscan::db::{AdvisoryStore, SqliteStore};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn pypi(id: &str, name: &str, fixed: &str, aliases: &[&str]) -> String {
    serde_json::json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2024-01-01T00:00:00Z",
        "aliases": aliases,
        "summary": format!("test advisory {id}"),
        "affected": [{
            "package": {"ecosystem": "PyPI", "name": name},
            "ranges": [
                {"type": "GIT", "repo": "https://example.invalid/x", "events": [{"introduced": "0"}]},
                {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
            ]
        }]
    })
    .to_string()
}

fn debian(id: &str, name: &str) -> String {
    serde_json::json!({
        "id": id,
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}]
        }]
    })
    .to_string()
}

fn npm(id: &str) -> String {
    serde_json::json!({
        "id": id,
        "affected": [{"package": {"ecosystem": "npm", "name": "left-pad"}, "versions": ["1.0.0"]}]
    })
    .to_string()
}

/// A record that parses as JSON but breaks OSV: an event with two keys.
fn malformed(id: &str) -> String {
    serde_json::json!({
        "id": id,
        "affected": [{
            "package": {"ecosystem": "PyPI", "name": "broken"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "2.0"}]}]
        }]
    })
    .to_string()
}

/// An OSV-export-shaped zip: `<name>` entries at the root.
fn zip_bytes(entries: &[(String, String)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in entries {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn write_zip(path: &Path, entries: &[(String, String)]) {
    std::fs::write(path, zip_bytes(entries)).unwrap();
}

fn entry(id: &str, body: String) -> (String, String) {
    (format!("{id}.json"), body)
}

fn db_file(sb: &Sandbox) -> PathBuf {
    sb.cache().join("db").join("advisories.sqlite")
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn db_dir_names(sb: &Sandbox) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(sb.cache().join("db"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != layerscan::db::sqlite::LOCK_FILE)
        .collect();
    v.sort();
    v
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ids(v: Vec<layerscan::advisory::Advisory>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().map(|a| a.id).collect();
    v.sort();
    v
}

/// Import a small starting database: two PyPI records.
fn seed(sb: &Sandbox) {
    let seed = sb.path().join("seed.zip");
    write_zip(
        &seed,
        &[
            entry(
                "PYSEC-1",
                pypi("PYSEC-1", "requests", "2.31.0", &["CVE-2023-32681"]),
            ),
            entry("PYSEC-2", pypi("PYSEC-2", "urllib3", "1.26.18", &[])),
        ],
    );
    let out = sb.cmd().args(["db", "import"]).arg(&seed).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn import_zip_directory_and_single_record() {
    let sb = Sandbox::new();
    let zip = sb.path().join("PyPI-all.zip");
    write_zip(
        &zip,
        &[
            entry(
                "PYSEC-1",
                pypi(
                    "PYSEC-1",
                    "Jinja2",
                    "3.1.3",
                    &["CVE-2024-22195", "GHSA-h5c8-rqwp-cp95"],
                ),
            ),
            entry("PYSEC-2", pypi("PYSEC-2", "PyYAML", "5.4", &[])),
            entry("NPM-1", npm("NPM-1")),
            ("README.txt".to_string(), "not a record".to_string()),
        ],
    );
    let dir = sb.path().join("records");
    std::fs::create_dir_all(dir.join("debian/nested")).unwrap();
    std::fs::write(dir.join("debian/DEB-1.json"), debian("DEB-1", "openssl")).unwrap();
    std::fs::write(
        dir.join("debian/nested/DEB-2.json"),
        debian("DEB-2", "zlib"),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "ignored: not .json").unwrap();
    let single = sb.path().join("GHSA-single.json");
    std::fs::write(&single, pypi("GHSA-single", "flask_cors", "4.0.1", &[])).unwrap();

    let out = sb
        .cmd()
        .args(["db", "import"])
        .arg(&zip)
        .arg(&dir)
        .arg(&single)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(out.stdout.is_empty(), "summary belongs on stderr");
    assert!(
        err.contains("imported 5 advisories from 3 sources"),
        "{err}"
    );
    assert!(err.contains("PyPI: 3 imported, 3 in the database"), "{err}");
    assert!(
        err.contains("Debian: 2 imported, 2 in the database"),
        "{err}"
    );
    assert!(
        err.contains("skipped 1 records of unknown ecosystems (npm: 1)"),
        "{err}"
    );
    assert_eq!(db_dir_names(&sb), vec!["advisories.sqlite"]);

    let store = SqliteStore::open(&db_file(&sb)).unwrap();
    assert_eq!(
        ids(store.advisories_for("PyPI", "jinja2").unwrap()),
        ["PYSEC-1"]
    );
    assert_eq!(
        ids(store.advisories_for("PyPI", "pyyaml").unwrap()),
        ["PYSEC-2"]
    );
    assert_eq!(
        ids(store.advisories_for("PyPI", "Flask-CORS").unwrap()),
        ["GHSA-single"]
    );
    assert_eq!(
        ids(store.advisories_for("Debian", "zlib").unwrap()),
        ["DEB-2"]
    );
    assert!(store.advisories_for("npm", "left-pad").unwrap().is_empty());
    let by_alias = store.advisory_by_id("CVE-2024-22195").unwrap().unwrap();
    assert_eq!(by_alias.id, "PYSEC-1");
    // The GIT range listed first survives storage (the matcher must see every range).
    assert_eq!(by_alias.affected[0].ranges.len(), 2);
    assert_eq!(
        by_alias.affected[0].ranges[1].events[1].fixed.as_deref(),
        Some("3.1.3")
    );

    let out = sb.cmd().args(["db", "status"]).output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("5 advisories"), "{text}");
    let pypi_line = text
        .lines()
        .find(|l| l.starts_with("PyPI "))
        .unwrap_or_default();
    assert!(pypi_line.split_whitespace().nth(1) == Some("3"), "{text}");
    assert!(pypi_line.contains("PyPI-all.zip"), "{text}");
    let deb_line = text
        .lines()
        .find(|l| l.starts_with("Debian "))
        .unwrap_or_default();
    assert!(deb_line.split_whitespace().nth(1) == Some("2"), "{text}");
}

#[test]
fn reimport_replaces_records_by_id() {
    let sb = Sandbox::new();
    seed(&sb);
    let newer = sb.path().join("PYSEC-1.json");
    std::fs::write(
        &newer,
        pypi("PYSEC-1", "requests", "2.32.0", &["CVE-2024-35195"]),
    )
    .unwrap();
    let out = sb
        .cmd()
        .args(["db", "import"])
        .arg(&newer)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("1 replaced"), "{err}");
    assert!(err.contains("database now holds 2 advisories"), "{err}");
    let store = SqliteStore::open(&db_file(&sb)).unwrap();
    let recs = store.advisories_for("PyPI", "requests").unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0].affected[0].ranges[1].events[1].fixed.as_deref(),
        Some("2.32.0")
    );
    assert!(store.advisory_by_id("CVE-2023-32681").unwrap().is_none());
    assert!(store.advisory_by_id("CVE-2024-35195").unwrap().is_some());
}

#[test]
fn a_malformed_record_at_the_end_of_a_big_zip_leaves_the_database_unchanged() {
    let sb = Sandbox::new();
    seed(&sb);
    let before = sha256(&db_file(&sb));
    // Thousands of good records first: the import is well under way when it hits the bad one,
    // the same state a killed import would leave behind.
    let mut entries: Vec<(String, String)> = (0..3000)
        .map(|i| {
            let id = format!("PYSEC-9{i:04}");
            let body = pypi(&id, &format!("pkg{i}"), "1.0", &[]);
            entry(&id, body)
        })
        .collect();
    entries.push(entry("PYSEC-BAD-1", malformed("PYSEC-BAD-1")));
    let zip = sb.path().join("big.zip");
    write_zip(&zip, &entries);
    let out = sb.cmd().args(["db", "import"]).arg(&zip).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("big.zip"), "names the file: {err}");
    assert!(
        err.contains("zip entry PYSEC-BAD-1.json"),
        "names the entry: {err}"
    );
    assert!(
        err.contains("record PYSEC-BAD-1"),
        "names the record: {err}"
    );
    assert!(err.contains("not changed"), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(sha256(&db_file(&sb)), before);
    assert_eq!(db_dir_names(&sb), vec!["advisories.sqlite"], "no leftovers");
}

#[test]
fn invalid_json_in_a_directory_names_the_file() {
    let sb = Sandbox::new();
    seed(&sb);
    let before = sha256(&db_file(&sb));
    let dir = sb.path().join("recs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("A-1.json"), pypi("A-1", "x", "1", &[])).unwrap();
    std::fs::write(dir.join("B-2.json"), "{\"id\": \"B-2\", \"affected\": [").unwrap();
    let out = sb.cmd().args(["db", "import"]).arg(&dir).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("B-2.json") && err.contains("record B-2"),
        "{err}"
    );
    assert_eq!(sha256(&db_file(&sb)), before);

    // A missing path is an error too, before anything is written.
    let out = sb
        .cmd()
        .args(["db", "import", "does-not-exist.zip"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("does-not-exist.zip"));
    assert_eq!(sha256(&db_file(&sb)), before);

    // A truncated download or an HTML error page saved as .zip is named as such, not parsed as
    // an OSV record.
    std::fs::write(
        sb.path().join("Debian-all.zip"),
        "<html>rate limited</html>",
    )
    .unwrap();
    let out = sb
        .cmd()
        .args(["db", "import", "Debian-all.zip"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(err.contains("Debian-all.zip is not a zip file"), "{err}");
    assert_eq!(sha256(&db_file(&sb)), before);
}

#[test]
fn status_without_a_database_points_at_the_bundled_sample() {
    let sb = Sandbox::new();
    let out = sb.cmd().args(["db", "status"]).output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("No advisory database"), "{text}");
    assert!(text.contains("bundled sample"), "{text}");
    assert!(text.contains("layerscan db update"), "{text}");
}

/// A one-file OSV mirror on 127.0.0.1: serves `/PyPI/all.zip` with an ETag, answers 304 to a
/// matching `If-None-Match`, `status` for anything else when `fail_with` is set.
struct Mirror {
    url: String,
    requests: Arc<AtomicUsize>,
    seen_if_none_match: Arc<Mutex<Vec<Option<String>>>>,
}

fn start_mirror(body: Vec<u8>, etag: &'static str, fail_with: Option<u16>) -> Mirror {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (r, s) = (requests.clone(), seen.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut inm = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("if-none-match") {
                        inm = Some(v.trim().to_string());
                    }
                }
            }
            r.fetch_add(1, Ordering::SeqCst);
            s.lock().unwrap().push(inm.clone());
            let path = request_line.split_whitespace().nth(1).unwrap_or("");
            let head = |status: &str, len: usize| {
                format!(
                    "HTTP/1.1 {status}\r\nETag: {etag}\r\nLast-Modified: Mon, 23 Nov 2026 18:38:00 GMT\r\n\
                     Content-Length: {len}\r\nConnection: close\r\n\r\n"
                )
            };
            let _ = if let Some(code) = fail_with {
                stream.write_all(head(&format!("{code} Server Error"), 0).as_bytes())
            } else if path != "/PyPI/all.zip" {
                stream.write_all(head("404 Not Found", 0).as_bytes())
            } else if inm.as_deref() == Some(etag) {
                stream.write_all(head("304 Not Modified", 0).as_bytes())
            } else {
                stream
                    .write_all(head("200 OK", body.len()).as_bytes())
                    .and_then(|_| stream.write_all(&body))
            };
            let _ = stream.flush();
        }
    });
    Mirror {
        url,
        requests,
        seen_if_none_match: seen,
    }
}

#[test]
fn update_downloads_then_skips_an_unchanged_export() {
    let sb = Sandbox::new();
    let body = zip_bytes(&[
        entry(
            "PYSEC-10",
            pypi("PYSEC-10", "Werkzeug", "3.0.1", &["CVE-2023-46136"]),
        ),
        entry("PYSEC-11", pypi("PYSEC-11", "aiohttp", "3.9.2", &[])),
        entry("PYSEC-12", pypi("PYSEC-12", "idna", "3.7", &[])),
    ]);
    let mirror = start_mirror(body, "\"v1\"", None);
    let out = sb
        .cmd()
        .args([
            "db",
            "update",
            "--ecosystems",
            "PyPI",
            "--mirror",
            &mirror.url,
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("PyPI: 3 records from"), "{err}");
    let store = SqliteStore::open(&db_file(&sb)).unwrap();
    assert_eq!(
        ids(store.advisories_for("PyPI", "werkzeug").unwrap()),
        ["PYSEC-10"]
    );
    drop(store);

    let status = stdout(&sb.cmd().args(["db", "status"]).output().unwrap());
    assert!(
        status.contains(&format!("{}/PyPI/all.zip", mirror.url)),
        "{status}"
    );

    // Same export again: a conditional request, answered 304, and nothing is downloaded.
    let out = sb
        .cmd()
        .env("LAYERSCAN_DB_MIRROR", &mirror.url)
        .args(["db", "update", "--ecosystems", "pypi"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("PyPI: unchanged"), "{err}");
    assert_eq!(mirror.requests.load(Ordering::SeqCst), 2);
    assert_eq!(
        *mirror.seen_if_none_match.lock().unwrap(),
        vec![None, Some("\"v1\"".to_string())]
    );
    assert_eq!(db_dir_names(&sb), vec!["advisories.sqlite"]);
}

#[test]
fn a_failed_download_keeps_the_old_database() {
    let sb = Sandbox::new();
    seed(&sb);
    let before = sha256(&db_file(&sb));

    let mirror = start_mirror(Vec::new(), "\"x\"", Some(500));
    let out = sb
        .cmd()
        .args([
            "db",
            "update",
            "--ecosystems",
            "PyPI",
            "--mirror",
            &mirror.url,
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}/PyPI/all.zip", mirror.url)),
        "names the URL: {err}"
    );
    assert!(err.contains("500"), "names the status: {err}");
    assert_eq!(mirror.requests.load(Ordering::SeqCst), 1);
    assert_eq!(sha256(&db_file(&sb)), before);

    // Connection refused: a port that was just free.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = sb
        .cmd()
        .args(["db", "update", "--ecosystems", "PyPI", "--mirror", &url])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&url), "{err}");
    assert_eq!(sha256(&db_file(&sb)), before);
    assert_eq!(db_dir_names(&sb), vec!["advisories.sqlite"]);
}

#[test]
fn update_with_a_malformed_export_keeps_the_old_database() {
    let sb = Sandbox::new();
    seed(&sb);
    let before = sha256(&db_file(&sb));
    let body = zip_bytes(&[
        entry("PYSEC-20", pypi("PYSEC-20", "pillow", "10.2.0", &[])),
        entry("PYSEC-21", malformed("PYSEC-21")),
    ]);
    let mirror = start_mirror(body, "\"v1\"", None);
    let out = sb
        .cmd()
        .args([
            "db",
            "update",
            "--ecosystems",
            "PyPI",
            "--mirror",
            &mirror.url,
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("PYSEC-21"), "{err}");
    assert_eq!(sha256(&db_file(&sb)), before);
    assert_eq!(db_dir_names(&sb), vec!["advisories.sqlite"]);
}

/// Make every ecosystem of the sandbox's database look two days old.
fn age_database(sb: &Sandbox) {
    let conn = rusqlite::Connection::open(db_file(sb)).unwrap();
    conn.execute(
        "UPDATE ecosystems SET imported_at = '2020-01-01T00:00:00Z', checked_at = NULL",
        [],
    )
    .unwrap();
}

fn db_args(sb: &Sandbox, mirror: &str, offline: bool) -> layerscan::cli::DbArgs {
    layerscan::cli::DbArgs {
        cache_dir: Some(sb.cache()),
        offline,
        db_mirror: Some(mirror.to_string()),
        skip_db_update: false,
    }
}

#[test]
fn scans_refresh_a_stale_database_and_fall_back_when_that_fails() {
    let sb = Sandbox::new();
    seed(&sb);
    age_database(&sb);

    // Offline: the stale database is used as it is, no request.
    let mirror = start_mirror(
        zip_bytes(&[entry(
            "PYSEC-30",
            pypi("PYSEC-30", "certifi", "2024.7.4", &[]),
        )]),
        "\"v2\"",
        None,
    );
    let (store, source, warnings) =
        layerscan::db::open_for_scan(&db_args(&sb, &mirror.url, true)).unwrap();
    assert_eq!(source.kind, "database");
    assert_eq!(source.records, 2);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("PyPI is older than 24 h") && warnings[0].contains("--offline"),
        "{warnings:?}"
    );
    assert_eq!(store.advisories_for("PyPI", "requests").unwrap().len(), 1);
    assert_eq!(mirror.requests.load(Ordering::SeqCst), 0);
    drop(store);

    // Failing mirror: a warning, and the old data.
    let failing = start_mirror(Vec::new(), "\"x\"", Some(503));
    let (store, source, warnings) =
        layerscan::db::open_for_scan(&db_args(&sb, &failing.url, false)).unwrap();
    assert_eq!(source.records, 2);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("503") && warnings[0].contains("existing database"),
        "{warnings:?}"
    );
    assert_eq!(store.advisories_for("PyPI", "urllib3").unwrap().len(), 1);
    drop(store);

    // Working mirror: the PyPI export replaces the stale PyPI records.
    let (store, source, warnings) =
        layerscan::db::open_for_scan(&db_args(&sb, &mirror.url, false)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(source.records, 1);
    assert_eq!(store.advisories_for("PyPI", "certifi").unwrap().len(), 1);
    assert!(store.advisories_for("PyPI", "requests").unwrap().is_empty());
    assert_eq!(mirror.requests.load(Ordering::SeqCst), 1);
    drop(store);

    // Fresh now: no further request.
    layerscan::db::open_for_scan(&db_args(&sb, &mirror.url, false)).unwrap();
    assert_eq!(mirror.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn scans_without_a_database_use_the_bundled_sample_and_say_so() {
    let sb = Sandbox::new();
    let (_store, source, warnings) =
        layerscan::db::open_for_scan(&db_args(&sb, "http://127.0.0.1:1", false)).unwrap();
    assert_eq!(source.kind, "bundled");
    let note = source.note.unwrap_or_default();
    assert!(
        note.contains("bundled sample") && note.contains("layerscan db update"),
        "{note}"
    );
    assert_eq!(warnings, vec![note]);
    assert!(!db_file(&sb).exists(), "a scan never creates the database");
}

#[test]
fn realistic_import_of_pypa_advisories() {
    let zip = crate::common::root().join("../shared/osv/PyPI-all.zip");
    if !zip.exists() {
        eprintln!("skipped: {} is absent", zip.display());
        return;
    }
    let sb = Sandbox::new();
    let out = sb.cmd().args(["db", "import"]).arg(&zip).output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("imported 2661 advisories"), "{err}");
    assert!(
        err.contains("PyPI: 2661 imported, 2661 in the database"),
        "{err}"
    );

    let store = SqliteStore::open(&db_file(&sb)).unwrap();
    // Counts checked against the zip with Python's json + PEP 503 normalisation.
    assert_eq!(store.advisories_for("PyPI", "Django").unwrap().len(), 116);
    assert_eq!(
        store
            .advisories_for("PyPI", "tensorflow_cpu")
            .unwrap()
            .len(),
        297
    );
    assert_eq!(store.advisories_for("PyPI", "PyYAML").unwrap().len(), 4);
    // Written `jw.util` in its record.
    assert_eq!(
        ids(store.advisories_for("PyPI", "jw-util").unwrap()),
        ["PYSEC-2020-341"]
    );
    assert_eq!(
        store
            .advisory_by_id("CVE-2020-14343")
            .unwrap()
            .map(|a| a.id),
        Some("PYSEC-2021-142".to_string())
    );
    let status = stdout(&sb.cmd().args(["db", "status"]).output().unwrap());
    assert!(status.contains("2661 advisories"), "{status}");
}

#[test]
fn status_as_json() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args(["db", "status", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = crate::common::json(&out);
    assert_eq!(v["Kind"], "bundled");
    assert!(v["Note"]
        .as_str()
        .unwrap_or_default()
        .contains("layerscan db update"));

    seed(&sb);
    let out = sb
        .cmd()
        .args(["db", "status", "--format", "json"])
        .output()
        .unwrap();
    let v = crate::common::json(&out);
    assert_eq!(v["Kind"], "database");
    assert_eq!(v["Records"], 2);
    assert_eq!(v["Ecosystems"][0]["Ecosystem"], "PyPI");
    assert_eq!(v["Ecosystems"][0]["Records"], 2);
    assert_eq!(v["Ecosystems"][0]["Stale"], false);
    assert!(v["Ecosystems"][0]["Source"]
        .as_str()
        .unwrap_or_default()
        .ends_with("seed.zip"));
}

#[test]
fn a_killed_import_leaves_the_database_unchanged() {
    let sb = Sandbox::new();
    seed(&sb);
    let before = sha256(&db_file(&sb));
    let entries: Vec<(String, String)> = (0..60_000)
        .map(|i| {
            let id = format!("PYSEC-8{i:05}");
            let body = pypi(&id, &format!("pkg{i}"), "1.0", &[]);
            entry(&id, body)
        })
        .collect();
    let zip = sb.path().join("huge.zip");
    write_zip(&zip, &entries);
    let bin = assert_cmd::cargo::cargo_bin("layerscan");
    let mut child = std::process::Command::new(bin)
        .env("LAYERSCAN_CACHE_DIR", sb.cache())
        .env("HOME", sb.path())
        .args(["db", "import"])
        .arg(&zip)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it as soon as its new database file exists beside the live one, i.e. mid-import.
    let mut killed = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if db_dir_names(&sb).iter().any(|n| n.contains(".tmp-")) {
            child.kill().unwrap();
            child.wait().unwrap();
            killed = true;
            break;
        }
        std::thread::yield_now();
    }
    if !killed {
        eprintln!("skipped: the import finished before it could be killed");
        return;
    }
    assert_eq!(sha256(&db_file(&sb)), before);
    let store = SqliteStore::open(&db_file(&sb)).unwrap();
    assert!(store.advisories_for("PyPI", "pkg0").unwrap().is_empty());
    assert_eq!(store.advisories_for("PyPI", "requests").unwrap().len(), 1);
}
