//! `image`, `layer`, `fs`: fetch → pipeline → match → audit image config → emit.

use crate::cli::{DbArgs, FsArgs, ImageArgs, LayerArgs, PipelineArgs};
use crate::model::{Inventory, Metadata, Package, PackageSet, PackageSetKind, Report, ScanResult};
use crate::pipeline::PipelineOptions;
use crate::source::Source;
use std::io::IsTerminal;
use std::path::Path;

/// Everything but the policy: pipeline, report building, matching, image-config audit. Used by the
/// `image`/`layer`/`fs` commands and by `hook ecr`.
pub fn build_report(
    source: &dyn Source,
    pipeline: &PipelineArgs,
    db: &DbArgs,
) -> anyhow::Result<Report> {
    let opts = PipelineOptions {
        parallel: pipeline.parallel.unwrap_or(0),
        cache_dir: (!pipeline.no_cache)
            .then(|| crate::cache::layers_dir(&crate::cli::cache_dir(db.cache_dir.as_ref()))),
        // Bars only on a terminal, and not under `--quiet` (which turns warnings off).
        progress: std::io::stderr().is_terminal() && tracing::enabled!(tracing::Level::WARN),
    };
    let inventory = crate::pipeline::run(source, &opts)?;
    let mut report = inventory_report(source, inventory);

    let (store, advisory_source, db_warnings) = crate::db::open_for_scan(db)?;
    crate::matcher::match_report(&mut report, store.as_ref())?;
    report.advisory_source = Some(advisory_source);
    for w in db_warnings {
        tracing::warn!("{w}");
        report.warnings.push(w);
    }

    if let Some(config) = &source.target().config {
        if let Some(result) = crate::audit::image_config(&report.artifact_name, config) {
            report.results.push(result);
        }
    }
    Ok(report)
}

/// The report before matching: metadata and one result per package group. Inventory warnings go to
/// the report and to stderr.
pub fn inventory_report(source: &dyn Source, inventory: Inventory) -> Report {
    let target = source.target();
    let name = target.name.clone();
    let mut os_pkgs: Vec<Package> = Vec::new();
    let mut has_os_sets = false;
    let mut python: Vec<Package> = Vec::new();
    let mut requirements: Vec<(String, Vec<Package>)> = Vec::new();
    for PackageSet {
        path,
        kind,
        packages,
    } in inventory.package_sets
    {
        match kind {
            PackageSetKind::Dpkg | PackageSetKind::Apk => {
                has_os_sets = true;
                os_pkgs.extend(packages);
            }
            PackageSetKind::PythonInstalled => python.extend(packages),
            PackageSetKind::Requirements => requirements.push((path, packages)),
        }
    }

    let mut results = Vec::new();
    if inventory.os.is_some() || has_os_sets {
        let (family, release) = inventory
            .os
            .as_ref()
            .map(|o| (o.family.clone(), o.name.clone()))
            .unwrap_or_else(|| ("unknown".to_string(), String::new()));
        let label = if release.is_empty() {
            family.clone()
        } else {
            format!("{family} {release}")
        };
        results.push(ScanResult {
            target: format!("{name} ({label})"),
            class: "os-pkgs".to_string(),
            kind: family,
            packages: Some(sorted(os_pkgs)),
            vulnerabilities: None,
            misconfigurations: None,
        });
    }
    if !python.is_empty() {
        results.push(ScanResult {
            target: "Python".to_string(),
            class: "lang-pkgs".to_string(),
            kind: "python-pkg".to_string(),
            packages: Some(sorted(python)),
            vulnerabilities: None,
            misconfigurations: None,
        });
    }
    for (path, packages) in requirements {
        results.push(ScanResult {
            target: path,
            class: "lang-pkgs".to_string(),
            kind: "pip".to_string(),
            packages: Some(sorted(packages)),
            vulnerabilities: None,
            misconfigurations: None,
        });
    }

    for w in &inventory.warnings {
        tracing::warn!("{w}");
    }
    // Never a silent "clean": what was not analysed goes to stderr as well as into the report.
    for gap in &inventory.gaps {
        tracing::warn!("not analysed: {}", gap.describe());
    }
    let coverage = (!inventory.gaps.is_empty()).then_some(crate::model::Coverage {
        gaps: inventory.gaps,
    });
    Report {
        schema_version: 2,
        created_at: now_rfc3339(),
        artifact_name: name,
        artifact_type: source.artifact_type(),
        metadata: Metadata {
            os: inventory.os,
            image_id: target.image_id.clone(),
            diff_ids: target
                .layers
                .iter()
                .filter_map(|l| l.diff_id.clone())
                .collect(),
            repo_tags: target.repo_tags.clone(),
            repo_digests: target.repo_digests.clone(),
            image_config: target.config.clone(),
        },
        results,
        warnings: inventory.warnings,
        advisory_source: None,
        expired_ignores: Vec::new(),
        coverage,
    }
}

