//! apk: the installed database (`lib/apk/db/installed`, `usr/lib/apk/db/installed`).
//!
//! One stanza per package, `X:value` lines; `P` name, `V` version, `A` arch, `o` origin (the source
//! package, whose version is the binary's: apk builds every subpackage from one APKBUILD).

use crate::model::Package;

pub fn is_installed_db(path: &str) -> bool {
    matches!(path, "lib/apk/db/installed" | "usr/lib/apk/db/installed")
}

#[derive(Default)]
struct Entry<'a> {
    line: usize,
    name: Option<&'a str>,
    version: Option<&'a str>,
    arch: Option<&'a str>,
    origin: Option<&'a str>,
}

pub fn parse_installed(path: &str, text: &str) -> (Vec<Package>, Vec<String>) {
    let mut packages = Vec::new();
    let mut warnings = Vec::new();
    let mut index = 0usize;
    let mut current: Option<Entry<'_>> = None;
    let flush = |entry: Entry<'_>,
                 index: usize,
                 packages: &mut Vec<Package>,
                 warnings: &mut Vec<String>| {
        let what = match entry.name {
            Some(n) => format!("{path}: entry {index} (line {}, package {n})", entry.line),
            None => format!("{path}: entry {index} (line {})", entry.line),
        };
        let (Some(name), Some(version)) = (entry.name, entry.version) else {
            warnings.push(format!(
                "{what}: no P: (name) or V: (version) line; skipped"
            ));
            return;
        };
        packages.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            src_name: Some(entry.origin.unwrap_or(name).to_string()),
            src_version: Some(version.to_string()),
            arch: entry.arch.map(str::to_string),
            file_path: None,
            layer: Default::default(),
            identifier: Default::default(),
            ecosystem: None,
        });
    };
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if let Some(e) = current.take() {
                flush(e, index, &mut packages, &mut warnings);
            }
            continue;
        }
        let entry = current.get_or_insert_with(|| {
            index += 1;
            Entry {
                line: i + 1,
                ..Default::default()
            }
        });
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let value = (!value.is_empty()).then_some(value);
        match key {
            "P" => entry.name = value,
            "V" => entry.version = value,
            "A" => entry.arch = value,
            "o" => entry.origin = value,
            _ => {}
        }
    }
    if let Some(e) = current.take() {
        flush(e, index, &mut packages, &mut warnings);
    }
    (packages, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "\
C:Q1Ig9K7L+Y6e0G9X6mR5X2bRTKbaQ=
P:musl
V:1.2.5-r0
A:x86_64
S:411270
I:655360
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1712048456
c:f93af038c3de7146121c2ea8124ba5ce29b4b058
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1tDN9dBlMfoa6s8pzn3VuJ5mIqkI=

P:libcrypto3
V:3.3.2-r0
A:x86_64
o:openssl
D:so:libc.musl-x86_64.so.1

P:broken
A:x86_64
";

    #[test]
    fn parses_entries_and_origin() {
        let (pkgs, warnings) = parse_installed("lib/apk/db/installed", DB);
        let got: Vec<_> = pkgs
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.version.as_str(),
                    p.src_name.as_deref(),
                    p.src_version.as_deref(),
                    p.arch.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "musl",
                    "1.2.5-r0",
                    Some("musl"),
                    Some("1.2.5-r0"),
                    Some("x86_64")
                ),
                (
                    "libcrypto3",
                    "3.3.2-r0",
                    Some("openssl"),
                    Some("3.3.2-r0"),
                    Some("x86_64")
                ),
            ]
        );
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("entry 3") && warnings[0].contains("broken"),
            "{warnings:?}"
        );
    }

    #[test]
    fn crlf_and_garbage() {
        let (pkgs, warnings) =
            parse_installed("lib/apk/db/installed", "P:a\r\nV:1-r0\r\n\r\nnonsense\n");
        assert_eq!(pkgs.len(), 1);
        assert_eq!(pkgs[0].version, "1-r0");
        assert_eq!(pkgs[0].src_name.as_deref(), Some("a"));
        assert_eq!(warnings.len(), 1);
        let _ = parse_installed("x", "");
        let _ = parse_installed("x", ":\n:\n\n");
    }
}
