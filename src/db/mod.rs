//! The local advisory database (and the bundled sample), behind [`AdvisoryStore`].
//!
//! Scans must stay fast on a Lambda cold start, so the database is SQLite opened read-only with one
//! indexed lookup per package; everything slow (parsing OSV exports, building indexes) happens in
//! `db import`/`db update`, which build a new file beside the current one and rename it over, so a
//! failed or killed import can never leave a half-written database behind.
//!
//! The matcher depends only on [`AdvisoryStore`]; the scan command on [`open_for_scan`].

use crate::advisory::Advisory;
use crate::cli::DbArgs;
use crate::model::AdvisorySource;
use anyhow::Context;
use std::path::{Path, PathBuf};

pub mod bundled;
pub mod enrich;
pub mod feeds;
pub mod import;
pub mod sqlite;
pub mod update;
pub mod updateinfo;

pub use bundled::MemoryStore;
pub use sqlite::SqliteStore;

/// Where the matcher gets advisories from.
pub trait AdvisoryStore {
    /// Records with an `affected[]` entry for `name` in an ecosystem whose base is `ecosystem_base`
    /// (`PyPI`, `Debian`, `Alpine`, `Ubuntu`). `name` is compared after
    /// [`crate::advisory::normalize_name`]. Withdrawn records may be returned; the matcher skips them.
    fn advisories_for(&self, ecosystem_base: &str, name: &str) -> anyhow::Result<Vec<Advisory>>;
    /// A record by its id, or by an alias when no record has that id.
    fn advisory_by_id(&self, id: &str) -> anyhow::Result<Option<Advisory>>;
    /// What the enrichment feeds (NVD, Debian tracker, KEV, EPSS) say about a CVE id; `None` when
    /// they say nothing (or the store has no feeds, as the bundled sample).
    fn enrichment(&self, _cve: &str) -> anyhow::Result<Option<enrich::CveEnrichment>> {
        Ok(None)
    }
}

/// The ecosystems the matcher understands, as OSV spells their base names (and as the export bucket
/// names its directories). Records for any other ecosystem are counted and skipped on import.
pub const KNOWN_ECOSYSTEMS: [&str; 4] = ["PyPI", "Debian", "Alpine", "Ubuntu"];

/// The canonical spelling of a known ecosystem base (`pypi` → `PyPI`), or `None` when unknown.
pub fn canonical_base(base: &str) -> Option<&'static str> {
    let base = base.trim();
    KNOWN_ECOSYSTEMS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(base))
        .copied()
}

/// The default base URL of OSV's per-ecosystem exports.
pub const DEFAULT_MIRROR: &str = "https://osv-vulnerabilities.storage.googleapis.com";

/// A database older than this is refreshed by scans (unless `--offline`/`--skip-db-update`).
pub const MAX_AGE: time::Duration = time::Duration::hours(24);

/// `<cache-dir>/db`.
pub fn db_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("db")
}

/// `<cache-dir>/db/advisories.sqlite`.
pub fn db_path(cache_dir: &Path) -> PathBuf {
    db_dir(cache_dir).join("advisories.sqlite")
}

/// What scans say when they fall back to the bundled sample.
pub fn bundled_note(records: usize) -> String {
    format!(
        "no local advisory database: using the small bundled sample ({records} advisories), not full data; \
         run `layerscan db update` (or `layerscan db import PATH`) to get full OSV data"
    )
}

