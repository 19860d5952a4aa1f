//! `db update`: download `<mirror>/<Ecosystem>/all.zip` (conditionally, with the stored ETag and
//! Last-Modified), then import the downloads atomically, each replacing its ecosystem's records.
//! Downloads go to temporary files in the db dir; nothing touches the database until every download
//! has succeeded.
//!
//! The enrichment feeds ([`FeedKind`]) are downloaded the same way (conditionally, per file, with
//! the validators stored in the `feeds` table) and imported in the same transaction as the
//! exports. Their base URL is `--feed-mirror` (flat: `<base>/nvdcve-2.0-<year>.json.gz`,
//! `<base>/nvdcve-2.0-modified.json.gz`, `<base>/debian-security-tracker.json`,
//! `<base>/known_exploited_vulnerabilities.json`, `<base>/epss_scores-current.csv.gz`), else each
//! publisher's own URL ([`upstream_url`]).

use super::canonical_base;
use super::feeds::FeedKind;
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
    /// Per feed file: (record name, URL shown, outcome; `records` counts the file's rows).
    pub feed_outcomes: Vec<(String, String, EcosystemOutcome)>,
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

/// Where `db update` gets the feeds from.
#[derive(Debug, Clone, Default)]
pub struct FeedOptions {
    pub kinds: Vec<FeedKind>,
    /// `--feed-mirror`; `None`: the publishers' URLs.
    pub mirror: Option<String>,
}

/// First year of NVD's per-year files (`nvdcve-2.0-2002.json.gz` also holds 1999-2001).
pub const NVD_FIRST_YEAR: i32 = 2002;

/// One feed file to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedFile {
    pub kind: FeedKind,
    /// The name it is recorded under (`nvdcve-2.0-2024.json`; the kind for whole feeds).
    pub name: String,
    pub url: String,
}

/// The publisher's URL of a feed file (`leaf` is the mirror file name).
pub fn upstream_url(kind: FeedKind, leaf: &str) -> String {
    match kind {
        FeedKind::Nvd => format!("https://nvd.nist.gov/feeds/json/cve/2.0/{leaf}"),
        FeedKind::Debian => "https://security-tracker.debian.org/tracker/data/json".into(),
        FeedKind::Kev => {
            "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
                .into()
        }
        FeedKind::Epss => "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz".into(),
    }
}

/// The files of `opts.kinds`, in import order (NVD's years, then `modified`).
pub fn feed_files(opts: &FeedOptions, this_year: i32) -> Vec<FeedFile> {
    let mut out = Vec::new();
    for kind in &opts.kinds {
        let leaves: Vec<String> = match kind {
            FeedKind::Nvd => (NVD_FIRST_YEAR..=this_year.max(NVD_FIRST_YEAR))
                .map(|y| format!("nvdcve-2.0-{y}.json.gz"))
                .chain(std::iter::once("nvdcve-2.0-modified.json.gz".to_string()))
                .collect(),
            FeedKind::Debian => vec!["debian-security-tracker.json".into()],
            FeedKind::Kev => vec!["known_exploited_vulnerabilities.json".into()],
            FeedKind::Epss => vec!["epss_scores-current.csv.gz".into()],
        };
        for leaf in leaves {
            let url = match &opts.mirror {
                Some(m) => format!("{}/{leaf}", m.trim_end_matches('/')),
                None => upstream_url(*kind, &leaf),
            };
            let name = if kind.is_whole() {
                kind.as_str().to_string()
            } else {
                leaf.strip_suffix(".gz").unwrap_or(&leaf).to_string()
            };
            out.push(FeedFile {
                kind: *kind,
                name,
                url,
            });
        }
    }
    out
}

/// Parse `--feeds`: names, `all` or `none`.
pub fn parse_feeds(names: &[String]) -> anyhow::Result<Vec<FeedKind>> {
    let mut out = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if n.eq_ignore_ascii_case("all") {
            return Ok(FeedKind::ALL.to_vec());
        }
        if n.eq_ignore_ascii_case("none") {
            continue;
        }
        let k = FeedKind::parse(n).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown feed {n:?}; known: {} (or all, none)",
                FeedKind::ALL.map(FeedKind::as_str).join(", ")
            )
        })?;
        if !out.contains(&k) {
            out.push(k);
        }
    }
    Ok(out)
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
    update_with_feeds(
        db_path,
        ecosystems,
        mirror,
        &FeedOptions::default(),
        timeouts,
    )
}

/// What one conditional download gave.
enum Fetched {
    NotModified,
    Downloaded(Download, Origin),
}

