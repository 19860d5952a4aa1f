//! rpm header blobs as the package databases store them: `il` index entries and `dl` bytes of data,
//! both counts big-endian, without the 8-byte header magic of an `.rpm` file (a blob that has it is
//! accepted too). Written from rpm's lib/header.c (`headerImport`, `hdrchkRange`, `hdrchkType`);
//! every offset and count is checked against the blob, so garbage is an error, never a panic.

/// rpm's own sanity limits (lib/header_internal.h `hdrchkTags`, `hdrchkData`).
const MAX_TAGS: usize = 0xffff;
const MAX_DATA: usize = 256 << 20;
const HEADER_MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];

pub const TAG_NAME: u32 = 1000;
pub const TAG_VERSION: u32 = 1001;
pub const TAG_RELEASE: u32 = 1002;
pub const TAG_EPOCH: u32 = 1003;
pub const TAG_LICENSE: u32 = 1014;
pub const TAG_VENDOR: u32 = 1011;
pub const TAG_ARCH: u32 = 1022;
pub const TAG_SOURCERPM: u32 = 1044;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// One index entry: tag, type, offset into the data, count.
#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
    count: usize,
}

/// A parsed header: its index and data, borrowed from the blob.
#[derive(Debug)]
pub struct Header<'a> {
    entries: Vec<Entry>,
    data: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

impl<'a> Header<'a> {
    /// Parse a header blob. The error says what is wrong, for a warning naming the database.
    pub fn parse(blob: &'a [u8]) -> Result<Header<'a>, String> {
        let blob = blob.strip_prefix(&HEADER_MAGIC[..]).unwrap_or(blob);
        let (Some(il), Some(dl)) = (be32(blob, 0), be32(blob, 4)) else {
            return Err(format!(
                "{} bytes is too short for an rpm header",
                blob.len()
            ));
        };
        let (il, dl) = (il as usize, dl as usize);
        if il == 0 || il > MAX_TAGS || dl > MAX_DATA {
            return Err(format!(
                "implausible rpm header ({il} index entries, {dl} data bytes)"
            ));
        }
        let index_end = 8 + il * 16;
        let data_end = index_end + dl;
        if blob.len() < data_end {
            return Err(format!(
                "rpm header truncated: {il} entries and {dl} data bytes need {data_end} bytes, the blob has {}",
                blob.len()
            ));
        }
        let data = &blob[index_end..data_end];
        let mut entries = Vec::with_capacity(il);
        for i in 0..il {
            let at = 8 + i * 16;
            let field = |k: usize| be32(blob, at + 4 * k).unwrap_or(0);
            let (tag, kind, offset, count) = (field(0), field(1), field(2), field(3));
            if kind > 9 {
                return Err(format!("rpm header entry {i}: unknown type {kind}"));
            }
            // Region tags (HEADER_IMAGE 61 .. HEADER_IMMUTABLE 63) point at their trailer, which may
            // lie at the very end of the data; they carry no package facts.
            if (61..=63).contains(&tag) {
                continue;
            }
            let (offset, count) = (offset as usize, count as usize);
            if offset > dl || count == 0 || count > dl.max(1) {
                return Err(format!(
                    "rpm header entry {i} (tag {tag}): offset {offset} count {count} outside {dl} data bytes"
                ));
            }
            entries.push(Entry {
                tag,
                kind,
                offset,
                count,
            });
        }
        Ok(Header { entries, data })
    }

    fn entry(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    /// A string tag (`STRING`, or the first string of an `I18NSTRING`/`STRING_ARRAY`).
    /// `Err` when the entry exists but its bytes are out of range or not terminated.
    pub fn string(&self, tag: u32) -> Result<Option<String>, String> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        if !matches!(e.kind, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return Err(format!("tag {tag} has type {}, not a string", e.kind));
        }
        let rest = &self.data[e.offset..];
        let Some(end) = rest.iter().position(|&b| b == 0) else {
            return Err(format!("tag {tag}: string runs past the end of the header"));
        };
        Ok(Some(String::from_utf8_lossy(&rest[..end]).into_owned()))
    }

    /// The first value of an `INT32` tag.
    pub fn int32(&self, tag: u32) -> Result<Option<u32>, String> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        if e.kind != TYPE_INT32 {
            return Err(format!("tag {tag} has type {}, not INT32", e.kind));
        }
        if e.offset % 4 != 0 || e.offset + 4 * e.count > self.data.len() {
            return Err(format!(
                "tag {tag}: {} INT32 values at offset {} do not fit",
                e.count, e.offset
            ));
        }
        match be32(self.data, e.offset) {
            Some(v) => Ok(Some(v)),
            None => Err(format!("tag {tag}: value runs past the end of the header")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header blob in rpm's layout, from (tag, type, data) triples.
    pub(crate) fn build(entries: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, bytes) in entries {
            if *kind == TYPE_INT32 {
                while data.len() % 4 != 0 {
                    data.push(0);
                }
            }
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&kind.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let count = if *kind == TYPE_INT32 {
                bytes.len() / 4
            } else {
                1
            };
            index.extend_from_slice(&(count as u32).to_be_bytes());
            data.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    fn s(v: &str) -> Vec<u8> {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        b
    }

    #[test]
    fn reads_strings_and_ints() {
        let blob = build(&[
            (TAG_NAME, TYPE_STRING, s("bash")),
            (TAG_EPOCH, TYPE_INT32, 2u32.to_be_bytes().to_vec()),
            (TAG_LICENSE, TYPE_I18NSTRING, s("GPLv3+")),
        ]);
        let h = Header::parse(&blob).unwrap();
        assert_eq!(h.string(TAG_NAME).unwrap().as_deref(), Some("bash"));
        assert_eq!(h.int32(TAG_EPOCH).unwrap(), Some(2));
        assert_eq!(h.string(TAG_LICENSE).unwrap().as_deref(), Some("GPLv3+"));
        assert_eq!(h.string(TAG_VERSION).unwrap(), None);
        assert!(h.int32(TAG_NAME).is_err());
        let mut with_magic = HEADER_MAGIC.to_vec();
        with_magic.extend_from_slice(&blob);
        assert!(Header::parse(&with_magic).is_ok());
    }

    #[test]
    fn truncation_and_bad_offsets_are_errors() {
        let blob = build(&[(TAG_NAME, TYPE_STRING, s("bash"))]);
        for n in 0..blob.len() {
            assert!(Header::parse(&blob[..n]).is_err(), "{n}");
        }
        let mut unterminated = blob.clone();
        *unterminated.last_mut().unwrap() = b'x';
        assert!(Header::parse(&unterminated)
            .unwrap()
            .string(TAG_NAME)
            .is_err());
        let mut far = blob.clone();
        far[16..20].copy_from_slice(&1000u32.to_be_bytes());
        assert!(Header::parse(&far).is_err());
    }

    proptest::proptest! {
        #[test]
        fn no_panic_on_garbage(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(h) = Header::parse(&bytes) {
                for tag in [TAG_NAME, TAG_EPOCH, TAG_VERSION, TAG_SOURCERPM] {
                    let _ = h.string(tag);
                    let _ = h.int32(tag);
                }
            }
        }
    }
}
