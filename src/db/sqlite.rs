//! The SQLite database: the read-only store scans use, and the builder that imports write to.
//!
//! Schema (version [`SCHEMA_VERSION`]):
//! - `advisories(id PRIMARY KEY, json)`: each record as zstd-compressed compact JSON of [`Advisory`]
//!   (compressed because a full database must fit a Lambda's /tmp; unknown OSV
//!   fields dropped);
//! - `affected(ecosystem, name, id)`: one row per (ecosystem base, normalised name) a record affects,
//!   indexed by `(ecosystem, name, id)` for the scan lookup and by `id` for replacement;
//! - `aliases(alias, id)`, indexed both ways;
//! - `ecosystems`: per ecosystem base, the record count and where/when the data came from
//!   (source path or URL, ETag/Last-Modified for conditional downloads, imported/checked times);
//! - `info(key, value)`: `schema_version`, `records`, `rows:<table>` for the feed tables;
//! - enrichment feeds (version 3), keyed by CVE id: `nvd` (CVSS v2/v3.x/v4.0 vectors, scores and
//!   ratings, CWEs, `lastModified`), `vendor_severity` (a distribution's rating per CVE, source,
//!   package and release: Debian's tracker urgency), `kev` (CISA KEV), `epss` (FIRST EPSS), and
//!   `feeds`: per imported feed file its record count, origin, validators and version.
//!
//! A version-2 database (no feed tables) is still read; the next import upgrades it in place (the
//! copy it writes gains the tables, then is renamed over the old file as usual).
//!
//! Imports never write the live file: [`Builder`] copies it aside (or starts a fresh file), writes in
//! one transaction with journaling off, builds indexes after a bulk insert, and renames the finished
//! file over the live one. Readers that already have the old file open keep reading the old inode.

use super::canonical_base;
use super::enrich::{CveEnrichment, Cvss, Epss, KnownExploited, NvdRating, VendorRating};
use super::feeds::{debian::DebianRating, epss::EpssRow, kev::KevEntry, nvd::NvdCve, FeedKind};
use crate::advisory::{normalize_name, Advisory};
use crate::model::Severity;
use anyhow::Context;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const SCHEMA_VERSION: &str = "3";

/// Older versions this layerscan still reads (and upgrades on the next import).
const READABLE_VERSIONS: [&str; 2] = ["2", SCHEMA_VERSION];

/// zstd level for stored records: small records, so speed over ratio.
const ZSTD_LEVEL: i32 = 3;

const CREATE_TABLES: &str = "
CREATE TABLE info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ecosystems (
    ecosystem TEXT PRIMARY KEY,
    records INTEGER NOT NULL,
    source TEXT,
    etag TEXT,
    last_modified TEXT,
    imported_at TEXT,
    checked_at TEXT
);
CREATE TABLE advisories (id TEXT PRIMARY KEY, json BLOB NOT NULL);
CREATE TABLE affected (ecosystem TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL);
CREATE TABLE aliases (alias TEXT NOT NULL, id TEXT NOT NULL);
";

/// Version 3: the enrichment feeds. `IF NOT EXISTS`, so it also upgrades a version-2 copy.
const CREATE_FEED_TABLES: &str = "
CREATE TABLE IF NOT EXISTS feeds (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    records INTEGER NOT NULL,
    source TEXT,
    etag TEXT,
    last_modified TEXT,
    version TEXT,
    imported_at TEXT,
    checked_at TEXT
);
CREATE TABLE IF NOT EXISTS nvd (
    cve TEXT PRIMARY KEY,
    published TEXT,
    last_modified TEXT,
    v2_vector TEXT, v2_score REAL, v2_severity TEXT,
    v3_vector TEXT, v3_score REAL, v3_severity TEXT,
    v40_vector TEXT, v40_score REAL, v40_severity TEXT,
    cwes TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vendor_severity (
    cve TEXT NOT NULL,
    source TEXT NOT NULL,
    package TEXT NOT NULL,
    release TEXT NOT NULL,
    rating TEXT NOT NULL,
    severity TEXT NOT NULL,
    PRIMARY KEY (cve, source, package, release)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kev (
    cve TEXT PRIMARY KEY,
    date_added TEXT NOT NULL,
    due_date TEXT,
    ransomware TEXT,
    name TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epss (
    cve TEXT PRIMARY KEY,
    score REAL NOT NULL,
    percentile REAL NOT NULL
) WITHOUT ROWID;
";

/// The feed tables, for row counts.
const FEED_TABLES: [&str; 4] = ["nvd", "vendor_severity", "kev", "epss"];

const CREATE_ID_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS affected_by_id ON affected(id);
CREATE INDEX IF NOT EXISTS aliases_by_id ON aliases(id);
";

const CREATE_LOOKUP_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS affected_by_name ON affected(ecosystem, name, id);
CREATE INDEX IF NOT EXISTS aliases_by_alias ON aliases(alias);
";

/// Now, to the second, as RFC 3339.
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&Rfc3339).unwrap_or_default()
}

fn parse_time(s: Option<&str>) -> Option<OffsetDateTime> {
    s.and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// What the `ecosystems` table says about one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcosystemStatus {
    pub ecosystem: String,
    pub records: u64,
    pub source: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub imported_at: Option<String>,
    /// Last time an update found the export unchanged (HTTP 304).
    pub checked_at: Option<String>,
}

impl EcosystemStatus {
    /// When the data was last known to be current: the later of import and unchanged-check.
    pub fn fresh_at(&self) -> Option<OffsetDateTime> {
        let a = parse_time(self.imported_at.as_deref());
        let b = parse_time(self.checked_at.as_deref());
        a.max(b)
    }

    /// Older than [`super::MAX_AGE`] (or of unknown age).
    pub fn is_stale(&self, now: OffsetDateTime) -> bool {
        self.fresh_at().is_none_or(|t| now - t > super::MAX_AGE)
    }
}

/// The database as `db status` shows it.
#[derive(Debug, Clone)]
pub struct DbStatus {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub total_records: u64,
    pub ecosystems: Vec<EcosystemStatus>,
    /// Imported feed files (empty for a version-2 database).
    pub feeds: Vec<FeedStatus>,
    /// Rows per feed table (`nvd`, `vendor_severity`, `kev`, `epss`), as of the last import.
    pub feed_rows: BTreeMap<String, u64>,
}

/// One imported feed file (`feeds` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStatus {
    /// `nvdcve-2.0-2024.json` for NVD's per-year files; the kind for whole feeds.
    pub name: String,
    /// `nvd`, `debian`, `kev`, `epss`.
    pub kind: String,
    pub records: u64,
    pub source: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// KEV `catalogVersion`, EPSS model version and score date, NVD feed timestamp.
    pub version: Option<String>,
    pub imported_at: Option<String>,
    pub checked_at: Option<String>,
}

