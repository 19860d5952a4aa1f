//! Node.js packages: installed manifests (`node_modules/**/package.json`), npm's hidden lockfile
//! (`node_modules/.package-lock.json`) and the lockfiles of npm (`package-lock.json`,
//! `npm-shrinkwrap.json`, v1 to v3), yarn (`yarn.lock`, classic and berry) and pnpm
//! (`pnpm-lock.yaml`, v6 and v9).
//!
//! Every parser is a function of (path, text) that never panics: garbage gives a warning naming
//! the file, never a guess. An installed manifest is a package that is there (`Installed`); a
//! lockfile entry is one that is only named (`Referenced`) unless a manifest of the same tree
//! shows it installed (decided by the caller, which sees the whole layer).
//!
//! Dev dependencies are marked as the lockfile says (npm's `dev`, pnpm 6's `dev`) or, where the
//! lockfile does not say (yarn, pnpm 9), as Trivy decides: reachable from the project's
//! `devDependencies` only, walking the lockfile's dependency graph from the `package.json` beside
//! it.

pub mod lines;
pub mod manifest;
pub mod package_lock;
pub mod pnpm;
pub mod yarn;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// npm's limit on a package name's length.
pub const MAX_NAME_LEN: usize = 214;
/// Lockfiles bigger than this are skipped with a warning (real ones of large monorepos are a few
/// MiB; parsing holds the entries in memory).
pub const MAX_LOCKFILE_SIZE: usize = 32 << 20;
/// A `package.json` bigger than this is not a manifest worth reading.
pub const MAX_MANIFEST_SIZE: usize = 1 << 20;
/// At most this many packages from one lockfile (a bomb of tiny entries).
pub const MAX_LOCK_PACKAGES: usize = 200_000;

/// Which npm file a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NpmFile {
    /// `…/node_modules/<name>/package.json` or `…/node_modules/@scope/<name>/package.json`.
    InstalledManifest,
    /// A `package.json` outside any `node_modules`: a project's own manifest, read only to find the
    /// direct and dev dependencies of the lockfile beside it.
    ProjectManifest,
    /// `…/node_modules/.package-lock.json`.
    HiddenLockfile,
    /// `package-lock.json`.
    PackageLock,
    /// `npm-shrinkwrap.json` (the same format).
    Shrinkwrap,
    YarnLock,
    PnpmLock,
}

impl NpmFile {
    pub fn is_lockfile(self) -> bool {
        !matches!(self, NpmFile::InstalledManifest | NpmFile::ProjectManifest)
    }
}

/// Classify a normalised path (no leading slash). Cheap: called for every entry of every layer.
pub fn classify(path: &str) -> Option<NpmFile> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    match name {
        "package.json" => {
            if installed_manifest_dir(dir).is_some() {
                Some(NpmFile::InstalledManifest)
            } else if !in_node_modules(dir) {
                Some(NpmFile::ProjectManifest)
            } else {
                // A file inside a package's own tree (`node_modules/glob/dist/esm/package.json`).
                None
            }
        }
        ".package-lock.json" => (dir == "node_modules" || dir.ends_with("/node_modules"))
            .then_some(NpmFile::HiddenLockfile),
        // Lockfiles shipped inside installed packages describe their authors' trees, not this one.
        "package-lock.json" if !in_node_modules(dir) => Some(NpmFile::PackageLock),
        "npm-shrinkwrap.json" if !in_node_modules(dir) => Some(NpmFile::Shrinkwrap),
        "yarn.lock" if !in_node_modules(dir) => Some(NpmFile::YarnLock),
        "pnpm-lock.yaml" if !in_node_modules(dir) => Some(NpmFile::PnpmLock),
        _ => None,
    }
}

fn in_node_modules(dir: &str) -> bool {
    dir.split('/').any(|c| c == "node_modules")
}

/// For `…/node_modules/[@scope/]name`, the package name as the directory spells it.
pub fn installed_manifest_dir(dir: &str) -> Option<&str> {
    let mut it = dir.rsplitn(4, '/');
    let last = it.next()?;
    let parent = it.next()?;
    if parent == "node_modules" && plain_dir_name(last) {
        return Some(last);
    }
    let grand = it.next()?;
    let scope = parent.strip_prefix('@')?;
    if grand == "node_modules" && plain_dir_name(scope) && plain_dir_name(last) {
        return Some(&dir[dir.len() - last.len() - parent.len() - 1..]);
    }
    None
}

/// A directory name npm could have made for a package or scope: not empty, not hidden (`.bin`,
/// `.cache`, `.pnpm`), no `@`.
fn plain_dir_name(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('.') && !s.contains('@')
}

/// Whether a package is there or only named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Presence {
    /// Its manifest is in the tree (or npm's hidden lockfile, which npm writes from the tree).
    Installed,
    /// Only a lockfile names it.
    Referenced,
}

