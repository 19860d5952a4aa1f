//! Config auditor. OWNER: audit helper.

use crate::model::ScanResult;

/// Audit an image's config (`Config.User`, `Config.Env`): IMG-001, IMG-002. `None` when there is no
/// config to audit.
pub fn image_config(_target: &str, _config: &serde_json::Value) -> Option<ScanResult> {
    None
}
