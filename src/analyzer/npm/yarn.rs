//! `yarn.lock`, classic (v1, `version "1.2.3"`) and berry (v2+, YAML, `__metadata`,
//! `resolution: "name@npm:1.2.3"`).
//!
//! Both are read with one line-based reader: an entry is a header line at column 0 (the specs
//! that resolve to it, `name@range[, name@range]:`) and its indented fields. Berry entries that do
//! not resolve to the npm registry (`workspace:`, `patch:` copies of an npm entry, `link:`,
//! `portal:`, `file:`) are the project's own code or duplicates and are skipped. yarn.lock does not
//! say which packages are dev dependencies: that comes from the `package.json` beside it (see
//! [`super::mark_dev`]).

use super::lines::unquote;
use super::{clean_version, mark_dev, valid_name, NpmPackage, Presence, ProjectManifest};
use std::collections::HashMap;

struct Raw {
    specs: Vec<String>,
    version: Option<String>,
    resolution: Option<String>,
    deps: Vec<(String, String)>,
    lines: (u32, u32),
}

/// `name@range` → (`name`, `range`); the name may be scoped (`@s/n@^1`).
pub fn split_spec(spec: &str) -> Option<(&str, &str)> {
    let at = if let Some(rest) = spec.strip_prefix('@') {
        rest.find('@')? + 1
    } else {
        spec.find('@')?
    };
    Some((&spec[..at], &spec[at + 1..]))
}

/// A dependency line: classic `name "range"`, berry `name: "npm:range"` (either may be quoted).
fn dep_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    let (name, range) = if let Some(rest) = line.strip_prefix('"') {
        let end = rest.find('"')?;
        (&rest[..end], rest[end + 1..].trim_start_matches(':').trim())
    } else {
        let end = line.find([' ', ':'])?;
        (&line[..end], line[end..].trim_start_matches(':').trim())
    };
    Some((name.to_string(), unquote(range).to_string()))
}

fn entries(text: &str) -> Result<(Vec<Raw>, bool), String> {
    let mut out: Vec<Raw> = Vec::new();
    let mut berry = false;
    let mut section: Option<&str> = None;
    let mut skip = false;
    for (n, raw) in text.lines().enumerate() {
        let n = n as u32 + 1;
        let line = raw.trim_end();
        if line.trim_start().is_empty() || line.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent == 0 {
            let Some(header) = line.strip_suffix(':') else {
                return Err(format!("line {n}: not a yarn.lock entry header"));
            };
            if header == "__metadata" {
                berry = true;
                skip = true;
                continue;
            }
            skip = false;
            let specs = header.split(", ").map(|s| unquote(s).to_string()).collect();
            out.push(Raw {
                specs,
                version: None,
                resolution: None,
                deps: Vec::new(),
                lines: (n, n),
            });
            section = None;
            continue;
        }
        if skip {
            continue;
        }
        let Some(entry) = out.last_mut() else {
            return Err(format!("line {n}: indented line before any entry"));
        };
        entry.lines.1 = n;
        let body = line.trim_start();
        if indent == 2 {
            section = None;
            if let Some(key) = body.strip_suffix(':') {
                section = Some(if key == "dependencies" || key == "optionalDependencies" {
                    "deps"
                } else {
                    "other"
                });
                continue;
            }
            let (key, value) = match body.split_once(": ") {
                Some((k, v)) => (k, v),
                None => body.split_once(' ').unwrap_or((body, "")),
            };
            match unquote(key) {
                "version" => entry.version = Some(unquote(value).to_string()),
                "resolution" => entry.resolution = Some(unquote(value).to_string()),
                _ => {}
            }
        } else if indent >= 4 && section == Some("deps") {
            if let Some(d) = dep_line(body) {
                entry.deps.push(d);
            }
        }
    }
    Ok((out, berry))
}