/// Sorted by name, then version, then path; exact duplicates (same name, version, arch, path) dropped.
fn sorted(mut packages: Vec<Package>) -> Vec<Package> {
    packages.sort_by(|a, b| {
        (&a.name, &a.version, &a.arch, &a.file_path).cmp(&(
            &b.name,
            &b.version,
            &b.arch,
            &b.file_path,
        ))
    });
    packages.dedup_by(|a, b| {
        a.name == b.name && a.version == b.version && a.arch == b.arch && a.file_path == b.file_path
    });
    packages
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Open what `layerscan image` was given: a local tarball or layout (`DIR[:ref]`), else a registry
/// reference.
pub fn open_image(
    arg: &str,
    registry: &crate::cli::RegistryArgs,
) -> anyhow::Result<Box<dyn Source>> {
    // skopeo/podman transport names for local images: the content decides the format anyway.
    let transport = ["docker-archive:", "oci-archive:", "oci:"]
        .iter()
        .find_map(|p| arg.strip_prefix(p));
    if let Some(rest) = transport {
        let (path, reference) = crate::source::archive::split_local_reference(rest)
            .ok_or_else(|| anyhow::anyhow!("{arg}: no such file or directory"))?;
        let image = crate::source::archive::open_local_image(
            &path,
            reference.as_deref(),
            arg,
            &registry.platform,
        )?;
        return Ok(Box::new(image));
    }
    if let Some((path, reference)) = crate::source::archive::split_local_reference(arg) {
        let name = match &reference {
            Some(_) => arg.to_string(),
            None => path.display().to_string(),
        };
        let image = crate::source::archive::open_local_image(
            &path,
            reference.as_deref(),
            &name,
            &registry.platform,
        )?;
        return Ok(Box::new(image));
    }
    if looks_like_path(arg) {
        anyhow::bail!("{arg}: no such file or directory");
    }
    Ok(Box::new(crate::source::registry::RegistrySource::open(
        arg, registry,
    )?))
}

/// An argument that can only be a local path (so a missing one is "not found", not a registry pull).
fn looks_like_path(arg: &str) -> bool {
    arg.starts_with('/')
        || arg.starts_with("./")
        || arg.starts_with("../")
        || arg.starts_with('~')
        || [".tar", ".tar.gz", ".tgz", ".zip", ".oci"]
            .iter()
            .any(|ext| arg.ends_with(ext))
}

pub fn image(args: ImageArgs) -> anyhow::Result<i32> {
    let source = open_image(&args.image, &args.registry)?;
    let report = build_report(source.as_ref(), &args.pipeline, &args.db)?;
    crate::cmd::emit(report, &args.report)
}

pub fn layer(args: LayerArgs) -> anyhow::Result<i32> {
    let arg = args.layer.as_str();
    if crate::source::remote_zip::is_remote(arg) {
        let source = if arg.starts_with("arn:") {
            if args.sha256.is_some() {
                anyhow::bail!("--sha256 is for URLs; an ARN is checked against its CodeSha256");
            }
            crate::source::remote_zip::open_arn(arg, &args.registry)?
        } else {
            crate::source::remote_zip::open_url(arg, args.sha256.as_deref(), &args.registry)?
        };
        let report = build_report(&source, &args.pipeline, &args.db)?;
        return crate::cmd::emit(report, &args.report);
    }
    let source = crate::source::lambda_zip::LambdaZipSource::open(Path::new(arg), arg)?;
    let report = build_report(&source, &args.pipeline, &args.db)?;
    crate::cmd::emit(report, &args.report)
}

pub fn fs(args: FsArgs) -> anyhow::Result<i32> {
    let name = args.path.display().to_string();
    let source = crate::source::dir::DirSource::open(&args.path, &name)?;
    let report = build_report(&source, &args.pipeline, &args.db)?;
    crate::cmd::emit(report, &args.report)
}
