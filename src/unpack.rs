//! The unpacker: one streaming pass over a layer (tar, zip or directory) that hands the analyzers
//! only the files they asked for, and records what the applier needs (whiteouts, opaque dirs,
//! symlinks).
//!
//! Why streaming: a layer can be gigabytes; only the few metadata files an analyzer wants are ever
//! held in memory, each under [`analyzer::MAX_FILE_SIZE`]. Why hashing readers drained to EOF: the
//! digest and DiffID must cover every byte, including tar padding and trailing blocks, or a tampered
//! tail would go unnoticed.

use crate::analyzer::coverage::{self, GapCollector};
use crate::analyzer::{self, LayerAnalyzer, MAX_FILE_SIZE};
use crate::model::LayerAnalysis;
use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// Copies of wanted files kept to resolve hard links within one layer are capped at this total.
const HARDLINK_KEEP_BUDGET: usize = 16 << 20;
/// Symlink targets longer than this (in a zip, where the target is file content) are ignored.
const MAX_SYMLINK_TARGET: u64 = 4096;

/// Normalise a path from a tar/zip entry or a walk: `/`-separated, no leading `/` or `./`, `.`
/// removed and `..` resolved without ever going above the root. The root itself is `""`.
pub fn normalize_path(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for comp in raw.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// `(parent, base)` of a normalised path; the parent of a top-level entry is `""`.
pub fn split_parent(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Join a normalised directory and a relative path, then normalise.
pub fn join_path(dir: &str, rel: &str) -> String {
    if rel.starts_with('/') || dir.is_empty() {
        normalize_path(rel)
    } else {
        normalize_path(&format!("{dir}/{rel}"))
    }
}

/// A reader that hashes (sha256) and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    /// `sha256:<hex>` of everything read, and the byte count.
    pub fn finish(self) -> (String, u64) {
        (
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.bytes,
        )
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(chunk) = buf.get(..n) {
            self.hasher.update(chunk);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Hashes what the caller consumes of the inner buffer, so data skipped through the buffer (never
/// copied out) is hashed too. Like every `BufRead` caller, the caller consumes only bytes the last
/// `fill_buf` returned; those are still in the inner buffer, so asking for it again does no I/O.
impl<R: BufRead> HashingReader<R> {
    /// Read the rest of the stream (in place, no copy) so the hash covers all of it.
    pub fn drain(&mut self) -> io::Result<()> {
        skip_to_end(self).map(|_| ())
    }
}

impl<R: BufRead> BufRead for HashingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if amt == 0 {
            return;
        }
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            if let Some(chunk) = buf.get(..n) {
                self.hasher.update(chunk);
            }
            self.bytes += n as u64;
        }
        self.inner.consume(amt);
    }
}

/// Read `r` to its end without copying what it holds; the byte count.
pub fn skip_to_end(r: &mut impl BufRead) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match r.fill_buf() {
            Ok(b) => b.len(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(total);
        }
        r.consume(n);
        total += n as u64;
    }
}

/// sha256 of a byte slice as `sha256:<hex>`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Compression of a layer blob, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn from_magic(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Read up to `buf.len()` bytes (fewer only at EOF).
pub fn read_up_to(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Check a computed digest against an expected one; the error names both.
fn verify(what: &str, expected: Option<&str>, computed: &str) -> anyhow::Result<()> {
    if let Some(exp) = expected {
        if !exp.eq_ignore_ascii_case(computed) {
            bail!("{what} digest mismatch: expected {exp}, computed {computed}");
        }
    }
    Ok(())
}

/// A layer's bytes (as stored, or decompressed), hashed only when there is a digest to check them
/// against. A source that verifies its blobs itself (the registry checks each blob as it
/// downloads) passes no blob digest, so the bytes are not hashed twice; either way they are read to
/// the end, which is where such a source reports a mismatch.
enum MaybeHashed<R> {
    Hashing(HashingReader<R>),
    Plain(R),
}

impl<R: BufRead> Read for MaybeHashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeHashed::Hashing(r) => r.read(buf),
            MaybeHashed::Plain(r) => r.read(buf),
        }
    }
}

impl<R: BufRead> BufRead for MaybeHashed<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            MaybeHashed::Hashing(r) => r.fill_buf(),
            MaybeHashed::Plain(r) => r.fill_buf(),
        }
    }
    fn consume(&mut self, amt: usize) {
        match self {
            MaybeHashed::Hashing(r) => r.consume(amt),
            MaybeHashed::Plain(r) => r.consume(amt),
        }
    }
}

/// Size of the buffer between a layer's decompressor and the tar reader.
const DECODED_BUFFER: usize = 256 << 10;