/// One Node.js package found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmPackage {
    /// As npm writes it: `lodash`, `@babel/core` (case as published).
    pub name: String,
    pub version: String,
    pub dev: bool,
    pub presence: Presence,
    /// Where npm installs (or installed) it, relative to the lockfile's project directory
    /// (`node_modules/a/node_modules/b`); for a manifest, its directory in the layer.
    pub install_path: Option<String>,
    /// First and last line (1-based) of the lockfile entry that names it.
    pub lines: Option<(u32, u32)>,
}

impl NpmPackage {
    /// `pkg:npm/%40scope/name@1.2.3` (the purl spec: the scope's `@` percent-encoded as the
    /// namespace, name and version percent-encoded where needed).
    pub fn purl(&self) -> String {
        purl(&self.name, &self.version)
    }
}

pub fn purl(name: &str, version: &str) -> String {
    let (ns, n) = match name.strip_prefix('@').and_then(|s| s.split_once('/')) {
        Some((scope, n)) => (Some(scope), n),
        None => (None, name),
    };
    let mut out = String::from("pkg:npm/");
    if let Some(scope) = ns {
        out.push_str("%40");
        out.push_str(&pct(scope));
        out.push('/');
    }
    out.push_str(&pct(n));
    if !version.is_empty() {
        out.push('@');
        out.push_str(&pct(version));
    }
    out
}

/// Percent-encode all but the purl spec's unreserved characters (`A-Za-z0-9.-_~`); `+` as `%2B`.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A package name as npm accepts it from a file: not empty, at most `MAX_NAME_LEN`, no whitespace
/// or control characters, `@scope/name` or a name without `/`.
pub fn valid_name(name: &str) -> bool {
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    match name.strip_prefix('@') {
        Some(rest) => match rest.split_once('/') {
            Some((scope, n)) => !scope.is_empty() && !n.is_empty() && !n.contains('/'),
            None => false,
        },
        None => !name.contains('/'),
    }
}

/// A version as a lockfile or manifest writes it: trimmed, not empty, at most 256 characters, no
/// control characters. (node-semver validity is the matcher's concern: a package with an odd
/// version is still listed.)
pub fn clean_version(v: &str) -> Option<&str> {
    let v = v.trim();
    (!v.is_empty()
        && v.len() <= crate::version::npm::MAX_LENGTH
        && !v.chars().any(char::is_control))
    .then_some(v)
}

/// A project's own `package.json`: the roots of its dependency graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectManifest {
    /// `dependencies`, `optionalDependencies` and `peerDependencies`: name → range.
    pub prod: BTreeMap<String, String>,
    pub dev: BTreeMap<String, String>,
}

/// Mark as dev every package reachable only from dev roots. `edges[i]` are the indices package
/// `i` depends on; `prod_roots`/`dev_roots` index into the packages. Packages reachable from
/// neither stay as they are (not dev: Trivy keeps them).
pub fn mark_dev(dev: &mut [bool], edges: &[Vec<usize>], prod_roots: &[usize], dev_roots: &[usize]) {
    let reach = |roots: &[usize]| {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<usize> = roots.iter().copied().collect();
        while let Some(i) = queue.pop_front() {
            if i >= edges.len() || !seen.insert(i) {
                continue;
            }
            queue.extend(edges[i].iter().copied());
        }
        seen
    };
    let prod = reach(prod_roots);
    let devs = reach(dev_roots);
    for (i, d) in dev.iter_mut().enumerate() {
        if devs.contains(&i) && !prod.contains(&i) {
            *d = true;
        } else if prod.contains(&i) {
            *d = false;
        }
    }
}