pub fn parse(text: &str, project: Option<&ProjectManifest>) -> Result<Vec<NpmPackage>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\0') {
        return Err("not a yarn.lock (binary data)".to_string());
    }
    let (raw, berry) = entries(text).map_err(|e| format!("malformed yarn.lock: {e}"))?;
    let mut packages = Vec::new();
    let mut kept: Vec<&Raw> = Vec::new();
    for r in &raw {
        let Some((name, _)) = r.specs.first().and_then(|s| split_spec(s)) else {
            continue;
        };
        if !valid_name(name) {
            continue;
        }
        if berry {
            // `name@npm:1.2.3` only: the rest are workspaces, patches and local sources.
            let npm = r
                .resolution
                .as_deref()
                .and_then(split_spec)
                .is_some_and(|(_, v)| v.starts_with("npm:"));
            if !npm {
                continue;
            }
        } else if r.specs.iter().any(|s| {
            split_spec(s)
                .is_some_and(|(_, range)| range.starts_with("file:") || range.starts_with("link:"))
        }) {
            continue;
        }
        let Some(version) = r.version.as_deref().and_then(clean_version) else {
            continue;
        };
        packages.push(NpmPackage {
            name: name.to_string(),
            version: version.to_string(),
            dev: false,
            presence: Presence::Referenced,
            install_path: None,
            lines: Some(r.lines),
        });
        kept.push(r);
    }
    if let Some(project) = project {
        let mut by_spec: HashMap<&str, usize> = HashMap::new();
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (i, r) in kept.iter().enumerate() {
            for s in &r.specs {
                by_spec.insert(s.as_str(), i);
            }
            by_name.entry(packages[i].name.as_str()).or_insert(i);
        }
        let resolve = |name: &str, range: &str| -> Option<usize> {
            let spec = format!("{name}@{range}");
            let npm_spec = format!("{name}@npm:{range}");
            by_spec
                .get(spec.as_str())
                .or_else(|| by_spec.get(npm_spec.as_str()))
                .or_else(|| by_name.get(name))
                .copied()
        };
        let edges: Vec<Vec<usize>> = kept
            .iter()
            .map(|r| {
                r.deps
                    .iter()
                    .filter_map(|(n, range)| resolve(n, range))
                    .collect()
            })
            .collect();
        let roots = |m: &std::collections::BTreeMap<String, String>| {
            m.iter()
                .filter_map(|(n, r)| resolve(n, r))
                .collect::<Vec<_>>()
        };
        let mut dev: Vec<bool> = vec![false; packages.len()];
        mark_dev(
            &mut dev,
            &edges,
            &roots(&project.prod),
            &roots(&project.dev),
        );
        for (p, d) in packages.iter_mut().zip(dev) {
            p.dev = d;
        }
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSIC: &str = r#"# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.
# yarn lockfile v1


"@s/b@^2.0.0":
  version "2.0.0"
  resolved "https://registry.yarnpkg.com/@s/b/-/b-2.0.0.tgz#abc"
  integrity sha512-x

a@^1.0.0, a@^1.0.1:
  version "1.0.1"
  resolved "https://registry.yarnpkg.com/a/-/a-1.0.1.tgz#def"
  dependencies:
    "@s/b" "^2.0.0"

d@1.0.0:
  version "1.0.0"
  dependencies:
    e "~3.0.0"

e@~3.0.0:
  version "3.0.1"
"#;

    #[test]
    fn classic() {
        let project = ProjectManifest {
            prod: [("a".to_string(), "^1.0.1".to_string())].into(),
            dev: [("d".to_string(), "1.0.0".to_string())].into(),
        };
        let p = parse(CLASSIC, Some(&project)).unwrap();
        let got: Vec<_> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.dev, p.lines.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("@s/b", "2.0.0", false, (5, 8)),
                ("a", "1.0.1", false, (10, 14)),
                ("d", "1.0.0", true, (16, 19)),
                ("e", "3.0.1", true, (21, 22)),
            ]
        );
        // Without the project manifest nothing is known to be dev.
        assert!(parse(CLASSIC, None).unwrap().iter().all(|p| !p.dev));
    }

    const BERRY: &str = r#"# This file is generated by running "yarn install" inside your project.

__metadata:
  version: 8
  cacheKey: 10c0

"a@npm:^1.0.0":
  version: 1.0.1
  resolution: "a@npm:1.0.1"
  dependencies:
    "@s/b": "npm:^2.0.0"
  checksum: 10c0/abc
  languageName: node
  linkType: hard

"@s/b@npm:^2.0.0":
  version: 2.0.0
  resolution: "@s/b@npm:2.0.0"
  languageName: node
  linkType: hard

"app@workspace:.":
  version: 0.0.0-use.local
  resolution: "app@workspace:."
  dependencies:
    a: "npm:^1.0.0"
  languageName: unknown
  linkType: soft

"resolve@patch:resolve@npm%3A^1.1.7#optional!builtin<compat/resolve>":
  version: 1.22.8
  resolution: "resolve@patch:resolve@npm%3A1.22.8#optional!builtin<compat/resolve>::version=1.22.8&hash=c3c19d"
  languageName: node
  linkType: hard
"#;

    #[test]
    fn berry() {
        let project = ProjectManifest {
            prod: Default::default(),
            dev: [("a".to_string(), "^1.0.0".to_string())].into(),
        };
        let p = parse(BERRY, Some(&project)).unwrap();
        let got: Vec<_> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.dev, p.lines.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "1.0.1", true, (7, 14)),
                ("@s/b", "2.0.0", true, (16, 20))
            ]
        );
    }

    #[test]
    fn garbage() {
        assert!(parse("not: a\nlockfile", None).is_err());
        assert!(parse("  indented first:\n", None).is_err());
        assert!(parse("a\0", None).is_err());
        assert_eq!(parse("", None), Ok(vec![]));
        assert_eq!(parse("x:\n  version\n", None), Ok(vec![]));
        assert_eq!(split_spec("@s/b@^1"), Some(("@s/b", "^1")));
        assert_eq!(split_spec("a@npm:^1"), Some(("a", "npm:^1")));
        assert_eq!(split_spec("@s"), None);
    }
}