/// Analyse one layer blob as stored (plain tar, gzip or zstd, detected by magic bytes), verifying the
/// blob's digest and the uncompressed tar's DiffID when they are given. The result's `diff_id` is the
/// computed DiffID, or `None` when none was asked for: the uncompressed bytes are only hashed when
/// there is a DiffID to check.
///
/// The stored bytes go from `raw`'s buffer straight into the decompressor (or, for a plain tar,
/// the tar reader), and file data no analyzer wants is skipped inside the decompressed buffer:
/// besides decompressing and hashing, nothing copies the layer's bytes.
pub fn analyze_tar_blob(
    raw: impl BufRead,
    expected_digest: Option<&str>,
    expected_diff_id: Option<&str>,
) -> anyhow::Result<LayerAnalysis> {
    for d in [expected_digest, expected_diff_id].into_iter().flatten() {
        if !d.starts_with("sha256:") {
            bail!("unsupported digest algorithm in {d} (only sha256 is supported)");
        }
    }
    let mut raw = match expected_digest {
        Some(_) => MaybeHashed::Hashing(HashingReader::new(raw)),
        None => MaybeHashed::Plain(raw),
    };
    let (mut analysis, diff_id) = {
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut raw, &mut magic).context("reading the layer blob")?;
        let head = magic.get(..n).unwrap_or_default().to_vec();
        let compression = Compression::from_magic(&head);
        let joined = io::Cursor::new(head).chain(&mut raw);
        // The tar reader asks for 512-byte headers and skips the rest; ISA-L copies its 32 KiB
        // history window out of every call's output, so it gets few, large calls instead.
        let decoder: Box<dyn BufRead + '_> = match compression {
            Compression::Gzip => Box::new(BufReader::with_capacity(
                DECODED_BUFFER,
                crate::gunzip::decoder(joined),
            )),
            Compression::Zstd => Box::new(BufReader::with_capacity(
                DECODED_BUFFER,
                zstd::stream::read::Decoder::with_buffer(joined)
                    .context("starting the zstd decoder for the layer")?,
            )),
            Compression::None => Box::new(joined),
        };
        let what = match compression {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "tar",
        };
        let mut decoder = match expected_diff_id {
            Some(_) => MaybeHashed::Hashing(HashingReader::new(decoder)),
            None => MaybeHashed::Plain(decoder),
        };
        let analysis = walk_tar_skipping(&mut decoder)
            .with_context(|| format!("reading the layer ({what})"))?;
        // To the end: the DiffID covers the padding after the end-of-archive blocks, and the
        // decompressor checks its trailer (gzip CRC and length) only there.
        skip_to_end(&mut decoder)
            .with_context(|| format!("reading the end of the layer ({what})"))?;
        let diff_id = match decoder {
            MaybeHashed::Hashing(h) => Some(h.finish().0),
            MaybeHashed::Plain(_) => None,
        };
        (analysis, diff_id)
    };
    skip_to_end(&mut raw).context("reading the end of the layer blob")?;
    if let MaybeHashed::Hashing(hashed) = raw {
        verify("layer blob", expected_digest, &hashed.finish().0)?;
    }
    if let Some(computed) = diff_id {
        verify("layer DiffID", expected_diff_id, &computed)?;
        analysis.diff_id = Some(computed);
    }
    Ok(analysis)
}

/// Collects one layer's wanted files, links and whiteouts, whatever the container format.
struct Collector {
    analyzer: LayerAnalyzer,
    symlinks: BTreeMap<String, String>,
    whiteouts: Vec<String>,
    opaque_dirs: Vec<String>,
    warnings: Vec<String>,
    /// Wanted files' contents, kept (within a budget) so that hard links to them resolve.
    kept: HashMap<String, Vec<u8>>,
    kept_bytes: usize,
    /// Wanted paths this layer wrote (whatever the analyzers made of them).
    written: Vec<String>,
    /// What no analyzer reads (see `analyzer::coverage`).
    gaps: GapCollector,
}

impl Collector {
    fn new() -> Self {
        Collector {
            analyzer: LayerAnalyzer::new(),
            symlinks: BTreeMap::new(),
            whiteouts: Vec::new(),
            opaque_dirs: Vec::new(),
            warnings: Vec::new(),
            kept: HashMap::new(),
            kept_bytes: 0,
            written: Vec::new(),
            gaps: GapCollector::default(),
        }
    }