/// Parse one npm file. `project` is the `package.json` beside a lockfile, when the layer has one.
pub fn parse(
    kind: NpmFile,
    path: &str,
    text: &str,
    project: Option<&ProjectManifest>,
) -> (Vec<NpmPackage>, Vec<String>) {
    let limit = match kind {
        NpmFile::InstalledManifest | NpmFile::ProjectManifest => MAX_MANIFEST_SIZE,
        _ => MAX_LOCKFILE_SIZE,
    };
    if text.len() > limit {
        return (
            Vec::new(),
            vec![format!(
                "{path}: skipped, {} bytes is more than the {limit}-byte limit for this file",
                text.len()
            )],
        );
    }
    let result = match kind {
        NpmFile::InstalledManifest => {
            manifest::parse_installed(path, text).map(|p| p.into_iter().collect())
        }
        NpmFile::ProjectManifest => Ok(Vec::new()),
        NpmFile::HiddenLockfile | NpmFile::PackageLock | NpmFile::Shrinkwrap => {
            package_lock::parse(text, kind == NpmFile::HiddenLockfile)
        }
        NpmFile::YarnLock => yarn::parse(text, project),
        NpmFile::PnpmLock => pnpm::parse(text, project),
    };
    match result {
        Ok(mut packages) => {
            let mut warnings = Vec::new();
            if packages.len() > MAX_LOCK_PACKAGES {
                warnings.push(format!(
                    "{path}: only the first {MAX_LOCK_PACKAGES} of {} packages are read",
                    packages.len()
                ));
                packages.truncate(MAX_LOCK_PACKAGES);
            }
            (packages, warnings)
        }
        Err(e) => (Vec::new(), vec![format!("{path}: {e}; skipped")]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_table() {
        use NpmFile::*;
        let table: &[(&str, Option<NpmFile>)] = &[
            ("node_modules/lodash/package.json", Some(InstalledManifest)),
            (
                "nodejs/node_modules/lodash/package.json",
                Some(InstalledManifest),
            ),
            (
                "nodejs/node20/node_modules/@aws-sdk/client-s3/package.json",
                Some(InstalledManifest),
            ),
            (
                "var/task/node_modules/a/node_modules/b/package.json",
                Some(InstalledManifest),
            ),
            (
                "node_modules/a/node_modules/@s/b/package.json",
                Some(InstalledManifest),
            ),
            (
                "usr/local/lib/node_modules/npm/package.json",
                Some(InstalledManifest),
            ),
            ("node_modules/glob/dist/commonjs/package.json", None),
            ("node_modules/@s/b/lib/package.json", None),
            ("node_modules/@scope/package.json", None),
            ("node_modules/.bin/package.json", None),
            ("node_modules/.pnpm/package.json", None),
            ("node_modules/@/x/package.json", None),
            ("node_modules/package.json", None),
            ("package.json", Some(ProjectManifest)),
            ("var/task/package.json", Some(ProjectManifest)),
            ("packages/a/package.json", Some(ProjectManifest)),
            ("node_modules/.package-lock.json", Some(HiddenLockfile)),
            ("app/node_modules/.package-lock.json", Some(HiddenLockfile)),
            ("app/.package-lock.json", None),
            ("package-lock.json", Some(PackageLock)),
            ("app/npm-shrinkwrap.json", Some(Shrinkwrap)),
            ("app/yarn.lock", Some(YarnLock)),
            ("pnpm-lock.yaml", Some(PnpmLock)),
            ("node_modules/foo/package-lock.json", None),
            ("node_modules/foo/yarn.lock", None),
            ("node_modules/foo/pnpm-lock.yaml", None),
            ("package.json.bak", None),
            ("yarn.lock.old", None),
            ("", None),
        ];
        for (path, want) in table {
            assert_eq!(classify(path), *want, "classify({path:?})");
        }
        assert_eq!(installed_manifest_dir("x/node_modules/@s/b"), Some("@s/b"));
        assert_eq!(installed_manifest_dir("node_modules/b"), Some("b"));
    }

    #[test]
    fn purls() {
        assert_eq!(purl("lodash", "4.17.20"), "pkg:npm/lodash@4.17.20");
        assert_eq!(
            purl("@babel/core", "7.24.0"),
            "pkg:npm/%40babel/core@7.24.0"
        );
        assert_eq!(purl("a", "1.0.0+build.1"), "pkg:npm/a@1.0.0%2Bbuild.1");
        assert_eq!(purl("a", ""), "pkg:npm/a");
    }

    #[test]
    fn names() {
        for good in ["lodash", "@babel/core", "JSONStream", "a.b-c_d"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "@babel",
            "@/x",
            "a/b",
            "@a/b/c",
            "a b",
            "a\u{0}",
            &"x".repeat(215),
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn dev_marking() {
        // 0 prod root → 1; 2 dev root → 1, 3; 4 unreachable.
        let edges = vec![vec![1], vec![], vec![1, 3], vec![], vec![]];
        let mut dev = vec![false; 5];
        mark_dev(&mut dev, &edges, &[0], &[2]);
        assert_eq!(dev, [false, false, true, true, false]);
        // Cycles end.
        let edges = vec![vec![1], vec![0]];
        let mut dev = vec![false; 2];
        mark_dev(&mut dev, &edges, &[], &[0, 7]);
        assert_eq!(dev, [true, true]);
    }

    fn parse_everywhere(text: &str) {
        let project = ProjectManifest {
            prod: [("a".to_string(), "^1".to_string())].into(),
            dev: [("b".to_string(), "1.0.0".to_string())].into(),
        };
        for kind in [
            NpmFile::InstalledManifest,
            NpmFile::HiddenLockfile,
            NpmFile::PackageLock,
            NpmFile::YarnLock,
            NpmFile::PnpmLock,
        ] {
            let _ = parse(kind, "node_modules/a/package.json", text, Some(&project));
        }
        let _ = manifest::parse_project(text);
    }

    proptest::proptest! {
        #[test]
        fn no_panic_on_arbitrary_text(text in "\\PC{0,400}") {
            parse_everywhere(&text);
        }

        #[test]
        fn no_panic_on_format_like_text(
            text in "([{}\\[\\]:,\"@/ \n\t]|node_modules/|packages|dependencies|version|lockfileVersion|'9.0'|  |    |a@1.0.0|\\(|\\)|-|npm:|true|1){0,150}"
        ) {
            parse_everywhere(&text);
        }
    }
}
