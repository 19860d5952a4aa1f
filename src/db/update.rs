//! `db update`: download `<mirror>/<Ecosystem>/all.zip` (conditionally, with the stored ETag and
//! Last-Modified), then import the downloads atomically, each replacing its ecosystem's records.
//! Downloads go to temporary files in the db dir; nothing touches the database until every download
//! has succeeded.

use super::canonical_base;
use super::import::{import, ImportInput, ImportSummary};
use super::sqlite::{self, Origin};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long to wait for the mirror.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

impl Timeouts {
    /// For an explicit `db update`: exports can be hundreds of MB.
    pub const INTERACTIVE: Timeouts = Timeouts {
        connect: Duration::from_secs(30),
        total: Duration::from_secs(3600),
    };
    /// For the automatic refresh at the start of a scan.
    pub const AUTO: Timeouts = Timeouts {
        connect: Duration::from_secs(10),
        total: Duration::from_secs(900),
    };
}

/// What happened to one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcosystemOutcome {
    /// HTTP 304: the stored data is current.
    NotModified,
    /// Downloaded and imported: this many records now.
    Updated { records: u64 },
}

#[derive(Debug)]
pub struct UpdateSummary {
    pub outcomes: Vec<(String, String, EcosystemOutcome)>,
    /// Present when something was downloaded and imported.
    pub import: Option<ImportSummary>,
}

/// The URL with any `user:password@` replaced, for messages.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find('/').unwrap_or(rest.len());
        if let Some(host_part) = rest.get(..end) {
            if let Some(at) = host_part.rfind('@') {
                let host = host_part.get(at + 1..).unwrap_or_default();
                let tail = rest.get(end..).unwrap_or_default();
                return format!("{scheme}://***@{host}{tail}");
            }
        }
    }
    url.to_string()
}

/// `<mirror>/<Ecosystem>/all.zip`.
pub fn export_url(mirror: &str, ecosystem: &str) -> String {
    format!("{}/{ecosystem}/all.zip", mirror.trim_end_matches('/'))
}

/// Canonicalise and check the ecosystem names given to `--ecosystems`.
pub fn parse_ecosystems(names: &[String]) -> anyhow::Result<Vec<&'static str>> {
    let mut out = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let base = canonical_base(n).ok_or_else(|| {
            anyhow::anyhow!(
                "unsupported ecosystem {n:?}; supported: {}",
                super::KNOWN_ECOSYSTEMS.join(", ")
            )
        })?;
        if !out.contains(&base) {
            out.push(base);
        }
    }
    if out.is_empty() {
        anyhow::bail!("no ecosystems to update");
    }
    Ok(out)
}

/// A downloaded export, deleted when dropped.
struct Download {
    path: PathBuf,
}

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Run [`update`] on its own thread: the blocking HTTP client must not run inside an async runtime,
/// and the scan commands may be inside one.
pub fn update_in_thread(
    db_path: PathBuf,
    ecosystems: Vec<String>,
    mirror: String,
) -> anyhow::Result<UpdateSummary> {
    let handle = std::thread::Builder::new()
        .name("layerscan-db-update".into())
        .spawn(move || update(&db_path, &ecosystems, &mirror, Timeouts::AUTO))
        .context("starting the advisory database update")?;
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("the advisory database update crashed"))?
}

