//! `package.json`: an installed package's manifest (name and version), or a project's own (its
//! direct and dev dependencies, the roots of its lockfile's graph).

use super::{clean_version, valid_name, NpmPackage, Presence, ProjectManifest};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Only the fields we read; anything else in the manifest is ignored, and a field of the wrong
/// type reads as absent rather than failing the whole manifest (npm itself is that lenient).
#[derive(Deserialize, Default)]
struct Manifest {
    #[serde(default, deserialize_with = "lenient_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    version: Option<String>,
    #[serde(default, rename = "dependencies", deserialize_with = "lenient_map")]
    dependencies: BTreeMap<String, String>,
    #[serde(
        default,
        rename = "optionalDependencies",
        deserialize_with = "lenient_map"
    )]
    optional: BTreeMap<String, String>,
    #[serde(default, rename = "peerDependencies", deserialize_with = "lenient_map")]
    peer: BTreeMap<String, String>,
    #[serde(default, rename = "devDependencies", deserialize_with = "lenient_map")]
    dev: BTreeMap<String, String>,
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_str().map(str::to_string))
}

fn lenient_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

fn read(text: &str) -> Result<Manifest, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.trim_start().starts_with('{') {
        return Err("not a package.json (not a JSON object)".to_string());
    }
    serde_json::from_str(text).map_err(|e| format!("malformed package.json: {e}"))
}

/// An installed package's manifest. `Ok(None)` for one that names no package (npm skips those
/// too: a `package.json` without name or version is no installed package).
pub fn parse_installed(path: &str, text: &str) -> Result<Option<NpmPackage>, String> {
    let m = read(text)?;
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    let (Some(name), Some(version)) = (
        m.name.as_deref().map(str::trim),
        m.version.as_deref().and_then(clean_version),
    ) else {
        return Ok(None);
    };
    if !valid_name(name) {
        return Err(format!(
            "package name {:?} is not a valid npm name",
            truncate(name)
        ));
    }
    // An aliased install (`"foo": "npm:bar@1"`) lives in node_modules/foo with name `bar`: the
    // manifest's name is the package's, as npm ls reports it, so the directory name is not used.
    Ok(Some(NpmPackage {
        name: name.to_string(),
        version: version.to_string(),
        dev: false,
        presence: Presence::Installed,
        install_path: Some(dir.to_string()),
        lines: None,
    }))
}

/// A project's manifest: its dependency roots.
pub fn parse_project(text: &str) -> Result<ProjectManifest, String> {
    let m = read(text)?;
    let mut prod = m.dependencies;
    prod.extend(m.optional);
    for (k, v) in m.peer {
        prod.entry(k).or_insert(v);
    }
    Ok(ProjectManifest { prod, dev: m.dev })
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed() {
        let p = parse_installed(
            "nodejs/node_modules/@types/node/package.json",
            r#"{"name": "@types/node", "version": "20.11.5", "license": "MIT", "dependencies": {"undici-types": "~5.26.4"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("@types/node", "20.11.5")
        );
        assert_eq!(
            p.install_path.as_deref(),
            Some("nodejs/node_modules/@types/node")
        );
        assert_eq!(p.presence, Presence::Installed);
        assert_eq!(p.purl(), "pkg:npm/%40types/node@20.11.5");
    }

    #[test]
    fn not_packages_and_garbage() {
        let path = "node_modules/x/package.json";
        assert_eq!(parse_installed(path, r#"{"type": "module"}"#), Ok(None));
        assert_eq!(
            parse_installed(path, r#"{"name": "x", "version": 3}"#),
            Ok(None)
        );
        assert_eq!(
            parse_installed(path, r#"{"name": "x", "version": "  "}"#),
            Ok(None)
        );
        assert!(parse_installed(path, r#"{"name": "a b", "version": "1.0.0"}"#).is_err());
        assert!(parse_installed(path, "[1]").is_err());
        assert!(parse_installed(path, "{\"name\": ").is_err());
        assert!(parse_installed(path, "").is_err());
        // A BOM and fields of odd types are tolerated.
        let p = parse_installed(
            path,
            "\u{feff}{\"name\":\"x\",\"version\":\"1.0.0\",\"dependencies\":[1]}",
        )
        .unwrap();
        assert_eq!(p.unwrap().version, "1.0.0");
    }

    #[test]
    fn project_roots() {
        let m = parse_project(r#"{"name":"app","dependencies":{"axios":"^0.21.1"},"optionalDependencies":{"fsevents":"2"},"devDependencies":{"minimist":"1.2.5","x":7}}"#).unwrap();
        assert_eq!(m.prod.keys().collect::<Vec<_>>(), ["axios", "fsevents"]);
        assert_eq!(m.dev.keys().collect::<Vec<_>>(), ["minimist"]);
    }
}
