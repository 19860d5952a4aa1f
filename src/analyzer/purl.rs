//! Package URLs and ecosystems, decided once the merged OS is known (a dpkg database means Debian or
//! Ubuntu depending on the image's os-release, which may come from another layer).
//!
//! The form follows Trivy's output: `pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12`,
//! `pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.3`, `pkg:pypi/requests@2.31.0`; a Debian epoch
//! becomes the `epoch` qualifier, qualifiers are sorted by key.

use super::python::normalize_name;
use crate::model::{Ecosystem, OsInfo, Package, PackageSet, PackageSetKind};

/// Percent-encode a purl component; `+` stays literal, as in Trivy's Debian purls.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn build(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    qualifiers: &mut Vec<(&str, String)>,
) -> String {
    let mut purl = format!("pkg:{kind}/");
    if let Some(ns) = namespace {
        purl.push_str(&encode(ns));
        purl.push('/');
    }
    purl.push_str(&encode(name));
    if !version.is_empty() {
        purl.push('@');
        purl.push_str(&encode(version));
    }
    qualifiers.retain(|(_, v)| !v.is_empty());
    qualifiers.sort();
    for (i, (k, v)) in qualifiers.iter().enumerate() {
        purl.push(if i == 0 { '?' } else { '&' });
        purl.push_str(k);
        purl.push('=');
        purl.push_str(&encode(v));
    }
    purl
}

/// `1:2.3-4` → (`Some("1")`, `2.3-4`).
fn split_epoch(version: &str) -> (Option<&str>, &str) {
    match version.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (Some(e), rest)
        }
        _ => (None, version),
    }
}

pub fn deb_purl(p: &Package, family: &str, os: Option<&OsInfo>) -> String {
    let (epoch, version) = split_epoch(&p.version);
    let mut q = vec![("arch", p.arch.clone().unwrap_or_default())];
    if let Some(e) = epoch {
        q.push(("epoch", e.to_string()));
    }
    if let Some(os) = os.filter(|o| !o.name.is_empty()) {
        q.push(("distro", format!("{}-{}", os.family, os.name)));
    }
    build("deb", Some(family), &p.name, version, &mut q)
}

pub fn apk_purl(p: &Package, family: &str, os: Option<&OsInfo>) -> String {
    let mut q = vec![("arch", p.arch.clone().unwrap_or_default())];
    if let Some(os) = os {
        q.push(("distro", os.name.clone()));
    }
    build("apk", Some(family), &p.name, &p.version, &mut q)
}

/// `None` for a requirement that names no project (a bare URL or path).
pub fn pypi_purl(p: &Package) -> Option<String> {
    let valid = p.name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && p.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    valid.then(|| {
        build(
            "pypi",
            None,
            &normalize_name(&p.name),
            &p.version,
            &mut Vec::new(),
        )
    })
}

pub fn finalize(sets: &mut [PackageSet], os: Option<&OsInfo>) {
    let family = os.map(|o| o.family.as_str()).filter(|f| !f.is_empty());
    for set in sets.iter_mut() {
        match set.kind {
            PackageSetKind::Dpkg => {
                // dpkg without a known OS is most likely Debian (distroless images without os-release).
                let family = family.unwrap_or("debian");
                let eco = match family {
                    "debian" => Ecosystem::Debian,
                    "ubuntu" => Ecosystem::Ubuntu,
                    _ => Ecosystem::Other,
                };
                for p in &mut set.packages {
                    p.ecosystem = Some(eco);
                    p.identifier.purl = Some(deb_purl(p, family, os));
                }
            }
            PackageSetKind::Apk => {
                let family = family.unwrap_or("alpine");
                let eco = if family == "alpine" {
                    Ecosystem::Alpine
                } else {
                    Ecosystem::Other
                };
                for p in &mut set.packages {
                    p.ecosystem = Some(eco);
                    p.identifier.purl = Some(apk_purl(p, family, os));
                }
            }
            PackageSetKind::PythonInstalled | PackageSetKind::Requirements => {
                for p in &mut set.packages {
                    p.ecosystem = Some(Ecosystem::PyPI);
                    p.identifier.purl = pypi_purl(p);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str, arch: Option<&str>) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            src_name: None,
            src_version: None,
            arch: arch.map(Into::into),
            file_path: None,
            layer: Default::default(),
            identifier: Default::default(),
            ecosystem: None,
        }
    }

    fn os(f: &str, n: &str) -> OsInfo {
        OsInfo {
            family: f.into(),
            name: n.into(),
        }
    }

    fn finalize_one(
        kind: PackageSetKind,
        p: Package,
        o: Option<&OsInfo>,
    ) -> (Option<Ecosystem>, String) {
        let mut sets = [PackageSet {
            path: "x".into(),
            kind,
            packages: vec![p],
        }];
        finalize(&mut sets, o);
        let p = &sets[0].packages[0];
        (p.ecosystem, p.identifier.purl.clone().unwrap_or_default())
    }

    #[test]
    fn trivy_shaped_purls() {
        let deb12 = os("debian", "12");
        assert_eq!(
            finalize_one(
                PackageSetKind::Dpkg,
                pkg("libc6", "2.36-9+deb12u4", Some("amd64")),
                Some(&deb12)
            ),
            (
                Some(Ecosystem::Debian),
                "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12".into()
            )
        );
        assert_eq!(
            finalize_one(
                PackageSetKind::Dpkg,
                pkg("zlib1g", "1:1.2.13.dfsg-1", Some("amd64")),
                Some(&deb12)
            ),
            (
                Some(Ecosystem::Debian),
                "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?arch=amd64&distro=debian-12&epoch=1".into()
            )
        );
        assert_eq!(
            finalize_one(
                PackageSetKind::Dpkg,
                pkg("libstdc++6", "12.2.0-14", Some("amd64")),
                Some(&os("ubuntu", "22.04"))
            ),
            (
                Some(Ecosystem::Ubuntu),
                "pkg:deb/ubuntu/libstdc++6@12.2.0-14?arch=amd64&distro=ubuntu-22.04".into()
            )
        );
        assert_eq!(
            finalize_one(
                PackageSetKind::Apk,
                pkg("musl", "1.2.5-r0", Some("x86_64")),
                Some(&os("alpine", "3.20.3"))
            ),
            (
                Some(Ecosystem::Alpine),
                "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.3".into()
            )
        );
        assert_eq!(
            finalize_one(
                PackageSetKind::PythonInstalled,
                pkg("Flask_SQLAlchemy", "3.1.1", None),
                None
            ),
            (
                Some(Ecosystem::PyPI),
                "pkg:pypi/flask-sqlalchemy@3.1.1".into()
            )
        );
        assert_eq!(
            finalize_one(PackageSetKind::Requirements, pkg("flask", "", None), None),
            (Some(Ecosystem::PyPI), "pkg:pypi/flask".into())
        );
        // unknown OS: no distro qualifier
        assert_eq!(
            finalize_one(
                PackageSetKind::Dpkg,
                pkg("tzdata", "2024a-0+deb12u1", Some("all")),
                None
            )
            .1,
            "pkg:deb/debian/tzdata@2024a-0+deb12u1?arch=all"
        );
        assert_eq!(encode("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(
            finalize_one(
                PackageSetKind::Requirements,
                pkg("./local-lib", "", None),
                None
            ),
            (Some(Ecosystem::PyPI), String::new())
        );
    }
}
