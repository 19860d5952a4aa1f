//! Where bytes leave the process: the report (to `--output` or stdout) and messages on stderr.
//!
//! `--output` must never damage the machine: only a regular file (or a path that does not exist
//! yet) is replaced, atomically (a temporary file in the same directory, then a rename), so a
//! reader never sees half a report. Anything else — a character device (`/dev/null`, `/dev/full`),
//! a FIFO, a socket, a symlink to one of those, `/dev/stdout`, `/proc/self/fd/N` — is written in
//! place, as `cat > PATH` would. A failed write is an error (exit 2); a failed write to stderr is
//! ignored (there is nowhere left to say it), never a panic.

use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// The binary calls this when fd 1 was closed when the process started (`layerscan ... >&-`).
/// Rust's runtime then opens `/dev/null` on it, which would swallow the report without an error.
pub fn set_stdout_closed_at_start() {
    STDOUT_CLOSED.store(true, Ordering::Relaxed);
}

/// Write `text` to stderr as is. Errors (a full or closed stderr) are ignored: `eprint!` would
/// panic and turn a finished scan into exit 101.
pub fn to_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// `text` and a newline on stderr, errors ignored (see [`to_stderr`]).
pub fn line_to_stderr(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    to_stderr(&line);
}

/// Write the whole report to `path`, or to stdout when `None`.
pub fn write_report(bytes: &[u8], path: Option<&Path>) -> anyhow::Result<()> {
    match path {
        Some(p) => {
            write_path(p, bytes).with_context(|| format!("writing the report to {}", p.display()))
        }
        None => {
            if STDOUT_CLOSED.load(Ordering::Relaxed) {
                anyhow::bail!("writing the report to stdout: stdout is closed");
            }
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|()| out.flush())
                .context("writing the report to stdout")
        }
    }
}

/// How a `--output` path is written.
#[derive(Debug, PartialEq, Eq)]
enum Destination {
    /// A regular file or a new path: temporary file + rename at this path.
    Replace(PathBuf),
    /// An open file descriptor of this process (`/dev/stdout`, `/proc/self/fd/3`).
    Fd(i32),
    /// Open for writing without creating, truncating or replacing (devices, FIFOs).
    InPlace,
    /// A symlink whose target does not exist: create the target through it.
    CreateThrough,
    /// A Unix socket: connect and write.
    Socket,
}

fn write_path(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match classify(path)? {
        Destination::Replace(target) => match write_atomic(&target, bytes) {
            // The directory is not writable but the file is (a file someone else set up for us):
            // write it in place like any other tool would, rather than fail.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && target.is_file() => {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&target)?;
                f.write_all(bytes)?;
                f.flush()
            }
            other => other,
        },
        Destination::Fd(fd) => write_fd(fd, bytes),
        Destination::InPlace => {
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            f.write_all(bytes)?;
            f.flush()
        }
        Destination::CreateThrough => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)?;
            f.write_all(bytes)?;
            f.flush()
        }
        Destination::Socket => {
            let mut s = std::os::unix::net::UnixStream::connect(path)?;
            s.write_all(bytes)?;
            s.flush()
        }
    }
}

fn classify(path: &Path) -> std::io::Result<Destination> {
    use std::os::unix::fs::FileTypeExt;
    if let Some(fd) = own_fd_alias(path) {
        return Ok(Destination::Fd(fd));
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Destination::Replace(path.to_path_buf()))
        }
        Err(e) => return Err(e),
    };
    let (ft, through_link) = if meta.file_type().is_symlink() {
        match std::fs::metadata(path) {
            Ok(m) => (m.file_type(), true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Destination::CreateThrough)
            }
            Err(e) => return Err(e),
        }
    } else {
        (meta.file_type(), false)
    };
    if ft.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is a directory",
        ));
    }
    if ft.is_socket() {
        return Ok(Destination::Socket);
    }
    if !ft.is_file() {
        return Ok(Destination::InPlace);
    }
    if !through_link {
        return Ok(Destination::Replace(path.to_path_buf()));
    }
    // A symlink to a regular file: replace the file it points to, keep the link. Except in /dev and
    // /proc, whose links (`/dev/stdout` → `/proc/self/fd/1` → the shell's `> file`) name an open
    // file that must be written, not swapped under the process holding it.
    let target = std::fs::canonicalize(path)?;
    let special = |p: &Path| p.starts_with("/dev") || p.starts_with("/proc");
    if special(path) || special(&target) || is_proc_link(path) {
        Ok(Destination::InPlace)
    } else {
        Ok(Destination::Replace(target))
    }
}

