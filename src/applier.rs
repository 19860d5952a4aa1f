//! The applier: merges per-layer analyses in layer order into one [`Inventory`], as the union
//! filesystem would, without ever building that filesystem.
//!
//! Whiteouts and opaque directories of a layer hide what lower layers put there; then the layer's own
//! files are laid on top. A package set at a path replaces the set a lower layer had at that path,
//! but a package that is unchanged by the rewrite keeps the layer that introduced it (rewriting
//! `var/lib/dpkg/status` to add one package does not "introduce" the other hundred).

use crate::analyzer;
use crate::model::{
    CoverageGap, Inventory, LayerAnalysis, LayerGap, LayerInfo, LayerRef, PackageSet, MAX_GAP_PATHS,
};
use crate::unpack::{join_path, normalize_path, split_parent};
use std::collections::{BTreeMap, HashMap};

/// Symlink hops allowed while resolving one path (as Linux's ELOOP limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// Well-known OS identification paths, resolved through symlinks after the merge.
const OS_PATHS: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "etc/debian_version",
    "etc/alpine-release",
    "etc/lsb-release",
    "etc/system-release",
    "etc/redhat-release",
    "etc/amazon-linux-release",
];

fn layer_info(layer: Option<&LayerRef>) -> LayerInfo {
    match layer {
        Some(l) => LayerInfo {
            digest: Some(l.digest.clone()).filter(|d| !d.is_empty()),
            diff_id: l.diff_id.clone().filter(|d| !d.is_empty()),
            created_by: l.created_by.clone().filter(|c| !c.is_empty()),
        },
        None => LayerInfo::default(),
    }
}

/// Is `path` equal to `dir` or below it? (`dir == ""` is the root: everything is below it.)
fn is_at_or_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// Strictly below `dir` (an opaque dir hides its lower contents, not itself).
fn is_under(path: &str, dir: &str) -> bool {
    path != dir && is_at_or_under(path, dir)
}

fn remove_where<V>(map: &mut BTreeMap<String, V>, pred: impl Fn(&str) -> bool) {
    map.retain(|k, _| !pred(k));
}

/// Merge analyses (one per layer, in layer order) into an inventory; `layers[i]` describes
/// `analyses[i]`. Packages get the `Layer` of the layer that introduced them; the OS is detected from
/// the surviving OS files (through symlinks); PURLs and ecosystems are filled.
pub fn apply(layers: &[LayerRef], analyses: Vec<LayerAnalysis>) -> Inventory {
    let merged = merge(layers, analyses);
    let resolved = resolve_os_files(&merged.os_files, &merged.symlinks);
    let os = analyzer::detect_os(&resolved);
    let mut package_sets: Vec<PackageSet> = merged.sets.into_values().collect();
    analyzer::finalize_packages(&mut package_sets, os.as_ref());
    Inventory {
        os,
        package_sets,
        warnings: merged.warnings,
        gaps: coverage_gaps(layers, merged.gaps),
    }
}

/// The surviving gaps, one per kind and layer (in layer order, then kind), with their file count
/// and the first paths.
fn coverage_gaps(layers: &[LayerRef], gaps: Vec<(usize, LayerGap)>) -> Vec<CoverageGap> {
    let mut by: BTreeMap<(usize, crate::model::GapKind), (u64, Vec<String>)> = BTreeMap::new();
    for (layer, gap) in gaps {
        let entry = by.entry((layer, gap.kind)).or_default();
        entry.0 += gap.files;
        entry.1.push(gap.path);
    }
    by.into_iter()
        .map(|((layer, kind), (files, mut paths))| {
            paths.sort();
            paths.dedup();
            let path_count = paths.len();
            paths.truncate(MAX_GAP_PATHS);
            CoverageGap {
                kind,
                what: kind.what().to_string(),
                meaning: kind.meaning().to_string(),
                files,
                paths,
                path_count,
                layer: layer_info(layers.get(layer)),
            }
        })
        .collect()
}

/// The union view after all layers: surviving package sets, OS files and symlinks by path.
struct Merged {
    sets: BTreeMap<String, PackageSet>,
    os_files: BTreeMap<String, String>,
    symlinks: BTreeMap<String, String>,
    warnings: Vec<String>,
    /// Gaps that survive, with the index of the layer that holds them.
    gaps: Vec<(usize, LayerGap)>,
}

