//! dpkg: `var/lib/dpkg/status` and the distroless `var/lib/dpkg/status.d/<package>` files.
//!
//! Both are deb822 stanzas. A malformed stanza is reported and skipped; the rest of the file still
//! counts, because one bad stanza must not hide thousands of good ones.

use crate::model::Package;

pub const STATUS: &str = "var/lib/dpkg/status";
const STATUS_D: &str = "var/lib/dpkg/status.d/";

/// Control-file companions that distroless images ship next to the stanza files.
const SKIPPED_SUFFIXES: &[&str] = &[
    ".md5sums",
    ".conffiles",
    ".list",
    ".triggers",
    ".shlibs",
    ".symbols",
    ".preinst",
    ".postinst",
    ".prerm",
    ".postrm",
    ".templates",
    ".config",
];

pub fn is_status_file(path: &str) -> bool {
    if path == STATUS {
        return true;
    }
    match path.strip_prefix(STATUS_D) {
        Some(name) => {
            !name.is_empty()
                && !name.contains('/')
                && !name.starts_with('.')
                && !SKIPPED_SUFFIXES.iter().any(|s| name.ends_with(s))
        }
        None => false,
    }
}

/// A deb822 stanza: its 1-based ordinal, first line, and fields (name, value with continuation
/// lines joined by `\n`).
#[derive(Debug)]
pub struct Stanza<'a> {
    pub index: usize,
    pub line: usize,
    pub fields: Vec<(&'a str, String)>,
    /// Why the stanza is malformed, if it is.
    pub error: Option<String>,
}

impl Stanza<'_> {
    /// The first field of that name (field names are case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Split deb822 text into stanzas (separated by blank lines; CRLF accepted).
pub fn stanzas(text: &str) -> Vec<Stanza<'_>> {
    let mut out = Vec::new();
    let mut current: Option<Stanza<'_>> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let lineno = i + 1;
        if line.trim().is_empty() {
            if let Some(s) = current.take() {
                out.push(s);
            }
            continue;
        }
        let stanza = current.get_or_insert_with(|| Stanza {
            index: out.len() + 1,
            line: lineno,
            fields: Vec::new(),
            error: None,
        });
        if stanza.error.is_some() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match stanza.fields.last_mut() {
                Some((_, value)) => {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                None => {
                    stanza.error =
                        Some(format!("line {lineno}: continuation line before any field"))
                }
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                stanza.fields.push((name, value.trim().to_string()));
            }
            _ => stanza.error = Some(format!("line {lineno}: not a \"Field: value\" line")),
        }
    }
    if let Some(s) = current {
        out.push(s);
    }
    out
}

/// Is a `Status:` value (`want flag status`) an installed package?
fn is_installed(status: &str) -> bool {
    let words: Vec<&str> = status.split_whitespace().collect();
    words.len() == 3 && words[2] == "installed"
}

