//! Streaming gzip decompression of layer blobs: every member of a multi-member stream, each one's
//! CRC-32 and length checked, a truncated stream an error (never a silent early end).
//!
//! Two implementations behind one function: zlib-rs (pure Rust, through flate2) by default, and
//! with the `isal` cargo feature Intel ISA-L's igzip, about 1.5x faster on the same layers. Inflate
//! is most of the CPU time of a registry pull-and-scan, so on a 2-core machine it decides whether
//! the scan keeps up with `skopeo copy`.

use std::io::BufRead;

/// A reader of the decompressed bytes of the gzip stream `r`.
#[cfg(not(feature = "isal"))]
pub fn decoder<R: BufRead>(r: R) -> impl std::io::Read {
    flate2::bufread::MultiGzDecoder::new(r)
}

/// A reader of the decompressed bytes of the gzip stream `r`.
#[cfg(feature = "isal")]
pub fn decoder<R: BufRead>(r: R) -> impl std::io::Read {
    igzip::GzDecoder::new(r)
}

/// Which implementation this build uses.
pub const IMPLEMENTATION: &str = if cfg!(feature = "isal") {
    "isa-l igzip"
} else {
    "zlib-rs"
};

/// `layerscan --version`: the version and the gzip implementation built in (the benchmark reads it).
pub const VERSION: &str = if cfg!(feature = "isal") {
    concat!(env!("CARGO_PKG_VERSION"), " (gzip: isa-l igzip)")
} else {
    concat!(env!("CARGO_PKG_VERSION"), " (gzip: zlib-rs)")
};

/// The gzip member header (RFC 1952 §2.3), parsed here rather than by ISA-L so that a header split
/// across reads, or one with a name, comment, extra field or header CRC, is handled the same way
/// whichever inflater runs. Returns `Ok(false)` at a clean end of input before any header byte.
#[cfg(feature = "isal")]
fn read_member_header(r: &mut impl BufRead) -> std::io::Result<bool> {
    use std::io::{Error, ErrorKind};
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    const RESERVED: u8 = 0xe0;

    if r.fill_buf()?.is_empty() {
        return Ok(false);
    }
    let bad = |what: &str| {
        Error::new(
            ErrorKind::InvalidData,
            format!("invalid gzip header: {what}"),
        )
    };
    let eof = |e: Error| {
        if e.kind() == ErrorKind::UnexpectedEof {
            Error::new(
                ErrorKind::UnexpectedEof,
                "gzip stream is truncated (inside a header)",
            )
        } else {
            e
        }
    };
    let mut crc = flate2::Crc::new();
    let mut fixed = [0u8; 10];
    r.read_exact(&mut fixed).map_err(eof)?;
    crc.update(&fixed);
    let [id1, id2, cm, flags, ..] = fixed;
    if (id1, id2) != (0x1f, 0x8b) {
        return Err(bad("not a gzip member (bad magic bytes)"));
    }
    if cm != 8 {
        return Err(bad(&format!("compression method {cm} is not deflate")));
    }
    if flags & RESERVED != 0 {
        return Err(bad("reserved flag bits set"));
    }
    if flags & FEXTRA != 0 {
        let mut len = [0u8; 2];
        r.read_exact(&mut len).map_err(eof)?;
        crc.update(&len);
        let mut left = u16::from_le_bytes(len) as usize;
        while left > 0 {
            let buf = r.fill_buf()?;
            if buf.is_empty() {
                return Err(eof(ErrorKind::UnexpectedEof.into()));
            }
            let n = buf.len().min(left);
            crc.update(buf.get(..n).unwrap_or_default());
            r.consume(n);
            left -= n;
        }
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            // A zero-terminated string of any length, streamed (a hostile header could be huge).
            loop {
                let buf = r.fill_buf()?;
                if buf.is_empty() {
                    return Err(eof(ErrorKind::UnexpectedEof.into()));
                }
                match buf.iter().position(|&b| b == 0) {
                    Some(i) => {
                        crc.update(buf.get(..=i).unwrap_or_default());
                        r.consume(i + 1);
                        break;
                    }
                    None => {
                        let n = buf.len();
                        crc.update(buf);
                        r.consume(n);
                    }
                }
            }
        }
    }
    if flags & FHCRC != 0 {
        let mut stored = [0u8; 2];
        r.read_exact(&mut stored).map_err(eof)?;
        if u16::from_le_bytes(stored) != (crc.sum() & 0xffff) as u16 {
            return Err(bad("header CRC mismatch"));
        }
    }
    Ok(true)
}

