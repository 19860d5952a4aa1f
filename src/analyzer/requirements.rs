//! pip requirements files: `*requirements*.txt` and `requirements/*.txt`.
//!
//! The hardening policy says dependencies are pinned to exact versions, so every requirement is
//! listed: `==`/`===` pins with their version, everything else (ranges, bare names, URLs, VCS,
//! editables) with an empty version. Environment markers are not evaluated (we don't know the target
//! interpreter), so a requirement is listed whatever its marker says.
//!
//! `-r` includes are followed among the requirements files of the same layer (loop-safe) and folded
//! into the including file's package set. A file that some other file includes (or uses as `-c`
//! constraints) is not reported on its own; every other requirements file is its own set.

use crate::model::{Package, PackageSet, PackageSetKind};
use std::collections::{BTreeMap, BTreeSet, HashSet};

pub fn is_requirements_file(path: &str) -> bool {
    let (dir, name) = match path.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", path),
    };
    if name.len() <= ".txt".len() || !name.ends_with(".txt") {
        return false;
    }
    let wanted = contains_ignore_case(name.as_bytes(), b"requirements")
        || dir == "requirements"
        || dir.ends_with("/requirements");
    // A requirements.txt inside an installed package is the package's own test or build data,
    // not what the image deploys.
    wanted && !path.contains("site-packages/") && !path.contains("dist-packages/")
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// What one requirements file says, before includes are resolved.
#[derive(Debug, Default)]
pub struct ParsedFile {
    pub packages: Vec<Package>,
    /// `-r` targets, resolved against the file's directory (normalised, no leading slash), with the
    /// line that names them.
    pub includes: Vec<(usize, String)>,
    /// `-c` targets, resolved likewise.
    pub constraints: Vec<String>,
    pub warnings: Vec<String>,
}

/// Logical lines: `\` continuations joined, comments removed; (first line number, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let is_comment = line.trim_start().starts_with('#');
        if !is_comment {
            if let Some(stripped) = line.strip_suffix('\\') {
                let entry = pending.get_or_insert_with(|| (i + 1, String::new()));
                entry.1.push_str(stripped);
                continue;
            }
        }
        let (lineno, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
        if is_comment && !joined.is_empty() {
            // A comment ends a continuation (as in pip); the comment itself is dropped.
            out.push((lineno, strip_comment(&joined).trim().to_string()));
            continue;
        }
        joined.push_str(line);
        out.push((lineno, strip_comment(&joined).trim().to_string()));
    }
    if let Some((lineno, joined)) = pending {
        out.push((lineno, strip_comment(&joined).trim().to_string()));
    }
    out.retain(|(_, l)| !l.is_empty());
    out
}

/// A `#` starts a comment at the start of a line or after whitespace (so `url#egg=x` keeps its
/// fragment).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// The argument of an option given as `-x arg`, `-xarg`, `--long arg` or `--long=arg`.
fn option_arg<'a>(line: &'a str, short: &str, long: &str) -> Option<Option<&'a str>> {
    let rest = if let Some(rest) = line.strip_prefix(long) {
        if !(rest.is_empty() || rest.starts_with([' ', '\t', '='])) {
            return None;
        }
        rest.strip_prefix('=').unwrap_or(rest)
    } else if let Some(rest) = line.strip_prefix(short) {
        if rest.starts_with('-') {
            return None;
        }
        rest.strip_prefix('=').unwrap_or(rest)
    } else {
        return None;
    };
    Some(rest.split_whitespace().next())
}