    /// A regular file. Only read when an analyzer wants it and it fits under the size cap, or, when
    /// none does, as far as the coverage recognizer needs; the caller's reader skips whatever is
    /// left unread.
    fn file(&mut self, path: &str, declared_size: u64, reader: &mut dyn Read) -> io::Result<()> {
        if path.is_empty() {
            return Ok(());
        }
        if !analyzer::required(path) {
            if coverage::wants(path, declared_size) {
                if let Some(kind) = coverage::recognize(path, declared_size, reader)? {
                    self.gaps.add(kind, path);
                }
            }
            return Ok(());
        }
        self.written.push(path.to_string());
        if declared_size > MAX_FILE_SIZE {
            self.skip_for_size(path, declared_size);
            return Ok(());
        }
        let mut buf = Vec::with_capacity(declared_size.min(1 << 20) as usize);
        reader.take(MAX_FILE_SIZE + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 > MAX_FILE_SIZE {
            self.skip_for_size(path, buf.len() as u64);
            return Ok(());
        }
        self.analyzer.add_file(path, &buf);
        if self.kept_bytes + buf.len() <= HARDLINK_KEEP_BUDGET {
            self.kept_bytes += buf.len();
            self.kept.insert(path.to_string(), buf);
        }
        Ok(())
    }

    fn skip_for_size(&mut self, path: &str, size: u64) {
        self.warnings.push(format!(
            "skipped {path}: {size} bytes or more is over the {MAX_FILE_SIZE}-byte limit for metadata files"
        ));
    }

    fn symlink(&mut self, path: &str, target: &str) {
        if !path.is_empty() {
            self.symlinks.insert(path.to_string(), target.to_string());
        }
    }

    /// A hard link inside one layer: its target is an earlier entry of the same layer.
    fn hardlink(&mut self, path: &str, target: &str) {
        if path.is_empty() {
            return;
        }
        if !analyzer::required(path) {
            self.gaps.hardlink(path, target);
            return;
        }
        self.written.push(path.to_string());
        match self.kept.get(target) {
            Some(content) => {
                let content = content.clone();
                self.analyzer.add_file(path, &content);
            }
            None => self.warnings.push(format!(
                "skipped {path}: hard link to {target}, whose content was not kept"
            )),
        }
    }

    fn finish(self, diff_id: Option<String>) -> LayerAnalysis {
        let out = self.analyzer.finish();
        let mut warnings = self.warnings;
        warnings.extend(out.warnings);
        // A hostile tar's path or link target can be long: each warning is capped.
        for w in &mut warnings {
            crate::limits::cap_owned(w, crate::limits::MAX_MESSAGE);
        }
        // A wanted file this layer rewrote but that yielded nothing (unparsable, over the size cap)
        // still hides what lower layers had at that path, as in the union filesystem.
        let mut whiteouts = self.whiteouts;
        for path in self.written {
            let produced =
                out.package_sets.iter().any(|s| s.path == path) || out.os_files.contains_key(&path);
            if !produced && !whiteouts.contains(&path) {
                whiteouts.push(path);
            }
        }
        LayerAnalysis {
            diff_id,
            os_files: out.os_files,
            symlinks: self.symlinks,
            package_sets: out.package_sets,
            whiteouts,
            opaque_dirs: self.opaque_dirs,
            warnings,
            gaps: self.gaps.finish(),
        }
    }
}

/// Tar header extensions (GNU long names `L`/`K`, PAX `x`/`g`) larger than this are refused: the
/// `tar` crate reads them whole into memory, so a crafted 1 GB PAX header would be a memory bomb.
pub const MAX_TAR_EXTENSION: u64 = 1 << 20;

/// Tracks the 512-byte block structure of a tar stream as it passes through, and fails the read when
/// a header extension is over [`MAX_TAR_EXTENSION`]. It only needs to follow headers (with a valid
/// checksum) and skip data by size; a block that is not a valid header is stepped over, so it never
/// rejects a well-formed tar.
pub(crate) struct TarGuard<R> {
    inner: R,
    block: [u8; 512],
    filled: usize,
    /// Bytes of entry data (plus padding) still to pass before the next header.
    skip: u64,
    /// GNU sparse extension headers follow the current header.
    sparse_ext: bool,
    /// PAX `x` data being collected (it may override the next entry's size).
    pax: Option<(Vec<u8>, u64)>,
    next_size: Option<u64>,
}

fn octal_field(field: &[u8]) -> Option<u64> {
    let text: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    let t = text.trim();
    if t.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(t, 8).ok()
}

/// The size field (octal, or base-256 when the high bit is set).
fn header_size(block: &[u8; 512]) -> Option<u64> {
    let field = block.get(124..136)?;
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = 0;
        for (i, b) in field.iter().enumerate() {
            let b = if i == 0 { b & 0x7f } else { *b };
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        Some(v)
    } else {
        octal_field(field)
    }
}

fn header_checksum_ok(block: &[u8; 512]) -> bool {
    let Some(stored) = block.get(148..156).and_then(octal_field) else {
        return false;
    };
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum();
    block.iter().any(|b| *b != 0) && sum == stored
}

impl<R: Read> TarGuard<R> {
    pub(crate) fn new(inner: R) -> Self {
        TarGuard {
            inner,
            block: [0; 512],
            filled: 0,
            skip: 0,
            sparse_ext: false,
            pax: None,
            next_size: None,
        }
    }