#[cfg(feature = "isal")]
mod igzip {
    use isal_sys::igzip_lib as ffi;
    use std::io::{self, BufRead, Error, ErrorKind, Read};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Phase {
        /// Before a member header (`first`: the stream's first member, which must exist).
        Header {
            first: bool,
        },
        /// Inside a member's deflate data or trailer.
        Body,
        Done,
        /// A decoding error was returned; later reads fail too (never a clean-looking end).
        Failed,
    }

    /// Multi-member gzip decoder over ISA-L's stateful `isal_inflate`. Headers are parsed in Rust
    /// (`read_member_header`); ISA-L inflates each member's raw deflate data and checks the gzip
    /// trailer (`ISAL_GZIP_NO_HDR_VER`: CRC-32 and length).
    pub struct GzDecoder<R> {
        inner: R,
        /// ~100 KiB of tables and history: boxed, and only ever touched through `&mut`.
        state: Box<ffi::inflate_state>,
        phase: Phase,
    }

    impl<R: BufRead> GzDecoder<R> {
        pub fn new(inner: R) -> Self {
            let layout = std::alloc::Layout::new::<ffi::inflate_state>();
            // SAFETY: the layout is that of `inflate_state` (non-zero size). It is plain C data
            // (integers, raw pointers, arrays and unions of those), for which all-zero bytes are
            // a valid value, and a pointer from the global allocator with the type's own layout
            // is what `Box::from_raw` takes. `isal_inflate_init` then sets every field it reads.
            let mut state = unsafe {
                let ptr = std::alloc::alloc_zeroed(layout).cast::<ffi::inflate_state>();
                if ptr.is_null() {
                    std::alloc::handle_alloc_error(layout);
                }
                Box::from_raw(ptr)
            };
            // SAFETY: `state` is a valid, exclusively borrowed inflate_state.
            unsafe { ffi::isal_inflate_init(&mut *state) };
            GzDecoder {
                inner,
                state,
                phase: Phase::Header { first: true },
            }
        }