/// `dir/of/including` + `../x.txt` → normalised path inside the root.
fn join_path(including: &str, target: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if !target.starts_with('/') {
        if let Some((dir, _)) = including.rsplit_once('/') {
            parts.extend(dir.split('/').filter(|p| !p.is_empty() && *p != "."));
        }
    }
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

fn is_url(s: &str) -> bool {
    s.contains("://")
}

/// `scheme://user:secret@host/...` → `scheme://***@host/...`: never echo a credential.
pub fn redact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A line quoted in a warning: redacted and short.
fn quote(line: &str) -> String {
    let red = redact(line);
    match red.char_indices().nth(100) {
        Some((i, _)) => format!("{:?}...", &red[..i]),
        None => format!("{red:?}"),
    }
}

const OPERATORS: [&str; 8] = ["===", "==", "!=", "~=", "<=", ">=", "<", ">"];

/// The name a URL or path requirement installs: `#egg=name`, else the wheel or sdist file name,
/// else the reference itself (redacted).
fn name_from_reference(reference: &str) -> String {
    if let Some((_, fragment)) = reference.split_once('#') {
        for kv in fragment.split('&') {
            if let Some(egg) = kv.strip_prefix("egg=") {
                if !egg.is_empty() {
                    return egg.to_string();
                }
            }
        }
    }
    let path = reference.split(['#', '?']).next().unwrap_or(reference);
    let file = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path);
    if let Some(stem) = file.strip_suffix(".whl") {
        if let Some((name, _)) = stem.split_once('-') {
            if !name.is_empty() {
                return name.to_string();
            }
        }
    }
    for ext in [".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip"] {
        if let Some(stem) = file.strip_suffix(ext) {
            if let Some((name, _)) = stem.rsplit_once('-') {
                if !name.is_empty() {
                    return name.to_string();
                }
            }
        }
    }
    redact(reference)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Does a requirement start with a URL or a path rather than a project name?
fn is_reference(req: &str) -> bool {
    let first = req.split([' ', '\t', ';']).next().unwrap_or(req);
    if first.starts_with(['.', '/', '~']) || first.starts_with("file:") {
        return true;
    }
    if let Some(scheme_end) = first.find("://") {
        // `name@https://...` is a named direct reference, handled by the name parser.
        return match first.find('@') {
            Some(at) if at < scheme_end => !first[..at]
                .chars()
                .all(|c| is_name_char(c) || "[], ".contains(c)),
            _ => true,
        };
    }
    [".whl", ".tar.gz", ".zip", ".tgz", ".tar.bz2"]
        .iter()
        .any(|ext| first.ends_with(ext))
}

/// One requirement (options already removed) → (name as written, pinned version or "").
fn parse_requirement(req: &str) -> Result<(String, String), String> {
    if is_reference(req) {
        let reference = req.split_whitespace().next().unwrap_or(req);
        return Ok((name_from_reference(reference), String::new()));
    }
    let name_end = req.find(|c: char| !is_name_char(c)).unwrap_or(req.len());
    let name = &req[..name_end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("not a requirement".into());
    }
    let mut rest = req[name_end..].trim_start();
    if let Some(extras) = rest.strip_prefix('[') {
        let Some(close) = extras.find(']') else {
            return Err("unclosed extras".into());
        };
        rest = extras[close + 1..].trim_start();
    }
    if rest.starts_with('@') {
        return Ok((name.to_string(), String::new()));
    }
    let spec = rest.split(';').next().unwrap_or(rest).trim();
    let spec = spec
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(spec)
        .trim();
    let mut pinned = None;
    if !spec.is_empty() {
        for clause in spec.split(',') {
            let clause = clause.trim();
            let Some(op) = OPERATORS.iter().find(|op| clause.starts_with(**op)) else {
                return Err(format!("not a version specifier: {clause:?}"));
            };
            let version = clause[op.len()..].trim();
            if version.is_empty() || version.contains(char::is_whitespace) {
                return Err(format!("bad version in {clause:?}"));
            }
            let exact = *op == "===" || (*op == "==" && !version.contains('*'));
            if exact && pinned.is_none() {
                pinned = Some(version.to_string());
            }
        }
    }
    Ok((name.to_string(), pinned.unwrap_or_default()))
}

fn package(name: String, version: String, path: &str) -> Package {
    Package {
        name,
        version,
        src_name: None,
        src_version: None,
        arch: None,
        file_path: Some(path.to_string()),
        layer: Default::default(),
        identifier: Default::default(),
        ecosystem: None,
    }
}

/// Parse one requirements file on its own.
pub fn parse_file(path: &str, text: &str) -> ParsedFile {
    let mut out = ParsedFile::default();
    for (lineno, line) in logical_lines(text) {
        let line = line.as_str();
        if line.starts_with('-') {
            if let Some(arg) = option_arg(line, "-r", "--requirement")
                .or_else(|| option_arg(line, "-r", "--requirements"))
            {
                match arg {
                    Some(t) if is_url(t) => out.warnings.push(format!(
                        "{path}: line {lineno}: remote include {} not followed",
                        quote(t)
                    )),
                    Some(t) => out.includes.push((lineno, join_path(path, t))),
                    None => out
                        .warnings
                        .push(format!("{path}: line {lineno}: -r without a file name")),
                }
            } else if let Some(arg) = option_arg(line, "-c", "--constraint") {
                if let Some(t) = arg.filter(|t| !is_url(t)) {
                    out.constraints.push(join_path(path, t));
                }
            } else if let Some(arg) = option_arg(line, "-e", "--editable") {
                match arg {
                    Some(t) => {
                        out.packages
                            .push(package(name_from_reference(t), String::new(), path))
                    }
                    None => out
                        .warnings
                        .push(format!("{path}: line {lineno}: -e without a target")),
                }
            }
            // Other options (--index-url, --find-links, --hash alone, ...) name no package.
            continue;
        }
        // Per-requirement options (`--hash=...`, `--config-settings`) follow the requirement.
        let req = match line.find(" -").or_else(|| line.find("\t-")) {
            Some(i) => line[..i].trim(),
            None => line,
        };
        match parse_requirement(req) {
            Ok((name, version)) => out.packages.push(package(name, version, path)),
            Err(why) => out.warnings.push(format!(
                "{path}: line {lineno}: {why}: {}; skipped",
                quote(line)
            )),
        }
    }
    out
}

/// Resolve the requirements files of one layer into package sets (one per file that no other file
/// includes), with their includes folded in.
pub fn resolve(files: &BTreeMap<String, String>) -> (Vec<PackageSet>, Vec<String>) {
    let parsed: BTreeMap<&str, ParsedFile> = files
        .iter()
        .map(|(path, text)| (path.as_str(), parse_file(path, text)))
        .collect();
    let mut warnings = Vec::new();
    let mut referenced: HashSet<&str> = HashSet::new();
    for (path, file) in &parsed {
        warnings.extend(file.warnings.iter().cloned());
        for (lineno, target) in &file.includes {
            if target == path {
                // A file including itself is still a top-level file.
            } else if parsed.contains_key(target.as_str()) {
                referenced.insert(target.as_str());
            } else {
                warnings.push(format!(
                    "{path}: line {lineno}: included file {target} is not in this layer (or is not \
                     named like a requirements file); its packages are not listed"
                ));
            }
        }
        for target in &file.constraints {
            referenced.insert(target.as_str());
        }
    }
    let mut sets = Vec::new();
    let mut reached: BTreeSet<&str> = BTreeSet::new();
    let tops: Vec<&str> = parsed
        .keys()
        .copied()
        .filter(|p| !referenced.contains(p))
        .collect();
    for top in tops {
        let packages = fold(&parsed, top, &mut reached);
        sets.push(PackageSet {
            path: top.to_string(),
            kind: PackageSetKind::Requirements,
            packages,
        });
    }
    // Files that only include each other (a loop with no outside entry) or constraints-only files
    // used by nobody reachable: a loop is reported from its most top-level-looking file (the
    // shallowest, then one named `*requirements*`, then by path); pure constraints are not reported.
    let constraints: HashSet<&str> = parsed
        .values()
        .flat_map(|f| f.constraints.iter().map(String::as_str))
        .collect();
    let mut rest: Vec<&str> = parsed.keys().copied().collect();
    rest.sort_by_key(|p| {
        let name = p.rsplit('/').next().unwrap_or(p);
        (
            p.matches('/').count(),
            !contains_ignore_case(name.as_bytes(), b"requirements"),
            *p,
        )
    });
    for path in rest {
        if reached.contains(path) || constraints.contains(path) {
            continue;
        }
        let packages = fold(&parsed, path, &mut reached);
        sets.push(PackageSet {
            path: path.to_string(),
            kind: PackageSetKind::Requirements,
            packages,
        });
    }
    (sets, warnings)
}

/// Packages of `top` and, depth-first in file order, of every file it includes (each file once).
fn fold<'a>(
    parsed: &'a BTreeMap<&'a str, ParsedFile>,
    top: &'a str,
    reached: &mut BTreeSet<&'a str>,
) -> Vec<Package> {
    let mut packages = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut visited: HashSet<&str> = HashSet::new();
    let mut stack = vec![top];
    while let Some(path) = stack.pop() {
        if !visited.insert(path) {
            continue;
        }
        let Some((key, file)) = parsed.get_key_value(path) else {
            continue;
        };
        reached.insert(key);
        for p in &file.packages {
            if seen.insert((super::python::normalize_name(&p.name), p.version.clone())) {
                packages.push(p.clone());
            }
        }
        for (_, inc) in file.includes.iter().rev() {
            stack.push(inc.as_str());
        }
    }
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkgs(text: &str) -> Vec<(String, String)> {
        let f = parse_file("app/requirements.txt", text);
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
        f.packages
            .into_iter()
            .map(|p| (p.name, p.version))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn pins_extras_markers_hashes() {
        let text = "\
# top comment
requests[socks,security]==2.31.0 ; python_version < \"3.12\"
Django === 4.2.7
urllib3==2.0.7 \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
six==1.16.0  # trailing comment
numpy>=1.26,<2
attrs~=23.1
flask
pyyaml==6.*
certifi==2024.2.2;sys_platform=='linux'
idna (==3.6)
typing_extensions==4.9.0\t--hash=sha256:cccc
";
        assert_eq!(
            pkgs(text),
            pairs(&[
                ("requests", "2.31.0"),
                ("Django", "4.2.7"),
                ("urllib3", "2.0.7"),
                ("six", "1.16.0"),
                ("numpy", ""),
                ("attrs", ""),
                ("flask", ""),
                ("pyyaml", ""),
                ("certifi", "2024.2.2"),
                ("idna", "3.6"),
                ("typing_extensions", "4.9.0"),
            ])
        );
    }

    #[test]
    fn urls_vcs_editables_and_options() {
        let text = "\
--index-url https://user:secret@pypi.example.com/simple
--extra-index-url=https://x.example/simple
-f ./wheels
--require-hashes
-e git+https://github.com/org/proj.git@v1.0#egg=proj
--editable=./local-lib
git+https://github.com/org/other.git#egg=other&subdirectory=py
https://files.example/pkgs/wheelpkg-1.2.3-py3-none-any.whl
./vendor/sdistpkg-0.4.tar.gz
named @ https://example.com/named-1.0.zip
named2@ git+ssh://git@github.com/org/named2.git
-c constraints.txt
";
        assert_eq!(
            pkgs(text),
            pairs(&[
                ("proj", ""),
                ("./local-lib", ""),
                ("other", ""),
                ("wheelpkg", ""),
                ("sdistpkg", ""),
                ("named", ""),
                ("named2", ""),
            ])
        );
    }

    #[test]
    fn comments_and_continuations() {
        let text = "pkg-a==1.0 \\\n# a comment ends the continuation\npkg-b==\\\n2.0\n   # indented comment\nhttps://h.example/x.tar.gz#egg=fragpkg # real comment\n\\\n";
        assert_eq!(
            pkgs(text),
            pairs(&[("pkg-a", "1.0"), ("pkg-b", "2.0"), ("fragpkg", "")])
        );
    }

    #[test]
    fn garbage_lines_are_warnings_without_credentials() {
        let f = parse_file(
            "requirements.txt",
            "ok==1\n!!!\nfoo bar\npkg[oops==1\nx == \nhttps://u:pw@h/ zz ==\n",
        );
        assert_eq!(f.packages.len(), 2, "{:?}", f.packages);
        assert_eq!(f.warnings.len(), 4, "{:?}", f.warnings);
        assert!(
            f.warnings[0].starts_with("requirements.txt: line 2:"),
            "{:?}",
            f.warnings
        );
        for w in &f.warnings {
            assert!(!w.contains("pw"), "{w}");
        }
    }

    #[test]
    fn include_forms_resolve_relative() {
        let f = parse_file(
            "app/req/requirements.txt",
            "-r base.txt\n-r../common-requirements.txt\n--requirement=/etc/requirements.txt\n--requirement dev/x.txt\n-rhttps://h/x.txt\n",
        );
        let inc: Vec<_> = f.includes.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(
            inc,
            [
                "app/req/base.txt",
                "app/common-requirements.txt",
                "etc/requirements.txt",
                "app/req/dev/x.txt"
            ]
        );
        assert_eq!(f.warnings.len(), 1);
        assert_eq!(join_path("a/b.txt", "../../../../x.txt"), "x.txt");
    }

    fn files(v: &[(&str, &str)]) -> BTreeMap<String, String> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn summary(sets: &[PackageSet]) -> Vec<(String, Vec<String>)> {
        sets.iter()
            .map(|s| {
                (
                    s.path.clone(),
                    s.packages
                        .iter()
                        .map(|p| {
                            format!(
                                "{}=={}@{}",
                                p.name,
                                p.version,
                                p.file_path.as_deref().unwrap_or("")
                            )
                        })
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn includes_fold_into_the_including_file() {
        let (sets, warnings) = resolve(&files(&[
            (
                "app/requirements.txt",
                "-r requirements/base.txt\nflask==3.0.0\n-r missing-requirements.txt\n",
            ),
            (
                "app/requirements/base.txt",
                "requests==2.31.0\n-c ../constraints-requirements.txt\n",
            ),
            ("app/constraints-requirements.txt", "urllib3==2.0.7\n"),
            ("other/dev-requirements.txt", "pytest\n"),
        ]));
        assert_eq!(
            summary(&sets),
            [
                (
                    "app/requirements.txt".to_string(),
                    vec![
                        "flask==3.0.0@app/requirements.txt".to_string(),
                        "requests==2.31.0@app/requirements/base.txt".to_string()
                    ]
                ),
                (
                    "other/dev-requirements.txt".to_string(),
                    vec!["pytest==@other/dev-requirements.txt".to_string()]
                ),
            ]
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("app/requirements.txt: line 3")
                && warnings[0].contains("app/missing-requirements.txt"),
            "{warnings:?}"
        );
    }

    #[test]
    fn include_loops_terminate() {
        // a <-> b, both only included by each other; c includes itself.
        let (sets, warnings) = resolve(&files(&[
            ("a-requirements.txt", "-r b-requirements.txt\nA==1\n"),
            ("b-requirements.txt", "-r a-requirements.txt\nB==2\nA==1\n"),
            ("c-requirements.txt", "-r c-requirements.txt\nC==3\n"),
        ]));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            summary(&sets),
            [
                (
                    "c-requirements.txt".to_string(),
                    vec!["C==3@c-requirements.txt".to_string()]
                ),
                (
                    "a-requirements.txt".to_string(),
                    vec![
                        "A==1@a-requirements.txt".to_string(),
                        "B==2@b-requirements.txt".to_string()
                    ]
                ),
            ]
        );
    }

    #[test]
    fn loop_back_to_the_top_file_is_reported_from_the_top_file() {
        // base.txt includes the top file again: every file is included by another.
        let (sets, warnings) = resolve(&files(&[
            ("app/requirements.txt", "-r reqs/a.txt\ntop==1\n"),
            ("app/reqs/a.txt", "-r ../requirements.txt\nA==1\n"),
            ("app/aaa.txt", "-r requirements.txt\n"),
        ]));
        assert!(warnings.is_empty(), "{warnings:?}");
        // aaa.txt is not named like a requirements file, but it is in the map: it is the one
        // entry point, so it is the top.
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].path, "app/aaa.txt");
        let (sets, _) = resolve(&files(&[
            ("app/requirements/a.txt", "-r ../requirements.txt\nA==1\n"),
            ("app/requirements.txt", "-r requirements/a.txt\ntop==1\n"),
        ]));
        assert_eq!(
            summary(&sets),
            [(
                "app/requirements.txt".to_string(),
                vec![
                    "top==1@app/requirements.txt".to_string(),
                    "A==1@app/requirements/a.txt".to_string()
                ]
            )]
        );
    }

    #[test]
    fn required_paths() {
        assert!(is_requirements_file("requirements.txt"));
        assert!(is_requirements_file("x/requirements/dev.txt"));
        assert!(!is_requirements_file("x/requirements/"));
        assert!(!is_requirements_file("requirements"));
        assert!(!is_requirements_file(
            "lib/python3.12/site-packages/p/requirements.txt"
        ));
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("git+https://user:tok@github.com/o/r.git and https://h/x"),
            "git+https://***@github.com/o/r.git and https://h/x"
        );
    }
}
