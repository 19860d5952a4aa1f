//! npm oracles and fixture sources, made with the real tools (node, npm and npm's `semver`) and the
//! npm registry. Both write committed files that the tests read offline:
//!
//! - `cargo xtask npm-semver-oracle`: `testdata/npm/semver-order.json`, the order node-semver gives
//!   to every published version of a set of packages (plus hand-picked edge cases);
//! - `cargo xtask npm-fixtures`: the `node_modules` trees and lockfiles under `testdata/src/` that
//!   `cargo xtask fixtures` packs into zips and images, with `npm ls --all --json` beside each
//!   installed tree as the oracle for its inventory.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Packages whose published versions feed the order oracle: the fixtures' packages, and packages
/// with many pre-releases of every shape (`-dev.20230101`, `-insiders.…`, `0.0.0-experimental-<sha>`,
/// `-canary.N`, `-rc.N`, `-beta.N`, `-next.N`).
const ORACLE_PACKAGES: &[&str] = &[
    "lodash",
    "minimist",
    "axios",
    "cross-spawn",
    "glob",
    "semver",
    "typescript",
    "react",
    "next",
    "@angular/core",
    "vue",
    "webpack",
    "esbuild",
    "@babel/core",
];

/// Versions that probe node-semver's edges (all go through the oracle like the rest).
const EDGE_VERSIONS: &[&str] = &[
    "1.2.3",
    "v1.2.3",
    " 1.2.3 ",
    "\u{feff}1.2.3",
    "\u{85}1.2.3",
    "=1.2.3",
    "V1.2.3",
    "vv1.2.3",
    "1.2",
    "1",
    "1.2.3.4",
    "01.2.3",
    "1.02.3",
    "1.2.3-",
    "1.2.3-01",
    "1.2.3-0",
    "1.2.3-0a",
    "1.2.3-00a",
    "1.2.3--",
    "1.2.3-a..b",
    "1.2.3-a.b-c.1",
    "1.2.3+",
    "1.2.3+001",
    "1.2.3+build.1",
    "1.2.3-rc.1+build.2",
    "1.2.3-rc.1+build.3",
    "1.2.3-RC.1",
    "1.2.3-rc.10",
    "1.2.3-rc.9",
    "1.2.3-rc",
    "1.2.3-1",
    "1.2.3-a",
    "1.2.3-Z",
    "9007199254740991.0.0",
    "9007199254740992.0.0",
    "0.0.9007199254740991",
    "1.0.0-9007199254740991",
    "1.0.0-9007199254740992",
    "1.0.0-9007199254740993",
    "1.0.0-9007199254740992.1",
    "1.0.0-9007199254740993.2",
    "1.0.0-18446744073709551616",
    "1.2.3 ",
    "1.2.3\t",
    "1.2.3 4",
    "",
    "x",
    "latest",
    "1.2.x",
    "^1.2.3",
    "1.2.3-é",
];

const ORACLE_JS: &str = r#"
const semver = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const valid = input.versions.filter(v => semver.valid(v) !== null);
const invalid = input.versions.filter(v => semver.valid(v) === null);
const sorted = valid.slice().sort((a, b) => semver.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0));
const ranked = [];
let rank = -1;
for (let i = 0; i < sorted.length; i++) {
  if (i === 0 || semver.compare(sorted[i - 1], sorted[i]) !== 0) rank++;
  ranked.push([rank, sorted[i]]);
}
const pairs = input.pairs.map(([a, b]) => [a, b, semver.compare(a, b)]);
process.stdout.write(JSON.stringify({
  semver: require(process.argv[1] + '/package.json').version,
  node: process.version,
  ranked, invalid, pairs,
}));
"#;

fn tool(name: &str) -> Result<()> {
    let ok = Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        bail!("`{name}` is needed (apt-get install nodejs npm)");
    }
    Ok(())
}

fn run_ok(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", out.status);
    }
    Ok(out.stdout)
}

/// A cache dir outside the clone for tools installed from the npm registry.
fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("layerscan-xtask")
}

