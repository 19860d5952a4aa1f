//! `db import`: OSV records from export zips (`<ID>.json` entries, read one entry at a time straight
//! from the zip, never unpacked to disk), directories of `.json` files (recursive) and single records,
//! into a new database that replaces the live one only when every record was valid.
//!
//! The enrichment feeds ([`super::feeds`]: NVD JSON 2.0, Debian tracker JSON, CISA KEV, FIRST EPSS,
//! gzipped or not) are imported the same way and in the same transaction. A file given by path is
//! recognised by its content; inside a directory, files named like the feeds
//! ([`super::feeds::name_looks_like_feed`]) are feeds and every other `*.json` is an OSV record.

use super::feeds::{self, FeedKind};
use super::sqlite::{AddOutcome, Builder, DbStatus, Origin, Prepared};
use crate::advisory::{Advisory, AdvisoryError};
use crate::unpack::read_up_to;
use anyhow::Context;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Larger records are refused (the largest real OSV records are a few MB).
pub const MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// One thing to import, and where its records should be said to come from.
#[derive(Debug, Clone)]
pub struct ImportInput {
    pub path: PathBuf,
    pub origin: Origin,
    /// Replace every record of this ecosystem base (a full export being refreshed).
    pub replace: Option<&'static str>,
    /// The name a feed file is recorded under (`db update` downloads to temporary names);
    /// default: from the path ([`feeds::record_name`]).
    pub feed_name: Option<String>,
}

