//! `rpmdb.sqlite`: table `Packages(hnum INTEGER PRIMARY KEY, blob BLOB)`, one header per row.
//!
//! The file is opened from memory with SQLite's deserialize API (the project's own rusqlite, read
//! only), never written to disk. A write-ahead log from the same layer (`rpmdb.sqlite-wal`) holds
//! transactions not yet checkpointed into the file: its committed frames are applied to the page
//! image first, as SQLite would on open (WAL file format, <https://sqlite.org/fileformat2.html#walformat>).

use rusqlite::{Connection, OpenFlags};

/// Every `(hnum, blob)` of the database, in `hnum` order.
pub fn header_blobs(db: &[u8], wal: Option<&[u8]>) -> Result<Vec<(u64, Vec<u8>)>, String> {
    if db.len() < 100 || !db.starts_with(b"SQLite format 3\0") {
        return Err("not a SQLite database (no SQLite header)".into());
    }
    let mut image = db.to_vec();
    if let Some(wal) = wal.filter(|w| !w.is_empty()) {
        apply_wal(&mut image, wal).map_err(|e| format!("write-ahead log: {e}"))?;
    }
    // Bytes 18 and 19 are 2 in a WAL-mode database; an in-memory database can't use a WAL, so
    // mark the image as a rollback-journal one (the log is already applied).
    image[18] = 1;
    image[19] = 1;
    let conn = Connection::open_with_flags(
        ":memory:",
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    let mut conn = conn;
    let len = image.len();
    conn.deserialize_read_exact(rusqlite::MAIN_DB, &image[..], len, true)
        .map_err(|e| format!("SQLite could not open it: {e}"))?;
    let mut stmt = conn
        .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
        .map_err(|e| format!("no readable Packages table: {e}"))?;
    let rows = stmt
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })
        .map_err(|e| format!("reading Packages: {e}"))?;
    let mut out = Vec::new();
    for row in rows {
        let (hnum, blob) = row.map_err(|e| format!("reading Packages: {e}"))?;
        out.push((hnum.max(0) as u64, blob));
    }
    Ok(out)
}

const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `s`.
fn checksum(data: &[u8], big_endian: bool, mut s: (u32, u32)) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let a = [b[0], b[1], b[2], b[3]];
            if big_endian {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        };
        s.0 = s.0.wrapping_add(word(&pair[..4])).wrapping_add(s.1);
        s.1 = s.1.wrapping_add(word(&pair[4..])).wrapping_add(s.0);
    }
    s
}

/// Apply the committed transactions of a WAL to a database image. Frames after the last valid
/// commit frame (an interrupted transaction) are ignored, as SQLite's recovery does.
fn apply_wal(image: &mut Vec<u8>, wal: &[u8]) -> Result<(), String> {
    if wal.len() < WAL_HEADER {
        return Err(format!("{} bytes is too short for a WAL header", wal.len()));
    }
    let magic = be32(wal, 0);
    let big_endian = match magic {
        0x377f_0682 => false,
        0x377f_0683 => true,
        _ => return Err("no WAL magic".into()),
    };
    let page_size = match be32(wal, 8) {
        1 => 65536,
        n if (512..=32768).contains(&n) && n.is_power_of_two() => n as usize,
        n => return Err(format!("invalid page size {n}")),
    };
    let salt = (be32(wal, 16), be32(wal, 20));
    let mut sum = checksum(&wal[..24], big_endian, (0, 0));
    if sum != (be32(wal, 24), be32(wal, 28)) {
        return Err("header checksum mismatch".into());
    }
    let db_page_size = match u16::from_be_bytes([image[16], image[17]]) {
        1 => 65536,
        n => n as usize,
    };
    if db_page_size != page_size {
        return Err(format!(
            "page size {page_size} differs from the database's {db_page_size}"
        ));
    }
    // Pages of the transaction being read, applied only once its commit frame is seen.
    let mut pending: Vec<(usize, &[u8])> = Vec::new();
    let mut at = WAL_HEADER;
    while at + FRAME_HEADER + page_size <= wal.len() {
        let frame = &wal[at..at + FRAME_HEADER];
        let page = &wal[at + FRAME_HEADER..at + FRAME_HEADER + page_size];
        if (be32(frame, 8), be32(frame, 12)) != salt {
            break;
        }
        sum = checksum(&frame[..8], big_endian, sum);
        sum = checksum(page, big_endian, sum);
        if sum != (be32(frame, 16), be32(frame, 20)) {
            break;
        }
        let page_no = be32(frame, 0) as usize;
        if page_no == 0 {
            break;
        }
        pending.push((page_no, page));
        let commit_size = be32(frame, 4) as usize;
        if commit_size > 0 {
            let new_len = commit_size
                .checked_mul(page_size)
                .filter(|&n| n <= 1 << 31)
                .ok_or("implausible database size in a commit frame")?;
            for (no, data) in pending.drain(..) {
                let start = (no - 1) * page_size;
                if start + page_size > 1 << 31 {
                    return Err(format!("implausible page number {no}"));
                }
                if image.len() < start + page_size {
                    image.resize(start + page_size, 0);
                }
                image[start..start + page_size].copy_from_slice(data);
            }
            image.resize(new_len, 0);
        }
        at += FRAME_HEADER + page_size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL-mode database written by SQLite itself, with one transaction left in its log.
    fn wal_database(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
        let path = dir.join("rpmdb.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "wal").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);
             INSERT INTO Packages(blob) VALUES (x'01');",
        )
        .unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        conn.execute_batch("INSERT INTO Packages(blob) VALUES (x'0202');")
            .unwrap();
        let db = std::fs::read(&path).unwrap();
        let wal = std::fs::read(dir.join("rpmdb.sqlite-wal")).unwrap();
        drop(conn);
        (db, wal)
    }

    #[test]
    fn applies_a_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let (db, wal) = wal_database(dir.path());
        assert!(!wal.is_empty());
        let without = header_blobs(&db, None).unwrap();
        assert_eq!(without, vec![(1, vec![1])]);
        let with = header_blobs(&db, Some(&wal)).unwrap();
        assert_eq!(with, vec![(1, vec![1]), (2, vec![2, 2])]);
        // A torn last frame: the transaction is not committed, so it is not applied.
        let torn = &wal[..wal.len() - 1];
        assert_eq!(header_blobs(&db, Some(torn)).unwrap(), without);
        assert!(header_blobs(&db, Some(&wal[..10])).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(header_blobs(b"", None).is_err());
        assert!(header_blobs(&[0u8; 4096], None).is_err());
        let mut fake = b"SQLite format 3\0".to_vec();
        fake.resize(4096, 0xff);
        assert!(header_blobs(&fake, None).is_err());
    }
}
