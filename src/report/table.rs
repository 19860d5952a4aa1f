//! The human-readable table: a header about the artifact, one section per target, a summary line.
//!
//! It must read well in a CI log as much as in a terminal, so without a terminal it uses plain ASCII,
//! no colour and no wrapping; long cells (titles, `created_by`) are truncated instead.

use super::{clean, truncate, Counts, RenderOptions};
use crate::model::{ArtifactType, LayerInfo, Report, ScanResult, Severity, Vulnerability};
use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};
use std::fmt::Write as _;

const TITLE_MAX: usize = 60;
const CREATED_BY_MAX: usize = 32;
const MESSAGE_MAX: usize = 80;
const FILE_MAX: usize = 90;

pub fn render(report: &Report, options: &RenderOptions) -> String {
    let mut out = String::new();
    header(&mut out, report);

    // A package-only report (no vulnerability anywhere: issue 2's inventory, or a clean scan)
    // lists the packages, so the table answers "what is in it".
    let list_packages = report
        .results
        .iter()
        .all(|r| r.vulnerabilities.as_ref().is_none_or(Vec::is_empty));

    if report.results.is_empty() {
        out.push_str("\nNo targets found.\n");
    }
    for result in &report.results {
        section(&mut out, result, list_packages, options);
    }

    if !report.warnings.is_empty() {
        out.push_str("\nWarnings:\n");
        for w in &report.warnings {
            let _ = writeln!(out, "  - {}", clean(w));
        }
    }
    if !report.expired_ignores.is_empty() {
        out.push_str("\nExpired ignore entries (no longer applied):\n");
        for e in &report.expired_ignores {
            let _ = writeln!(out, "  - {}", clean(e));
        }
    }
    coverage_block(&mut out, report);
    out.push('\n');
    out.push_str(&summary_line(&Counts::of(report)));
    out.push('\n');
    out
}

/// What was not analysed, just before the summary, so a "0 vulnerabilities" is never read as
/// "clean" when part of the target was not checked.
fn coverage_block(out: &mut String, report: &Report) {
    let gaps = report.gaps();
    if gaps.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nNOT ANALYSED ({}): layerscan found content it does not read; its packages were NOT checked, so the totals below do not cover them:",
        plural(gaps.len(), "coverage gap", "coverage gaps")
    );
    for g in gaps {
        let mut at: Vec<String> = g
            .paths
            .iter()
            .map(|p| truncate(&clean(p), FILE_MAX))
            .collect();
        if g.path_count > g.paths.len() {
            at.push(format!("and {} more", g.path_count - g.paths.len()));
        }
        let files = if g.files as usize > g.path_count {
            format!(", {} files", g.files)
        } else {
            String::new()
        };
        let layer = layer_label(&g.layer);
        let layer = if layer.is_empty() {
            String::new()
        } else {
            format!(" [layer {layer}]")
        };
        let _ = writeln!(
            out,
            "  ! {}: {}\n      {}{files}{layer}",
            clean(&g.what),
            clean(&g.meaning),
            at.join(", ")
        );
    }
}

fn artifact_type_name(t: ArtifactType) -> &'static str {
    match t {
        ArtifactType::ContainerImage => "container_image",
        ArtifactType::LambdaLayer => "lambda_layer",
        ArtifactType::LambdaFunction => "lambda_function",
        ArtifactType::Filesystem => "filesystem",
        ArtifactType::Config => "config",
    }
}

fn header(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "Artifact:   {} ({})",
        clean(&report.artifact_name),
        artifact_type_name(report.artifact_type)
    );
    if let Some(os) = &report.metadata.os {
        let _ = writeln!(out, "OS:         {} {}", clean(&os.family), clean(&os.name));
    }
    if let Some(src) = &report.advisory_source {
        let mut line = format!("Advisories: {} ({} records", clean(&src.kind), src.records);
        if let Some(at) = &src.updated_at {
            let _ = write!(line, ", updated {}", clean(at));
        }
        line.push(')');
        if let Some(note) = &src.note {
            let _ = write!(line, ": {}", clean(note));
        }
        let _ = writeln!(out, "{line}");
    }
}

fn new_table(options: &RenderOptions) -> Table {
    let mut t = Table::new();
    if options.terminal {
        t.load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
    } else {
        t.load_style(presets::ASCII_FULL_CONDENSED)
            .force_no_tty()
            .set_content_arrangement(ContentArrangement::Disabled);
    }
    if options.color {
        t.enforce_styling();
    }
    t
}

