//! Typed errors for the outcomes that callers and tests act on. Each variant names its input, so the
//! CLI's message (`error: {err:#}`) stays as clear as a hand-written one; code that needs to tell
//! the outcomes apart finds the variant in an `anyhow` chain with [`find`].
//!
//! Everything else (I/O with context, one-off refusals) stays an `anyhow` message.

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bytes did not hash to the digest that named them (a blob, a config, a layer's DiffID, a
    /// downloaded zip).
    #[error("{what} digest mismatch: expected {expected}, computed {computed}")]
    DigestMismatch {
        what: String,
        expected: String,
        computed: String,
    },
    /// A registry or API refused the credentials given, or wanted some and had none.
    #[error("{what}: authentication failed: {detail}")]
    Authentication { what: String, detail: String },
    /// The named thing (image, tag, blob, layer version, file) does not exist.
    #[error("{what}: not found")]
    NotFound { what: String },
    /// A manifest, layer or file of a kind we do not read.
    #[error("{what} has unsupported media type {media_type:?}")]
    UnsupportedMediaType { what: String, media_type: String },
    /// Input that does not parse or breaks its format's rules. `location` is a line, a record or
    /// a field (`line 3`, `rootfs.diff_ids[0]`).
    #[error("{input}{}: {message}", location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default())]
    Malformed {
        input: String,
        location: Option<String>,
        message: String,
    },
}

/// The first typed error in an `anyhow` chain, if any.
pub fn find(err: &anyhow::Error) -> Option<&Error> {
    err.chain().find_map(|e| e.downcast_ref::<Error>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_error_is_found_under_context_and_keeps_its_message() {
        let err = anyhow::Error::new(Error::DigestMismatch {
            what: "layer blob".into(),
            expected: "sha256:aa".into(),
            computed: "sha256:bb".into(),
        })
        .context("scanning app.tar");
        assert!(matches!(find(&err), Some(Error::DigestMismatch { .. })));
        assert_eq!(
            format!("{err:#}"),
            "scanning app.tar: layer blob digest mismatch: expected sha256:aa, computed sha256:bb"
        );
        let malformed = Error::Malformed {
            input: "requirements.txt".into(),
            location: Some("line 3".into()),
            message: "bad version".into(),
        };
        assert_eq!(
            malformed.to_string(),
            "requirements.txt (line 3): bad version"
        );
        assert!(find(&anyhow::anyhow!("plain")).is_none());
    }
}
