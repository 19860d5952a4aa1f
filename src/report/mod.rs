//! Rendering: the JSON output is the [`Report`] itself; table and SARIF are views of it.
use crate::cli::Format;
use crate::model::Report;
use std::path::Path;

pub fn render(report: &Report, format: Format) -> anyhow::Result<Vec<u8>> {
    match format {
        _ => {
            let mut v = serde_json::to_vec_pretty(report)?;
            v.push(b'\n');
            Ok(v)
        }
    }
}

/// Write the rendered report to `path` (atomically) or stdout.
pub fn write_output(bytes: &[u8], path: Option<&Path>) -> anyhow::Result<()> {
    use std::io::Write;
    match path {
        Some(p) => std::fs::write(p, bytes)?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()?;
        }
    }
    Ok(())
}
