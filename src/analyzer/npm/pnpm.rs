//! `pnpm-lock.yaml`, lockfileVersion 6 (`/name@1.2.3` keys, a `dev` flag per package) and 9
//! (`name@1.2.3` keys, the graph in `snapshots`, no dev flag: dev is decided from the
//! `importers`' `devDependencies`, as Trivy does). Keys may carry a peer suffix
//! (`name@1.2.3(peer@2.0.0)`), which is no part of the version.

use super::lines::indented_key_spans;
use super::yarn::split_spec;
use super::{clean_version, mark_dev, valid_name, NpmPackage, Presence, ProjectManifest};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    S(String),
    F(f64),
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Lock {
    #[serde(rename = "lockfileVersion")]
    lockfile_version: Option<Scalar>,
    importers: BTreeMap<String, Importer>,
    /// v6 and older, single project: the importer's fields at the top level.
    dependencies: BTreeMap<String, ImporterDep>,
    #[serde(rename = "optionalDependencies")]
    optional: BTreeMap<String, ImporterDep>,
    #[serde(rename = "devDependencies")]
    dev: BTreeMap<String, ImporterDep>,
    packages: BTreeMap<String, Pkg>,
    snapshots: BTreeMap<String, Snapshot>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Importer {
    dependencies: BTreeMap<String, ImporterDep>,
    #[serde(rename = "optionalDependencies")]
    optional: BTreeMap<String, ImporterDep>,
    #[serde(rename = "devDependencies")]
    dev: BTreeMap<String, ImporterDep>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ImporterDep {
    Full { version: String },
    Plain(String),
}

impl ImporterDep {
    fn version(&self) -> &str {
        match self {
            ImporterDep::Full { version } | ImporterDep::Plain(version) => version,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Pkg {
    name: Option<String>,
    version: Option<String>,
    dev: Option<bool>,
    dependencies: BTreeMap<String, String>,
    #[serde(rename = "optionalDependencies")]
    optional: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Snapshot {
    dependencies: BTreeMap<String, String>,
    #[serde(rename = "optionalDependencies")]
    optional: BTreeMap<String, String>,
}

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 32;
    budget.flow_nesting_limit = 32;
    budget.max_nodes = 10_000_000;
    budget.max_documents = 1;
    let mut opts = serde_saphyr::Options::default();
    opts.budget = Some(budget);
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    opts
}

/// `name@1.2.3(peer@1)` → `name@1.2.3`; `/name@1.2.3` (v6) → `name@1.2.3`.
fn strip_key(key: &str) -> &str {
    let key = key.strip_prefix('/').unwrap_or(key);
    match key.find('(') {
        Some(i) if i > 0 => &key[..i],
        _ => key,
    }
}

/// Name and version of a package key: `name@1.2.3`, or v5's `/name/1.2.3`.
fn key_name_version(key: &str) -> Option<(&str, &str)> {
    let k = strip_key(key);
    if let Some((n, v)) = split_spec(k) {
        return Some((n, v));
    }
    let (n, v) = k.rsplit_once('/')?;
    Some((n, v))
}

pub fn parse(text: &str, _project: Option<&ProjectManifest>) -> Result<Vec<NpmPackage>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lock: Lock = serde_saphyr::from_str_with_options(text, options()).map_err(|e| {
        format!(
            "malformed pnpm-lock.yaml: {}",
            e.without_snippet()
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid YAML")
        )
    })?;
    let version = match &lock.lockfile_version {
        Some(Scalar::S(s)) => s.parse::<f64>().ok(),
        Some(Scalar::F(f)) => Some(*f),
        None => None,
    };
    let Some(version) = version else {
        return Err("not a pnpm lockfile (no lockfileVersion)".to_string());
    };
    if !(5.0..10.0).contains(&version) {
        return Err(format!("lockfileVersion {version} is not supported"));
    }
    let spans: HashMap<String, (u32, u32)> = indented_key_spans(text, Some("packages"), 2)
        .into_iter()
        .collect();
    let mut packages = Vec::new();
    // Package key (peer suffix stripped) → index.
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut dev_known = true;
    for (key, p) in &lock.packages {
        let Some((kname, kversion)) = key_name_version(key) else {
            continue;
        };
        let name = p.name.as_deref().unwrap_or(kname);
        // Tarball and git packages have a URL for a key version and their version as a field.
        let version = p
            .version
            .as_deref()
            .or((!kversion.contains(':')).then_some(kversion));
        let (Some(version), true) = (version.and_then(clean_version), valid_name(name)) else {
            continue;
        };
        dev_known &= p.dev.is_some();
        index.insert(strip_key(key), packages.len());
        packages.push(NpmPackage {
            name: name.to_string(),
            version: version.to_string(),
            dev: p.dev.unwrap_or(false),
            presence: Presence::Referenced,
            install_path: None,
            lines: spans.get(key.as_str()).copied(),
        });
    }
    if dev_known && version < 9.0 || packages.is_empty() {
        return Ok(packages);
    }
    // The graph: v9 keeps it in `snapshots`, older versions in `packages`.
    let resolve = |name: &str, v: &str| -> Option<usize> {
        let key = format!("{name}@{v}");
        index.get(strip_key(&key)).copied()
    };
    let mut edges = vec![Vec::new(); packages.len()];
    let mut add = |key: &str, deps: &BTreeMap<String, String>, opt: &BTreeMap<String, String>| {
        if let Some(&i) = index.get(strip_key(key)) {
            edges[i].extend(deps.iter().chain(opt).filter_map(|(n, v)| resolve(n, v)));
        }
    };
    for (k, s) in &lock.snapshots {
        add(k, &s.dependencies, &s.optional);
    }
    for (k, p) in &lock.packages {
        add(k, &p.dependencies, &p.optional);
    }
    let root = Importer {
        dependencies: lock.dependencies,
        optional: lock.optional,
        dev: lock.dev,
    };
    let mut importers: Vec<&Importer> = lock.importers.values().collect();
    importers.push(&root);
    let roots = |pick: &dyn Fn(&Importer) -> Vec<(&String, &ImporterDep)>| -> Vec<usize> {
        importers
            .iter()
            .flat_map(|imp| pick(imp))
            .filter_map(|(n, d)| resolve(n, d.version()))
            .collect()
    };
    let prod = roots(&|i: &Importer| i.dependencies.iter().chain(&i.optional).collect());
    let dev_roots = roots(&|i: &Importer| i.dev.iter().collect());
    let mut dev = vec![false; packages.len()];
    mark_dev(&mut dev, &edges, &prod, &dev_roots);
    for (p, d) in packages.iter_mut().zip(dev) {
        p.dev = d;
    }
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V6: &str = "lockfileVersion: '6.0'

settings:
  autoInstallPeers: true

dependencies:
  a:
    specifier: ^1.0.0
    version: 1.0.1

devDependencies:
  '@s/b':
    specifier: 2.0.0
    version: 2.0.0

packages:

  /@s/b@2.0.0:
    resolution: {integrity: sha512-x}
    dev: true

  /a@1.0.1(c@3.0.0):
    resolution: {integrity: sha512-y}
    dependencies:
      c: 3.0.0
    dev: false

  /c@3.0.0:
    resolution: {integrity: sha512-z}
    dev: false
";

    #[test]
    fn v6() {
        let p = parse(V6, None).unwrap();
        let got: Vec<_> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.dev, p.lines.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("@s/b", "2.0.0", true, (18, 20)),
                ("a", "1.0.1", false, (22, 26)),
                ("c", "3.0.0", false, (28, 30))
            ]
        );
    }

    const V9: &str = "lockfileVersion: '9.0'

importers:

  .:
    dependencies:
      a:
        specifier: ^1.0.0
        version: 1.0.1(c@3.0.0)
    devDependencies:
      '@s/b':
        specifier: 2.0.0
        version: 2.0.0

packages:

  '@s/b@2.0.0':
    resolution: {integrity: sha512-x}

  a@1.0.1:
    resolution: {integrity: sha512-y}

  c@3.0.0:
    resolution: {integrity: sha512-z}

  d@4.0.0:
    resolution: {integrity: sha512-w}

snapshots:

  '@s/b@2.0.0':
    dependencies:
      d: 4.0.0

  a@1.0.1(c@3.0.0):
    dependencies:
      c: 3.0.0

  c@3.0.0: {}

  d@4.0.0: {}
";

    #[test]
    fn v9() {
        let p = parse(V9, None).unwrap();
        let got: Vec<_> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.dev, p.lines.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("@s/b", "2.0.0", true, (17, 18)),
                ("a", "1.0.1", false, (20, 21)),
                ("c", "3.0.0", false, (23, 24)),
                ("d", "4.0.0", true, (26, 27))
            ]
        );
    }

    #[test]
    fn garbage() {
        for text in [
            "",
            "x: [",
            "- a\n- b\n",
            "lockfileVersion: '42.0'\n",
            "packages: 3\nlockfileVersion: 9\n",
            "a: &x [*x]\n",
        ] {
            assert!(parse(text, None).is_err(), "{text:?}");
        }
        assert_eq!(parse("lockfileVersion: '9.0'\n", None), Ok(vec![]));
    }
}