fn severity_cell(s: Severity, options: &RenderOptions) -> Cell {
    let cell = Cell::new(s.as_str());
    if !options.color {
        return cell;
    }
    match s {
        Severity::Critical => cell.fg(Color::Red).add_attribute(Attribute::Bold),
        Severity::High => cell.fg(Color::Red),
        Severity::Medium => cell.fg(Color::Yellow),
        Severity::Low => cell.fg(Color::Blue),
        Severity::Unknown => cell,
    }
}

fn severity_breakdown(by: &[usize; 5]) -> String {
    Severity::ALL
        .iter()
        .zip(by)
        .map(|(s, n)| format!("{s}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `Total: 12 vulnerabilities (CRITICAL: 1, HIGH: 4, MEDIUM: 5, LOW: 2, UNKNOWN: 0), 3 misconfigurations, 87 packages`
pub fn summary_line(c: &Counts) -> String {
    format!(
        "Total: {} ({}), {}, {}",
        plural(c.vulnerabilities, "vulnerability", "vulnerabilities"),
        severity_breakdown(&c.vulns_by_severity),
        plural(c.misconfigurations, "misconfiguration", "misconfigurations"),
        plural(c.packages, "package", "packages"),
    )
}

/// `abcdef123456 (RUN pip install ...)`: the short digest and a trimmed `created_by`.
pub fn layer_label(layer: &LayerInfo) -> String {
    let digest = layer.digest.as_deref().or(layer.diff_id.as_deref());
    let short = digest.map(|d| {
        let hex = d.split_once(':').map_or(d, |(_, h)| h);
        hex.chars().take(12).collect::<String>()
    });
    let created = layer.created_by.as_deref().map(|c| {
        let c = c.trim();
        let c = c.strip_prefix("/bin/sh -c ").unwrap_or(c);
        let c = c.strip_prefix("#(nop) ").unwrap_or(c).trim();
        truncate(&clean(c), CREATED_BY_MAX)
    });
    match (short, created) {
        (Some(s), Some(c)) if !c.is_empty() => format!("{} ({c})", clean(&s)),
        (Some(s), _) => clean(&s),
        (None, Some(c)) => c,
        (None, None) => String::new(),
    }
}

/// Worst first, then by package, version and id, so the order is stable.
pub fn sorted_vulns(vulns: &[Vulnerability]) -> Vec<&Vulnerability> {
    let mut v: Vec<&Vulnerability> = vulns.iter().collect();
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.pkg_name.cmp(&b.pkg_name))
            .then_with(|| a.installed_version.cmp(&b.installed_version))
            .then_with(|| a.vulnerability_id.cmp(&b.vulnerability_id))
    });
    v
}