    fn on_block(&mut self) -> io::Result<()> {
        let block = self.block;
        if self.sparse_ext {
            self.sparse_ext = block.get(504).is_some_and(|b| *b != 0);
            return Ok(());
        }
        if !header_checksum_ok(&block) {
            return Ok(());
        }
        let kind = block.get(156).copied().unwrap_or(0);
        let Some(mut size) = header_size(&block) else {
            return Ok(());
        };
        let is_ext = matches!(kind, b'L' | b'K' | b'x' | b'g');
        if is_ext {
            if size > MAX_TAR_EXTENSION {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tar header extension of {size} bytes is over the {MAX_TAR_EXTENSION}-byte limit"),
                ));
            }
            if kind == b'x' {
                self.pax = Some((Vec::with_capacity(size as usize), size));
            }
        } else if let Some(s) = self.next_size.take() {
            size = s;
        }
        if kind == b'S' && block.get(482).is_some_and(|b| *b != 0) {
            self.sparse_ext = true;
        }
        self.skip = size.div_ceil(512).saturating_mul(512);
        if self.skip == 0 {
            self.finish_pax();
        }
        Ok(())
    }

    fn finish_pax(&mut self) {
        if let Some((data, _)) = self.pax.take() {
            for record in data.split(|b| *b == b'\n') {
                let text = String::from_utf8_lossy(record);
                if let Some((_, kv)) = text.split_once(' ') {
                    if let Some(v) = kv.strip_prefix("size=") {
                        self.next_size = v.trim().parse().ok();
                    }
                }
            }
        }
    }

    fn observe(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.skip > 0 {
                let n = (self.skip.min(data.len() as u64)) as usize;
                let (chunk, rest) = data.split_at(n);
                if let Some((buf, want)) = self.pax.as_mut() {
                    let room = (*want as usize).saturating_sub(buf.len());
                    buf.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
                }
                self.skip -= n as u64;
                if self.skip == 0 {
                    self.finish_pax();
                }
                data = rest;
            } else {
                let n = (512 - self.filled).min(data.len());
                let (chunk, rest) = data.split_at(n);
                if let Some(dst) = self.block.get_mut(self.filled..self.filled + n) {
                    dst.copy_from_slice(chunk);
                }
                self.filled += n;
                data = rest;
                if self.filled == 512 {
                    self.filled = 0;
                    self.on_block()?;
                }
            }
        }
        Ok(())
    }
}

/// The `tar` crate seeks over entry data it does not read (`SeekFrom::Current`): account for it, so
/// the guard stays on header boundaries when indexing a tarball on disk.
impl<R: Read + std::io::Seek> std::io::Seek for TarGuard<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> io::Result<u64> {
        let new = self.inner.seek(pos)?;
        match pos {
            std::io::SeekFrom::Current(d) if d >= 0 && (d as u64) <= self.skip => {
                self.skip -= d as u64;
                if self.skip == 0 {
                    self.finish_pax();
                }
            }
            _ => {
                // Anywhere else: expect a header at the new position.
                self.skip = 0;
                self.filled = 0;
                self.sparse_ext = false;
                self.pax = None;
            }
        }
        Ok(new)
    }
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(buf.get(..n).unwrap_or_default())?;
        Ok(n)
    }
}

/// A buffered stream the tar reader may "seek" forward in: skipping entry data it does not want
/// just advances past the bytes in the buffer ([`BufRead::consume`]) instead of copying them out
/// (most of a layer is such data). Only forward relative seeks are possible; the position returned
/// is the number of bytes passed so far.
struct ForwardSkip<R> {
    inner: R,
    pos: u64,
}

impl<R: BufRead> Read for ForwardSkip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> std::io::Seek for ForwardSkip<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> io::Result<u64> {
        let backward = || {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "a layer stream can only be skipped forward",
            )
        };
        let std::io::SeekFrom::Current(delta) = pos else {
            return Err(backward());
        };
        let mut left = u64::try_from(delta).map_err(|_| backward())?;
        while left > 0 {
            let available = self.inner.fill_buf()?.len();
            if available == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the tar stream ends inside an entry",
                ));
            }
            let n = available.min(usize::try_from(left).unwrap_or(usize::MAX));
            self.inner.consume(n);
            left -= n as u64;
            self.pos += n as u64;
        }
        Ok(self.pos)
    }
}

/// Walk an uncompressed tar stream reading every byte (the reference for the skipping walk).
#[cfg(test)]
fn walk_tar(reader: impl Read) -> anyhow::Result<LayerAnalysis> {
    let mut archive = tar::Archive::new(TarGuard::new(reader));
    collect_entries(archive.entries().context("reading the tar stream")?)
}

/// Walk a buffered, uncompressed tar stream, skipping unwanted file data without copying it.
fn walk_tar_skipping(reader: impl BufRead) -> anyhow::Result<LayerAnalysis> {
    let mut archive = tar::Archive::new(TarGuard::new(ForwardSkip {
        inner: reader,
        pos: 0,
    }));
    collect_entries(
        archive
            .entries_with_seek()
            .context("reading the tar stream")?,
    )
}