/// npm's `semver` package, installed from the npm registry into the cache dir.
fn semver_package() -> Result<PathBuf> {
    let prefix = cache_dir().join("npm-semver");
    let dir = prefix.join("node_modules/semver");
    if !dir.join("package.json").exists() {
        std::fs::create_dir_all(&prefix)?;
        run_ok(
            Command::new("npm")
                .args(["install", "--no-save", "--no-package-lock", "--prefix"])
                .arg(&prefix)
                .arg("semver@7"),
        )?;
    }
    Ok(dir)
}

pub fn semver_oracle(root: &Path) -> Result<()> {
    tool("node")?;
    tool("npm")?;
    let semver = semver_package()?;
    let mut versions: BTreeSet<String> = EDGE_VERSIONS.iter().map(|s| s.to_string()).collect();
    for name in ORACLE_PACKAGES {
        let out = run_ok(Command::new("npm").args(["view", name, "versions", "--json"]))?;
        let list: Vec<String> =
            serde_json::from_slice(&out).with_context(|| format!("npm view {name} versions"))?;
        eprintln!("{name}: {} versions", list.len());
        versions.extend(list);
    }
    // Versions named by the bundled npm advisories' ranges.
    for entry in std::fs::read_dir(root.join("advisories"))? {
        let path = entry?.path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(rec) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        for aff in rec["affected"].as_array().into_iter().flatten() {
            if aff["package"]["ecosystem"] != "npm" {
                continue;
            }
            for r in aff["ranges"].as_array().into_iter().flatten() {
                for e in r["events"].as_array().into_iter().flatten() {
                    for v in e.as_object().into_iter().flat_map(|o| o.values()) {
                        if let Some(v) = v.as_str().filter(|v| *v != "0") {
                            versions.insert(v.to_string());
                        }
                    }
                }
            }
        }
    }
    // Pairs among the edge cases, where a sort alone would not show node-semver's answer (its
    // comparison of doubles is not always transitive).
    let mut pairs = Vec::new();
    for a in EDGE_VERSIONS {
        for b in EDGE_VERSIONS {
            pairs.push(json!([a, b]));
        }
    }
    let input = json!({"versions": versions, "pairs": Vec::<Value>::new()});
    // Only pairs whose both sides are valid can be compared (node-semver throws otherwise).
    let valid_edges: Vec<&str> = {
        let mut probe = input.clone();
        probe["versions"] = json!(EDGE_VERSIONS);
        let out = node_oracle(&semver, &probe)?;
        out["ranked"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r[1].as_str())
            .filter_map(|s| EDGE_VERSIONS.iter().find(|e| **e == s).copied())
            .collect()
    };
    pairs.retain(|p| {
        valid_edges.contains(&p[0].as_str().unwrap_or(""))
            && valid_edges.contains(&p[1].as_str().unwrap_or(""))
    });
    let mut input = input;
    input["pairs"] = json!(pairs);
    let out = node_oracle(&semver, &input)?;
    let text = pretty(&out);
    let path = root.join("testdata/npm/semver-order.json");
    std::fs::create_dir_all(path.parent().unwrap())?;
    std::fs::write(&path, text)?;
    println!(
        "wrote {} ({} valid, {} invalid versions, {} pairs; semver {}, node {})",
        path.display(),
        out["ranked"].as_array().map_or(0, Vec::len),
        out["invalid"].as_array().map_or(0, Vec::len),
        out["pairs"].as_array().map_or(0, Vec::len),
        out["semver"].as_str().unwrap_or("?"),
        out["node"].as_str().unwrap_or("?"),
    );
    Ok(())
}

