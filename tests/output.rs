//! `--output` and the standard streams: a regular file is replaced atomically, anything else
//! (devices, FIFOs, sockets, descriptors, links to them) is written in place and never replaced;
//! a report that cannot be written is exit 2; a full or closed stderr never panics. Each test
//! runs as the current user and, when that is root, again as `nobody` through `setpriv`.

use crate::common::Sandbox;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A Dockerfile without USER: `layerscan config` gives a small real report with one finding.
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    std::fs::write(sb.path().join("Dockerfile"), "FROM debian:12\nRUN true\n").unwrap();
    sb
}

/// Who runs the binary: the test's own user, and `nobody` when the tests run as root.
#[derive(Clone, Copy, Debug)]
enum As {
    Me,
    Nobody,
}

fn users() -> Vec<As> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return vec![As::Me];
    }
    if Command::new("setpriv").arg("--version").output().is_ok() {
        vec![As::Me, As::Nobody]
    } else {
        println!("skipping the unprivileged runs: running as root and setpriv is not installed");
        vec![As::Me]
    }
}

/// The binary, copied where `nobody` can run it (the target dir may be under a 0700 /root), and
/// the sandbox opened to everyone, so the unprivileged run sees the same files.
fn command(sb: &Sandbox, who: As) -> Command {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_layerscan"));
    let mut c = match who {
        As::Me => Command::new(&bin),
        As::Nobody => {
            use std::os::unix::fs::PermissionsExt;
            let copy = sb.path().join("layerscan-bin");
            if !copy.exists() {
                std::fs::copy(&bin, &copy).unwrap();
                std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
                std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o777))
                    .unwrap();
            }
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(copy);
            c
        }
    };
    c.env("LAYERSCAN_CACHE_DIR", sb.cache())
        .env("HOME", sb.path())
        .env("NO_COLOR", "1")
        .env_remove("LAYERSCAN_LOG")
        .current_dir(sb.path())
        .stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

fn scan_to(sb: &Sandbox, who: As, out: &str) -> Output {
    let mut c = command(sb, who);
    c.args(["config", "Dockerfile", "-f", "json", "-o", out]);
    run(c)
}

fn is_report(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .is_ok_and(|v| v["Results"][0]["Misconfigurations"][0]["ID"] == "DOCKERFILE-001")
}

fn file_type(p: &Path) -> std::fs::FileType {
    std::fs::symlink_metadata(p).unwrap().file_type()
}