/// Open the advisory data for a scan: the local database (auto-updated when older than 24 h unless
/// `--offline` or `--skip-db-update`), else the bundled sample.
///
/// The returned warnings (failed auto-update, bundled sample in use) are not printed here: the caller
/// puts them into the report's warnings and logs them to stderr.
pub fn open_for_scan(
    args: &DbArgs,
) -> anyhow::Result<(Box<dyn AdvisoryStore>, AdvisorySource, Vec<String>)> {
    let cache = crate::cli::cache_dir(args.cache_dir.as_ref());
    let path = db_path(&cache);
    let mut warnings = Vec::new();
    if crate::limits::is_regular_file(&path) == Some(false) {
        // Not a file we wrote (a FIFO would hang the open, a link may point anywhere): drop it
        // (the link, never its target) and scan with the bundled data.
        let w = format!(
            "advisory database {} is not a regular file; removed it (run `layerscan db update`)",
            path.display()
        );
        tracing::warn!("{w}");
        let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir(&path));
        warnings.push(w);
    }
    if crate::limits::is_regular_file(&path).is_none() {
        let store = MemoryStore::bundled()?;
        let note = bundled_note(store.len());
        warnings.push(note.clone());
        let source = AdvisorySource {
            kind: "bundled".into(),
            records: store.len() as u64,
            updated_at: None,
            note: Some(note),
        };
        return Ok((Box::new(store), source, warnings));
    }

    let store = SqliteStore::open(&path)?;
    let status = store.status()?;
    let now = time::OffsetDateTime::now_utc();
    let stale: Vec<String> = status
        .ecosystems
        .iter()
        .filter(|e| e.is_stale(now))
        .map(|e| e.ecosystem.clone())
        .collect();
    if stale.is_empty() {
        return Ok(finish_db(store, status, warnings));
    }
    if args.offline || args.skip_db_update {
        warnings.push(format!(
            "advisory data for {} is older than 24 h (not refreshed: {}); run `layerscan db update`",
            stale.join(", "),
            if args.offline {
                "--offline"
            } else {
                "--skip-db-update"
            }
        ));
        return Ok(finish_db(store, status, warnings));
    }
    drop(store);
    let mirror = args
        .db_mirror
        .clone()
        .unwrap_or_else(|| DEFAULT_MIRROR.to_string());
    tracing::info!(
        "advisory data for {} is older than 24 h: updating from {}",
        stale.join(", "),
        update::redact_url(&mirror)
    );
    if let Err(e) = update::update_in_thread(path.clone(), stale.clone(), mirror) {
        let when = status
            .updated_at()
            .unwrap_or_else(|| "an unknown time".into());
        warnings.push(format!(
            "advisory database is older than 24 h and the update of {} failed: {e:#}; \
             using the existing database (last imported {when}); \
             pass --offline or --skip-db-update to scan without trying",
            stale.join(", ")
        ));
    }
    let store = SqliteStore::open(&path)?;
    let status = store.status()?;
    Ok(finish_db(store, status, warnings))
}

fn finish_db(
    store: SqliteStore,
    status: sqlite::DbStatus,
    mut warnings: Vec<String>,
) -> (Box<dyn AdvisoryStore>, AdvisorySource, Vec<String>) {
    if status.total_records == 0 {
        warnings.push(format!(
            "the advisory database {} holds no advisories; run `layerscan db update` or `layerscan db import PATH`",
            status.path.display()
        ));
    }
    let source = AdvisorySource {
        kind: "database".into(),
        records: status.total_records,
        updated_at: status.updated_at(),
        note: None,
    };
    (Box::new(store), source, warnings)
}

/// Remove files a killed import or download left in the db dir (`*.tmp-*`, `*.download-*`).
pub(crate) fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".advisories.sqlite.tmp-") || name.starts_with(".download-") {
            // Only files older than an hour: another import may be running right now.
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(3600));
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// On any open of the database: remove what killed imports and downloads left behind, without
/// waiting for the next import. Their names carry the writer's pid: a file whose process is gone
/// is removed — an import's temp only when no import holds the lock (another container sharing
/// the cache dir has other pids), a download's when nothing wrote it for a minute.
pub(crate) fn remove_dead_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut lock_checked: Option<bool> = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let (rest, is_import) = if let Some(r) = name.strip_prefix(".advisories.sqlite.tmp-") {
            (r, true)
        } else if let Some(r) = name.strip_prefix(".download-") {
            // `.download-<base>-<pid>-<stamp>.zip`: the pid is the second field from the end.
            (r.rsplit('-').nth(1).unwrap_or(""), false)
        } else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let idle = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(60));
        let remove = if is_import {
            !*lock_checked.get_or_insert_with(|| sqlite::import_running(dir))
        } else {
            idle
        };
        if remove {
            tracing::debug!(
                "removing {} left by a killed import",
                entry.path().display()
            );
            let _ = std::fs::remove_file(entry.path());
            // SQLite's side files of the temp database.
            for suffix in ["-journal", "-wal", "-shm"] {
                let _ = std::fs::remove_file(dir.join(format!("{name}{suffix}")));
            }
        }
    }
}

/// Create the db dir with a readable error.
pub(crate) fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the advisory database directory {}", dir.display()))
}