        /// Run `isal_inflate` once over what the inner reader has buffered, into `out`. Returns
        /// (input consumed, output produced, ISA-L's return code).
        fn step(&mut self, out: &mut [u8]) -> io::Result<(usize, usize, i32)> {
            let input = self.inner.fill_buf()?;
            let in_len = input.len().min(u32::MAX as usize);
            let out_len = out.len().min(u32::MAX as usize);
            let st = &mut *self.state;
            st.next_in = input.as_ptr().cast_mut();
            st.avail_in = in_len as u32;
            st.next_out = out.as_mut_ptr();
            st.avail_out = out_len as u32;
            // SAFETY: next_in/avail_in describe `input` (readable for the call; ISA-L never writes
            // through next_in) and next_out/avail_out describe `out` (writable); both borrows
            // outlive the call, and the pointers are cleared right after it, so the state never
            // keeps a pointer into memory it does not own. Whatever input ISA-L needs to keep
            // between calls it copies into its own buffers (`tmp_in_buffer`, `read_in`), so the
            // consumed count is final.
            let rc = unsafe { ffi::isal_inflate(st) };
            // On some corrupt streams ISA-L hands back bits it had buffered, leaving `avail_in`
            // above what we passed in: never underflow on that, treat it as corrupt input.
            let left_in = st.avail_in as usize;
            let left_out = st.avail_out as usize;
            st.next_in = std::ptr::null_mut();
            st.avail_in = 0;
            st.next_out = std::ptr::null_mut();
            st.avail_out = 0;
            if left_in > in_len || left_out > out_len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "corrupt gzip stream (the inflater rewound past its input)",
                ));
            }
            let consumed = in_len - left_in;
            let produced = out_len - left_out;
            self.inner.consume(consumed);
            Ok((consumed, produced, rc))
        }
    }

    fn inflate_error(rc: i32) -> Error {
        let what = match rc {
            ffi::ISAL_INVALID_BLOCK => "invalid deflate block",
            ffi::ISAL_INVALID_SYMBOL => "invalid deflate symbol",
            ffi::ISAL_INVALID_LOOKBACK => "invalid deflate back-reference distance",
            ffi::ISAL_INCORRECT_CHECKSUM => {
                "gzip trailer does not match the data (CRC-32 or length)"
            }
            ffi::ISAL_UNSUPPORTED_METHOD => "unsupported compression method",
            ffi::ISAL_INVALID_WRAPPER => "invalid gzip wrapper",
            _ => "gzip decoding failed",
        };
        Error::new(ErrorKind::InvalidData, format!("{what} (isa-l error {rc})"))
    }

    impl<R: BufRead> Read for GzDecoder<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if buf.is_empty() {
                return Ok(0);
            }
            loop {
                match self.phase {
                    Phase::Done => return Ok(0),
                    Phase::Failed => {
                        return Err(Error::new(
                            ErrorKind::InvalidData,
                            "gzip stream: read after a decoding error",
                        ))
                    }
                    Phase::Header { first } => {
                        if !super::read_member_header(&mut self.inner)? {
                            if first {
                                return Err(Error::new(
                                    ErrorKind::UnexpectedEof,
                                    "empty gzip stream",
                                ));
                            }
                            self.phase = Phase::Done;
                            return Ok(0);
                        }
                        // SAFETY: a valid, exclusively borrowed inflate_state.
                        unsafe { ffi::isal_inflate_reset(&mut *self.state) };
                        self.state.crc_flag = ffi::ISAL_GZIP_NO_HDR_VER;
                        self.phase = Phase::Body;
                    }
                    Phase::Body => {
                        let (consumed, produced, rc) = self.step(buf)?;
                        if rc < 0 {
                            self.phase = Phase::Failed;
                            return Err(inflate_error(rc));
                        }
                        if self.state.block_state == ffi::isal_block_state_ISAL_BLOCK_FINISH {
                            self.phase = Phase::Header { first: false };
                        }
                        if produced > 0 {
                            return Ok(produced);
                        }
                        if self.phase == Phase::Body && consumed == 0 {
                            // Nothing in, nothing out, not finished: the input has ended (or the
                            // reader offers nothing ISA-L can use), inside the member.
                            self.phase = Phase::Failed;
                            return Err(Error::new(
                                ErrorKind::UnexpectedEof,
                                "gzip stream is truncated",
                            ));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::{self, Read, Write};

    fn gzip(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Hands out at most `chunk` bytes per `fill_buf`, so headers, blocks and trailers are split
    /// across reads at every possible place.
    struct Trickle<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.fill_buf()?.len().min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.consume(n);
            Ok(n)
        }
    }

    impl BufRead for Trickle<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            let n = self.data.len().min(self.chunk);
            Ok(&self.data[..n])
        }
        fn consume(&mut self, n: usize) {
            self.data = &self.data[n..];
        }
    }

    fn decode(data: &[u8], chunk: usize, out_chunk: usize) -> io::Result<Vec<u8>> {
        let mut d = decoder(Trickle { data, chunk });
        let mut out = Vec::new();
        let mut buf = vec![0u8; out_chunk];
        loop {
            let n = d.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn sample(len: usize, seed: u64) -> Vec<u8> {
        // Compressible but not trivial: words from a small vocabulary, with noise.
        let words: [&[u8]; 6] = [
            b"usr/lib/",
            b"python3",
            b" Version: ",
            b"\n",
            b"dpkg",
            b"\0\0\0",
        ];
        let mut x = seed | 1;
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 5 == 0 {
                out.push((x >> 8) as u8);
            } else {
                out.extend_from_slice(words[(x % 6) as usize]);
            }
        }
        out.truncate(len);
        out
    }

    #[test]
    fn multi_member_streams_with_every_header_field() {
        let a = sample(300_000, 1);
        let b = sample(70_000, 2);
        let mut with_fields = Vec::new();
        let mut e = flate2::GzBuilder::new()
            .filename("layer.tar")
            .comment("a comment")
            .extra(vec![1, 2, 3, 4])
            .write(&mut with_fields, flate2::Compression::best());
        e.write_all(&b).unwrap();
        e.finish().unwrap();
        let mut stream = gzip(&a, 6);
        stream.extend_from_slice(&with_fields);
        stream.extend_from_slice(&gzip(b"", 1));
        stream.extend_from_slice(&gzip(&a[..1000], 0));
        let mut want = a.clone();
        want.extend_from_slice(&b);
        want.extend_from_slice(&a[..1000]);
        for (chunk, out) in [(1, 7), (3, 1), (17, 4096), (65536, 65536), (1 << 20, 100)] {
            assert_eq!(
                decode(&stream, chunk, out).unwrap(),
                want,
                "chunk {chunk}, out {out}"
            );
        }
    }

    #[test]
    fn header_crc_is_checked() {
        // FHCRC set by hand: flags byte 3 |= 0x02, CRC-16 of the header inserted after it.
        let body = gzip(b"hello", 6);
        let mut hdr = body[..10].to_vec();
        hdr[3] |= 0x02;
        let crc = {
            let mut c = flate2::Crc::new();
            c.update(&hdr);
            (c.sum() & 0xffff) as u16
        };
        let mut good = hdr.clone();
        good.extend_from_slice(&crc.to_le_bytes());
        good.extend_from_slice(&body[10..]);
        assert_eq!(decode(&good, 5, 64).unwrap(), b"hello");
        let mut bad = hdr;
        bad.extend_from_slice(&(crc ^ 1).to_le_bytes());
        bad.extend_from_slice(&body[10..]);
        assert!(decode(&bad, 5, 64).is_err());
    }

    #[test]
    fn truncation_corruption_and_trailing_garbage_are_errors() {
        let data = sample(200_000, 3);
        let gz = gzip(&data, 6);
        for cut in [
            1,
            5,
            10,
            11,
            100,
            gz.len() / 2,
            gz.len() - 8,
            gz.len() - 4,
            gz.len() - 1,
        ] {
            let err = decode(&gz[..cut], 4096, 4096).unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData
                ),
                "cut {cut}: {err}"
            );
        }
        let mut d = decoder(&gz[..gz.len() / 2]);
        let mut sink = Vec::new();
        assert!(d.read_to_end(&mut sink).is_err());
        assert!(
            d.read(&mut [0u8; 16]).is_err(),
            "no clean end after an error"
        );
        let mut crc = gz.clone();
        let n = crc.len();
        crc[n - 6] ^= 1; // CRC-32
        assert!(decode(&crc, 4096, 4096).is_err());
        let mut len = gz.clone();
        len[n - 2] ^= 1; // ISIZE
        assert!(decode(&len, 4096, 4096).is_err());
        let mut trailing = gz.clone();
        trailing.extend_from_slice(b"garbage!");
        assert!(decode(&trailing, 4096, 4096).is_err());
        assert!(decode(b"", 4096, 4096).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any bytes, any level, any split of input and output: the same as flate2 decodes.
        #[test]
        fn agrees_with_flate2(
            seed in any::<u64>(),
            len in 0usize..150_000,
            level in 0u32..=9,
            chunk in 1usize..70_000,
            out in 1usize..70_000,
        ) {
            let data = sample(len, seed);
            let gz = gzip(&data, level);
            prop_assert_eq!(decode(&gz, chunk, out).unwrap(), data);
        }

        /// Corrupted streams: an error or the same bytes as flate2 gives, never a panic or hang.
        #[test]
        fn corrupt_input_never_panics(
            seed in any::<u64>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8),
            chunk in 1usize..5000,
        ) {
            let data = sample(20_000, seed);
            let mut gz = gzip(&data, 6);
            for (i, x) in flips {
                let i = i.index(gz.len());
                gz[i] ^= x;
            }
            let ours = decode(&gz, chunk, 4096);
            let reference = {
                let mut d = flate2::read::MultiGzDecoder::new(&gz[..]);
                let mut v = Vec::new();
                d.read_to_end(&mut v).map(|_| v)
            };
            if let (Ok(a), Ok(b)) = (&ours, &reference) {
                prop_assert_eq!(a, b);
            }
        }
    }
}
