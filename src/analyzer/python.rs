//! Installed Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`, `*.egg-info` files
//! and `*.egg/EGG-INFO/PKG-INFO`, anywhere in the tree.
//!
//! The metadata is RFC 822 headers followed by a body (the long description), which can be huge and
//! can contain header-like lines: only the headers up to the first blank line are read, the way
//! `importlib.metadata` (the `email` parser) reads them.

use crate::model::Package;

pub fn is_metadata_file(path: &str) -> bool {
    let (dir, name) = match path.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", path),
    };
    match name {
        "METADATA" => dir_name(dir).len() > ".dist-info".len() && dir.ends_with(".dist-info"),
        "PKG-INFO" => {
            (dir_name(dir).len() > ".egg-info".len() && dir.ends_with(".egg-info"))
                || (dir.ends_with(".egg/EGG-INFO") && dir_name(parent(dir)).len() > ".egg".len())
        }
        _ => name.len() > ".egg-info".len() && name.ends_with(".egg-info"),
    }
}

fn dir_name(dir: &str) -> &str {
    dir.rsplit_once('/').map_or(dir, |(_, n)| n)
}

fn parent(dir: &str) -> &str {
    dir.rsplit_once('/').map_or("", |(p, _)| p)
}

/// The RFC 822 headers of a metadata file, in order; folded lines are joined with `\n`.
pub fn headers(text: &str) -> Vec<(&str, String)> {
    let mut out: Vec<(&str, String)> = Vec::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
                continue;
            }
            break;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                out.push((name, value.trim().to_string()))
            }
            // Not a header: the email parser starts the body here.
            _ => break,
        }
    }
    out
}

/// Parse one metadata file into its distribution. `Err` is a warning naming the file.
pub fn parse_metadata(path: &str, text: &str) -> Result<Package, String> {
    let headers = headers(text);
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let Some(name) = get("Name") else {
        return Err(format!(
            "{path}: malformed Python metadata, no Name header; skipped"
        ));
    };
    let Some(version) = get("Version") else {
        return Err(format!(
            "{path}: malformed Python metadata, no Version header for {name}; skipped"
        ));
    };
    Ok(Package {
        name: name.to_string(),
        version: version.to_string(),
        src_name: None,
        src_version: None,
        arch: None,
        file_path: Some(path.to_string()),
        layer: Default::default(),
        identifier: Default::default(),
        ecosystem: None,
    })
}

/// PEP 503 normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_headers_only() {
        let text = "Metadata-Version: 2.1\r\nName: Flask_SQLAlchemy\r\nVersion: 3.1.1\r\nSummary: a\r\n  folded summary\r\nClassifier: X\r\n\r\nName: not-this\r\nVersion: 9\r\n";
        let p = parse_metadata("sp/Flask_SQLAlchemy-3.1.1.dist-info/METADATA", text).unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("Flask_SQLAlchemy", "3.1.1")
        );
        assert_eq!(
            p.file_path.as_deref(),
            Some("sp/Flask_SQLAlchemy-3.1.1.dist-info/METADATA")
        );
        let h = headers(text);
        assert_eq!(h[3], ("Summary", "a\nfolded summary".to_string()));
    }

    #[test]
    fn body_without_blank_line_separator() {
        // A non-header line ends the headers (as in Python's email parser).
        let p = parse_metadata("x.egg-info", "Name: a\nthis is body\nVersion: 1\n");
        assert!(p.is_err());
        let p =
            parse_metadata("x.egg-info", "Name: a\nVersion: 1\nthis is body\nName: b\n").unwrap();
        assert_eq!(p.name, "a");
    }

    #[test]
    fn malformed_is_err_naming_file() {
        for text in [
            "",
            "\n\nName: a\nVersion: 1",
            "Name: a\n",
            "Version: 1\nName:   \n",
            "\u{0}",
        ] {
            let e = parse_metadata("sp/a.dist-info/METADATA", text).unwrap_err();
            assert!(e.starts_with("sp/a.dist-info/METADATA: malformed"), "{e}");
        }
    }

    #[test]
    fn pep503() {
        assert_eq!(normalize_name("Flask_SQLAlchemy"), "flask-sqlalchemy");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("A-_.B"), "a-b");
        assert_eq!(normalize_name("requests"), "requests");
    }
}