/// Download and import the exports of `ecosystems` from `mirror` into the database at `db_path`.
pub fn update(
    db_path: &Path,
    ecosystems: &[String],
    mirror: &str,
    timeouts: Timeouts,
) -> anyhow::Result<UpdateSummary> {
    let bases = parse_ecosystems(ecosystems)?;
    let dir = db_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    super::ensure_dir(&dir)?;
    // The stored validators; an unreadable database just means unconditional downloads.
    let stored = sqlite::status_at(db_path).ok().flatten();
    let client = reqwest::blocking::Client::builder()
        .user_agent(concat!("layerscan/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .build()
        .context("building the HTTP client")?;

    let mut downloads: Vec<(&'static str, String, Download, Origin)> = Vec::new();
    let mut not_modified: Vec<&'static str> = Vec::new();
    for base in &bases {
        let url = export_url(mirror, base);
        let shown = redact_url(&url);
        let prev = stored
            .as_ref()
            .and_then(|s| s.ecosystems.iter().find(|e| e.ecosystem == *base))
            // Validators from another mirror (or from an import) mean nothing here.
            .filter(|e| e.source.as_deref() == Some(shown.as_str()));
        let mut req = client.get(&url);
        if let Some(p) = prev {
            if let Some(etag) = &p.etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &p.last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
            }
        }
        let mut resp = req.send().map_err(|e| {
            anyhow::anyhow!(
                "downloading {shown}: {}; the advisory database was not changed",
                without_url(&e)
            )
        })?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            not_modified.push(base);
            continue;
        }
        if !status.is_success() {
            anyhow::bail!(
                "downloading {shown}: HTTP {status}; the advisory database was not changed"
            );
        }
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let origin = Origin {
            label: shown.clone(),
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
        };
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let dl = Download {
            path: dir.join(format!(
                ".download-{base}-{}-{stamp}.zip",
                std::process::id()
            )),
        };
        let mut file = std::fs::File::create(&dl.path)
            .with_context(|| format!("creating {}", dl.path.display()))?;
        resp.copy_to(&mut file).map_err(|e| {
            anyhow::anyhow!(
                "downloading {shown}: {}; the advisory database was not changed",
                without_url(&e)
            )
        })?;
        file.sync_all()
            .with_context(|| format!("writing {}", dl.path.display()))?;
        downloads.push((base, shown, dl, origin));
    }

    let mut outcomes: Vec<(String, String, EcosystemOutcome)> = Vec::new();
    let summary = if downloads.is_empty() {
        None
    } else {
        let inputs: Vec<ImportInput> = downloads
            .iter()
            .map(|(base, _, dl, origin)| ImportInput {
                path: dl.path.clone(),
                origin: origin.clone(),
                replace: Some(base),
            })
            .collect();
        let summary = import(db_path, &inputs).map_err(|e| {
            let urls: Vec<&str> = downloads.iter().map(|(_, u, _, _)| u.as_str()).collect();
            e.context(format!("importing {}", urls.join(", ")))
        })?;
        for (base, shown, _, _) in &downloads {
            let records = summary
                .status
                .ecosystems
                .iter()
                .find(|e| e.ecosystem == *base)
                .map(|e| e.records)
                .unwrap_or(0);
            outcomes.push((
                base.to_string(),
                shown.clone(),
                EcosystemOutcome::Updated { records },
            ));
        }
        Some(summary)
    };
    sqlite::mark_checked(db_path, &not_modified)?;
    for base in not_modified {
        outcomes.push((
            base.to_string(),
            redact_url(&export_url(mirror, base)),
            EcosystemOutcome::NotModified,
        ));
    }
    Ok(UpdateSummary {
        outcomes,
        import: summary,
    })
}

/// A reqwest error's chain without the URL (which we print ourselves, redacted).
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            export_url("https://m.example/osv/", "PyPI"),
            "https://m.example/osv/PyPI/all.zip"
        );
        assert_eq!(
            redact_url("https://u:secret@m.example/x/PyPI/all.zip"),
            "https://***@m.example/x/PyPI/all.zip"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:8/a@b"),
            "http://127.0.0.1:8/a@b"
        );
    }

    #[test]
    fn ecosystems_are_canonicalised_and_checked() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_ecosystems(&v(&["pypi", "Debian", "PyPI"])).unwrap(),
            vec!["PyPI", "Debian"]
        );
        let err = parse_ecosystems(&v(&["npm"])).unwrap_err().to_string();
        assert!(err.contains("npm") && err.contains("PyPI"), "{err}");
    }
}