/// GET `url` into a temporary file in `dir`, conditionally on the stored validators.
fn fetch(
    client: &reqwest::blocking::Client,
    url: &str,
    validators: Option<(Option<&str>, Option<&str>)>,
    dir: &Path,
    tag: &str,
    suffix: &str,
) -> anyhow::Result<Fetched> {
    let shown = redact_url(url);
    let mut req = client.get(url);
    if let Some((etag, lm)) = validators {
        if let Some(etag) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = lm {
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
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        anyhow::bail!("downloading {shown}: HTTP {status}; the advisory database was not changed");
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
            ".download-{tag}-{}-{stamp}{suffix}",
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
    Ok(Fetched::Downloaded(dl, origin))
}

/// [`update`], and the enrichment feeds of `feeds`, in one atomic import.
pub fn update_with_feeds(
    db_path: &Path,
    ecosystems: &[String],
    mirror: &str,
    feeds: &FeedOptions,
    timeouts: Timeouts,
) -> anyhow::Result<UpdateSummary> {
    let no_ecosystems = ecosystems
        .iter()
        .all(|e| e.trim().is_empty() || e.trim().eq_ignore_ascii_case("none"));
    let bases = if no_ecosystems && !feeds.kinds.is_empty() {
        Vec::new()
    } else {
        parse_ecosystems(ecosystems)?
    };
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
        let validators = prev.map(|p| (p.etag.as_deref(), p.last_modified.as_deref()));
        match fetch(&client, &url, validators, &dir, base, ".zip")? {
            Fetched::NotModified => not_modified.push(base),
            Fetched::Downloaded(dl, origin) => downloads.push((base, shown, dl, origin)),
        }
    }

    let this_year = time::OffsetDateTime::now_utc().year();
    let mut feed_downloads: Vec<(FeedFile, Download, Origin)> = Vec::new();
    let mut feeds_not_modified: Vec<FeedFile> = Vec::new();
    for file in feed_files(feeds, this_year) {
        let shown = redact_url(&file.url);
        let prev = stored
            .as_ref()
            .and_then(|s| s.feeds.iter().find(|f| f.name == file.name))
            .filter(|f| f.source.as_deref() == Some(shown.as_str()));
        let validators = prev.map(|p| (p.etag.as_deref(), p.last_modified.as_deref()));
        match fetch(&client, &file.url, validators, &dir, &file.name, "")? {
            Fetched::NotModified => feeds_not_modified.push(file),
            Fetched::Downloaded(dl, origin) => feed_downloads.push((file, dl, origin)),
        }
    }

    let mut outcomes: Vec<(String, String, EcosystemOutcome)> = Vec::new();
    let mut feed_outcomes: Vec<(String, String, EcosystemOutcome)> = Vec::new();
    let summary = if downloads.is_empty() && feed_downloads.is_empty() {
        None
    } else {
        let inputs: Vec<ImportInput> = downloads
            .iter()
            .map(|(base, _, dl, origin)| ImportInput {
                path: dl.path.clone(),
                origin: origin.clone(),
                replace: Some(base),
                feed_name: None,
            })
            .chain(feed_downloads.iter().map(|(file, dl, origin)| ImportInput {
                path: dl.path.clone(),
                origin: origin.clone(),
                replace: None,
                feed_name: Some(file.name.clone()),
            }))
            .collect();
        let summary = import(db_path, &inputs).map_err(|e| {
            let urls: Vec<String> = downloads
                .iter()
                .map(|(_, u, _, _)| u.clone())
                .chain(feed_downloads.iter().map(|(_, _, o)| o.label.clone()))
                .collect();
            e.context(format!("importing {}", urls.join(", ")))
        })?;
        for (file, _, origin) in &feed_downloads {
            let records = summary
                .status
                .feeds
                .iter()
                .find(|f| f.name == file.name)
                .map(|f| f.records)
                .unwrap_or(0);
            feed_outcomes.push((
                file.name.clone(),
                origin.label.clone(),
                EcosystemOutcome::Updated { records },
            ));
        }
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
    let names: Vec<&str> = feeds_not_modified.iter().map(|f| f.name.as_str()).collect();
    sqlite::mark_feeds_checked(db_path, &names)?;
    for f in &feeds_not_modified {
        feed_outcomes.push((
            f.name.clone(),
            redact_url(&f.url),
            EcosystemOutcome::NotModified,
        ));
    }
    for base in not_modified {
        outcomes.push((
            base.to_string(),
            redact_url(&export_url(mirror, base)),
            EcosystemOutcome::NotModified,
        ));
    }
    Ok(UpdateSummary {
        outcomes,
        feed_outcomes,
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
