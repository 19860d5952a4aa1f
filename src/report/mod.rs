//! Rendering: the JSON output is the [`Report`] itself; table and SARIF are views of it.
//!
//! Renderers never fail half-way into the destination: a format is rendered into memory first, and
//! only a complete rendering is written (atomically for `--output`), so an error never leaves a
//! partial report behind.

use crate::cli::Format;
use crate::model::{Report, Severity};
use anyhow::Context;
use std::path::Path;

pub mod sarif;
pub mod table;

/// How to render for the destination at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderOptions {
    /// Colour severities (a terminal, and `NO_COLOR` unset).
    pub color: bool,
    /// The output is a terminal: box-drawing characters and wrapping to its width. Otherwise plain
    /// ASCII, no wrapping (long cells are truncated instead), so logs and files stay readable.
    pub terminal: bool,
}

impl RenderOptions {
    /// For writing to `output` (a file) or, when `None`, to stdout.
    pub fn for_destination(output: Option<&Path>) -> RenderOptions {
        use std::io::IsTerminal;
        let terminal = output.is_none() && std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        RenderOptions {
            color: terminal && !no_color,
            terminal,
        }
    }
}

/// Render for a non-terminal destination (deterministic: no colour, ASCII tables).
pub fn render(report: &Report, format: Format) -> anyhow::Result<Vec<u8>> {
    render_with(report, format, &RenderOptions::default())
}

pub fn render_with(
    report: &Report,
    format: Format,
    options: &RenderOptions,
) -> anyhow::Result<Vec<u8>> {
    let report = &redacted(report);
    match format {
        Format::Json => render_json(report),
        Format::Table => Ok(table::render(report, options).into_bytes()),
        Format::Sarif => sarif::render(report),
    }
}

/// "Never a credential in any output": every format goes through here, so the parts of a report that
/// echo the image (`Metadata.ImageConfig` with its `Env` and history, each layer's `created_by`,
/// which holds `ENV`/`ARG` lines) are redacted once more with the config auditor's secret rules.
/// Idempotent, so it is harmless when the pipeline has redacted already.
pub fn redacted(report: &Report) -> std::borrow::Cow<'_, Report> {
    use std::borrow::Cow;
    use std::collections::HashMap;
    let mut memo: HashMap<String, String> = HashMap::new();
    let mut redact = |text: &str| -> Option<String> {
        let out = memo
            .entry(text.to_string())
            .or_insert_with(|| crate::audit::redact_text(text));
        (out != text).then(|| out.clone())
    };
    let mut out: Option<Report> = None;
    if let Some(cfg) = &report.metadata.image_config {
        let clean = crate::audit::redacted_image_config(cfg);
        if &clean != cfg {
            out.get_or_insert_with(|| report.clone())
                .metadata
                .image_config = Some(clean);
        }
    }
    for (ri, r) in report.results.iter().enumerate() {
        for (pi, p) in r.packages.iter().flatten().enumerate() {
            if let Some(new) = p.layer.created_by.as_deref().and_then(&mut redact) {
                let rep = out.get_or_insert_with(|| report.clone());
                if let Some(pkg) = rep
                    .results
                    .get_mut(ri)
                    .and_then(|r| r.packages.as_mut())
                    .and_then(|ps| ps.get_mut(pi))
                {
                    pkg.layer.created_by = Some(new);
                }
            }
        }
        for (vi, v) in r.vulnerabilities.iter().flatten().enumerate() {
            if let Some(new) = v.layer.created_by.as_deref().and_then(&mut redact) {
                let rep = out.get_or_insert_with(|| report.clone());
                if let Some(vuln) = rep
                    .results
                    .get_mut(ri)
                    .and_then(|r| r.vulnerabilities.as_mut())
                    .and_then(|vs| vs.get_mut(vi))
                {
                    vuln.layer.created_by = Some(new);
                }
            }
        }
    }
    for (gi, g) in report.gaps().iter().enumerate() {
        if let Some(new) = g.layer.created_by.as_deref().and_then(&mut redact) {
            let rep = out.get_or_insert_with(|| report.clone());
            if let Some(gap) = rep.coverage.as_mut().and_then(|c| c.gaps.get_mut(gi)) {
                gap.layer.created_by = Some(new);
            }
        }
    }
    match out {
        Some(r) => Cow::Owned(r),
        None => Cow::Borrowed(report),
    }
}

/// Package results (`os-pkgs`, `lang-pkgs`) always carry `Packages`, even when empty.
pub fn is_package_class(class: &str) -> bool {
    matches!(class, "os-pkgs" | "lang-pkgs")
}

fn render_json(report: &Report) -> anyhow::Result<Vec<u8>> {
    let needs_fix = report
        .results
        .iter()
        .any(|r| is_package_class(&r.class) && r.packages.is_none());
    let mut v = if needs_fix {
        let mut r = report.clone();
        for res in &mut r.results {
            if is_package_class(&res.class) && res.packages.is_none() {
                res.packages = Some(Vec::new());
            }
        }
        serde_json::to_vec_pretty(&r)
    } else {
        serde_json::to_vec_pretty(report)
    }
    .context("serializing the JSON report")?;
    v.push(b'\n');
    Ok(v)
}

/// Counts of remaining findings, for summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Indexed like [`Severity::ALL`] (CRITICAL first).
    pub vulns_by_severity: [usize; 5],
    pub vulnerabilities: usize,
    pub misconfigurations: usize,
    pub misconfigs_by_severity: [usize; 5],
    pub packages: usize,
}

pub fn severity_index(s: Severity) -> usize {
    Severity::ALL.iter().position(|x| *x == s).unwrap_or(4)
}

impl Counts {
    pub fn of(report: &Report) -> Counts {
        let mut c = Counts::default();
        for r in &report.results {
            c.add(r);
        }
        c
    }

    pub fn add(&mut self, r: &crate::model::ScanResult) {
        for v in r.vulnerabilities.iter().flatten() {
            self.vulnerabilities += 1;
            self.vulns_by_severity[severity_index(v.severity)] += 1;
        }
        for m in r.misconfigurations.iter().flatten() {
            self.misconfigurations += 1;
            self.misconfigs_by_severity[severity_index(m.severity)] += 1;
        }
        self.packages += r.packages.as_ref().map_or(0, Vec::len);
    }
}

/// Write the rendered report to `path` or to stdout (see [`crate::output::write_report`]: a
/// regular file atomically, a device, FIFO or descriptor in place).
pub fn write_output(bytes: &[u8], path: Option<&Path>) -> anyhow::Result<()> {
    crate::output::write_report(bytes, path)
}

/// Replace control characters (ANSI escapes, newlines) in text from outside so that a crafted
/// title or `created_by` cannot drive the terminal or break the table's layout.
pub fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// At most `max` characters, with `...` when cut (char-safe).
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(3);
    let mut out: String = s.chars().take(keep).collect();
    out.push_str("...");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_is_char_safe() {
        assert_eq!(truncate("héllo wörld", 8), "héllo...");
        assert_eq!(truncate("short", 8), "short");
        assert_eq!(truncate("ééééé", 5), "ééééé");
    }

    #[test]
    fn clean_removes_escapes() {
        assert_eq!(clean("a\u{1b}[31mb\nc"), "a [31mb c");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("layerscan-wo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("r.json");
        std::fs::write(&out, b"old").unwrap();
        write_output(b"new", Some(&out)).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        let err = write_output(b"x", Some(&dir.join("missing-dir/r.json"))).unwrap_err();
        assert!(format!("{err:#}").contains("missing-dir"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
