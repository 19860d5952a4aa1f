//! Berkeley DB hash databases (`Packages` of rpm < 4.16), read page by page from memory.
//!
//! Written from Berkeley DB's on-disk format (db_page.h: the metadata page, `PAGE` headers,
//! `HKEYDATA`/`HOFFPAGE` items, overflow chains), which is stable since DB 4. rpm keys each header
//! by its 4-byte instance number; key 0 holds rpm's instance counter, not a header. Every hash page
//! is visited (not the bucket chains): the items on a page are what the database holds, wherever a
//! split put them. The byte order is the creating host's, told by the magic number.

/// Hash database magic (`DB_HASHMAGIC`) and the btree one, to name the wrong kind.
const HASH_MAGIC: u32 = 0x0006_1561;
const BTREE_MAGIC: u32 = 0x0005_3162;
/// Page types (db_page.h).
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASH: u8 = 13;
/// Item types on hash pages.
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
/// Size of the generic page header (`SIZEOF_PAGE`).
const PAGE_HEADER: usize = 26;

/// One header blob per key, or why that entry could not be read.
pub type Entries = Vec<(u64, Result<Vec<u8>, String>)>;

struct Db<'a> {
    bytes: &'a [u8],
    page_size: usize,
    pages: usize,
    big_endian: bool,
}

impl<'a> Db<'a> {
    fn u32_at(&self, at: usize) -> u32 {
        self.u32_of(&self.bytes[at..at + 4])
    }

    fn u32_of(&self, b: &[u8]) -> u32 {
        let b = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn u16_of(&self, b: &[u8]) -> u16 {
        if self.big_endian {
            u16::from_be_bytes([b[0], b[1]])
        } else {
            u16::from_le_bytes([b[0], b[1]])
        }
    }

    fn page(&self, no: usize) -> &'a [u8] {
        &self.bytes[no * self.page_size..(no + 1) * self.page_size]
    }

    /// The data of an overflow chain starting at `first`, `len` bytes long.
    fn overflow(&self, first: usize, len: usize) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(len.min(self.bytes.len()));
        let mut no = first;
        let mut visited = 0usize;
        while out.len() < len {
            if no == 0 || no >= self.pages {
                return Err(format!(
                    "overflow chain reaches page {no} of {} after {} of {len} bytes",
                    self.pages,
                    out.len()
                ));
            }
            visited += 1;
            if visited > self.pages {
                return Err("overflow chain loops".into());
            }
            let page = self.page(no);
            if page[25] != P_OVERFLOW {
                return Err(format!(
                    "page {no} is type {}, not an overflow page",
                    page[25]
                ));
            }
            // On an overflow page `hf_offset` is the number of data bytes it holds.
            let on_page = usize::from(self.u16_of(&page[22..24])).min(self.page_size - PAGE_HEADER);
            let take = on_page.min(len - out.len());
            out.extend_from_slice(&page[PAGE_HEADER..PAGE_HEADER + take]);
            if take == 0 {
                return Err(format!("overflow page {no} holds no data"));
            }
            no = self.u32_at(no * self.page_size + 16) as usize;
        }
        Ok(out)
    }
}

