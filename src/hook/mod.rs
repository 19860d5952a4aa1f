//! Registry hooks: scan what a registry event names, report a summary.
//!
//! `hook ecr` reads an EventBridge "ECR Image Action" event ([`event`]), pulls the pushed image by
//! digest with ECR credentials and runs the same scan and policy as `layerscan image`; the outcome is
//! condensed into one [`summary::Summary`] that goes to a webhook, to stderr as a JSON line
//! (CloudWatch Logs), and in Lambda ([`lambda`]) back as the invocation's response.
//! The command itself is `cmd::hook`.

pub mod event;
pub mod lambda;
pub mod summary;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Extra arguments for `hook ecr` when the binary runs as a Lambda `bootstrap` (Lambda starts it
/// with no arguments). Split on whitespace; no quoting.
pub const LAMBDA_ARGS_ENV: &str = "LAYERSCAN_HOOK_ARGS";

/// When started with no arguments inside Lambda (`AWS_LAMBDA_RUNTIME_API` set), the command line
/// to run: `layerscan hook ecr $LAYERSCAN_HOOK_ARGS`. `None` otherwise.
pub fn lambda_bootstrap_args() -> Option<Vec<OsString>> {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "layerscan".into());
    if args.next().is_some() || std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return None;
    }
    let mut out = vec![argv0, "hook".into(), "ecr".into()];
    if let Ok(extra) = std::env::var(LAMBDA_ARGS_ENV) {
        out.extend(extra.split_whitespace().map(OsString::from));
    }
    Some(out)
}

/// Tell the Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`) that initialisation failed, before the
/// process exits: bad arguments, a bad configuration. Best effort: a failure to post is logged.
pub fn lambda_init_error(message: &str) {
    let Ok(host) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let message = crate::limits::cap(message.trim_end(), crate::limits::MAX_MESSAGE);
    match lambda::RuntimeApi::new(&host) {
        Ok(api) => {
            if let Err(e) = api.init_error("layerscan.InvalidArguments", &message) {
                crate::output::line_to_stderr(&format!("error: {e:#}"));
            }
        }
        Err(e) => crate::output::line_to_stderr(&format!("error: {e:#}")),
    }
}

/// The cache dir to use when none was given: the platform default when it is writable, else
/// `$TMPDIR/layerscan` (Lambda: `/tmp/layerscan`, the only writable place there).
pub fn writable_cache_dir(explicit: Option<&PathBuf>) -> Option<PathBuf> {
    if explicit.is_some() {
        return explicit.cloned();
    }
    let default = crate::cli::cache_dir(None);
    if is_writable_dir(&default) {
        return None;
    }
    let fallback = std::env::temp_dir().join("layerscan");
    tracing::info!(
        "cache dir {} is not writable; using {}",
        default.display(),
        fallback.display()
    );
    Some(fallback)
}

fn is_writable_dir(dir: &Path) -> bool {
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    let probe = dir.join(format!(".write-test-{}", std::process::id()));
    let ok = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_cache_dir_wins_and_unwritable_is_detected() {
        let p = PathBuf::from("/explicit");
        assert_eq!(writable_cache_dir(Some(&p)), Some(p));
        let dir = tempfile::tempdir().unwrap();
        assert!(is_writable_dir(&dir.path().join("a/b")));
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(!is_writable_dir(&file.join("sub")));
    }
}