/// Any symlink on the way to `path` lives under /proc or /dev (e.g. a link to `/dev/stdout`).
fn is_proc_link(path: &Path) -> bool {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        let Ok(next) = std::fs::read_link(&p) else {
            return false;
        };
        let next = match p.parent() {
            Some(dir) if next.is_relative() => dir.join(next),
            _ => next,
        };
        if next.starts_with("/dev") || next.starts_with("/proc") {
            return true;
        }
        p = next;
    }
    false
}

/// `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`, `/proc/thread-self/fd/N` and
/// `/proc/<our pid>/fd/N` name one of our own descriptors: write to it directly. Reopening it
/// would lose `>>`'s append mode, and fails for sockets and for an unprivileged user whose
/// descriptor points at a file they could not open by name.
fn own_fd_alias(path: &Path) -> Option<i32> {
    let s = path.to_str()?;
    let own_pid = format!("/proc/{}/fd/", std::process::id());
    let n = match s {
        "/dev/stdout" => return Some(1),
        "/dev/stderr" => return Some(2),
        _ => [
            "/dev/fd/",
            "/proc/self/fd/",
            "/proc/thread-self/fd/",
            own_pid.as_str(),
        ]
        .iter()
        .find_map(|prefix| s.strip_prefix(prefix))?,
    };
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.len() > 9 {
        return None;
    }
    n.parse().ok()
}

fn write_fd(fd: i32, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::fd::FromRawFd;
    if fd == 1 && STDOUT_CLOSED.load(Ordering::Relaxed) {
        // Not `BrokenPipe`: that is exit 0 in `main`, and a lost report must be exit 2.
        return Err(std::io::Error::other("stdout is closed"));
    }
    // SAFETY: fcntl(F_GETFD) only checks that `fd` is open; `ManuallyDrop` keeps the descriptor
    // open after the write (it belongs to whoever opened it, usually the shell).
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    let mut file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    file.write_all(bytes)?;
    file.flush()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut attempt = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{nanos}-{attempt}",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            std::fs::rename(&tmp, path)
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_aliases() {
        assert_eq!(own_fd_alias(Path::new("/dev/stdout")), Some(1));
        assert_eq!(own_fd_alias(Path::new("/dev/fd/7")), Some(7));
        assert_eq!(own_fd_alias(Path::new("/proc/self/fd/3")), Some(3));
        let own = format!("/proc/{}/fd/4", std::process::id());
        assert_eq!(own_fd_alias(Path::new(&own)), Some(4));
        assert_eq!(own_fd_alias(Path::new("/proc/1/fd/4")), None);
        assert_eq!(own_fd_alias(Path::new("/dev/fd/x")), None);
        assert_eq!(own_fd_alias(Path::new("/tmp/stdout")), None);
    }

    #[test]
    fn classify_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.json");
        assert_eq!(classify(&new).unwrap(), Destination::Replace(new.clone()));
        std::fs::write(&new, b"x").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&new, &link).unwrap();
        assert_eq!(
            classify(&link).unwrap(),
            Destination::Replace(std::fs::canonicalize(&new).unwrap())
        );
        let null_link = dir.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &null_link).unwrap();
        assert_eq!(classify(&null_link).unwrap(), Destination::InPlace);
        assert_eq!(
            classify(Path::new("/dev/null")).unwrap(),
            Destination::InPlace
        );
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("absent"), &dangling).unwrap();
        assert_eq!(classify(&dangling).unwrap(), Destination::CreateThrough);
        assert!(classify(dir.path()).is_err());
    }
}