#[test]
fn dev_null_stays_a_character_device() {
    for who in users() {
        let sb = sandbox();
        let out = scan_to(&sb, who, "/dev/null");
        assert_eq!(out.status.code(), Some(0), "{who:?} {out:?}");
        assert!(file_type(Path::new("/dev/null")).is_char_device());
        assert_eq!(std::fs::metadata("/dev/null").unwrap().len(), 0);
        // A symlink to it: the link and the device both stay what they are.
        let link = sb.path().join("null-link");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let out = scan_to(&sb, who, "null-link");
        assert_eq!(out.status.code(), Some(0), "{who:?} {out:?}");
        assert!(file_type(&link).is_symlink());
        assert!(file_type(Path::new("/dev/null")).is_char_device());
        let leftovers: Vec<_> = std::fs::read_dir("/dev")
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".null.tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn dev_full_is_exit_2_with_a_clear_message() {
    for who in users() {
        let sb = sandbox();
        let out = scan_to(&sb, who, "/dev/full");
        assert_eq!(out.status.code(), Some(2), "{who:?} {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("writing the report to /dev/full") && err.contains("No space left"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
        assert!(file_type(Path::new("/dev/full")).is_char_device());
    }
}

#[test]
fn fifo_gets_the_whole_report_and_stays_a_fifo() {
    for who in users() {
        let sb = sandbox();
        let fifo = sb.path().join("report.fifo");
        let status = Command::new("mkfifo")
            .args(["-m", "0666"])
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        let out = scan_to(&sb, who, "report.fifo");
        assert_eq!(out.status.code(), Some(0), "{who:?} {out:?}");
        let got = reader.join().unwrap();
        assert!(
            is_report(&got),
            "{who:?}: {}",
            String::from_utf8_lossy(&got)
        );
        assert!(file_type(&fifo).is_fifo());
        // Through a symlink, too.
        let link = sb.path().join("fifo-link");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        let reader = std::thread::spawn(move || std::fs::read(fifo).unwrap());
        let out = scan_to(&sb, who, "fifo-link");
        assert_eq!(out.status.code(), Some(0), "{who:?} {out:?}");
        assert!(is_report(&reader.join().unwrap()));
        assert!(file_type(&link).is_symlink());
    }
}

#[test]
fn unix_socket_is_connected_not_replaced() {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    for who in users() {
        let sb = sandbox();
        let path = sb.path().join("report.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).unwrap();
            buf
        });
        let out = scan_to(&sb, who, "report.sock");
        assert_eq!(out.status.code(), Some(0), "{who:?} {out:?}");
        assert!(is_report(&reader.join().unwrap()));
        assert!(file_type(&path).is_socket());
    }
}

#[test]
fn dev_stdout_and_proc_self_fd_write_to_the_descriptor() {
    for who in users() {
        let sb = sandbox();
        // stdout a pipe owned by the test (root): `nobody` could not reopen it by name.
        let out = scan_to(&sb, who, "/dev/stdout");
        assert_eq!(out.status.code(), Some(0), "{who:?} {out:?}");
        assert!(is_report(&out.stdout), "{who:?} {out:?}");

        // stdout a file opened for appending (`>>`): the report lands after what was there.
        let file = sb.path().join("appended.json");
        std::fs::write(&file, b"").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        for alias in ["/proc/self/fd/1", "/dev/fd/1"] {
            std::fs::write(&file, b"").unwrap();
            let handle = std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .unwrap();
            let mut c = command(&sb, who);
            c.args(["config", "Dockerfile", "-f", "json", "-o", alias])
                .stdout(handle);
            let out = run(c);
            assert_eq!(out.status.code(), Some(0), "{who:?} {alias} {out:?}");
            assert!(is_report(&std::fs::read(&file).unwrap()), "{who:?} {alias}");
            assert!(file_type(&file).is_file());
        }
    }
}

#[test]
fn regular_file_and_link_to_one_are_replaced_atomically() {
    for who in users() {
        let sb = sandbox();
        let real = sb.path().join("real.json");
        std::fs::write(&real, b"old").unwrap();
        let link = sb.path().join("link.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        if let As::Nobody = who {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        let out = scan_to(&sb, who, "link.json");
        assert_eq!(out.status.code(), Some(0), "{who:?} {out:?}");
        assert!(file_type(&link).is_symlink(), "the link is kept");
        assert!(is_report(&std::fs::read(&real).unwrap()));
        let out = scan_to(&sb, who, "new.json");
        assert_eq!(out.status.code(), Some(0), "{who:?} {out:?}");
        assert!(is_report(
            &std::fs::read(sb.path().join("new.json")).unwrap()
        ));
        let temps: Vec<_> = std::fs::read_dir(sb.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(temps.is_empty(), "{temps:?}");
    }
}

/// `sh -c` runs the binary with its streams redirected the way a shell user would.
fn shell(sb: &Sandbox, who: As, redirections: &str, args: &str) -> Output {
    let mut c = command(sb, who);
    let prog = c.get_program().to_owned();
    let pre: Vec<_> = c.get_args().map(|a| a.to_owned()).collect();
    let mut sh = Command::new("sh");
    let mut line = String::from("exec");
    for w in std::iter::once(&prog).chain(pre.iter()) {
        line.push_str(&format!(" '{}'", w.to_string_lossy()));
    }
    line.push_str(&format!(" {args} {redirections}"));
    sh.arg("-c").arg(line);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.current_dir(sb.path());
    let _ = &mut c;
    sh.output().unwrap()
}

#[test]
fn closed_or_full_stdout_is_exit_2() {
    for who in users() {
        let sb = sandbox();
        let out = shell(&sb, who, ">&-", "config Dockerfile -f json");
        assert_eq!(out.status.code(), Some(2), "{who:?} {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        // "stdout is closed"; through setpriv, fd 1 may be a file it opened read-only (EBADF).
        assert!(err.contains("writing the report to stdout"), "{err}");
        if let As::Me = who {
            assert!(err.contains("stdout is closed"), "{err}");
        }

        let out = shell(&sb, who, ">/dev/full", "config Dockerfile -f json");
        assert_eq!(out.status.code(), Some(2), "{who:?} {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("writing the report to stdout") && err.contains("No space left"),
            "{err}"
        );
    }
}

#[test]
fn full_or_closed_stderr_never_panics() {
    for who in users() {
        let sb = sandbox();
        // An error to report on a full stderr: still exit 2, not a panic (101).
        for redir in ["2>/dev/full", "2>&-"] {
            let out = shell(&sb, who, redir, "config no-such-file");
            assert_eq!(out.status.code(), Some(2), "{who:?} {redir} {out:?}");
            // The report was written, then stderr fails (warnings, the summary): the scan's code.
            let out = shell(
                &sb,
                who,
                redir,
                "config Dockerfile -f json --exit-code 3 -v -v",
            );
            assert_eq!(out.status.code(), Some(3), "{who:?} {redir} {out:?}");
            assert!(is_report(&out.stdout));
            // A message on stderr after success (`cache clean`).
            let out = shell(&sb, who, redir, "cache clean");
            assert_eq!(out.status.code(), Some(0), "{who:?} {redir} {out:?}");
            // Both streams full: exit 2.
            let out = shell(
                &sb,
                who,
                &format!("{redir} >/dev/full"),
                "config Dockerfile",
            );
            assert_eq!(out.status.code(), Some(2), "{who:?} {redir} {out:?}");
        }
    }
}