fn node_oracle(semver: &Path, input: &Value) -> Result<Value> {
    use std::io::Write;
    let mut child = Command::new("node")
        .arg("-e")
        .arg(ORACLE_JS)
        .arg(semver)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting node")?;
    child
        .stdin
        .take()
        .context("node stdin")?
        .write_all(input.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("the semver oracle failed: {}", out.status);
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// One array element a line, so that a regenerated file diffs readably.
fn pretty(v: &Value) -> String {
    let mut s = String::from("{\n");
    let obj = v.as_object().expect("object");
    for (i, (k, val)) in obj.iter().enumerate() {
        s.push_str(&format!("{}:", Value::from(k.as_str())));
        match val.as_array() {
            Some(items) => {
                s.push_str("[\n");
                for (j, item) in items.iter().enumerate() {
                    s.push_str(&item.to_string());
                    if j + 1 < items.len() {
                        s.push(',');
                    }
                    s.push('\n');
                }
                s.push(']');
            }
            None => s.push_str(&val.to_string()),
        }
        if i + 1 < obj.len() {
            s.push(',');
        }
        s.push('\n');
    }
    s.push_str("}\n");
    s
}

/// What each fixture project depends on (`package.json` of the project).
struct Project {
    /// Directory under `testdata/src/` of the project (where its `node_modules` goes).
    dir: &'static str,
    name: &'static str,
    deps: &'static [(&'static str, &'static str)],
    dev: &'static [(&'static str, &'static str)],
    /// `npm ci --omit=dev`-style install (dev dependencies in the lockfile, not on disk).
    omit_dev: bool,
}

const PROJECTS: &[Project] = &[
    // A Lambda layer: what Lambda unpacks under /opt, so node_modules under nodejs/.
    Project {
        dir: "nodejs-layer/nodejs",
        name: "nodejs-layer",
        deps: &[
            ("lodash", "4.17.20"),
            ("minimist", "1.2.5"),
            // Depends on minimist 0.0.8: a nested duplicate at another version.
            ("mkdirp", "0.5.1"),
            ("@sindresorhus/is", "4.6.0"),
        ],
        dev: &[],
        omit_dev: false,
    },
    // A function zip: node_modules at the root, next to the handler.
    Project {
        dir: "node-function",
        name: "node-function",
        deps: &[("axios", "0.21.1")],
        dev: &[],
        omit_dev: false,
    },
    // The app layer of an image: /var/task, installed without dev dependencies.
    Project {
        dir: "node-app/layer2-app/var/task",
        name: "node-app",
        deps: &[
            ("axios", "0.21.1"),
            ("cross-spawn", "7.0.3"),
            ("lodash", "4.17.20"),
        ],
        dev: &[("minimist", "1.2.5")],
        omit_dev: true,
    },
];

/// The lockfile kinds of the project directory, each made by its own tool.
const LOCK_DEPS: &[(&str, &str)] = &[
    ("axios", "0.21.1"),
    ("lodash", "4.17.20"),
    ("@sindresorhus/is", "4.6.0"),
];
const LOCK_DEV: &[(&str, &str)] = &[("minimist", "1.2.5"), ("mkdirp", "0.5.1")];

/// (subdirectory, the command that writes the lockfile, the lockfile it leaves).
const LOCKFILES: &[(&str, &[&str], &str)] = &[
    ("npm-v1", &["npx", "-y", "npm@6", "install", "--package-lock-only", "--no-audit", "--no-fund"], "package-lock.json"),
    ("npm-v2", &["npx", "-y", "npm@8", "install", "--package-lock-only", "--no-audit", "--no-fund"], "package-lock.json"),
    ("npm-v3", &["npm", "install", "--package-lock-only", "--lockfile-version", "3", "--no-audit", "--no-fund"], "package-lock.json"),
    ("npm-shrinkwrap", &["sh", "-c", "npm install --package-lock-only --no-audit --no-fund && npm shrinkwrap"], "npm-shrinkwrap.json"),
    ("yarn-classic", &["npx", "-y", "yarn@1.22.22", "install", "--ignore-scripts", "--no-progress", "--non-interactive"], "yarn.lock"),
    ("yarn-berry", &["sh", "-c", "touch yarn.lock && YARN_ENABLE_TELEMETRY=0 YARN_ENABLE_GLOBAL_CACHE=1 npx -y @yarnpkg/cli-dist@4 install --mode=update-lockfile"], "yarn.lock"),
    ("pnpm-v6", &["npx", "-y", "pnpm@8", "install", "--lockfile-only"], "pnpm-lock.yaml"),
    ("pnpm-v9", &["npx", "-y", "pnpm@9", "install", "--lockfile-only"], "pnpm-lock.yaml"),
];

fn package_json(name: &str, deps: &[(&str, &str)], dev: &[(&str, &str)]) -> String {
    let map = |d: &[(&str, &str)]| -> serde_json::Map<String, Value> {
        d.iter().map(|(n, v)| (n.to_string(), json!(v))).collect()
    };
    let mut m =
        json!({"name": name, "version": "1.0.0", "private": true, "dependencies": map(deps)});
    if !dev.is_empty() {
        m["devDependencies"] = json!(map(dev));
    }
    serde_json::to_string_pretty(&m).unwrap() + "\n"
}

/// Keep only what an analyzer reads (every `package.json` and npm's hidden lockfile), so that
/// the committed trees stay small; the manifests are kept byte for byte as npm installed them.
fn strip_tree(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let path = e.path();
        let ty = e.file_type()?;
        if ty.is_dir() {
            strip_tree(&path)?;
            if std::fs::read_dir(&path)?.next().is_none() {
                std::fs::remove_dir(&path)?;
            }
        } else {
            let name = e.file_name();
            let keep = ty.is_file() && (name == "package.json" || name == ".package-lock.json");
            if !keep {
                std::fs::remove_file(&path)?;
            }
        }
    }
    Ok(())
}

pub fn fixtures(root: &Path) -> Result<()> {
    tool("node")?;
    tool("npm")?;
    let src = root.join("testdata/src");
    let work = cache_dir().join("npm-fixtures-work");
    for p in PROJECTS {
        let w = work.join(p.name);
        let _ = std::fs::remove_dir_all(&w);
        std::fs::create_dir_all(&w)?;
        std::fs::write(w.join("package.json"), package_json(p.name, p.deps, p.dev))?;
        let mut cmd = Command::new("npm");
        cmd.current_dir(&w).args([
            "install",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--save-exact",
        ]);
        if p.omit_dev {
            cmd.arg("--omit=dev");
        }
        run_ok(&mut cmd)?;
        strip_tree(&w.join("node_modules"))?;
        // The oracle: npm's own view of the installed tree.
        let ls = Command::new("npm")
            .current_dir(&w)
            .args(["ls", "--all", "--json"])
            .output()?;
        let ls: Value = serde_json::from_slice(&ls.stdout).context("npm ls --json")?;
        let dest = src.join(p.dir);
        let _ = std::fs::remove_dir_all(&dest);
        std::fs::create_dir_all(dest.parent().unwrap())?;
        copy_tree(&w, &dest)?;
        let oracle = root.join(format!("testdata/npm/{}.npm-ls.json", p.name));
        std::fs::write(&oracle, serde_json::to_string_pretty(&ls)? + "\n")?;
        println!("{}: installed, oracle {}", p.dir, oracle.display());
    }
    let base = src.join("fs/node-lockfiles");
    let _ = std::fs::remove_dir_all(&base);
    for (sub, argv, lockfile) in LOCKFILES {
        let w = work.join("lockfiles").join(sub);
        let _ = std::fs::remove_dir_all(&w);
        std::fs::create_dir_all(&w)?;
        let manifest = package_json(&format!("lockfile-{sub}"), LOCK_DEPS, LOCK_DEV);
        std::fs::write(w.join("package.json"), &manifest)?;
        run_ok(
            Command::new(argv[0])
                .args(&argv[1..])
                .current_dir(&w)
                .stdout(Stdio::inherit()),
        )
        .with_context(|| format!("making the {sub} lockfile"))?;
        let dest = base.join(sub);
        std::fs::create_dir_all(&dest)?;
        std::fs::write(dest.join("package.json"), &manifest)?;
        std::fs::copy(w.join(lockfile), dest.join(lockfile))
            .with_context(|| format!("{sub}: no {lockfile} was written"))?;
        println!("{sub}: {lockfile}");
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let ty = e.file_type()?;
        let target = to.join(e.file_name());
        if ty.is_dir() {
            copy_tree(&e.path(), &target)?;
        } else if ty.is_file() {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}
