//! rpm package databases, all three formats rpm has written: sqlite `rpmdb.sqlite` (rpm ≥ 4.16:
//! Amazon Linux 2023, RHEL 9, Fedora), Berkeley DB hash `Packages` (Amazon Linux 2, RHEL/CentOS 7
//! and 8) and ndb `Packages.db` (SUSE). Each stores one rpm header blob per installed package; the
//! readers only find the blobs, [`header`] reads them. All of it works on bytes in memory (the file
//! as the unpacker kept it): nothing is extracted to disk.

pub mod bdb;
pub mod header;
pub mod ndb;
pub mod sqlite;

use header::Header;

/// Directories rpm keeps its database in (`_dbpath`): the classic one, the newer `sysimage` one
/// (Fedora, SUSE, AL2023 links one to the other) and rpm-ostree's.
pub const DB_DIRS: [&str; 3] = ["var/lib/rpm/", "usr/lib/sysimage/rpm/", "usr/share/rpm/"];

/// Which on-disk format a database file is in, by its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFormat {
    Sqlite,
    BerkeleyDb,
    Ndb,
}

/// The format of the rpm database file at a normalised path, if it is one.
pub fn db_format(path: &str) -> Option<DbFormat> {
    let name = DB_DIRS.iter().find_map(|d| path.strip_prefix(d))?;
    match name {
        "rpmdb.sqlite" => Some(DbFormat::Sqlite),
        "Packages" => Some(DbFormat::BerkeleyDb),
        "Packages.db" => Some(DbFormat::Ndb),
        _ => None,
    }
}

/// The sqlite write-ahead log beside an `rpmdb.sqlite` (`rpmdb.sqlite-wal`).
pub fn is_sqlite_wal(path: &str) -> bool {
    DB_DIRS
        .iter()
        .any(|d| path.strip_prefix(d) == Some("rpmdb.sqlite-wal"))
}

/// One installed package, as its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmPackage {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// From `SOURCERPM` (`sqlite-3.40.0-1.amzn2023.0.4.src.rpm` → `sqlite`, `3.40.0`,
    /// `1.amzn2023.0.4`); `None` for a package without one (`gpg-pubkey`, some vendor rpms).
    pub source: Option<SourceRpm>,
    pub license: Option<String>,
}

impl RpmPackage {
    /// `[epoch:]version-release`, the form versions are compared and reported in.
    pub fn evr(&self) -> String {
        crate::version::rpm::format_evr(self.epoch, &self.version, &self.release)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRpm {
    pub name: String,
    pub version: String,
    pub release: String,
}

/// `name-version-release.src.rpm` (or `.nosrc.rpm`) split from the right, as rpm names files.
pub fn parse_source_rpm(file: &str) -> Option<SourceRpm> {
    let stem = file
        .strip_suffix(".src.rpm")
        .or_else(|| file.strip_suffix(".nosrc.rpm"))?;
    let (rest, release) = stem.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() || release.is_empty() {
        return None;
    }
    Some(SourceRpm {
        name: name.to_string(),
        version: version.to_string(),
        release: release.to_string(),
    })
}

/// Not packages: rpm stores imported signing keys as `gpg-pubkey` headers.
const PSEUDO_PACKAGES: [&str; 1] = ["gpg-pubkey"];

/// The package in one header blob; `Ok(None)` for a pseudo-package.
pub fn package_from_blob(blob: &[u8]) -> Result<Option<RpmPackage>, String> {
    let h = Header::parse(blob)?;
    let name = h
        .string(header::TAG_NAME)?
        .filter(|n| !n.is_empty())
        .ok_or("header without a NAME")?;
    if PSEUDO_PACKAGES.contains(&name.as_str()) {
        return Ok(None);
    }
    let version = h
        .string(header::TAG_VERSION)?
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{name}: header without a VERSION"))?;
    let release = h.string(header::TAG_RELEASE)?.unwrap_or_default();
    Ok(Some(RpmPackage {
        epoch: h.int32(header::TAG_EPOCH)?,
        arch: h.string(header::TAG_ARCH)?.unwrap_or_default(),
        source: h
            .string(header::TAG_SOURCERPM)?
            .as_deref()
            .and_then(parse_source_rpm),
        license: h.string(header::TAG_LICENSE)?.filter(|l| !l.is_empty()),
        name,
        version,
        release,
    }))
}

/// What reading one database gave: its packages in database order, and one warning per header
/// that could not be read (the rest are still listed).
#[derive(Debug, Default)]
pub struct DbContents {
    pub packages: Vec<RpmPackage>,
    pub warnings: Vec<String>,
}

/// Read the database file at `path` (its format from its name). `wal` is the content of a
/// non-empty `rpmdb.sqlite-wal` from the same layer, applied to a sqlite database. `Err` when
/// the file is not a readable database at all: the caller names it and keeps its coverage gap.
pub fn read_db(path: &str, bytes: &[u8], wal: Option<&[u8]>) -> Result<DbContents, String> {
    let format = db_format(path).ok_or_else(|| format!("{path}: not an rpm database path"))?;
    let blobs = match format {
        DbFormat::Sqlite => sqlite::header_blobs(bytes, wal)
            .map(|rows| rows.into_iter().map(|(k, b)| (k, Ok(b))).collect()),
        DbFormat::BerkeleyDb => bdb::header_blobs(bytes),
        DbFormat::Ndb => ndb::header_blobs(bytes),
    }
    .map_err(|e| format!("{path}: {e}"))?;
    let mut out = DbContents::default();
    for (key, blob) in blobs {
        match blob.and_then(|b| package_from_blob(&b)) {
            Ok(Some(p)) => out.packages.push(p),
            Ok(None) => {}
            Err(e) => out
                .warnings
                .push(format!("{path}: header {key} skipped: {e}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_paths() {
        let table: &[(&str, Option<DbFormat>)] = &[
            ("var/lib/rpm/rpmdb.sqlite", Some(DbFormat::Sqlite)),
            ("usr/lib/sysimage/rpm/rpmdb.sqlite", Some(DbFormat::Sqlite)),
            ("var/lib/rpm/Packages", Some(DbFormat::BerkeleyDb)),
            ("usr/share/rpm/Packages", Some(DbFormat::BerkeleyDb)),
            ("usr/lib/sysimage/rpm/Packages.db", Some(DbFormat::Ndb)),
            ("var/lib/rpm/Name", None),
            ("var/lib/rpm/rpmdb.sqlite-shm", None),
            ("var/lib/rpm/sub/Packages", None),
            ("opt/var/lib/rpm/Packages", None),
        ];
        for (path, want) in table {
            assert_eq!(db_format(path), *want, "{path}");
        }
        assert!(is_sqlite_wal("var/lib/rpm/rpmdb.sqlite-wal"));
        assert!(!is_sqlite_wal("var/lib/rpm/rpmdb.sqlite"));
    }

    #[test]
    fn source_rpm_names() {
        assert_eq!(
            parse_source_rpm("sqlite-3.40.0-1.amzn2023.0.4.src.rpm"),
            Some(SourceRpm {
                name: "sqlite".into(),
                version: "3.40.0".into(),
                release: "1.amzn2023.0.4".into()
            })
        );
        assert_eq!(
            parse_source_rpm("python-urllib3-1.25.10-4.amzn2.0.1.src.rpm").map(|s| s.name),
            Some("python-urllib3".into())
        );
        assert_eq!(parse_source_rpm("x.nosrc.rpm"), None);
        assert_eq!(parse_source_rpm("a-1-2.rpm"), None);
        assert_eq!(parse_source_rpm("(none)"), None);
    }
}