/// Parse a status file (or one `status.d` file). Returns the installed packages and warnings that name
/// the file and the stanza.
pub fn parse_status(path: &str, text: &str) -> (Vec<Package>, Vec<String>) {
    let mut packages = Vec::new();
    let mut warnings = Vec::new();
    for stanza in stanzas(text) {
        let name = stanza.get("Package").filter(|n| !n.is_empty());
        let what = match name {
            Some(n) => format!(
                "{path}: stanza {} (line {}, package {n})",
                stanza.index, stanza.line
            ),
            None => format!("{path}: stanza {} (line {})", stanza.index, stanza.line),
        };
        if let Some(err) = &stanza.error {
            warnings.push(format!("{what}: malformed, {err}; skipped"));
            continue;
        }
        // status.d files have no Status field: everything in them is installed.
        if let Some(status) = stanza.get("Status") {
            if !is_installed(status) {
                continue;
            }
        }
        let Some(name) = name else {
            warnings.push(format!("{what}: no Package field; skipped"));
            continue;
        };
        let Some(version) = stanza.get("Version").filter(|v| !v.is_empty()) else {
            warnings.push(format!("{what}: no Version field; skipped"));
            continue;
        };
        let (src_name, src_version) = match stanza.get("Source").map(str::trim) {
            Some(src) if !src.is_empty() => match src.split_once('(') {
                Some((n, rest)) => {
                    let v = rest.trim_end().trim_end_matches(')').trim();
                    let v = if v.is_empty() { version } else { v };
                    (n.trim(), v)
                }
                None => (src, version),
            },
            _ => (name, version),
        };
        packages.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            src_name: Some(src_name.to_string()),
            src_version: Some(src_version.to_string()),
            arch: stanza
                .get("Architecture")
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            file_path: None,
            layer: Default::default(),
            identifier: Default::default(),
            ecosystem: None,
        });
    }
    (packages, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(p: &Package) -> (&str, &str, &str, &str, &str) {
        (
            &p.name,
            &p.version,
            p.src_name.as_deref().unwrap_or("-"),
            p.src_version.as_deref().unwrap_or("-"),
            p.arch.as_deref().unwrap_or("-"),
        )
    }

    const STATUS_TEXT: &str = "\
Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 .
 the system.

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.13-1~deb12u1
Conffiles:
 /etc/ssl/openssl.cnf 1234

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: purged
Status: purge ok not-installed
Architecture: amd64

Package: zlib1g
Status: hold ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
";

    #[test]
    fn installed_only_and_source_fields() {
        let (pkgs, warnings) = parse_status(STATUS, STATUS_TEXT);
        assert!(warnings.is_empty(), "{warnings:?}");
        let got: Vec<_> = pkgs.iter().map(tuple).collect();
        assert_eq!(
            got,
            [
                (
                    "libc6",
                    "2.36-9+deb12u4",
                    "glibc",
                    "2.36-9+deb12u4",
                    "amd64"
                ),
                (
                    "libssl3",
                    "3.0.13-1~deb12u1",
                    "openssl",
                    "3.0.11-1~deb12u2",
                    "amd64"
                ),
                (
                    "zlib1g",
                    "1:1.2.13.dfsg-1",
                    "zlib",
                    "1:1.2.13.dfsg-1",
                    "amd64"
                ),
            ]
        );
    }

    #[test]
    fn crlf_and_no_source() {
        let text = "Package: base-files\r\nStatus: install ok installed\r\nVersion: 12.4+deb12u5\r\nArchitecture: amd64\r\n\r\n";
        let (pkgs, warnings) = parse_status(STATUS, text);
        assert!(warnings.is_empty());
        assert_eq!(
            pkgs.iter().map(tuple).collect::<Vec<_>>(),
            [(
                "base-files",
                "12.4+deb12u5",
                "base-files",
                "12.4+deb12u5",
                "amd64"
            )]
        );
    }

    #[test]
    fn status_d_file_without_status_counts() {
        // distroless: one file per package, no Status field; blank lines between several stanzas
        let text = "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\nMaintainer: x\n\n\n\nPackage: netbase\nVersion: 6.4\nArchitecture: all\n";
        let (pkgs, warnings) = parse_status("var/lib/dpkg/status.d/tzdata", text);
        assert!(warnings.is_empty());
        assert_eq!(pkgs.len(), 2);
        assert_eq!(tuple(&pkgs[1]), ("netbase", "6.4", "netbase", "6.4", "all"));
    }

    #[test]
    fn malformed_stanza_is_a_warning_and_parsing_goes_on() {
        let text = "Package: good1\nStatus: install ok installed\nVersion: 1\n\n Leading continuation\nPackage: bad1\n\nPackage: bad2\nStatus: install ok installed\nthis line has no colon\nVersion: 2\n\nPackage: noversion\nStatus: install ok installed\n\nPackage: good2\nStatus: install ok installed\nVersion: 3\n";
        let (pkgs, warnings) = parse_status(STATUS, text);
        assert_eq!(
            pkgs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["good1", "good2"]
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0].starts_with("var/lib/dpkg/status: stanza 2 (line 5"),
            "{}",
            warnings[0]
        );
        assert!(
            warnings[1].contains("package bad2") && warnings[1].contains("line 10"),
            "{}",
            warnings[1]
        );
        assert!(
            warnings[2].contains("noversion") && warnings[2].contains("Version"),
            "{}",
            warnings[2]
        );
    }

    #[test]
    fn source_with_empty_parens_and_spaces() {
        let text = "Package: a\nVersion: 1\nSource:   src  ( 2 ) \n\nPackage: b\nVersion: 1\nSource: src2 ()\n";
        let (pkgs, _) = parse_status("var/lib/dpkg/status.d/a", text);
        assert_eq!(tuple(&pkgs[0]), ("a", "1", "src", "2", "-"));
        assert_eq!(tuple(&pkgs[1]), ("b", "1", "src2", "1", "-"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for text in [
            "",
            "\n\n",
            ":",
            ": x",
            "\u{0}\u{1}",
            "Package:\n",
            "\r\n\r",
            "Package: a\nVersion:\n",
        ] {
            let _ = parse_status(STATUS, text);
        }
    }
}