impl DbStatus {
    /// The most recent import time over all ecosystems.
    pub fn updated_at(&self) -> Option<String> {
        self.ecosystems
            .iter()
            .filter_map(|e| {
                e.imported_at
                    .as_deref()
                    .and_then(|s| parse_time(Some(s)).map(|t| (t, s.to_string())))
            })
            .max_by_key(|(t, _)| *t)
            .map(|(_, s)| s)
    }
}

/// The database opened read-only for scans.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// Version 3 or later: the feed tables exist.
    has_feeds: bool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Open read-only and check the schema version.
    pub fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        // A FIFO would hang sqlite's open, a link could point anywhere (`/dev/zero`).
        if crate::limits::is_regular_file(path) == Some(false) {
            anyhow::bail!(
                "advisory database {} is not a regular file; remove it and run `layerscan db update`",
                path.display()
            );
        }
        if let Some(dir) = path.parent() {
            super::remove_dead_leftovers(dir);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening the advisory database {}", path.display()))?;
        let version = check_schema(&conn).with_context(|| {
            format!(
                "advisory database {} is unusable; remove it and run `layerscan db update` \
                 (or `layerscan db import`)",
                path.display()
            )
        })?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
            has_feeds: version != "2",
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn status(&self) -> anyhow::Result<DbStatus> {
        read_status(&self.conn, &self.path)
    }

    fn parse(&self, id: &str, blob: &[u8]) -> anyhow::Result<Advisory> {
        let json = zstd::stream::decode_all(blob).with_context(|| {
            format!(
                "advisory {id} in the database {} is corrupt",
                self.path.display()
            )
        })?;
        serde_json::from_slice(&json).with_context(|| {
            format!(
                "advisory {id} in the database {} is corrupt",
                self.path.display()
            )
        })
    }
}

/// The schema version, when this layerscan can read it.
fn check_schema(conn: &Connection) -> anyhow::Result<String> {
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM info WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .context("not a layerscan advisory database")?;
    match version {
        Some(v) if READABLE_VERSIONS.contains(&v.as_str()) => Ok(v),
        Some(v) => anyhow::bail!(
            "database schema version {v}, this layerscan reads version {SCHEMA_VERSION}"
        ),
        None => anyhow::bail!("not a layerscan advisory database (no schema version)"),
    }
}

