//! `db import|update|status`. Summaries of import/update go to stderr; `status` is the command's
//! output and goes to stdout.
use crate::cli::{DbCommand, Format};
use crate::db::import::{import, ImportInput, ImportSummary};
use crate::db::sqlite::{status_at, DbStatus};
use crate::db::update::{parse_feeds, update_with_feeds, EcosystemOutcome, FeedOptions, Timeouts};
use crate::db::{db_path, MemoryStore, DEFAULT_MIRROR};
use std::fmt::Write as _;

pub fn run(cmd: DbCommand) -> anyhow::Result<i32> {
    match cmd {
        DbCommand::Import { paths, cache_dir } => {
            let cache = crate::cli::cache_dir(cache_dir.as_ref());
            let path = db_path(&cache);
            let inputs: Vec<ImportInput> = paths.into_iter().map(ImportInput::path).collect();
            let summary = import(&path, &inputs)?;
            crate::output::to_stderr(&import_summary(&summary, inputs.len()));
            Ok(0)
        }
        DbCommand::Update {
            ecosystems,
            mirror,
            feeds,
            feed_mirror,
            cache_dir,
        } => {
            let cache = crate::cli::cache_dir(cache_dir.as_ref());
            let path = db_path(&cache);
            let mut out = String::new();
            let kinds = match &feeds {
                Some(list) => parse_feeds(list)?,
                None if mirror.is_some() && feed_mirror.is_none() => {
                    let _ = writeln!(
                        out,
                        "severity feeds not downloaded: --mirror is set but --feed-mirror is not \
                         (pass --feed-mirror URL, or --feeds all to fetch them from their publishers)"
                    );
                    Vec::new()
                }
                None => crate::db::feeds::FeedKind::ALL.to_vec(),
            };
            let feed_opts = FeedOptions {
                kinds,
                mirror: feed_mirror,
            };
            let mirror = mirror.unwrap_or_else(|| DEFAULT_MIRROR.to_string());
            let summary = update_with_feeds(
                &path,
                &ecosystems,
                &mirror,
                &feed_opts,
                Timeouts::INTERACTIVE,
            )?;
            for (eco, url, outcome) in &summary.outcomes {
                match outcome {
                    EcosystemOutcome::NotModified => {
                        let _ = writeln!(out, "{eco}: unchanged since the last download ({url})");
                    }
                    EcosystemOutcome::Updated { records } => {
                        let _ = writeln!(out, "{eco}: {records} records from {url}");
                    }
                }
            }
            for (name, url, outcome) in &summary.feed_outcomes {
                match outcome {
                    EcosystemOutcome::NotModified => {
                        let _ = writeln!(out, "{name}: unchanged since the last download ({url})");
                    }
                    EcosystemOutcome::Updated { records } => {
                        let _ = writeln!(out, "{name}: {records} rows from {url}");
                    }
                }
            }
            if let Some(s) = &summary.import {
                let downloads = summary
                    .outcomes
                    .iter()
                    .chain(summary.feed_outcomes.iter())
                    .filter(|(_, _, o)| matches!(o, EcosystemOutcome::Updated { .. }))
                    .count();
                out.push_str(&import_summary(s, downloads));
            } else {
                let _ = writeln!(out, "advisory database {} is up to date", path.display());
            }
            crate::output::to_stderr(&out);
            Ok(0)
        }
        DbCommand::Status { cache_dir, format } => {
            let cache = crate::cli::cache_dir(cache_dir.as_ref());
            let path = db_path(&cache);
            let now = time::OffsetDateTime::now_utc();
            let status = status_at(&path)?;
            let text = match format {
                Format::Table => match &status {
                    Some(st) => status_text(st, now),
                    None => bundled_status_text(&path)?,
                },
                Format::Json => {
                    let mut v = status_json(&path, status.as_ref(), now)?;
                    v.push('\n');
                    v
                }
                Format::Sarif => anyhow::bail!("`db status` prints table or json, not sarif"),
            };
            crate::report::write_output(text.as_bytes(), None)?;
            Ok(0)
        }
    }
}