fn collect_entries<R: Read>(entries: tar::Entries<'_, R>) -> anyhow::Result<LayerAnalysis> {
    let mut c = Collector::new();
    for entry in entries {
        let mut entry = entry.context("reading a tar entry")?;
        let path = normalize_path(&String::from_utf8_lossy(&entry.path_bytes()));
        let (dir, base) = split_parent(&path);
        if base == ".wh..wh..opq" {
            c.opaque_dirs.push(dir.to_string());
            continue;
        }
        if let Some(name) = base.strip_prefix(".wh.") {
            if !name.is_empty() {
                c.whiteouts.push(join_path(dir, name));
            }
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_file() || kind == tar::EntryType::Continuous {
            let size = entry.size();
            c.file(&path, size, &mut entry)
                .with_context(|| format!("reading {path} from the layer"))?;
        } else if kind.is_symlink() {
            if let Some(target) = entry.link_name_bytes() {
                let target = String::from_utf8_lossy(&target).into_owned();
                c.symlink(&path, &target);
            }
        } else if kind.is_hard_link() {
            if let Some(target) = entry.link_name_bytes() {
                let target = normalize_path(&String::from_utf8_lossy(&target));
                c.hardlink(&path, &target);
            }
        }
    }
    Ok(c.finish(None))
}

/// Analyse a Lambda layer or function zip in place: entries are read straight from the zip, only
/// the wanted ones are decompressed, each under the size cap.
pub fn analyze_zip(path: &Path) -> anyhow::Result<LayerAnalysis> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open zip {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .with_context(|| format!("{} is not a readable zip file", path.display()))?;
    let mut c = Collector::new();
    for i in 0..zip.len() {
        let (name, is_symlink, is_dir, size) = {
            let meta = zip
                .by_index_raw(i)
                .with_context(|| format!("reading entry {i} of zip {}", path.display()))?;
            (
                String::from_utf8_lossy(meta.name_raw()).replace('\\', "/"),
                meta.is_symlink(),
                meta.is_dir(),
                meta.size(),
            )
        };
        let norm = normalize_path(&name);
        if is_dir || norm.is_empty() {
            continue;
        }
        if is_symlink {
            if size > MAX_SYMLINK_TARGET {
                continue;
            }
            match zip.by_index(i) {
                Ok(f) => {
                    let mut target = Vec::new();
                    if f.take(MAX_SYMLINK_TARGET).read_to_end(&mut target).is_ok() {
                        c.symlink(&norm, &String::from_utf8_lossy(&target));
                    }
                }
                Err(e) => c
                    .warnings
                    .push(format!("skipped symlink {norm} in {}: {e}", path.display())),
            }
            continue;
        }
        let wanted = analyzer::required(&norm);
        if !wanted && !coverage::wants(&norm, size) {
            continue;
        }
        if wanted && size > MAX_FILE_SIZE {
            c.skip_for_size(&norm, size);
            continue;
        }
        match zip.by_index(i) {
            Ok(mut f) => {
                if let Err(e) = c.file(&norm, size, &mut f) {
                    c.warnings
                        .push(format!("skipped {norm} in {}: {e}", path.display()));
                }
            }
            Err(e) => c
                .warnings
                .push(format!("skipped {norm} in {}: {e}", path.display())),
        }
    }
    Ok(c.finish(None))
}

/// Analyse a directory in place. Symlinks are recorded, never followed (so nothing outside the root
/// is read); `.git` directories are skipped. Unreadable subdirectories are warnings.
pub fn analyze_dir(root: &Path) -> anyhow::Result<LayerAnalysis> {
    let meta = std::fs::metadata(root)
        .with_context(|| format!("cannot read directory {}", root.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", root.display());
    }
    let mut c = Collector::new();
    let mut stack: Vec<(std::path::PathBuf, String)> = vec![(root.to_path_buf(), String::new())];
    let mut first = true;
    while let Some((abs, rel)) = stack.pop() {
        let entries = match std::fs::read_dir(&abs) {
            Ok(e) => e,
            Err(e) if first => {
                return Err(e).with_context(|| format!("cannot read directory {}", root.display()))
            }
            Err(e) => {
                c.warnings
                    .push(format!("skipped directory {}: {e}", abs.display()));
                continue;
            }
        };
        first = false;
        let mut children: Vec<_> = entries.filter_map(Result::ok).collect();
        children.sort_by_key(|e| e.file_name());
        for entry in children {
            let name = entry.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_symlink() {
                if let Ok(target) = std::fs::read_link(entry.path()) {
                    c.symlink(&child_rel, &target.to_string_lossy());
                }
            } else if ft.is_dir() {
                // Pseudo-filesystems of a live root hold no packages and can be endless.
                let pseudo = rel.is_empty()
                    && root == Path::new("/")
                    && matches!(name.as_str(), "proc" | "sys" | "dev");
                if name != ".git" && !pseudo {
                    stack.push((entry.path(), child_rel));
                }
            } else if ft.is_file() {
                let wanted = analyzer::required(&child_rel);
                // A stat only for what an analyzer wants, or what the recognizer might.
                if !wanted && coverage::by_path(&child_rel).is_none() && !coverage::probes_sizes() {
                    continue;
                }
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                if !wanted && !coverage::wants(&child_rel, size) {
                    continue;
                }
                if wanted && size > MAX_FILE_SIZE {
                    c.skip_for_size(&child_rel, size);
                    continue;
                }
                let res = std::fs::File::open(entry.path())
                    .and_then(|mut f| c.file(&child_rel, size, &mut f));
                if let Err(e) = res {
                    c.warnings.push(format!("skipped {child_rel}: {e}"));
                }
            }
        }
    }
    Ok(c.finish(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_never_leaves_root() {
        let cases = [
            ("./etc/os-release", "etc/os-release"),
            ("/var/lib/dpkg/status", "var/lib/dpkg/status"),
            ("../../etc/passwd", "etc/passwd"),
            ("a/b/../../../c", "c"),
            ("a//b/./c/", "a/b/c"),
            ("..", ""),
            ("./", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_path(raw), want, "{raw}");
        }
    }

    #[test]
    fn join_resolves_relative_and_absolute() {
        assert_eq!(
            join_path("etc", "../usr/lib/os-release"),
            "usr/lib/os-release"
        );
        assert_eq!(
            join_path("etc", "/usr/lib/os-release"),
            "usr/lib/os-release"
        );
        assert_eq!(join_path("", "x"), "x");
        assert_eq!(split_parent("a/b/c"), ("a/b", "c"));
        assert_eq!(split_parent("c"), ("", "c"));
    }

    fn tar_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn whiteouts_and_opaque_dirs_are_recorded() {
        let t = tar_with(&[
            ("usr/lib/python3/.wh.foo.dist-info", b""),
            ("var/lib/.wh..wh..opq", b""),
            ("etc/hostname", b"x"),
        ]);
        let a = analyze_tar_blob(&t[..], None, None).unwrap();
        assert_eq!(
            a.whiteouts,
            vec!["usr/lib/python3/foo.dist-info".to_string()]
        );
        assert_eq!(a.opaque_dirs, vec!["var/lib".to_string()]);
        assert_eq!(a.diff_id, None, "nothing to check, nothing hashed");
        let a = analyze_tar_blob(&t[..], None, Some(&sha256_digest(&t))).unwrap();
        assert_eq!(a.diff_id, Some(sha256_digest(&t)));
    }

    /// Like the registry's download stream: the bytes, then an error where the stream ends (the
    /// digest did not match).
    struct FailsAtEnd<'a>(&'a [u8]);

    impl Read for FailsAtEnd<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("blob sha256:feed did not match"));
            }
            let n = self.0.read(buf)?;
            Ok(n)
        }
    }

    /// With no blob digest to check (the source checks it), the stored bytes are still read to the
    /// very end, so a mismatch the source reports there fails the layer.
    #[test]
    fn unhashed_blob_is_read_to_the_end() {
        let t = tar_with(&[("etc/hostname", b"x")]);
        let diff = sha256_digest(&t);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &t).unwrap();
        let blob = gz.finish().unwrap();
        let clean = analyze_tar_blob(&blob[..], None, Some(&diff)).unwrap();
        assert_eq!(clean.diff_id.as_deref(), Some(diff.as_str()));
        // The tar reader stops at the first end-of-archive block; only reading on reaches the error.
        for stored in [&t, &blob] {
            let err = analyze_tar_blob(BufReader::new(FailsAtEnd(stored)), None, Some(&diff))
                .unwrap_err();
            assert!(format!("{err:#}").contains("sha256:feed"), "{err:#}");
        }
    }

    #[test]
    fn digests_verified_for_plain_gzip_and_zstd() {
        let t = tar_with(&[("etc/hostname", b"x")]);
        let diff = sha256_digest(&t);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &t).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&t[..], 3).unwrap();
        for blob in [&t, &gz, &zs] {
            let d = sha256_digest(blob);
            let a = analyze_tar_blob(&blob[..], Some(&d), Some(&diff)).unwrap();
            assert_eq!(a.diff_id.as_deref(), Some(diff.as_str()));
        }
        let wrong = sha256_digest(b"other");
        let err = analyze_tar_blob(&gz[..], Some(&wrong), Some(&diff)).unwrap_err();
        assert!(format!("{err:#}").contains(&wrong), "{err:#}");
        let err = analyze_tar_blob(&gz[..], None, Some(&wrong)).unwrap_err();
        assert!(format!("{err:#}").contains("DiffID"), "{err:#}");
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let t = tar_with(&[("etc/hostname", &[7u8; 5000][..])]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &t).unwrap();
        let mut gz = gz.finish().unwrap();
        let truncated = gz[..gz.len() / 2].to_vec();
        assert!(analyze_tar_blob(&truncated[..], None, None).is_err());
        let mid = gz.len() / 2;
        gz[mid] ^= 0xff;
        gz[mid + 1] ^= 0xff;
        assert!(analyze_tar_blob(&gz[..], None, None).is_err());
    }

    /// A layer mixing wanted files, unwanted bulk, a GNU long name, links and a whiteout.
    fn mixed_layer() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, path, data).unwrap();
        };
        add("opt/big/a.bin", &[1u8; 70_001]);
        add(
            "etc/os-release",
            b"ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian 12\"\n",
        );
        add("opt/big/b.bin", &[2u8; 3]);
        add(
            "var/lib/dpkg/status",
            b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\nArchitecture: amd64\n\n",
        );
        add(&format!("opt/{}/c.bin", "deep".repeat(40)), &[3u8; 1025]);
        add(
            "usr/lib/python3/dist-packages/requests-2.25.1.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: requests\nVersion: 2.25.1\n",
        );
        add("usr/lib/python3/.wh.old.dist-info", b"");
        add("opt/big/d.bin", &[4u8; 511]);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "etc/alt-release", "os-release")
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        b.append_link(&mut h, "var/lib/dpkg/status-old", "var/lib/dpkg/status")
            .unwrap();
        b.into_inner().unwrap()
    }

    /// Skipping unwanted data through the buffer finds exactly what reading every byte finds,
    /// whatever the buffer's size (entries straddle buffer ends).
    #[test]
    fn skipping_walk_agrees_with_reading_walk() {
        let t = mixed_layer();
        let read_all = walk_tar(&t[..]).unwrap();
        assert!(
            !read_all.package_sets.is_empty(),
            "the fixture has packages: {read_all:?}"
        );
        for cap in [1, 7, 511, 512, 513, 4096, 65_536, 1 << 20] {
            let skipped = walk_tar_skipping(BufReader::with_capacity(cap, &t[..])).unwrap();
            assert_eq!(skipped, read_all, "buffer of {cap} bytes");
        }
    }

    /// A stream that ends inside data being skipped is an error, never a short clean layer.
    #[test]
    fn skipping_into_a_truncated_stream_fails() {
        let t = mixed_layer();
        // Inside the first (unwanted, skipped) entry's data.
        let cut = &t[..512 + 30_000];
        let err = walk_tar_skipping(BufReader::with_capacity(4096, cut)).unwrap_err();
        assert!(format!("{err:#}").contains("ends inside"), "{err:#}");
    }

    proptest::proptest! {
        #[test]
        fn normalized_paths_never_escape(raw in "[a-z./]{0,40}") {
            let n = normalize_path(&raw);
            proptest::prop_assert!(!n.starts_with('/'));
            proptest::prop_assert!(n.split('/').all(|c| c != ".." && c != "."));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let _ = analyze_tar_blob(&bytes[..], None, None);
            let mut gz = vec![0x1f, 0x8b];
            gz.extend_from_slice(&bytes);
            let _ = analyze_tar_blob(&gz[..], None, None);
            let mut zs = vec![0x28, 0xb5, 0x2f, 0xfd];
            zs.extend_from_slice(&bytes);
            let _ = analyze_tar_blob(&zs[..], None, None);
        }
    }

    #[test]
    fn oversized_wanted_file_is_skipped_with_a_warning() {
        let path = "usr/lib/python3/site-packages/big-1.0.dist-info/METADATA";
        assert!(
            analyzer::required(path),
            "the python analyzer wants METADATA"
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        {
            let mut b = tar::Builder::new(&mut gz);
            let mut h = tar::Header::new_gnu();
            h.set_size(MAX_FILE_SIZE + 1);
            h.set_mode(0o644);
            b.append_data(&mut h, path, io::repeat(b'A').take(MAX_FILE_SIZE + 1))
                .unwrap();
            b.finish().unwrap();
        }
        let gz = gz.finish().unwrap();
        let a = analyze_tar_blob(&gz[..], None, None).unwrap();
        assert!(a.package_sets.is_empty());
        assert!(
            a.warnings
                .iter()
                .any(|w| w.contains(path) && w.contains("limit")),
            "{:?}",
            a.warnings
        );
    }

    #[test]
    fn huge_pax_header_is_refused_without_buffering() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        {
            let mut b = tar::Builder::new(&mut gz);
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_size(200 << 20);
            h.set_mode(0o644);
            b.append_data(&mut h, "PaxHeaders/x", io::repeat(b'a').take(200 << 20))
                .unwrap();
            b.finish().unwrap();
        }
        let gz = gz.finish().unwrap();
        let err = analyze_tar_blob(&gz[..], None, None).unwrap_err();
        assert!(format!("{err:#}").contains("header extension"), "{err:#}");
    }

    #[test]
    fn guard_follows_pax_sizes_and_long_names() {
        // Long names (GNU L and PAX path), a PAX size record, files of odd sizes: all must pass the
        // guard and parse as the tar crate sees them.
        let long = format!(
            "usr/lib/python3/dist-packages/{}/x.dist-info/METADATA",
            "d".repeat(150)
        );
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap();
        b.append_pax_extensions([("size", &b"5"[..])]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, "etc/hostname", &b"hello"[..])
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        b.append_data(&mut h, "usr/.wh.gone", &b""[..]).unwrap();
        let t = b.into_inner().unwrap();
        let a = analyze_tar_blob(&t[..], None, None).unwrap();
        // The long name arrived whole: the unparsable METADATA is recorded under its full path.
        assert!(a.whiteouts.contains(&"usr/gone".to_string()), "{a:?}");
        assert!(a.whiteouts.contains(&long), "{a:?}");
        let mut g = TarGuard::new(&t[..]);
        io::copy(&mut g, &mut io::sink()).unwrap();
        assert_eq!(g.skip, 0);
    }

    #[test]
    fn unparsable_rewrite_hides_the_lower_file() {
        let path = "usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA";
        let t = tar_with(&[(path, b"\xff\xfe not metadata")]);
        let a = analyze_tar_blob(&t[..], None, None).unwrap();
        if a.package_sets.iter().all(|s| s.path != path) {
            assert!(a.whiteouts.contains(&path.to_string()), "{a:?}");
        }
        let good = "Metadata-Version: 2.1\nName: x\nVersion: 1.0\n\n".to_string();
        let t = tar_with(&[(path, good.as_bytes())]);
        let a = analyze_tar_blob(&t[..], None, None).unwrap();
        assert!(a.package_sets.iter().any(|s| s.path == path), "{a:?}");
        assert!(a.whiteouts.is_empty());
    }

    #[test]
    fn hashing_reader_covers_everything() {
        let data = vec![3u8; 100_000];
        let mut r = HashingReader::new(&data[..]);
        let mut first = [0u8; 10];
        read_up_to(&mut r, &mut first).unwrap();
        r.drain().unwrap();
        let (d, n) = r.finish();
        assert_eq!(n, 100_000);
        assert_eq!(d, sha256_digest(&data));
    }

    proptest::proptest! {
        /// Bytes read out and bytes consumed in place, in any mix, are each hashed exactly once.
        #[test]
        fn hashing_reader_hashes_reads_and_consumes_once(
            len in 0usize..20_000,
            cap in 1usize..5_000,
            steps in proptest::collection::vec((proptest::bool::ANY, 0usize..3_000), 0..40),
        ) {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut r = HashingReader::new(BufReader::with_capacity(cap, &data[..]));
            let mut buf = vec![0u8; 3_000];
            for (read, n) in steps {
                if read {
                    let k = r.read(buf.get_mut(..n).unwrap()).unwrap();
                    proptest::prop_assert!(k <= n);
                } else {
                    let avail = r.fill_buf().unwrap().len();
                    r.consume(n.min(avail));
                }
            }
            skip_to_end(&mut r).unwrap();
            let (d, n) = r.finish();
            proptest::prop_assert_eq!(n, len as u64);
            proptest::prop_assert_eq!(d, sha256_digest(&data));
        }
    }

    /// However the stored bytes arrive (buffer sizes down to one byte), a layer gives the same
    /// findings, and its blob digest and DiffID are checked over every byte.
    #[test]
    fn buffer_sizes_change_neither_findings_nor_digests() {
        let t = mixed_layer();
        let diff = sha256_digest(&t);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &t).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&t[..], 3).unwrap();
        let reference = walk_tar(&t[..]).unwrap();
        for blob in [&t, &gz, &zs] {
            let digest = sha256_digest(blob);
            for cap in [1, 3, 512, 8192, 1 << 20] {
                let mut a = analyze_tar_blob(
                    BufReader::with_capacity(cap, &blob[..]),
                    Some(&digest),
                    Some(&diff),
                )
                .unwrap();
                assert_eq!(a.diff_id.take(), Some(diff.clone()), "buffer {cap}");
                assert_eq!(a, reference, "buffer {cap}");
            }
            // One flipped byte in the skipped bulk: the DiffID (plain tar: both digests) no longer
            // matches, although no analyzer read that byte.
            if blob == &t {
                let mut bad = t.clone();
                bad[600] ^= 1;
                let err =
                    analyze_tar_blob(BufReader::with_capacity(512, &bad[..]), None, Some(&diff))
                        .unwrap_err();
                assert!(format!("{err:#}").contains("DiffID"), "{err:#}");
            }
        }
    }
}