impl ImportInput {
    /// A path given on the command line: its origin is the path itself.
    pub fn path(path: PathBuf) -> ImportInput {
        let label = std::fs::canonicalize(&path)
            .unwrap_or_else(|_| path.clone())
            .display()
            .to_string();
        ImportInput {
            path,
            origin: Origin {
                label,
                ..Origin::default()
            },
            replace: None,
            feed_name: None,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    /// Records stored (new or replacing one with the same id).
    pub imported: u64,
    /// Of those, how many replaced an existing record.
    pub replaced: u64,
    /// Records removed because their ecosystem was refreshed wholesale (`db update`).
    pub removed: u64,
    /// Records stored per ecosystem base in this import.
    pub per_ecosystem: BTreeMap<String, u64>,
    /// Records skipped per unknown ecosystem base.
    pub unknown_ecosystems: BTreeMap<String, u64>,
    /// Records skipped because they name no package at all.
    pub without_packages: u64,
    /// Zip entries that are not `.json` files.
    pub other_entries: u64,
    /// Feed files and rows imported, per feed.
    pub feeds: BTreeMap<FeedKind, FeedTally>,
    /// The database afterwards.
    pub status: DbStatus,
    pub warnings: Vec<String>,
}

impl ImportSummary {
    pub fn unknown_total(&self) -> u64 {
        self.unknown_ecosystems.values().sum()
    }
}

/// Where a record was read from, for error messages.
struct Place<'a> {
    file: &'a Path,
    entry: Option<&'a str>,
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.entry {
            Some(e) => write!(f, "{}, zip entry {e}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// Counts kept by the writing side.
#[derive(Default)]
struct Tally {
    imported: u64,
    replaced: u64,
    per_ecosystem: BTreeMap<String, u64>,
    unknown: BTreeMap<String, u64>,
    without_packages: u64,
    feeds: BTreeMap<FeedKind, FeedTally>,
}

/// What an import took from one feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedTally {
    pub files: u64,
    /// CVEs (NVD, KEV, EPSS) or ratings (Debian: CVE × package × release).
    pub records: u64,
}

/// Import `inputs` into the database at `db_path` atomically: on any error the database file is
/// left exactly as it was.
///
/// Each input is read, parsed and validated on a reader thread while this thread writes to SQLite,
/// so the two halves of the work overlap.
pub fn import(db_path: &Path, inputs: &[ImportInput]) -> anyhow::Result<ImportSummary> {
    for input in inputs {
        if !input.path.exists() {
            anyhow::bail!(
                "{}: no such file or directory; the advisory database was not changed",
                input.path.display()
            );
        }
    }
    let mut builder = Builder::start(db_path)?;
    let mut tally = Tally::default();
    let mut removed = 0;
    let mut other_entries = 0;
    for input in inputs {
        if let Some(base) = input.replace {
            removed += builder.clear_ecosystem(base)?;
        }
        let origin = builder.origin(input.origin.clone());
        other_entries += import_one(&mut builder, &mut tally, input, origin)
            .context("the advisory database was not changed")?;
    }
    let warnings = builder.warnings.clone();
    let status = builder.finish()?;
    Ok(ImportSummary {
        imported: tally.imported,
        replaced: tally.replaced,
        removed,
        per_ecosystem: tally.per_ecosystem,
        unknown_ecosystems: tally.unknown,
        without_packages: tally.without_packages,
        other_entries,
        feeds: tally.feeds,
        status,
        warnings,
    })
}

/// Read one input on a reader thread and store its records; returns the count of ignored
/// non-JSON zip entries.
fn import_one(
    builder: &mut Builder,
    tally: &mut Tally,
    input: &ImportInput,
    origin: usize,
) -> anyhow::Result<u64> {
    let path = input.path.as_path();
    let feed_name = input.feed_name.clone();
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Item>(1024);
        let reader = scope.spawn(move || {
            let mut r = Reader {
                tx,
                buf: Vec::with_capacity(64 * 1024),
                other_entries: 0,
                stopped: false,
                zstd: zstd::bulk::Compressor::new(3).ok(),
                feed_name,
            };
            let res = r.input(path);
            (res, r.other_entries)
        });
        let written = write_all(builder, tally, rx, origin);
        let (read, other) = reader
            .join()
            .map_err(|_| anyhow::anyhow!("reading {} crashed", path.display()))?;
        // A write error stops the reader (its channel closes), so report the write error first.
        written?;
        read?;
        Ok(other)
    })
}

/// What the reader sends the writer.
enum Item {
    /// An OSV record and where it came from.
    Record {
        place: String,
        rec: Prepared,
    },
    Feed(FeedRow),
}

/// One step of a feed file's import.
enum FeedRow {
    Begin(FeedKind),
    Nvd(feeds::nvd::NvdCve),
    Debian(feeds::debian::DebianRating),
    Kev(feeds::kev::KevEntry),
    Epss(feeds::epss::EpssRow),
    End {
        kind: FeedKind,
        name: String,
        records: u64,
        version: Option<String>,
    },
}

fn write_all(
    builder: &mut Builder,
    tally: &mut Tally,
    rx: std::sync::mpsc::Receiver<Item>,
    origin: usize,
) -> anyhow::Result<()> {
    for item in rx {
        let (place, rec) = match item {
            Item::Record { place, rec } => (place, rec),
            Item::Feed(row) => {
                write_feed_row(builder, tally, row, origin)?;
                continue;
            }
        };
        let outcome = builder
            .add_prepared(&rec, origin)
            .with_context(|| format!("{place}: record {}", rec.id))?;
        match outcome {
            AddOutcome::Stored {
                ecosystems,
                replaced,
            } => {
                tally.imported += 1;
                if replaced {
                    tally.replaced += 1;
                }
                for e in ecosystems {
                    *tally.per_ecosystem.entry(e.to_string()).or_default() += 1;
                }
            }
            AddOutcome::Skipped { unknown } => {
                if unknown.is_empty() {
                    tally.without_packages += 1;
                }
                for u in unknown {
                    let u = if u.is_empty() {
                        "(empty)".to_string()
                    } else {
                        u
                    };
                    *tally.unknown.entry(u).or_default() += 1;
                }
            }
        }
    }
    Ok(())
}

fn write_feed_row(
    builder: &mut Builder,
    tally: &mut Tally,
    row: FeedRow,
    origin: usize,
) -> anyhow::Result<()> {
    match row {
        FeedRow::Begin(kind) => builder.begin_feed(kind),
        FeedRow::Nvd(c) => builder.add_nvd(&c),
        FeedRow::Debian(r) => builder.add_debian(&r),
        FeedRow::Kev(e) => builder.add_kev(&e),
        FeedRow::Epss(r) => builder.add_epss(&r),
        FeedRow::End {
            kind,
            name,
            records,
            version,
        } => {
            let t = tally.feeds.entry(kind).or_default();
            t.files += 1;
            t.records += records;
            builder.end_feed(kind, &name, records, origin, version.as_deref())
        }
    }
}

fn is_json_name(name: &str) -> bool {
    name.len() > 5
        && name
            .get(name.len() - 5..)
            .is_some_and(|s| s.eq_ignore_ascii_case(".json"))
}

/// The reading half: walks an input, parses and validates each record, sends it to the writer.
struct Reader {
    tx: std::sync::mpsc::SyncSender<Item>,
    buf: Vec<u8>,
    other_entries: u64,
    /// The writer hung up (it failed): stop quietly, its error is the one reported.
    stopped: bool,
    /// Reused for every record (a fresh zstd context per record is measurable at 200k records).
    zstd: Option<zstd::bulk::Compressor<'static>>,
    /// [`ImportInput::feed_name`].
    feed_name: Option<String>,
}

impl Reader {
    fn input(&mut self, path: &Path) -> anyhow::Result<()> {
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if meta.is_dir() {
            return self.dir(path);
        }
        let mut f =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut f, &mut magic)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06") {
            return self.zip(path, f);
        }
        let prefix =
            feeds::prefix_of(path).with_context(|| format!("reading {}", path.display()))?;
        if let Some(kind) = feeds::sniff(&prefix) {
            return self.feed(kind, path);
        }
        if n >= 2 && magic.get(..2) == Some(&[0x1f, 0x8b][..]) {
            anyhow::bail!(
                "{}: a gzip file that is none of the feeds layerscan imports (NVD CVE JSON 2.0, \
                 Debian security tracker JSON, CISA KEV JSON, FIRST EPSS CSV)",
                path.display()
            );
        }
        let named_zip = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if named_zip {
            anyhow::bail!(
                "{} is not a zip file (an OSV export such as PyPI/all.zip starts with PK); is the \
                 download truncated or an error page?",
                path.display()
            );
        }
        self.buf.clear();
        self.buf
            .extend_from_slice(magic.get(..n).unwrap_or_default());
        (&mut f)
            .take(MAX_RECORD_BYTES)
            .read_to_end(&mut self.buf)
            .with_context(|| format!("reading {}", path.display()))?;
        let place = Place {
            file: path,
            entry: None,
        };
        self.record(&place, path)
    }

    fn dir(&mut self, dir: &Path) -> anyhow::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading directory {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading directory {}", dir.display()))?;
        entries.sort();
        for p in entries {
            if self.stopped {
                break;
            }
            let ft = std::fs::symlink_metadata(&p)
                .with_context(|| format!("reading {}", p.display()))?
                .file_type();
            let is_file = ft.is_file() || (ft.is_symlink() && p.is_file());
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if ft.is_dir() {
                self.dir(&p)?;
            } else if is_file && feeds::name_looks_like_feed(&name) {
                let prefix =
                    feeds::prefix_of(&p).with_context(|| format!("reading {}", p.display()))?;
                let kind = feeds::sniff(&prefix).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{} is named like a feed file but is not one (NVD CVE JSON 2.0, Debian \
                         security tracker JSON, CISA KEV JSON, FIRST EPSS CSV); is the download \
                         truncated or an error page?",
                        p.display()
                    )
                })?;
                self.feed(kind, &p)?;
            } else if p
                .file_name()
                .is_some_and(|n| is_json_name(&n.to_string_lossy()))
                && (ft.is_file() || (ft.is_symlink() && p.is_file()))
            {
                self.buf.clear();
                std::fs::File::open(&p)
                    .and_then(|f| f.take(MAX_RECORD_BYTES + 1).read_to_end(&mut self.buf))
                    .with_context(|| format!("reading {}", p.display()))?;
                let place = Place {
                    file: &p,
                    entry: None,
                };
                self.record(&place, &p)?;
            }
        }
        Ok(())
    }

    fn zip(&mut self, path: &Path, file: std::fs::File) -> anyhow::Result<()> {
        // Small: the archive seeks to every entry, and a seek discards the buffer.
        let reader = std::io::BufReader::with_capacity(16 * 1024, file);
        let mut archive = zip::ZipArchive::new(reader)
            .with_context(|| format!("{}: not a readable zip archive", path.display()))?;
        for i in 0..archive.len() {
            if self.stopped {
                break;
            }
            let mut entry = archive
                .by_index(i)
                .with_context(|| format!("{}: reading zip entry #{i}", path.display()))?;
            let name = entry
                .name()
                .map(|n| n.into_owned())
                .unwrap_or_else(|_| format!("#{i}"));
            if entry.is_dir() {
                continue;
            }
            if !is_json_name(&name) {
                self.other_entries += 1;
                continue;
            }
            if entry.size() > MAX_RECORD_BYTES {
                anyhow::bail!(
                    "{}, zip entry {name}: {} bytes is larger than the {MAX_RECORD_BYTES}-byte limit for one record",
                    path.display(),
                    entry.size()
                );
            }
            self.buf.clear();
            (&mut entry)
                .take(MAX_RECORD_BYTES + 1)
                .read_to_end(&mut self.buf)
                .with_context(|| format!("{}, zip entry {name}: reading", path.display()))?;
            drop(entry);
            let place = Place {
                file: path,
                entry: Some(&name),
            };
            let stem = Path::new(&name).to_path_buf();
            self.record(&place, &stem)?;
        }
        Ok(())
    }

    /// Stream one feed file to the writer.
    fn feed(&mut self, kind: FeedKind, path: &Path) -> anyhow::Result<()> {
        let ctx = || format!("{}: {}", path.display(), kind.describe());
        let reader = feeds::open(path).with_context(ctx)?;
        if !self.send(Item::Feed(FeedRow::Begin(kind))) {
            return Ok(());
        }
        let tx = self.tx.clone();
        let send = move |row: FeedRow| -> anyhow::Result<()> {
            tx.send(Item::Feed(row))
                .map_err(|_| anyhow::Error::new(WriterGone))
        };
        let parsed: anyhow::Result<(u64, Option<String>)> = match kind {
            FeedKind::Nvd => {
                feeds::nvd::parse(reader, |c| send(FeedRow::Nvd(c))).map(|s| (s.cves, s.timestamp))
            }
            FeedKind::Debian => feeds::debian::parse(reader, |r| send(FeedRow::Debian(r)))
                .map(|s| (s.ratings, None)),
            FeedKind::Kev => feeds::kev::parse(reader).and_then(|c| {
                let n = c.entries.len() as u64;
                for e in c.entries {
                    send(FeedRow::Kev(e))?;
                }
                Ok((n, c.version))
            }),
            FeedKind::Epss => feeds::epss::parse(reader, |r| send(FeedRow::Epss(r)))
                .map(|s| (s.rows, s.version())),
        };
        let (records, version) = match parsed {
            Ok(v) => v,
            Err(e) if e.is::<WriterGone>() => {
                self.stopped = true;
                return Ok(());
            }
            Err(e) => return Err(e.context(ctx())),
        };
        self.send(Item::Feed(FeedRow::End {
            kind,
            name: match &self.feed_name {
                Some(n) if !kind.is_whole() => n.clone(),
                _ => feeds::record_name(kind, path),
            },
            records,
            version,
        }));
        Ok(())
    }

    /// Send to the writer; `false` (and stop) when it hung up.
    fn send(&mut self, item: Item) -> bool {
        if self.tx.send(item).is_err() {
            self.stopped = true;
        }
        !self.stopped
    }

    /// Parse, validate and send the record in `self.buf`. `name_hint` names the record when it is
    /// too broken to have an id.
    fn record(&mut self, place: &Place<'_>, name_hint: &Path) -> anyhow::Result<()> {
        if self.buf.len() as u64 > MAX_RECORD_BYTES {
            anyhow::bail!("{place}: larger than the {MAX_RECORD_BYTES}-byte limit for one record");
        }
        let adv = match Advisory::from_json(&self.buf) {
            Ok(a) => a,
            Err(e) => {
                let record = match &e {
                    AdvisoryError::Invalid { id, .. } if !id.trim().is_empty() => id.clone(),
                    _ => record_id_guess(&self.buf).unwrap_or_else(|| {
                        name_hint
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_else(|| "?".into())
                    }),
                };
                anyhow::bail!("malformed OSV record {record} in {place}: {e}");
            }
        };
        let rec = match self.zstd.as_mut() {
            Some(z) => Prepared::with_compressor(&adv, z),
            None => Prepared::new(&adv),
        }
        .with_context(|| format!("{place}: record {}", adv.id))?;
        self.send(Item::Record {
            place: place.to_string(),
            rec,
        });
        Ok(())
    }
}

