//! npm's lockfiles: `package-lock.json` and `npm-shrinkwrap.json` (lockfileVersion 1, 2 and 3) and
//! the hidden lockfile `node_modules/.package-lock.json` (v3 format, written by npm from the
//! installed tree).
//!
//! v2 and v3 list every package under `packages`, keyed by install path
//! (`node_modules/a/node_modules/b`); v2 repeats the tree in v1's nested `dependencies` for old
//! npm, which we read only when `packages` is absent (v1). Links (`"link": true`, workspaces and
//! `file:` installs) and the project itself (`""`) and its workspaces (keys outside
//! `node_modules`) are the project's own code, not dependencies.

use super::lines::json_object_spans;
use super::{clean_version, valid_name, NpmPackage, Presence};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Lockfile {
    #[serde(default, rename = "lockfileVersion")]
    lockfile_version: Option<serde_json::Value>,
    #[serde(default)]
    packages: Option<BTreeMap<String, Entry>>,
    #[serde(default)]
    dependencies: Option<BTreeMap<String, V1Dep>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Entry {
    name: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
    dev: Option<serde_json::Value>,
    link: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct V1Dep {
    version: Option<serde_json::Value>,
    dev: Option<serde_json::Value>,
    dependencies: Option<BTreeMap<String, V1Dep>>,
}

fn string(v: &Option<serde_json::Value>) -> Option<&str> {
    v.as_ref().and_then(|v| v.as_str())
}

fn truthy(v: &Option<serde_json::Value>) -> bool {
    v.as_ref().and_then(|v| v.as_bool()).unwrap_or(false)
}

/// The package name an install path ends in: `node_modules/a/node_modules/@s/b` → `@s/b`.
fn name_from_path(key: &str) -> Option<&str> {
    let idx = key.rfind("node_modules/")?;
    let name = &key[idx + "node_modules/".len()..];
    valid_name(name).then_some(name)
}

pub fn parse(text: &str, hidden: bool) -> Result<Vec<NpmPackage>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.trim_start().starts_with('{') {
        return Err("not an npm lockfile (not a JSON object)".to_string());
    }
    let lock: Lockfile =
        serde_json::from_str(text).map_err(|e| format!("malformed npm lockfile: {e}"))?;
    let version = lock.lockfile_version.as_ref().and_then(|v| v.as_u64());
    let presence = if hidden {
        Presence::Installed
    } else {
        Presence::Referenced
    };
    let mut out = Vec::new();
    if let Some(packages) = lock.packages {
        let spans = json_object_spans(text, |p| p == "packages");
        for (key, e) in packages {
            if key.is_empty() || truthy(&e.link) {
                continue;
            }
            // Workspaces (`packages/a`) are the project's own code; only installs are deps.
            let Some(dir_name) = name_from_path(&key) else {
                continue;
            };
            let name = string(&e.name)
                .filter(|n| valid_name(n))
                .unwrap_or(dir_name);
            let Some(v) = string(&e.version).and_then(clean_version) else {
                continue;
            };
            let lines = spans
                .get(&vec!["packages".to_string(), key.clone()])
                .copied();
            out.push(NpmPackage {
                name: name.to_string(),
                version: v.to_string(),
                dev: truthy(&e.dev),
                presence,
                install_path: Some(key),
                lines,
            });
        }
        return Ok(out);
    }
    match (version, lock.dependencies) {
        (Some(1) | None, Some(deps)) => {
            let spans = json_object_spans(text, |p| p == "dependencies");
            let mut key_path = Vec::new();
            walk_v1(&deps, "", &mut key_path, &spans, presence, &mut out, 0);
            Ok(out)
        }
        (Some(v), _) if v > 3 => Err(format!("lockfileVersion {v} is not supported")),
        // A lockfile of a project without dependencies.
        _ => Ok(out),
    }
}

fn walk_v1(
    deps: &BTreeMap<String, V1Dep>,
    parent: &str,
    key_path: &mut Vec<String>,
    spans: &std::collections::HashMap<Vec<String>, (u32, u32)>,
    presence: Presence,
    out: &mut Vec<NpmPackage>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    for (name, d) in deps {
        if !valid_name(name) {
            continue;
        }
        let install_path = format!("{parent}node_modules/{name}");
        key_path.push("dependencies".to_string());
        key_path.push(name.clone());
        // v1 writes `file:`/git specs as the version of linked deps; keep versions only.
        if let Some(v) = string(&d.version)
            .and_then(clean_version)
            .filter(|v| !v.contains(':'))
        {
            out.push(NpmPackage {
                name: name.clone(),
                version: v.to_string(),
                dev: truthy(&d.dev),
                presence,
                install_path: Some(install_path.clone()),
                lines: spans.get(key_path).copied(),
            });
        }
        if let Some(children) = &d.dependencies {
            walk_v1(
                children,
                &format!("{install_path}/"),
                key_path,
                spans,
                presence,
                out,
                depth + 1,
            );
        }
        key_path.pop();
        key_path.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3: &str = r#"{
  "name": "app",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "app",
      "dependencies": {"a": "^1.0.0"},
      "workspaces": ["packages/*"]
    },
    "node_modules/@s/b": {
      "version": "2.0.0",
      "dev": true
    },
    "node_modules/a": {
      "version": "1.0.0",
      "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz"
    },
    "node_modules/a/node_modules/c": {
      "version": "0.1.0"
    },
    "node_modules/alias": {
      "name": "real",
      "version": "3.0.0"
    },
    "node_modules/w": {
      "resolved": "packages/w",
      "link": true
    },
    "packages/w": {
      "version": "0.0.1"
    }
  }
}
"#;

    #[test]
    fn v3_packages() {
        let p = parse(V3, false).unwrap();
        let got: Vec<_> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.dev, p.lines))
            .collect();
        assert_eq!(
            got,
            [
                ("@s/b", "2.0.0", true, Some((12, 15))),
                ("a", "1.0.0", false, Some((16, 19))),
                ("c", "0.1.0", false, Some((20, 22))),
                ("real", "3.0.0", false, Some((23, 26))),
            ]
        );
        assert!(p.iter().all(|p| p.presence == Presence::Referenced));
        assert_eq!(
            p[2].install_path.as_deref(),
            Some("node_modules/a/node_modules/c")
        );
        assert!(parse(V3, true)
            .unwrap()
            .iter()
            .all(|p| p.presence == Presence::Installed));
    }

    #[test]
    fn v1_nested() {
        let text = r#"{
  "name": "app",
  "lockfileVersion": 1,
  "dependencies": {
    "a": {
      "version": "1.0.0",
      "dependencies": {
        "b": {"version": "2.0.0", "dev": true}
      }
    },
    "l": {"version": "file:../l"}
  }
}"#;
        let p = parse(text, false).unwrap();
        let got: Vec<_> = p
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.dev,
                    p.lines,
                    p.install_path.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", "1.0.0", false, Some((5, 10)), Some("node_modules/a")),
                (
                    "b",
                    "2.0.0",
                    true,
                    Some((8, 8)),
                    Some("node_modules/a/node_modules/b")
                ),
            ]
        );
    }

    #[test]
    fn garbage() {
        for text in [
            "",
            "[]",
            "{\"packages\": 3}",
            "{\"lockfileVersion\": 9, \"dependencies\": {}}",
            "nul\u{0}",
        ] {
            assert!(parse(text, false).is_err(), "{text:?}");
        }
        assert_eq!(parse("{\"lockfileVersion\": 2}", false), Ok(vec![]));
        // Entries of the wrong shape are skipped, not fatal.
        let p = parse(r#"{"packages": {"node_modules/a": {"version": 1}, "node_modules/b": {"version": "1.0.0", "dev": "yes"}}}"#, false).unwrap();
        assert_eq!(p.len(), 1);
        assert!(!p[0].dev);
    }
}
