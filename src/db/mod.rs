//! The local advisory database (and the bundled sample), behind [`AdvisoryStore`].
//!
//! OWNER: db helper. The signatures below are the contract with the matcher and the scan command.

use crate::advisory::Advisory;
use crate::cli::DbArgs;
use crate::model::AdvisorySource;

/// Where the matcher gets advisories from.
pub trait AdvisoryStore {
    /// Records with an `affected[]` entry for `name` in an ecosystem whose base is `ecosystem_base`
    /// (`PyPI`, `Debian`, `Alpine`, `Ubuntu`). `name` is compared after
    /// [`crate::advisory::normalize_name`]. Withdrawn records may be returned; the matcher skips them.
    fn advisories_for(&self, ecosystem_base: &str, name: &str) -> anyhow::Result<Vec<Advisory>>;
    /// A record by its id, or by an alias when no record has that id.
    fn advisory_by_id(&self, id: &str) -> anyhow::Result<Option<Advisory>>;
}

/// Open the advisory data for a scan: the local database (auto-updated when older than 24 h unless
/// `--offline`), else the bundled sample. Warnings go to the report and stderr.
pub fn open_for_scan(
    _args: &DbArgs,
) -> anyhow::Result<(Box<dyn AdvisoryStore>, AdvisorySource, Vec<String>)> {
    anyhow::bail!("advisory database not implemented yet")
}