/// The writer stopped taking rows (its own error is the one reported).
#[derive(Debug, thiserror::Error)]
#[error("the database writer stopped")]
struct WriterGone;

/// The `id` of a syntactically valid JSON object that failed OSV validation.
fn record_id_guess(bytes: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    v.get("id")?
        .as_str()
        .map(str::to_string)
        .filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names() {
        assert!(is_json_name("PYSEC-1.json"));
        assert!(is_json_name("a/B.JSON"));
        assert!(!is_json_name(".json"));
        assert!(!is_json_name("README.md"));
    }

    #[test]
    fn a_malformed_record_names_file_and_record_and_keeps_the_db() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db/advisories.sqlite");
        let good = dir.path().join("good.json");
        std::fs::write(
            &good,
            r#"{"id":"PYSEC-9","affected":[{"package":{"ecosystem":"PyPI","name":"x"}}]}"#,
        )
        .unwrap();
        import(&db, &[ImportInput::path(good.clone())]).unwrap();
        let before = std::fs::read(&db).unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(
            &bad,
            r#"{"id":"PYSEC-10","affected":[{"package":{"ecosystem":"PyPI","name":"x"},
               "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0","fixed":"1"}]}]}]}"#,
        )
        .unwrap();
        let err = import(&db, &[ImportInput::path(good), ImportInput::path(bad)]).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("PYSEC-10") && msg.contains("bad.json"),
            "{msg}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), before);
        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "{\"id\": ").unwrap();
        let msg = format!(
            "{:#}",
            import(&db, &[ImportInput::path(broken)]).unwrap_err()
        );
        assert!(
            msg.contains("record broken in") && msg.contains("broken.json"),
            "{msg}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), before);
    }
}