fn read_status(conn: &Connection, path: &Path) -> anyhow::Result<DbStatus> {
    let ctx = || format!("reading the advisory database {}", path.display());
    // Written by the import (a COUNT(*) here would walk all 200k keys on every scan); counted
    // for databases written before the key existed.
    let stored: Option<String> = conn
        .query_row("SELECT value FROM info WHERE key = 'records'", [], |r| {
            r.get(0)
        })
        .optional()
        .with_context(ctx)?;
    let total_records: i64 = match stored.and_then(|v| v.parse().ok()) {
        Some(n) => n,
        None => conn
            .query_row("SELECT COUNT(*) FROM advisories", [], |r| r.get(0))
            .with_context(ctx)?,
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT ecosystem, records, source, etag, last_modified, imported_at, checked_at \
             FROM ecosystems ORDER BY ecosystem",
        )
        .with_context(ctx)?;
    let ecosystems = stmt
        .query_map([], |r| {
            Ok(EcosystemStatus {
                ecosystem: r.get(0)?,
                records: r.get::<_, i64>(1)?.max(0) as u64,
                source: r.get(2)?,
                etag: r.get(3)?,
                last_modified: r.get(4)?,
                imported_at: r.get(5)?,
                checked_at: r.get(6)?,
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .with_context(ctx)?;
    let (feeds, feed_rows) = if has_table(conn, "feeds").with_context(ctx)? {
        read_feeds(conn).with_context(ctx)?
    } else {
        (Vec::new(), BTreeMap::new())
    };
    Ok(DbStatus {
        path: path.to_path_buf(),
        size_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        total_records: total_records.max(0) as u64,
        ecosystems,
        feeds,
        feed_rows,
    })
}

fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .exists([name])
}

fn read_feeds(conn: &Connection) -> rusqlite::Result<(Vec<FeedStatus>, BTreeMap<String, u64>)> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, kind, records, source, etag, last_modified, version, imported_at, checked_at \
         FROM feeds ORDER BY kind, name",
    )?;
    let feeds = stmt
        .query_map([], |r| {
            Ok(FeedStatus {
                name: r.get(0)?,
                kind: r.get(1)?,
                records: r.get::<_, i64>(2)?.max(0) as u64,
                source: r.get(3)?,
                etag: r.get(4)?,
                last_modified: r.get(5)?,
                version: r.get(6)?,
                imported_at: r.get(7)?,
                checked_at: r.get(8)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = BTreeMap::new();
    let mut stmt = conn.prepare_cached("SELECT key, value FROM info WHERE key LIKE 'rows:%'")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (k, v) = row?;
        if let (Some(table), Ok(n)) = (k.strip_prefix("rows:"), v.parse::<u64>()) {
            rows.insert(table.to_string(), n);
        }
    }
    Ok((feeds, rows))
}

/// Read the status of the database at `path`, or `None` when there is none.
pub fn status_at(path: &Path) -> anyhow::Result<Option<DbStatus>> {
    if crate::limits::is_regular_file(path).is_none() {
        return Ok(None);
    }
    SqliteStore::open(path)?.status().map(Some)
}

impl super::AdvisoryStore for SqliteStore {
    fn advisories_for(&self, ecosystem_base: &str, name: &str) -> anyhow::Result<Vec<Advisory>> {
        let Some(base) = canonical_base(ecosystem_base) else {
            return Ok(Vec::new());
        };
        let name = normalize_name(base, name.trim());
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.id, a.json FROM affected f JOIN advisories a ON a.id = f.id \
             WHERE f.ecosystem = ?1 AND f.name = ?2 ORDER BY a.id",
        )?;
        let rows = stmt
            .query_map(params![base, name], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| {
                format!(
                    "looking up {base} {name} in the advisory database {}",
                    self.path.display()
                )
            })?;
        rows.iter().map(|(id, json)| self.parse(id, json)).collect()
    }

    fn advisory_by_id(&self, id: &str) -> anyhow::Result<Option<Advisory>> {
        let id = id.trim();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT json FROM advisories WHERE id = ?1")?;
        let mut found: Option<Vec<u8>> = stmt.query_row([id], |r| r.get(0)).optional()?;
        if found.is_none() {
            let mut stmt = self.conn.prepare_cached(
                "SELECT a.json FROM aliases l JOIN advisories a ON a.id = l.id \
                 WHERE l.alias = ?1 ORDER BY a.id LIMIT 1",
            )?;
            found = stmt.query_row([id], |r| r.get(0)).optional()?;
        }
        found.map(|json| self.parse(id, &json)).transpose()
    }

    fn enrichment(&self, cve: &str) -> anyhow::Result<Option<CveEnrichment>> {
        if !self.has_feeds {
            return Ok(None);
        }
        let Some(cve) = crate::db::feeds::cve_id(cve) else {
            return Ok(None);
        };
        self.lookup_enrichment(&cve).with_context(|| {
            format!(
                "looking up {cve} in the enrichment tables of {}",
                self.path.display()
            )
        })
    }
}

impl SqliteStore {
    fn lookup_enrichment(&self, cve: &str) -> rusqlite::Result<Option<CveEnrichment>> {
        let sev = |s: Option<String>| s.and_then(|s| s.parse::<Severity>().ok());
        let cvss = |v: Option<String>, s: Option<f64>, sv: Option<String>| match (v, s) {
            (Some(vector), Some(score)) => Some(Cvss {
                vector,
                score,
                severity: sev(sv),
            }),
            _ => None,
        };
        let nvd = self
            .conn
            .prepare_cached(
                "SELECT published, last_modified, v2_vector, v2_score, v2_severity, v3_vector, \
                 v3_score, v3_severity, v40_vector, v40_score, v40_severity, cwes \
                 FROM nvd WHERE cve = ?1",
            )?
            .query_row([cve], |r| {
                Ok(NvdRating {
                    published: r.get(0)?,
                    last_modified: r.get(1)?,
                    v2: cvss(r.get(2)?, r.get(3)?, r.get(4)?),
                    v3: cvss(r.get(5)?, r.get(6)?, r.get(7)?),
                    v40: cvss(r.get(8)?, r.get(9)?, r.get(10)?),
                    cwes: r
                        .get::<_, Option<String>>(11)?
                        .map(|c| {
                            c.split(',')
                                .filter(|s| !s.is_empty())
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
            })
            .optional()?;
        let vendor = self
            .conn
            .prepare_cached(
                "SELECT source, package, release, rating, severity FROM vendor_severity \
                 WHERE cve = ?1 ORDER BY source, package, release",
            )?
            .query_map([cve], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .filter_map(|row| match row {
                Ok((source, package, release, rating, s)) => {
                    s.parse::<Severity>().ok().map(|severity| {
                        Ok(VendorRating {
                            source,
                            package,
                            release,
                            rating,
                            severity,
                        })
                    })
                }
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let kev = self
            .conn
            .prepare_cached("SELECT date_added, due_date, ransomware FROM kev WHERE cve = ?1")?
            .query_row([cve], |r| {
                Ok(KnownExploited {
                    date_added: r.get(0)?,
                    due_date: r.get(1)?,
                    ransomware: r.get(2)?,
                })
            })
            .optional()?;
        let epss = self
            .conn
            .prepare_cached("SELECT score, percentile FROM epss WHERE cve = ?1")?
            .query_row([cve], |r| {
                Ok(Epss {
                    score: r.get(0)?,
                    percentile: r.get(1)?,
                })
            })
            .optional()?;
        let e = CveEnrichment {
            nvd,
            vendor,
            kev,
            epss,
        };
        Ok((!e.is_empty()).then_some(e))
    }
}

/// Where a batch of imported records came from, for the `ecosystems` table.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// A path or URL.
    pub label: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What [`Builder::add`] did with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// Stored under these ecosystem bases; `replaced` when a record with that id existed.
    Stored {
        ecosystems: Vec<&'static str>,
        replaced: bool,
    },
    /// Not stored: no package in a known ecosystem. The unknown ecosystem bases it named (empty
    /// when it named no package at all).
    Skipped { unknown: Vec<String> },
}

/// A validated record reduced to what the database stores: its index keys and compact JSON. Made
/// by the parsing thread of an import so that the writing thread only inserts.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: String,
    /// (ecosystem base, normalised name), sorted and deduplicated.
    pub keys: Vec<(&'static str, String)>,
    /// Unknown ecosystem bases (only filled when `keys` is empty: the record is skipped).
    pub unknown: Vec<String>,
    /// Aliases other than the id, sorted and deduplicated.
    pub aliases: Vec<String>,
    /// zstd-compressed compact JSON.
    pub json: Vec<u8>,
}

impl Prepared {
    pub fn new(adv: &Advisory) -> anyhow::Result<Prepared> {
        let mut zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL).context("starting zstd")?;
        Prepared::with_compressor(adv, &mut zstd)
    }

    /// As [`Prepared::new`], reusing a compressor (one per import thread).
    pub fn with_compressor(
        adv: &Advisory,
        zstd: &mut zstd::bulk::Compressor<'_>,
    ) -> anyhow::Result<Prepared> {
        let mut keys: Vec<(&'static str, String)> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        for p in adv.affected.iter().filter_map(|a| a.package.as_ref()) {
            let raw = Advisory::ecosystem_base(&p.ecosystem).trim();
            match canonical_base(raw) {
                Some(base) => keys.push((base, normalize_name(base, p.name.trim()))),
                None => unknown.push(raw.to_string()),
            }
        }
        keys.sort();
        keys.dedup();
        let id = adv.id.trim().to_string();
        if keys.is_empty() {
            unknown.sort();
            unknown.dedup();
            return Ok(Prepared {
                id,
                keys,
                unknown,
                aliases: Vec::new(),
                json: Vec::new(),
            });
        }
        let mut aliases: Vec<String> = adv
            .aliases
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty() && *a != id)
            .map(str::to_string)
            .collect();
        aliases.sort_unstable();
        aliases.dedup();
        let json =
            serde_json::to_vec(adv).with_context(|| format!("serialising advisory {}", adv.id))?;
        let json = zstd
            .compress(&json)
            .with_context(|| format!("compressing advisory {}", adv.id))?;
        Ok(Prepared {
            id,
            keys,
            unknown: Vec::new(),
            aliases,
            json,
        })
    }
}

/// Writes a new database file beside the live one; [`Builder::finish`] swaps it in. Dropping an
/// unfinished builder deletes the new file, leaving the live database untouched.
pub struct Builder {
    conn: Option<Connection>,
    aside: PathBuf,
    target: PathBuf,
    /// The aside file started as a copy of the live database.
    from_existing: bool,
    id_indexes: bool,
    seen: HashSet<String>,
    touched: BTreeMap<&'static str, BTreeSet<usize>>,
    origins: Vec<Origin>,
    pub warnings: Vec<String>,
    /// Held from before the copy until after the rename: imports (and scans' auto-updates) of the
    /// same database run one after the other, each starting from the previous one's result.
    /// SQLite's file lock, so a killed import releases it.
    _lock: Connection,
}

/// Name of the lock file in the db dir.
pub const LOCK_FILE: &str = ".import.lock";

/// How long an import waits for another one to finish.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1800);

/// Is an import into `dir` running right now (its lock held)? Never waits, never creates the lock.
pub(crate) fn import_running(dir: &Path) -> bool {
    let path = dir.join(LOCK_FILE);
    if crate::limits::is_regular_file(&path) != Some(true) {
        return false;
    }
    let Ok(conn) = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE) else {
        return true;
    };
    let _ = conn.busy_timeout(std::time::Duration::ZERO);
    match conn.execute_batch("BEGIN EXCLUSIVE") {
        Ok(()) => {
            let _ = conn.execute_batch("ROLLBACK");
            false
        }
        Err(_) => true,
    }
}

fn lock_dir(dir: &Path) -> anyhow::Result<Connection> {
    let path = dir.join(LOCK_FILE);
    let ctx = || {
        format!(
            "waiting for another import into {} to finish (lock {})",
            dir.display(),
            path.display()
        )
    };
    let lock = Connection::open(&path).with_context(ctx)?;
    lock.busy_timeout(LOCK_WAIT).with_context(ctx)?;
    lock.execute_batch("BEGIN EXCLUSIVE").with_context(ctx)?;
    Ok(lock)
}

impl Builder {
    /// Start from a copy of the live database at `target` (when it exists and is ours) or a fresh
    /// file.
    pub fn start(target: &Path) -> anyhow::Result<Builder> {
        let dir = target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        super::ensure_dir(&dir)?;
        let lock = lock_dir(&dir)?;
        super::remove_leftovers(&dir);
        let stamp = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let aside = dir.join(format!(
            ".advisories.sqlite.tmp-{}-{stamp}",
            std::process::id()
        ));
        let mut warnings = Vec::new();
        let mut from_existing = false;
        if target.exists() {
            match SqliteStore::open(target) {
                Ok(store) => {
                    drop(store);
                    std::fs::copy(target, &aside).with_context(|| {
                        format!(
                            "copying the advisory database {} to {}",
                            target.display(),
                            aside.display()
                        )
                    })?;
                    from_existing = true;
                }
                Err(e) => warnings.push(format!(
                    "the existing database is replaced by a fresh one: {e:#}"
                )),
            }
        }
        let mut builder = Builder {
            conn: None,
            aside: aside.clone(),
            target: target.to_path_buf(),
            from_existing,
            id_indexes: from_existing,
            seen: HashSet::new(),
            touched: BTreeMap::new(),
            origins: Vec::new(),
            warnings,
            _lock: lock,
        };
        let conn = Connection::open(&aside)
            .with_context(|| format!("creating the database file {}", aside.display()))?;
        let ctx = || format!("preparing the database file {}", aside.display());
        conn.execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -65536; PRAGMA locking_mode = EXCLUSIVE;",
        )
        .with_context(ctx)?;
        conn.set_prepared_statement_cache_capacity(32);
        if !from_existing {
            conn.execute_batch(CREATE_TABLES).with_context(ctx)?;
        }
        conn.execute_batch("BEGIN").with_context(ctx)?;
        // Upgrades a version-2 copy in place (inside the transaction: all or nothing).
        conn.execute_batch(CREATE_FEED_TABLES).with_context(ctx)?;
        conn.execute(
            "INSERT INTO info (key, value) VALUES ('schema_version', ?1) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [SCHEMA_VERSION],
        )
        .with_context(ctx)?;
        builder.conn = Some(conn);
        Ok(builder)
    }

    fn conn(&self) -> anyhow::Result<&Connection> {
        self.conn
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the database builder is closed"))
    }

    /// Register where the next records come from; pass the returned index to [`Builder::add`].
    pub fn origin(&mut self, origin: Origin) -> usize {
        self.origins.push(origin);
        self.origins.len() - 1
    }

    fn ensure_id_indexes(&mut self) -> anyhow::Result<()> {
        if !self.id_indexes {
            self.conn()?
                .execute_batch(CREATE_ID_INDEXES)
                .context("indexing the new database")?;
            self.id_indexes = true;
        }
        Ok(())
    }

    /// Drop every record indexed under `base` (an update replaces an ecosystem wholesale, so records
    /// withdrawn from the export disappear). Returns how many records were removed.
    pub fn clear_ecosystem(&mut self, base: &'static str) -> anyhow::Result<u64> {
        if !self.from_existing && self.seen.is_empty() {
            return Ok(0);
        }
        self.ensure_id_indexes()?;
        let conn = self.conn()?;
        let ctx = || format!("removing the old {base} records");
        let removed = conn
            .execute(
                "DELETE FROM advisories WHERE id IN (SELECT id FROM affected WHERE ecosystem = ?1)",
                [base],
            )
            .with_context(ctx)?;
        conn.execute(
            "DELETE FROM aliases WHERE id IN (SELECT id FROM affected WHERE ecosystem = ?1)",
            [base],
        )
        .with_context(ctx)?;
        conn.execute(
            "DELETE FROM affected WHERE id IN (SELECT id FROM affected WHERE ecosystem = ?1)",
            [base],
        )
        .with_context(ctx)?;
        self.touched.entry(base).or_default();
        Ok(removed as u64)
    }

    /// Start importing a feed file. A whole feed (Debian, KEV, EPSS) replaces what the database
    /// had of that feed.
    pub fn begin_feed(&mut self, kind: FeedKind) -> anyhow::Result<()> {
        if !kind.is_whole() {
            return Ok(());
        }
        let conn = self.conn()?;
        let ctx = || format!("removing the old {} rows", kind.describe());
        let sql = match kind {
            FeedKind::Debian => "DELETE FROM vendor_severity WHERE source = 'debian'",
            FeedKind::Kev => "DELETE FROM kev",
            FeedKind::Epss => "DELETE FROM epss",
            FeedKind::Nvd => return Ok(()),
        };
        conn.execute(sql, []).with_context(ctx)?;
        conn.execute("DELETE FROM feeds WHERE kind = ?1", [kind.as_str()])
            .with_context(ctx)?;
        Ok(())
    }

    /// Store (or update) one NVD CVE. Of two versions of a CVE (a per-year file and the
    /// `modified` file, in either order), the one with the later `lastModified` is kept; a
    /// `Rejected` CVE removes the row.
    pub fn add_nvd(&mut self, c: &NvdCve) -> anyhow::Result<()> {
        let conn = self.conn()?;
        let ctx = || format!("storing NVD data for {}", c.id);
        if c.rejected {
            conn.prepare_cached(
                "DELETE FROM nvd WHERE cve = ?1 AND (last_modified IS NULL OR ?2 IS NULL \
                 OR last_modified <= ?2)",
            )?
            .execute(params![c.id, c.last_modified])
            .with_context(ctx)?;
            return Ok(());
        }
        let v = |x: &Option<Cvss>| {
            x.as_ref().map(|c| {
                (
                    c.vector.clone(),
                    c.score,
                    c.severity.map(|s| s.as_str().to_string()),
                )
            })
        };
        let (v2, v3, v40) = (v(&c.v2), v(&c.v3), v(&c.v40));
        let cwes = (!c.cwes.is_empty()).then(|| c.cwes.join(","));
        conn.prepare_cached(
            "INSERT INTO nvd (cve, published, last_modified, v2_vector, v2_score, v2_severity, \
             v3_vector, v3_score, v3_severity, v40_vector, v40_score, v40_severity, cwes) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT(cve) DO UPDATE SET published = excluded.published, \
             last_modified = excluded.last_modified, v2_vector = excluded.v2_vector, \
             v2_score = excluded.v2_score, v2_severity = excluded.v2_severity, \
             v3_vector = excluded.v3_vector, v3_score = excluded.v3_score, \
             v3_severity = excluded.v3_severity, v40_vector = excluded.v40_vector, \
             v40_score = excluded.v40_score, v40_severity = excluded.v40_severity, \
             cwes = excluded.cwes \
             WHERE nvd.last_modified IS NULL OR excluded.last_modified IS NULL \
             OR excluded.last_modified >= nvd.last_modified",
        )?
        .execute(params![
            c.id,
            c.published,
            c.last_modified,
            v2.as_ref().map(|x| &x.0),
            v2.as_ref().map(|x| x.1),
            v2.as_ref().and_then(|x| x.2.as_ref()),
            v3.as_ref().map(|x| &x.0),
            v3.as_ref().map(|x| x.1),
            v3.as_ref().and_then(|x| x.2.as_ref()),
            v40.as_ref().map(|x| &x.0),
            v40.as_ref().map(|x| x.1),
            v40.as_ref().and_then(|x| x.2.as_ref()),
            cwes,
        ])
        .with_context(ctx)?;
        Ok(())
    }

    pub fn add_debian(&mut self, r: &DebianRating) -> anyhow::Result<()> {
        self.conn()?
            .prepare_cached(
                "INSERT OR REPLACE INTO vendor_severity (cve, source, package, release, rating, severity) \
                 VALUES (?1, 'debian', ?2, ?3, ?4, ?5)",
            )?
            .execute(params![r.cve, r.package, r.release, r.urgency, r.severity.as_str()])
            .with_context(|| format!("storing Debian's rating of {} in {}", r.cve, r.package))?;
        Ok(())
    }

    pub fn add_kev(&mut self, e: &KevEntry) -> anyhow::Result<()> {
        self.conn()?
            .prepare_cached(
                "INSERT OR REPLACE INTO kev (cve, date_added, due_date, ransomware, name) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                e.cve,
                e.date_added,
                e.due_date,
                e.ransomware,
                e.name
            ])
            .with_context(|| format!("storing the KEV entry of {}", e.cve))?;
        Ok(())
    }

    pub fn add_epss(&mut self, r: &EpssRow) -> anyhow::Result<()> {
        self.conn()?
            .prepare_cached(
                "INSERT OR REPLACE INTO epss (cve, score, percentile) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![r.cve, r.score, r.percentile])
            .with_context(|| format!("storing the EPSS score of {}", r.cve))?;
        Ok(())
    }

    /// Record a finished feed file in the `feeds` table.
    pub fn end_feed(
        &mut self,
        kind: FeedKind,
        name: &str,
        records: u64,
        origin: usize,
        version: Option<&str>,
    ) -> anyhow::Result<()> {
        let o = self.origins.get(origin).cloned().unwrap_or_default();
        let now = now_rfc3339();
        self.conn()?
            .execute(
                "INSERT OR REPLACE INTO feeds (name, kind, records, source, etag, last_modified, \
                 version, imported_at, checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![
                    name,
                    kind.as_str(),
                    records as i64,
                    o.label,
                    o.etag,
                    o.last_modified,
                    version,
                    now
                ],
            )
            .with_context(|| format!("recording the import of {name}"))?;
        Ok(())
    }

    /// Store one validated record from `origin`.
    pub fn add(&mut self, adv: &Advisory, origin: usize) -> anyhow::Result<AddOutcome> {
        let prepared = Prepared::new(adv)?;
        self.add_prepared(&prepared, origin)
    }

    /// Store a record [`Prepared`] (possibly on another thread) from `origin`.
    pub fn add_prepared(&mut self, rec: &Prepared, origin: usize) -> anyhow::Result<AddOutcome> {
        let keys = &rec.keys;
        if keys.is_empty() {
            return Ok(AddOutcome::Skipped {
                unknown: rec.unknown.clone(),
            });
        }
        let json = rec.json.as_slice();
        let id = rec.id.as_str();
        let mut replaced = false;
        let repeat = self.seen.contains(id);
        if self.from_existing || repeat {
            self.ensure_id_indexes()?;
            let conn = self.conn()?;
            let n = conn
                .prepare_cached("DELETE FROM advisories WHERE id = ?1")?
                .execute([id])?;
            conn.prepare_cached("DELETE FROM affected WHERE id = ?1")?
                .execute([id])?;
            conn.prepare_cached("DELETE FROM aliases WHERE id = ?1")?
                .execute([id])?;
            replaced = n > 0;
        }
        let conn = self.conn()?;
        let ctx = || format!("storing advisory {id}");
        conn.prepare_cached("INSERT INTO advisories (id, json) VALUES (?1, ?2)")?
            .execute(params![id, json])
            .with_context(ctx)?;
        {
            let mut ins = conn
                .prepare_cached("INSERT INTO affected (ecosystem, name, id) VALUES (?1, ?2, ?3)")?;
            for (base, name) in keys {
                ins.execute(params![base, name, id]).with_context(ctx)?;
            }
        }
        {
            let mut ins = conn.prepare_cached("INSERT INTO aliases (alias, id) VALUES (?1, ?2)")?;
            for alias in &rec.aliases {
                ins.execute(params![alias, id]).with_context(ctx)?;
            }
        }
        if !repeat {
            self.seen.insert(id.to_string());
        }
        let ecosystems: Vec<&'static str> = {
            let mut v: Vec<&'static str> = keys.iter().map(|(b, _)| *b).collect();
            v.dedup();
            v
        };
        for base in &ecosystems {
            self.touched.entry(base).or_default().insert(origin);
        }
        Ok(AddOutcome::Stored {
            ecosystems,
            replaced,
        })
    }

    /// Build the indexes, write the per-ecosystem metadata, and atomically replace the live
    /// database with the new file. Returns the status of the new database.
    pub fn finish(mut self) -> anyhow::Result<DbStatus> {
        let now = now_rfc3339();
        {
            let conn = self.conn()?;
            let ctx = || "indexing the new advisory database".to_string();
            conn.execute_batch(CREATE_ID_INDEXES).with_context(ctx)?;
            conn.execute_batch(CREATE_LOOKUP_INDEXES)
                .with_context(ctx)?;
            let counts: Vec<(String, i64)> = conn
                .prepare("SELECT ecosystem, COUNT(DISTINCT id) FROM affected GROUP BY ecosystem")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
                .with_context(ctx)?;
            let counts: BTreeMap<String, i64> = counts.into_iter().collect();
            conn.execute(
                "UPDATE ecosystems SET records = 0 WHERE ecosystem NOT IN \
                 (SELECT DISTINCT ecosystem FROM affected)",
                [],
            )?;
            for (eco, n) in &counts {
                conn.execute(
                    "INSERT INTO ecosystems (ecosystem, records) VALUES (?1, ?2) \
                     ON CONFLICT(ecosystem) DO UPDATE SET records = excluded.records",
                    params![eco, n],
                )?;
            }
            for (base, origins) in &self.touched {
                let labels: Vec<&str> = origins
                    .iter()
                    .filter_map(|&i| self.origins.get(i))
                    .map(|o| o.label.as_str())
                    .collect();
                // Conditional-download validators only mean something for one whole export.
                let (etag, last_modified) = match origins.iter().next() {
                    Some(&i) if origins.len() == 1 => self
                        .origins
                        .get(i)
                        .map(|o| (o.etag.clone(), o.last_modified.clone()))
                        .unwrap_or_default(),
                    _ => (None, None),
                };
                let records = counts.get(*base).copied().unwrap_or(0);
                conn.execute(
                    "INSERT INTO ecosystems (ecosystem, records, source, etag, last_modified, imported_at, checked_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
                     ON CONFLICT(ecosystem) DO UPDATE SET records = excluded.records, \
                     source = excluded.source, etag = excluded.etag, \
                     last_modified = excluded.last_modified, imported_at = excluded.imported_at, \
                     checked_at = excluded.checked_at",
                    params![base, records, labels.join(", "), etag, last_modified, now],
                )?;
            }
            conn.execute("DELETE FROM ecosystems WHERE records = 0", [])?;
            conn.execute(
                "INSERT INTO info (key, value) VALUES ('records', \
                 (SELECT CAST(COUNT(*) AS TEXT) FROM advisories)) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [],
            )?;
            for table in FEED_TABLES {
                conn.execute(
                    &format!(
                        "INSERT INTO info (key, value) VALUES ('rows:{table}', \
                         (SELECT CAST(COUNT(*) AS TEXT) FROM {table})) \
                         ON CONFLICT(key) DO UPDATE SET value = excluded.value"
                    ),
                    [],
                )?;
            }
            conn.execute_batch("COMMIT").with_context(ctx)?;
        }
        let conn = self
            .conn
            .take()
            .ok_or_else(|| anyhow::anyhow!("the database builder is closed"))?;
        conn.close()
            .map_err(|(_, e)| e)
            .with_context(|| format!("closing {}", self.aside.display()))?;
        std::fs::File::open(&self.aside)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", self.aside.display()))?;
        std::fs::rename(&self.aside, &self.target).with_context(|| {
            format!(
                "replacing the advisory database {} with {}",
                self.target.display(),
                self.aside.display()
            )
        })?;
        if let Some(dir) = self.target.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        status_at(&self.target)?
            .ok_or_else(|| anyhow::anyhow!("{} vanished", self.target.display()))
    }
}

impl Drop for Builder {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn);
            let _ = std::fs::remove_file(&self.aside);
        }
    }
}

