//! rpm package databases for the fixtures, made by the real tools: `rpmbuild` builds the packages of
//! `testdata/src/rpm/specs/`, `rpm --dbpath DIR -i --justdb --nodeps` installs them into a sqlite
//! `rpmdb.sqlite` (Debian's rpm writes that backend), `rpm --import` adds a `gpg-pubkey` header, and
//! Debian's `db5.3_load -t hash` writes the same headers into Berkeley DB `Packages` files (keyed by
//! the 4-byte header number in the database's byte order, as rpm does).
//!
//! `SOURCE_DATE_EPOCH` pins build and install times, so the bytes are the same on every run. Berkeley
//! DB writes two things that are not a function of the input: the file's unique id (from the inode
//! and the clock) and the three padding bytes of each off-page item (uninitialised memory); both are
//! zeroed after the load. Neither is read by rpm.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE_DATE_EPOCH: &str = "1704067200"; // 2024-01-01T00:00:00Z, as every fixture

/// One database built from a set of specs.
pub struct RpmDb {
    /// `rpmdb.sqlite` as rpm wrote it.
    pub sqlite: Vec<u8>,
    /// `(hnum, header blob)` rows of its `Packages` table.
    pub headers: Vec<(u32, Vec<u8>)>,
}

fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>> {
    let out = cmd
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .output()
        .with_context(|| format!("running {what} (install Debian's `rpm` and `db5.3-util`)"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

/// Build the packages of `specs` (file names under `testdata/src/rpm/specs/`) and install them,
/// plus the fixtures' signing key, into a fresh sqlite database.
pub fn build_db(src: &Path, specs: &[&str]) -> Result<RpmDb> {
    let work = tempdir()?;
    let top = work.join("top");
    let db = work.join("db");
    std::fs::create_dir_all(&db)?;
    let mut rpms = Vec::new();
    for spec in specs {
        let path = src.join("rpm/specs").join(spec);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let arch = text
            .lines()
            .find_map(|l| l.strip_prefix("BuildArch:"))
            .map(str::trim)
            .unwrap_or("x86_64")
            .to_string();
        run(
            Command::new("rpmbuild")
                .arg("-bb")
                .arg("--quiet")
                .arg("--target")
                .arg(&arch)
                .arg("--define")
                .arg(format!("_topdir {}", top.display()))
                .arg("--define")
                .arg("use_source_date_epoch_as_buildtime 1")
                .arg("--define")
                .arg("_buildhost fixtures.layerscan.invalid")
                .arg("--define")
                .arg("clamp_mtime_to_source_date_epoch 1")
                .arg(&path),
            &format!("rpmbuild {spec}"),
        )?;
    }
    collect_rpms(&top.join("RPMS"), &mut rpms)?;
    rpms.sort();
    let mut install = Command::new("rpm");
    install
        .arg("--dbpath")
        .arg(&db)
        .args(["-i", "--justdb", "--nodeps", "--ignorearch", "--ignoreos"])
        .args(&rpms);
    run(&mut install, "rpm -i --justdb")?;
    run(
        Command::new("rpm")
            .arg("--dbpath")
            .arg(&db)
            .arg("--import")
            .arg(src.join("rpm/RPM-GPG-KEY-layerscan-fixtures")),
        "rpm --import",
    )?;
    let sqlite_path = db.join("rpmdb.sqlite");
    let sqlite = std::fs::read(&sqlite_path)
        .with_context(|| format!("reading {}", sqlite_path.display()))?;
    let wal = db.join("rpmdb.sqlite-wal");
    if std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0 {
        bail!("rpm left a non-empty write-ahead log in {}", db.display());
    }
    let headers = sqlite_headers(&sqlite_path)?;
    std::fs::remove_dir_all(&work).ok();
    Ok(RpmDb { sqlite, headers })
}

fn collect_rpms(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = e?.path();
        if path.is_dir() {
            collect_rpms(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "rpm") {
            out.push(path);
        }
    }
    Ok(())
}

/// The `Packages` rows, read with Python's sqlite3 module (the xtask has no SQLite of its own).
fn sqlite_headers(path: &Path) -> Result<Vec<(u32, Vec<u8>)>> {
    let script = "import sqlite3,sys\n\
        c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro',uri=True)\n\
        for h,b in c.execute('SELECT hnum, blob FROM Packages ORDER BY hnum'):\n    print(h, b.hex())\n";
    let out = run(
        Command::new("python3").arg("-c").arg(script).arg(path),
        "python3 (sqlite3)",
    )?;
    let mut rows = Vec::new();
    for line in String::from_utf8(out)?.lines() {
        let (h, hex_blob) = line.split_once(' ').context("unexpected python output")?;
        rows.push((h.parse()?, hex::decode(hex_blob)?));
    }
    Ok(rows)
}

/// A Berkeley DB hash `Packages` file holding `headers`, written by `db5.3_load`.
pub fn berkeley_db(
    headers: &[(u32, Vec<u8>)],
    page_size: u32,
    big_endian: bool,
) -> Result<Vec<u8>> {
    let key = |n: u32| {
        hex::encode(if big_endian {
            n.to_be_bytes()
        } else {
            n.to_le_bytes()
        })
    };
    let mut dump = format!(
        "VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize={page_size}\ndb_lorder={}\nHEADER=END\n",
        if big_endian { 4321 } else { 1234 }
    );
    // Key 0: rpm's next-instance counter.
    let next = headers.iter().map(|(h, _)| *h).max().unwrap_or(0) + 1;
    dump.push_str(&format!(" {}\n {}\n", key(0), key(next)));
    for (h, blob) in headers {
        dump.push_str(&format!(" {}\n {}\n", key(*h), hex::encode(blob)));
    }
    dump.push_str("DATA=END\n");
    let work = tempdir()?;
    let dump_path = work.join("dump.txt");
    std::fs::write(&dump_path, dump)?;
    let db_path = work.join("Packages");
    run(
        Command::new("db5.3_load")
            .arg("-f")
            .arg(&dump_path)
            .arg(&db_path),
        "db5.3_load",
    )?;
    let mut bytes = std::fs::read(&db_path)?;
    std::fs::remove_dir_all(&work).ok();
    normalise_bdb(&mut bytes, page_size as usize, big_endian)?;
    Ok(bytes)
}

/// Zero the unique file id (wherever the metadata repeats it) and the padding of off-page items.
fn normalise_bdb(bytes: &mut [u8], page_size: usize, big_endian: bool) -> Result<()> {
    let uid: Vec<u8> = bytes[52..72].to_vec();
    let mut at = 0;
    while let Some(i) = bytes[at..].windows(20).position(|w| w == uid.as_slice()) {
        bytes[at + i..at + i + 20].fill(0);
        at += i + 20;
    }
    let u16_at = |b: &[u8], i: usize| {
        let v = [b[i], b[i + 1]];
        usize::from(if big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        })
    };
    for page in bytes.chunks_mut(page_size) {
        if !matches!(page[25], 2 | 13) {
            continue;
        }
        let n = u16_at(page, 20);
        for k in 0..n {
            let off = u16_at(page, 26 + 2 * k);
            if off + 4 <= page_size && page[off] == 3 {
                page[off + 1..off + 4].fill(0);
            }
        }
    }
    Ok(())
}

fn tempdir() -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "layerscan-xtask-rpm-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