fn import_summary(s: &ImportSummary, sources: usize) -> String {
    let mut out = String::new();
    for w in &s.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let _ = writeln!(
        out,
        "imported {} advisories from {sources} source{} into {}",
        s.imported,
        if sources == 1 { "" } else { "s" },
        s.status.path.display()
    );
    if s.replaced > 0 {
        let _ = writeln!(out, "  {} replaced records with the same id", s.replaced);
    }
    if s.removed > 0 {
        let _ = writeln!(
            out,
            "  {} old records removed before refreshing their ecosystem",
            s.removed
        );
    }
    for (eco, n) in &s.per_ecosystem {
        let total = s
            .status
            .ecosystems
            .iter()
            .find(|e| &e.ecosystem == eco)
            .map(|e| e.records)
            .unwrap_or(0);
        let _ = writeln!(out, "  {eco}: {n} imported, {total} in the database");
    }
    if !s.unknown_ecosystems.is_empty() {
        let parts: Vec<String> = s
            .unknown_ecosystems
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(
            out,
            "  skipped {} records of unknown ecosystems ({})",
            s.unknown_total(),
            parts.join(", ")
        );
    }
    if s.without_packages > 0 {
        let _ = writeln!(
            out,
            "  skipped {} records that name no package",
            s.without_packages
        );
    }
    if s.other_entries > 0 {
        let _ = writeln!(out, "  ignored {} non-JSON zip entries", s.other_entries);
    }
    for (kind, t) in &s.feeds {
        let table = feed_table(*kind);
        let total = s.status.feed_rows.get(table).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "  {}: {} {} from {} file{}, {total} in the database",
            kind.describe(),
            t.records,
            feed_unit(*kind),
            t.files,
            if t.files == 1 { "" } else { "s" },
        );
    }
    let _ = writeln!(
        out,
        "database now holds {} advisories",
        s.status.total_records
    );
    out
}

/// The table a feed's rows live in.
fn feed_table(kind: crate::db::feeds::FeedKind) -> &'static str {
    use crate::db::feeds::FeedKind;
    match kind {
        FeedKind::Nvd => "nvd",
        FeedKind::Debian => "vendor_severity",
        FeedKind::Kev => "kev",
        FeedKind::Epss => "epss",
    }
}

fn feed_unit(kind: crate::db::feeds::FeedKind) -> &'static str {
    match kind {
        crate::db::feeds::FeedKind::Debian => "ratings",
        _ => "CVEs",
    }
}

/// `db status` lines for the feeds: one per kind (NVD's per-year files summed).
fn feeds_text(st: &DbStatus, now: time::OffsetDateTime, out: &mut String) {
    if st.feeds.is_empty() {
        let _ = writeln!(
            out,
            "No severity feeds (NVD, Debian tracker, KEV, EPSS): OS findings without a rating in \
             their advisory show UNKNOWN; `layerscan db update` fetches them."
        );
        return;
    }
    let _ = writeln!(out, "Severity feeds:");
    for kind in crate::db::feeds::FeedKind::ALL {
        let files: Vec<_> = st
            .feeds
            .iter()
            .filter(|f| f.kind == kind.as_str())
            .collect();
        if files.is_empty() {
            continue;
        }
        let rows = st.feed_rows.get(feed_table(kind)).copied().unwrap_or(0);
        let newest = files
            .iter()
            .filter_map(|f| f.imported_at.as_deref())
            .max()
            .unwrap_or("?");
        let age =
            time::OffsetDateTime::parse(newest, &time::format_description::well_known::Rfc3339)
                .map(|t| human_age(now - t))
                .unwrap_or_else(|_| "?".into());
        let version = files
            .iter()
            .find_map(|f| f.version.as_deref())
            .map(|v| format!(", {v}"))
            .unwrap_or_default();
        let source = if files.len() == 1 {
            files[0].source.clone().unwrap_or_default()
        } else {
            format!("{} files", files.len())
        };
        let _ = writeln!(
            out,
            "  {:<8} {rows} {} (imported {newest}, {age} ago{version}; {source})",
            kind.as_str(),
            feed_unit(kind)
        );
    }
}

/// `3m`, `5h`, `2d`.
fn human_age(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86400)
    }
}

