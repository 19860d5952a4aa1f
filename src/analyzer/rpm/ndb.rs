//! rpm's ndb `Packages.db` (SUSE, openSUSE), written from rpm's lib/backend/ndb/rpmpkg.c.
//!
//! Little-endian throughout. A 32-byte header (`RpmP`, version 0, generation, number of slot pages),
//! then slot pages of 16-byte slots (`Slot`, package index, block offset, block count; the header
//! takes the first two slots); each used slot points at a blob (`BlbS`, package index, generation,
//! length, then the header bytes) at its block offset in 16-byte blocks.

use super::bdb::Entries;

const HEADER_MAGIC: u32 = u32::from_le_bytes(*b"RpmP");
const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"Slot");
const BLOB_MAGIC: u32 = u32::from_le_bytes(*b"BlbS");
const PAGE_SIZE: usize = 4096;
const SLOT_SIZE: usize = 16;
const BLOCK_SIZE: usize = 16;
/// rpm refuses more slot pages than this (`PKGDB_MAX_SLOTPAGES`-like sanity limit).
const MAX_SLOT_PAGES: usize = 2048;

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Every header blob of an ndb `Packages.db`, keyed by package index.
pub fn header_blobs(bytes: &[u8]) -> Result<Entries, String> {
    let field = |at| le32(bytes, at).ok_or("too short for an ndb header");
    if field(0)? != HEADER_MAGIC {
        return Err("not an rpm ndb database (no RpmP magic)".into());
    }
    let version = field(4)?;
    if version != 0 {
        return Err(format!("unsupported ndb version {version}"));
    }
    let slot_pages = field(12)? as usize;
    if slot_pages == 0 || slot_pages > MAX_SLOT_PAGES {
        return Err(format!("implausible number of slot pages {slot_pages}"));
    }
    let slots_end = slot_pages * PAGE_SIZE;
    if bytes.len() < slots_end {
        return Err(format!(
            "truncated: {} bytes, the header says {slot_pages} slot pages",
            bytes.len()
        ));
    }
    let mut out: Entries = Vec::new();
    for at in (2 * SLOT_SIZE..slots_end).step_by(SLOT_SIZE) {
        let f = |k: usize| le32(bytes, at + 4 * k).unwrap_or(0);
        if f(0) != SLOT_MAGIC {
            return Err(format!("bad slot magic at byte {at}"));
        }
        let (index, block, blocks) = (f(1), f(2) as usize, f(3) as usize);
        if index == 0 {
            continue; // free slot
        }
        let key = u64::from(index);
        let start = block * BLOCK_SIZE;
        let blob = match (
            le32(bytes, start),
            le32(bytes, start + 4),
            le32(bytes, start + 12),
        ) {
            (Some(BLOB_MAGIC), Some(i), Some(len)) if i == index => {
                let len = len as usize;
                let data_start = start + 16;
                if len + 16 > blocks * BLOCK_SIZE {
                    Err(format!(
                        "package {index}: blob of {len} bytes is longer than its {blocks} blocks"
                    ))
                } else {
                    bytes
                        .get(data_start..data_start + len)
                        .map(<[u8]>::to_vec)
                        .ok_or_else(|| {
                            format!("package {index}: blob runs past the end of the file")
                        })
                }
            }
            (Some(BLOB_MAGIC), Some(i), Some(_)) => {
                Err(format!("package {index}: its blob says package {i}"))
            }
            (None, ..) | (_, None, _) | (.., None) => Err(format!(
                "package {index}: blob offset {start} is past the end of the file"
            )),
            _ => Err(format!("package {index}: no blob magic at byte {start}")),
        };
        out.push((key, blob));
    }
    out.sort_by_key(|(k, _)| *k);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_ndb() {
        assert!(header_blobs(b"").is_err());
        assert!(header_blobs(&[0u8; 8192]).unwrap_err().contains("RpmP"));
    }

    proptest::proptest! {
        #[test]
        fn no_panic_on_garbage(seed in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let mut bytes = vec![0u8; PAGE_SIZE + 512];
            bytes[..4].copy_from_slice(b"RpmP");
            bytes[12..16].copy_from_slice(&1u32.to_le_bytes());
            for at in (32..PAGE_SIZE).step_by(16) {
                bytes[at..at + 4].copy_from_slice(b"Slot");
            }
            for (i, b) in seed.iter().enumerate() {
                let at = 32 + (i * 13) % (bytes.len() - 32);
                if at % 16 >= 4 || at >= PAGE_SIZE {
                    bytes[at] = *b;
                }
            }
            let _ = header_blobs(&bytes);
        }
    }
}