fn merge(layers: &[LayerRef], analyses: Vec<LayerAnalysis>) -> Merged {
    let mut sets: BTreeMap<String, PackageSet> = BTreeMap::new();
    let mut os_files: BTreeMap<String, String> = BTreeMap::new();
    let mut symlinks: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut gaps: Vec<(usize, LayerGap)> = Vec::new();

    for (i, analysis) in analyses.into_iter().enumerate() {
        let info = layer_info(layers.get(i));
        // What this layer hides from the lower ones.
        for dir in &analysis.opaque_dirs {
            let d = normalize_path(dir);
            remove_where(&mut sets, |p| is_under(p, &d));
            remove_where(&mut os_files, |p| is_under(p, &d));
            remove_where(&mut symlinks, |p| is_under(p, &d));
            gaps.retain(|(_, g)| !is_under(&g.path, &d));
        }
        for w in &analysis.whiteouts {
            let w = normalize_path(w);
            if w.is_empty() {
                continue;
            }
            remove_where(&mut sets, |p| is_at_or_under(p, &w));
            remove_where(&mut os_files, |p| is_at_or_under(p, &w));
            remove_where(&mut symlinks, |p| is_at_or_under(p, &w));
            // A tree's gap goes only with the whole tree (or a parent): deleting some of its
            // packages leaves the rest unchecked.
            gaps.retain(|(_, g)| !is_at_or_under(&g.path, &w));
        }
        // What this layer adds.
        for (path, target) in analysis.symlinks {
            os_files.remove(&path);
            sets.remove(&path);
            gaps.retain(|(_, g)| g.path != path);
            symlinks.insert(path, target);
        }
        for (path, content) in analysis.os_files {
            symlinks.remove(&path);
            os_files.insert(path, content);
        }
        for mut set in analysis.package_sets {
            let path = normalize_path(&set.path);
            symlinks.remove(&path);
            // Packages identical to ones the replaced set had keep their original layer.
            let earlier: HashMap<(String, String, Option<String>), LayerInfo> = sets
                .get(&path)
                .filter(|old| old.kind == set.kind)
                .map(|old| {
                    old.packages
                        .iter()
                        .map(|p| {
                            (
                                (p.name.clone(), p.version.clone(), p.arch.clone()),
                                p.layer.clone(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            for p in &mut set.packages {
                let key = (p.name.clone(), p.version.clone(), p.arch.clone());
                p.layer = earlier.get(&key).cloned().unwrap_or_else(|| info.clone());
            }
            set.path = path.clone();
            sets.insert(path, set);
        }
        for gap in analysis.gaps {
            // A file rewritten by this layer replaces the lower one; a tree gets a gap per layer.
            if !analyzer::coverage::is_tree(gap.kind, &gap.path) {
                gaps.retain(|(_, g)| g.path != gap.path);
            }
            gaps.push((i, gap));
        }
        warnings.extend(analysis.warnings);
    }
    Merged {
        sets,
        os_files,
        symlinks,
        warnings,
        gaps,
    }
}

/// Resolve `path` through the merged symlinks, component by component, never leaving the root.
/// `None` on a loop.
pub fn resolve_path(path: &str, symlinks: &BTreeMap<String, String>) -> Option<String> {
    let mut current = normalize_path(path);
    let mut hops = 0;
    'restart: loop {
        let parts: Vec<&str> = current.split('/').filter(|c| !c.is_empty()).collect();
        let mut prefix = String::new();
        for (i, part) in parts.iter().enumerate() {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if let Some(target) = symlinks.get(&prefix) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return None;
                }
                let (parent, _) = split_parent(&prefix);
                let mut next = join_path(parent, target);
                let rest = parts.get(i + 1..).unwrap_or_default().join("/");
                if !rest.is_empty() {
                    next = join_path(&next, &rest);
                }
                current = next;
                continue 'restart;
            }
        }
        return Some(current);
    }
}

/// The OS files as the image would show them: the real files plus each well-known OS path and each
/// symlink that resolves to a kept OS file (`etc/os-release -> ../usr/lib/os-release`).
fn resolve_os_files(
    os_files: &BTreeMap<String, String>,
    symlinks: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = os_files.clone();
    let candidates = symlinks
        .keys()
        .map(String::as_str)
        .chain(OS_PATHS.iter().copied());
    for path in candidates {
        if out.contains_key(path) {
            continue;
        }
        if let Some(real) = resolve_path(path, symlinks) {
            if let Some(content) = os_files.get(&real) {
                out.insert(path.to_string(), content.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Identifier, Package, PackageSetKind};

    fn pkg(name: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            src_name: None,
            src_version: None,
            arch: None,
            file_path: None,
            layer: LayerInfo::default(),
            identifier: Identifier::default(),
            ecosystem: None,
        }
    }

    fn set(path: &str, pkgs: &[(&str, &str)]) -> PackageSet {
        PackageSet {
            path: path.into(),
            kind: PackageSetKind::Dpkg,
            packages: pkgs.iter().map(|(n, v)| pkg(n, v)).collect(),
        }
    }

    fn layer(n: u8) -> LayerRef {
        LayerRef {
            digest: format!("sha256:{n}"),
            diff_id: Some(format!("sha256:d{n}")),
            media_type: String::new(),
            size: None,
            created_by: Some(format!("RUN step {n}")),
        }
    }

    #[test]
    fn unchanged_packages_keep_their_layer() {
        let l0 = LayerAnalysis {
            package_sets: vec![set("var/lib/dpkg/status", &[("a", "1"), ("b", "1")])],
            ..Default::default()
        };
        let l1 = LayerAnalysis {
            package_sets: vec![set(
                "var/lib/dpkg/status",
                &[("a", "1"), ("b", "2"), ("c", "1")],
            )],
            ..Default::default()
        };
        let inv = apply(&[layer(0), layer(1)], vec![l0, l1]);
        assert_eq!(inv.package_sets.len(), 1);
        let by: BTreeMap<_, _> = inv.package_sets[0]
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.layer.digest.clone().unwrap()))
            .collect();
        assert_eq!(by["a"], "sha256:0");
        assert_eq!(by["b"], "sha256:1");
        assert_eq!(by["c"], "sha256:1");
        assert_eq!(
            inv.package_sets[0].packages[0].layer.created_by.as_deref(),
            Some("RUN step 0")
        );
    }

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_layers() {
        let l0 = LayerAnalysis {
            package_sets: vec![
                set(
                    "usr/lib/python3/site-packages/a.dist-info/METADATA",
                    &[("a", "1")],
                ),
                set(
                    "usr/lib/python3/site-packages/b.dist-info/METADATA",
                    &[("b", "1")],
                ),
                set("opt/app/x.dist-info/METADATA", &[("x", "1")]),
            ],
            ..Default::default()
        };
        let l1 = LayerAnalysis {
            whiteouts: vec!["usr/lib/python3/site-packages/a.dist-info".into()],
            opaque_dirs: vec!["opt/app".into()],
            package_sets: vec![set("opt/app/y.dist-info/METADATA", &[("y", "1")])],
            ..Default::default()
        };
        let inv = apply(&[layer(0), layer(1)], vec![l0, l1]);
        let names: Vec<_> = inv
            .package_sets
            .iter()
            .flat_map(|s| s.packages.iter().map(|p| p.name.clone()))
            .collect();
        assert_eq!(names, vec!["y", "b"]);
    }

    #[test]
    fn symlinks_resolve_inside_the_image() {
        let mut links = BTreeMap::new();
        links.insert(
            "etc/os-release".to_string(),
            "../usr/lib/os-release".to_string(),
        );
        links.insert("lib".to_string(), "usr/lib".to_string());
        links.insert("loop".to_string(), "loop".to_string());
        links.insert("up".to_string(), "../../../../etc".to_string());
        assert_eq!(
            resolve_path("etc/os-release", &links).as_deref(),
            Some("usr/lib/os-release")
        );
        assert_eq!(
            resolve_path("lib/os-release", &links).as_deref(),
            Some("usr/lib/os-release")
        );
        assert_eq!(resolve_path("loop/x", &links), None);
        assert_eq!(
            resolve_path("up/os-release", &links).as_deref(),
            Some("usr/lib/os-release")
        );

        let mut os_files = BTreeMap::new();
        os_files.insert("usr/lib/os-release".to_string(), "ID=debian\n".to_string());
        let resolved = resolve_os_files(&os_files, &links);
        assert_eq!(
            resolved.get("etc/os-release").map(String::as_str),
            Some("ID=debian\n")
        );
    }

    #[test]
    fn whiteout_of_os_file_removes_it() {
        let mut l0 = LayerAnalysis::default();
        l0.os_files
            .insert("etc/os-release".into(), "ID=alpine".into());
        let l1 = LayerAnalysis {
            whiteouts: vec!["etc/os-release".into()],
            ..Default::default()
        };
        let mut l2 = LayerAnalysis::default();
        l2.symlinks
            .insert("etc/os-release".into(), "../usr/lib/os-release".into());
        l2.os_files
            .insert("usr/lib/os-release".into(), "ID=debian".into());
        let m = merge(&[layer(0), layer(1)], vec![l0.clone(), l1.clone()]);
        assert!(m.os_files.is_empty());
        let m = merge(&[layer(0), layer(1), layer(2)], vec![l0, l1, l2]);
        let resolved = resolve_os_files(&m.os_files, &m.symlinks);
        assert_eq!(
            resolved.get("etc/os-release").map(String::as_str),
            Some("ID=debian")
        );
    }
}