fn status_text(st: &DbStatus, now: time::OffsetDateTime) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Advisory database: {} ({} advisories, {:.1} MB)",
        st.path.display(),
        st.total_records,
        st.size_bytes as f64 / 1e6
    );
    if st.ecosystems.is_empty() {
        let _ = writeln!(
            out,
            "The database holds no advisories; run `layerscan db update` or `layerscan db import PATH`."
        );
        feeds_text(st, now, &mut out);
        return out;
    }
    let mut rows = vec![[
        "ECOSYSTEM".to_string(),
        "RECORDS".to_string(),
        "IMPORTED".to_string(),
        "AGE".to_string(),
        "SOURCE".to_string(),
    ]];
    let mut stale = Vec::new();
    for e in &st.ecosystems {
        let age = e
            .imported_at
            .as_deref()
            .and_then(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|t| human_age(now - t))
            .unwrap_or_else(|| "?".into());
        if e.is_stale(now) {
            stale.push(e.ecosystem.clone());
        }
        rows.push([
            e.ecosystem.clone(),
            e.records.to_string(),
            e.imported_at.clone().unwrap_or_else(|| "?".into()),
            age,
            e.source.clone().unwrap_or_default(),
        ]);
    }
    let mut widths = [0usize; 5];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in &rows {
        let mut line = String::new();
        for (i, (w, c)) in widths.iter().zip(r.iter()).enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ");
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if !stale.is_empty() {
        let _ = writeln!(
            out,
            "Older than 24 h: {} (scans refresh it unless --offline; or run `layerscan db update`).",
            stale.join(", ")
        );
    }
    feeds_text(st, now, &mut out);
    out
}

/// `db status --format json`: `{"Kind": "database"|"bundled", "Path", "Records", "SizeBytes",
/// "Ecosystems": [{"Ecosystem", "Records", "Source", "ImportedAt", "AgeSeconds", "Stale"}], "Note"}`.
fn status_json(
    path: &std::path::Path,
    status: Option<&DbStatus>,
    now: time::OffsetDateTime,
) -> anyhow::Result<String> {
    let v = match status {
        Some(st) => {
            let ecosystems: Vec<serde_json::Value> = st
                .ecosystems
                .iter()
                .map(|e| {
                    let age = e
                        .imported_at
                        .as_deref()
                        .and_then(|s| {
                            time::OffsetDateTime::parse(
                                s,
                                &time::format_description::well_known::Rfc3339,
                            )
                            .ok()
                        })
                        .map(|t| (now - t).whole_seconds().max(0));
                    serde_json::json!({
                        "Ecosystem": e.ecosystem,
                        "Records": e.records,
                        "Source": e.source,
                        "ImportedAt": e.imported_at,
                        "CheckedAt": e.checked_at,
                        "AgeSeconds": age,
                        "Stale": e.is_stale(now),
                    })
                })
                .collect();
            let feeds: Vec<serde_json::Value> = st
                .feeds
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "Name": f.name,
                        "Feed": f.kind,
                        "Records": f.records,
                        "Source": f.source,
                        "Version": f.version,
                        "ImportedAt": f.imported_at,
                        "CheckedAt": f.checked_at,
                    })
                })
                .collect();
            serde_json::json!({
                "Kind": "database",
                "Path": st.path.display().to_string(),
                "Records": st.total_records,
                "SizeBytes": st.size_bytes,
                "Ecosystems": ecosystems,
                "Feeds": feeds,
                "FeedRows": st.feed_rows,
            })
        }
        None => {
            let store = MemoryStore::bundled()?;
            let ecosystems: Vec<serde_json::Value> = store
                .counts()
                .iter()
                .map(|(k, v)| serde_json::json!({"Ecosystem": k, "Records": v}))
                .collect();
            serde_json::json!({
                "Kind": "bundled",
                "Path": path.display().to_string(),
                "Records": store.len(),
                "Ecosystems": ecosystems,
                "Note": crate::db::bundled_note(store.len()),
            })
        }
    };
    Ok(serde_json::to_string_pretty(&v)?)
}

fn bundled_status_text(path: &std::path::Path) -> anyhow::Result<String> {
    let store = MemoryStore::bundled()?;
    let counts: Vec<String> = store
        .counts()
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "No advisory database at {}.", path.display());
    let _ = writeln!(
        out,
        "Scans use only the small bundled sample: {} advisories{}.",
        store.len(),
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        }
    );
    let _ = writeln!(
        out,
        "For full data run `layerscan db update` (or `layerscan db import PATH` for OSV export zips)."
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(human_age(time::Duration::seconds(5)), "5s");
        assert_eq!(human_age(time::Duration::minutes(3)), "3m");
        assert_eq!(human_age(time::Duration::hours(5)), "5h");
        assert_eq!(human_age(time::Duration::hours(49)), "2d");
    }
}