fn section(out: &mut String, r: &ScanResult, list_packages: bool, options: &RenderOptions) {
    let title = format!("{} [{}]", clean(&r.target), clean(&r.kind));
    let _ = writeln!(out, "\n{title}");
    let _ = writeln!(out, "{}", "=".repeat(title.chars().count().min(100)));

    let mut counts = Counts::default();
    counts.add(r);
    let mut facts = Vec::new();
    if r.packages.is_some() || super::is_package_class(&r.class) {
        facts.push(plural(counts.packages, "package", "packages"));
    }
    if r.vulnerabilities.is_some() {
        facts.push(format!(
            "{} ({})",
            plural(counts.vulnerabilities, "vulnerability", "vulnerabilities"),
            severity_breakdown(&counts.vulns_by_severity)
        ));
    }
    if r.misconfigurations.is_some() {
        facts.push(format!(
            "{} ({})",
            plural(
                counts.misconfigurations,
                "misconfiguration",
                "misconfigurations"
            ),
            severity_breakdown(&counts.misconfigs_by_severity)
        ));
    }
    if !facts.is_empty() {
        let _ = writeln!(out, "{}", facts.join(", "));
    }

    if let Some(vulns) = r.vulnerabilities.as_ref().filter(|v| !v.is_empty()) {
        let mut t = new_table(options);
        t.set_header(vec![
            "Library",
            "Vulnerability",
            "Severity",
            "Status",
            "Installed",
            "Fixed",
            "Layer",
            "Title",
        ]);
        for v in sorted_vulns(vulns) {
            let title = v.title.as_deref().unwrap_or("");
            t.add_row(vec![
                Cell::new(clean(&v.pkg_name)),
                Cell::new(clean(&v.vulnerability_id)),
                severity_cell(v.severity, options),
                Cell::new(clean(&v.status)),
                Cell::new(clean(&v.installed_version)),
                Cell::new(clean(v.fixed_version.as_deref().unwrap_or(""))),
                Cell::new(layer_label(&v.layer)),
                Cell::new(truncate(&clean(title), TITLE_MAX)),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }

    if let Some(misconfigs) = r.misconfigurations.as_ref().filter(|m| !m.is_empty()) {
        let mut sorted: Vec<_> = misconfigs.iter().collect();
        sorted.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.id.cmp(&b.id))
                .then_with(|| {
                    a.cause_metadata
                        .start_line
                        .cmp(&b.cause_metadata.start_line)
                })
        });
        let mut t = new_table(options);
        t.set_header(vec!["ID", "Severity", "Resource", "Message", "Location"]);
        for m in sorted {
            let cm = &m.cause_metadata;
            let location = match (cm.start_line, cm.end_line) {
                (Some(s), Some(e)) if e > s => format!("{}:{s}-{e}", clean(&r.target)),
                (Some(s), _) => format!("{}:{s}", clean(&r.target)),
                _ => clean(&r.target),
            };
            t.add_row(vec![
                Cell::new(clean(&m.id)),
                severity_cell(m.severity, options),
                Cell::new(clean(cm.resource.as_deref().unwrap_or(""))),
                Cell::new(truncate(&clean(&m.message), MESSAGE_MAX)),
                Cell::new(location),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }

    if list_packages {
        if let Some(pkgs) = r.packages.as_ref().filter(|p| !p.is_empty()) {
            let mut sorted: Vec<_> = pkgs.iter().collect();
            sorted.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.version.cmp(&b.version)));
            let mut rows: Vec<[String; 5]> = Vec::with_capacity(sorted.len());
            for p in sorted {
                let version = if p.version.is_empty() {
                    "(unpinned)".to_string()
                } else {
                    clean(&p.version)
                };
                let source = match (&p.src_name, &p.src_version) {
                    (Some(n), Some(v)) if *n != p.name || *v != p.version => {
                        format!("{} {}", clean(n), clean(v))
                    }
                    (Some(n), None) if *n != p.name => clean(n),
                    _ => String::new(),
                };
                // For a requirements file the file is the target itself.
                let file = p
                    .file_path
                    .as_deref()
                    .filter(|f| *f != r.target)
                    .map(|f| truncate(&clean(f), FILE_MAX))
                    .unwrap_or_default();
                rows.push([clean(&p.name), version, source, layer_label(&p.layer), file]);
            }
            // Columns with nothing in them (no source packages, no layers, no files) are left out.
            let header = ["Name", "Version", "Source", "Layer", "File"];
            let keep: Vec<usize> = (0..header.len())
                .filter(|&i| i < 2 || rows.iter().any(|r| !r[i].is_empty()))
                .collect();
            let mut t = new_table(options);
            t.set_header(keep.iter().map(|&i| header[i]).collect::<Vec<_>>());
            for row in &rows {
                t.add_row(keep.iter().map(|&i| row[i].as_str()).collect::<Vec<_>>());
            }
            let _ = writeln!(out, "{t}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_labels() {
        let l = LayerInfo {
            digest: Some("sha256:0123456789abcdef0123".into()),
            diff_id: None,
            created_by: Some("/bin/sh -c #(nop) ADD file:abc in / ".into()),
        };
        assert_eq!(layer_label(&l), "0123456789ab (ADD file:abc in /)");
        let l = LayerInfo {
            digest: None,
            diff_id: Some("sha256:fedcba9876543210".into()),
            created_by: Some(
                "RUN /bin/sh -c pip install --no-cache-dir -r requirements.txt # buildkit".into(),
            ),
        };
        let s = layer_label(&l);
        assert!(
            s.starts_with("fedcba987654 (RUN /bin/sh -c pip install"),
            "{s}"
        );
        assert!(s.ends_with("...)"), "{s}");
        assert_eq!(layer_label(&LayerInfo::default()), "");
    }

    #[test]
    fn summary_counts_and_grammar() {
        let c = Counts {
            vulns_by_severity: [1, 0, 0, 0, 0],
            vulnerabilities: 1,
            misconfigurations: 1,
            misconfigs_by_severity: [0, 1, 0, 0, 0],
            packages: 1,
        };
        assert_eq!(
            summary_line(&c),
            "Total: 1 vulnerability (CRITICAL: 1, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0), 1 misconfiguration, 1 package"
        );
    }
}