/// Record that an update found these ecosystems' exports unchanged (a small in-place transaction;
/// SQLite's journal makes it atomic).
pub fn mark_checked(path: &Path, bases: &[&str]) -> anyhow::Result<()> {
    touch_checked(
        path,
        "UPDATE ecosystems SET checked_at = ?1 WHERE ecosystem = ?2",
        bases,
    )
}

/// Record that an update found these feed files unchanged (HTTP 304).
pub fn mark_feeds_checked(path: &Path, names: &[&str]) -> anyhow::Result<()> {
    touch_checked(
        path,
        "UPDATE feeds SET checked_at = ?1 WHERE name = ?2",
        names,
    )
}

/// Set `checked_at` to now for each key, with `sql` taking (now, key), in one transaction.
fn touch_checked(path: &Path, sql: &str, keys: &[&str]) -> anyhow::Result<()> {
    if keys.is_empty() || !path.exists() {
        return Ok(());
    }
    let ctx = || format!("updating the advisory database {}", path.display());
    let mut conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).with_context(ctx)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .with_context(ctx)?;
    let tx = conn.transaction().with_context(ctx)?;
    let now = now_rfc3339();
    for key in keys {
        tx.execute(sql, params![now, key]).with_context(ctx)?;
    }
    tx.commit().with_context(ctx)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::AdvisoryStore;

    fn rec(json: &str) -> Advisory {
        Advisory::from_json(json.as_bytes()).unwrap()
    }

    fn build(path: &Path, recs: &[&str]) -> DbStatus {
        let mut b = Builder::start(path).unwrap();
        let o = b.origin(Origin {
            label: "test".into(),
            ..Origin::default()
        });
        for r in recs {
            b.add(&rec(r), o).unwrap();
        }
        b.finish().unwrap()
    }

    #[test]
    fn build_then_lookup_by_name_id_alias() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db").join("advisories.sqlite");
        let st = build(
            &path,
            &[
                r#"{"id":"PYSEC-1","aliases":["CVE-1","GHSA-1"],"affected":[{"package":{"ecosystem":"PyPI","name":"Jinja2"}}]}"#,
                r#"{"id":"DEBIAN-1","affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"}},{"package":{"ecosystem":"Debian:11","name":"openssl"}}]}"#,
                r#"{"id":"GO-1","affected":[{"package":{"ecosystem":"Go","name":"x"}}]}"#,
            ],
        );
        assert_eq!(st.total_records, 2);
        let counts: Vec<(String, u64)> = st
            .ecosystems
            .iter()
            .map(|e| (e.ecosystem.clone(), e.records))
            .collect();
        assert_eq!(
            counts,
            vec![("Debian".to_string(), 1), ("PyPI".to_string(), 1)]
        );
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.advisories_for("PyPI", "jinja2").unwrap().len(), 1);
        assert_eq!(store.advisories_for("pypi", "JINJA2").unwrap().len(), 1);
        assert_eq!(store.advisories_for("Debian", "openssl").unwrap().len(), 1);
        assert!(store.advisories_for("Go", "x").unwrap().is_empty());
        assert_eq!(
            store.advisory_by_id("GHSA-1").unwrap().map(|a| a.id),
            Some("PYSEC-1".into())
        );
        assert!(store.advisory_by_id("GO-1").unwrap().is_none());
        // No leftovers in the db dir.
        let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names.iter().filter(|n| *n != LOCK_FILE).collect::<Vec<_>>(),
            vec!["advisories.sqlite"]
        );
    }

    #[test]
    fn reimport_replaces_by_id_including_index_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("advisories.sqlite");
        build(
            &path,
            &[
                r#"{"id":"A","aliases":["CVE-A"],"affected":[{"package":{"ecosystem":"PyPI","name":"old"}}]}"#,
            ],
        );
        let st = build(
            &path,
            &[
                r#"{"id":"A","aliases":["CVE-B"],"affected":[{"package":{"ecosystem":"PyPI","name":"new"}}]}"#,
                r#"{"id":"B","affected":[{"package":{"ecosystem":"PyPI","name":"new"}}]}"#,
            ],
        );
        assert_eq!(st.total_records, 2);
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.advisories_for("PyPI", "old").unwrap().is_empty());
        assert_eq!(store.advisories_for("PyPI", "new").unwrap().len(), 2);
        assert!(store.advisory_by_id("CVE-A").unwrap().is_none());
        assert!(store.advisory_by_id("CVE-B").unwrap().is_some());
    }

    #[test]
    fn duplicate_ids_within_one_fresh_import_keep_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("advisories.sqlite");
        let st = build(
            &path,
            &[
                r#"{"id":"A","affected":[{"package":{"ecosystem":"PyPI","name":"x"}}]}"#,
                r#"{"id":"A","affected":[{"package":{"ecosystem":"PyPI","name":"y"}}]}"#,
            ],
        );
        assert_eq!(st.total_records, 1);
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.advisories_for("PyPI", "x").unwrap().is_empty());
        assert_eq!(store.advisories_for("PyPI", "y").unwrap().len(), 1);
    }

    #[test]
    fn an_unfinished_builder_leaves_the_live_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("advisories.sqlite");
        build(
            &path,
            &[r#"{"id":"A","affected":[{"package":{"ecosystem":"PyPI","name":"x"}}]}"#],
        );
        let before = std::fs::read(&path).unwrap();
        {
            let mut b = Builder::start(&path).unwrap();
            let o = b.origin(Origin::default());
            b.add(
                &rec(r#"{"id":"B","affected":[{"package":{"ecosystem":"PyPI","name":"y"}}]}"#),
                o,
            )
            .unwrap();
            b.clear_ecosystem("PyPI").unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != LOCK_FILE)
            .collect();
        assert_eq!(left, vec!["advisories.sqlite"]);
    }

    #[test]
    fn clear_ecosystem_drops_only_that_ecosystem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("advisories.sqlite");
        build(
            &path,
            &[
                r#"{"id":"A","affected":[{"package":{"ecosystem":"PyPI","name":"x"}}]}"#,
                r#"{"id":"D","affected":[{"package":{"ecosystem":"Debian:12","name":"x"}}]}"#,
            ],
        );
        let mut b = Builder::start(&path).unwrap();
        assert_eq!(b.clear_ecosystem("PyPI").unwrap(), 1);
        let st = b.finish().unwrap();
        assert_eq!(st.total_records, 1);
        assert_eq!(st.ecosystems.len(), 1);
        assert_eq!(st.ecosystems[0].ecosystem, "Debian");
    }

    #[test]
    fn not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("advisories.sqlite");
        std::fs::write(&path, b"hello").unwrap();
        let err = format!("{:#}", SqliteStore::open(&path).unwrap_err());
        assert!(err.contains("advisories.sqlite"), "{err}");
    }

    #[test]
    fn concurrent_imports_run_one_after_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("advisories.sqlite");
        build(
            &path,
            &[r#"{"id":"A","affected":[{"package":{"ecosystem":"PyPI","name":"a"}}]}"#],
        );
        let mut first = Builder::start(&path).unwrap();
        let o = first.origin(Origin::default());
        let p2 = path.clone();
        // The second import starts while the first holds the lock; it must copy the database
        // only after the first has swapped its result in, or B would be lost.
        let second = std::thread::spawn(move || {
            build(
                &p2,
                &[r#"{"id":"C","affected":[{"package":{"ecosystem":"PyPI","name":"c"}}]}"#],
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        first
            .add(
                &rec(r#"{"id":"B","affected":[{"package":{"ecosystem":"PyPI","name":"b"}}]}"#),
                o,
            )
            .unwrap();
        first.finish().unwrap();
        let st = second.join().unwrap();
        assert_eq!(st.total_records, 3);
        let store = SqliteStore::open(&path).unwrap();
        for n in ["a", "b", "c"] {
            assert_eq!(store.advisories_for("PyPI", n).unwrap().len(), 1, "{n}");
        }
    }

    #[test]
    fn staleness() {
        let now = OffsetDateTime::now_utc();
        let fmt = |t: OffsetDateTime| Some(t.format(&Rfc3339).unwrap());
        let mut e = EcosystemStatus {
            ecosystem: "PyPI".into(),
            records: 1,
            source: None,
            etag: None,
            last_modified: None,
            imported_at: fmt(now - time::Duration::hours(30)),
            checked_at: None,
        };
        assert!(e.is_stale(now));
        e.checked_at = fmt(now - time::Duration::hours(1));
        assert!(!e.is_stale(now));
        e.imported_at = None;
        e.checked_at = None;
        assert!(e.is_stale(now));
    }
}