/// Every header blob of a Berkeley DB hash `Packages` file, keyed by rpm's instance number.
/// `Err` when the file is not a readable hash database at all.
pub fn header_blobs(bytes: &[u8]) -> Result<Entries, String> {
    if bytes.len() < 512 {
        return Err(format!(
            "{} bytes is too short for a Berkeley DB file",
            bytes.len()
        ));
    }
    let magic_le = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let magic_be = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let big_endian = match (magic_le, magic_be) {
        (HASH_MAGIC, _) => false,
        (_, HASH_MAGIC) => true,
        (BTREE_MAGIC, _) | (_, BTREE_MAGIC) => {
            return Err("a Berkeley DB btree, not the hash database rpm writes".into())
        }
        _ => return Err("not a Berkeley DB file (no hash magic)".into()),
    };
    let mut db = Db {
        bytes,
        page_size: 0,
        pages: 0,
        big_endian,
    };
    let page_size = db.u32_at(20) as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("invalid page size {page_size}"));
    }
    if bytes[24] != 0 {
        return Err("encrypted Berkeley DB databases are not supported".into());
    }
    let last_page = db.u32_at(32) as usize;
    let pages = last_page + 1;
    if bytes.len() / page_size < pages {
        return Err(format!(
            "truncated: {} bytes, the metadata says {pages} pages of {page_size} bytes",
            bytes.len()
        ));
    }
    db.page_size = page_size;
    db.pages = pages;

    let mut out: Entries = Vec::new();
    for no in 1..pages {
        let page = db.page(no);
        if !matches!(page[25], P_HASH | P_HASH_UNSORTED) {
            continue;
        }
        let entries = usize::from(db.u16_of(&page[20..22]));
        if PAGE_HEADER + 2 * entries > page_size {
            out.push((
                0,
                Err(format!("hash page {no}: {entries} items do not fit")),
            ));
            continue;
        }
        let index = |k: usize| usize::from(db.u16_of(&page[PAGE_HEADER + 2 * k..]));
        // An item runs from its offset to the previous item's (items fill the page from its end).
        let item = |k: usize| -> Option<&[u8]> {
            let start = index(k);
            let end = if k == 0 { page_size } else { index(k - 1) };
            (PAGE_HEADER + 2 * entries <= start && start < end && end <= page_size)
                .then(|| &page[start..end])
        };
        for k in (0..entries.saturating_sub(1)).step_by(2) {
            let place = |what: &str| format!("hash page {no} item {k}: {what}");
            let Some(key) = item(k) else {
                out.push((0, Err(place("key out of bounds"))));
                continue;
            };
            let key_no = match key[0] {
                H_KEYDATA if key.len() == 5 => u64::from(db.u32_of(&key[1..5])),
                _ => {
                    out.push((0, Err(place("not a 4-byte rpm instance key"))));
                    continue;
                }
            };
            if key_no == 0 {
                continue; // rpm's instance counter
            }
            let Some(data) = item(k + 1) else {
                out.push((key_no, Err(place("data out of bounds"))));
                continue;
            };
            let blob = match data[0] {
                H_KEYDATA => Ok(data[1..].to_vec()),
                H_OFFPAGE if data.len() >= 12 => {
                    let first = db.u32_of(&data[4..8]) as usize;
                    let len = db.u32_of(&data[8..12]) as usize;
                    db.overflow(first, len).map_err(|e| place(&e))
                }
                t => Err(place(&format!("item type {t} is not a header"))),
            };
            out.push((key_no, blob));
        }
    }
    out.sort_by_key(|(k, _)| *k);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_hash_database() {
        assert!(header_blobs(b"").is_err());
        assert!(header_blobs(&[0u8; 4096])
            .unwrap_err()
            .contains("no hash magic"));
        let mut btree = vec![0u8; 4096];
        btree[12..16].copy_from_slice(&BTREE_MAGIC.to_le_bytes());
        assert!(header_blobs(&btree).unwrap_err().contains("btree"));
    }

    proptest::proptest! {
        #[test]
        fn no_panic_on_garbage_pages(
            seed in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            page_shift in 9u32..11,
            big in proptest::prelude::any::<bool>(),
        ) {
            let page_size = 1usize << page_shift;
            let mut bytes = vec![0u8; page_size * 4];
            let len = bytes.len();
            for (i, b) in seed.iter().enumerate() {
                bytes[(i * 7) % len] = *b;
            }
            let put = |v: u32| if big { v.to_be_bytes() } else { v.to_le_bytes() };
            bytes[12..16].copy_from_slice(&put(HASH_MAGIC));
            bytes[20..24].copy_from_slice(&put(page_size as u32));
            bytes[24] = 0;
            bytes[32..36].copy_from_slice(&put(3));
            for p in 1..4 {
                bytes[p * page_size + 25] = [P_HASH, P_OVERFLOW, P_HASH_UNSORTED][p - 1];
            }
            let _ = header_blobs(&bytes);
        }
    }
}
