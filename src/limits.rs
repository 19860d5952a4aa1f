//! Caps on strings that come from an input and reach a report, a warning or a log, so that a
//! report's size grows with the number of packages and findings, never with the length of one
//! field. One place for the numbers and the checks; the parsers call these.

use crate::model::Package;

/// Longest package name, version, source name/version or architecture kept (bytes). Real ones are
/// under 200; a longer one is a hostile or broken input, skipped with a warning.
pub const MAX_PACKAGE_FIELD: usize = 512;

/// Longest warning or message text (bytes) before it is cut with [`TRUNCATED`].
pub const MAX_MESSAGE: usize = 2048;

/// Longest free-text field copied from an input into a report (a layer's `created_by`, a
/// Dockerfile line) before it is cut with [`TRUNCATED`].
pub const MAX_TEXT_FIELD: usize = 4096;

/// What a cut string ends with.
pub const TRUNCATED: &str = "…[truncated]";

/// `s` cut to at most `max` bytes (on a char boundary) plus [`TRUNCATED`] when longer.
pub fn cap(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + TRUNCATED.len());
    out.push_str(&s[..end]);
    out.push_str(TRUNCATED);
    std::borrow::Cow::Owned(out)
}

/// Cap an owned string in place (see [`cap`]).
pub fn cap_owned(s: &mut String, max: usize) {
    if s.len() > max {
        *s = cap(s, max).into_owned();
    }
}

/// A warning or message, capped at [`MAX_MESSAGE`].
pub fn message(s: String) -> String {
    let mut s = s;
    cap_owned(&mut s, MAX_MESSAGE);
    s
}

/// A short, safe rendering of a value for an error message: at most 80 bytes, with the length
/// when cut, control characters replaced.
pub fn shown(s: &str) -> String {
    let cut = cap(s, 80);
    let mut out: String = cut
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.len() > 80 {
        out.push_str(&format!(" ({} bytes)", s.len()));
    }
    out
}

/// Is `d` `sha256:` followed by 64 lowercase hex digits?
pub fn is_sha256_digest(d: &str) -> bool {
    d.len() == 71
        && d.strip_prefix("sha256:").is_some_and(|hex| {
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// `d` if it is a well-formed sha256 digest, else an error naming `field`
/// (`config sha256:… rootfs.diff_ids[0]`) and a capped rendering of the value.
pub fn sha256_digest<'a>(field: &str, d: &'a str) -> anyhow::Result<&'a str> {
    if is_sha256_digest(d) {
        Ok(d)
    } else {
        anyhow::bail!(
            "{field}: {:?} is not a sha256 digest (expected sha256:<64 lowercase hex digits>)",
            shown(d)
        )
    }
}

/// `Err(warning)` when one of the package's fields is longer than [`MAX_PACKAGE_FIELD`]: the
/// caller skips the package. `what` names where it came from (a file path).
pub fn check_package(what: &str, p: &Package) -> Result<(), String> {
    let fields = [
        ("name", Some(&p.name), MAX_PACKAGE_FIELD),
        ("version", Some(&p.version), MAX_PACKAGE_FIELD),
        ("source name", p.src_name.as_ref(), MAX_PACKAGE_FIELD),
        ("source version", p.src_version.as_ref(), MAX_PACKAGE_FIELD),
        ("architecture", p.arch.as_ref(), MAX_PACKAGE_FIELD),
        // A path (PATH_MAX), not a name.
        ("path", p.file_path.as_ref(), MAX_TEXT_FIELD),
    ];
    for (field, value, max) in fields {
        if let Some(v) = value {
            if v.len() > max {
                return Err(format!(
                    "{}: package {:?}: its {field} is {} bytes, more than the {max}-byte limit; skipped",
                    shown(what),
                    shown(&p.name),
                    v.len()
                ));
            }
        }
    }
    Ok(())
}

/// Keep the packages whose fields are within the caps; a warning for each one dropped.
pub fn retain_packages(what: &str, packages: &mut Vec<Package>, warnings: &mut Vec<String>) {
    packages.retain(|p| match check_package(what, p) {
        Ok(()) => true,
        Err(w) => {
            warnings.push(w);
            false
        }
    });
}

/// Largest layer-cache entry read back (a layer's analysis; real ones are well under a MiB).
pub const MAX_CACHE_ENTRY: u64 = 64 << 20;

/// Read a file we wrote ourselves (a cache entry) — only if it is a regular file, not a symlink,
/// and at most `max` bytes. A FIFO must not hang the scan, and a link to `/dev/zero` or out of the
/// cache dir must not be read: `O_NOFOLLOW | O_NONBLOCK`, then `fstat` on what was opened.
pub fn read_regular_file(path: &std::path::Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "a symlink")
            } else {
                e
            }
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    if meta.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} bytes, more than the {max}-byte limit", meta.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than the {max}-byte limit"),
        ));
    }
    Ok(bytes)
}

/// Is `path` (not followed if a symlink) a regular file? `None` when it does not exist.
pub fn is_regular_file(path: &std::path::Path) -> Option<bool> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| m.file_type().is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn cap_is_char_safe_and_marked() {
        assert_eq!(cap("short", 10), "short");
        let s = "é".repeat(10);
        let c = cap(&s, 5);
        assert!(c.starts_with("éé") && c.ends_with(TRUNCATED), "{c}");
        assert!(c.len() <= 5 + TRUNCATED.len());
    }

    #[test]
    fn digests() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert!(sha256_digest("f", &good).is_ok());
        for bad in [
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha512:{}", "a".repeat(64)),
            format!("sha256:{}", "a".repeat(8 << 20)),
        ] {
            let err = sha256_digest("rootfs.diff_ids[0]", &bad)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("rootfs.diff_ids[0]:"), "{err}");
            assert!(err.len() < 300, "{}", err.len());
        }
    }

    #[test]
    fn long_fields_skip_the_package() {
        let pkg = |name: &str, version: String| Package {
            name: name.into(),
            version,
            src_name: None,
            src_version: None,
            arch: None,
            file_path: None,
            layer: Default::default(),
            identifier: Default::default(),
            ecosystem: None,
        };
        let mut pkgs = vec![pkg("ok", "1".into()), pkg("big", "9".repeat(1 << 20))];
        let mut warnings = Vec::new();
        retain_packages("requirements.txt", &mut pkgs, &mut warnings);
        assert_eq!(pkgs.len(), 1);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("version is 1048576 bytes"),
            "{}",
            warnings[0]
        );
        assert!(warnings[0].len() < 400);
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_regular_file(&f, 10).unwrap(), b"hello");
        assert!(read_regular_file(&f, 4).is_err());
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(read_regular_file(&zero, 1 << 30).is_err());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(read_regular_file(&link, 10).is_err());
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = std::time::Instant::now();
        assert!(read_regular_file(&fifo, 10).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(read_regular_file(Path::new("/dev/zero"), 1 << 30).is_err());
    }
}
