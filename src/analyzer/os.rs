//! OS identification: `os-release` first, then the distribution's own release file.
//!
//! The files are only collected per layer; the OS is decided on the merged map, because a later layer
//! may replace `etc/os-release` (or make it a symlink to `usr/lib/os-release`).

use crate::model::OsInfo;
use std::collections::BTreeMap;

pub const OS_RELEASE: &str = "etc/os-release";
pub const USR_OS_RELEASE: &str = "usr/lib/os-release";
pub const DEBIAN_VERSION: &str = "etc/debian_version";
pub const ALPINE_RELEASE: &str = "etc/alpine-release";
pub const LSB_RELEASE: &str = "etc/lsb-release";
/// `<Name> release <version> (<codename>)` files of the rpm distributions, most specific first
/// (`redhat-release` and `system-release` are links to the distribution's own one on most).
const RPM_RELEASE_FILES: [&str; 9] = [
    "etc/amazon-linux-release",
    "etc/oracle-release",
    "etc/rocky-release",
    "etc/almalinux-release",
    "etc/centos-release",
    "etc/fedora-release",
    "etc/redhat-release",
    "etc/system-release",
    "etc/SuSE-release",
];

pub fn is_os_file(path: &str) -> bool {
    matches!(
        path,
        OS_RELEASE | USR_OS_RELEASE | DEBIAN_VERSION | ALPINE_RELEASE | LSB_RELEASE
    ) || RPM_RELEASE_FILES.contains(&path)
}

/// `KEY=value` pairs of an os-release file (quotes and backslash escapes removed).
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            continue;
        }
        out.insert(key.to_string(), unquote(value.trim()));
    }
    out
}

fn unquote(value: &str) -> String {
    let quote = match value.chars().next() {
        Some(q @ ('"' | '\'')) => q,
        _ => return value.to_string(),
    };
    let inner = &value[1..];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == quote {
            break;
        }
        if c == '\\' && quote == '"' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The family name we report for an os-release `ID`: Trivy's name for the OS where it has one
/// (`amzn` → `amazon`, `rhel` → `redhat`, `almalinux` → `alma`, `ol` → `oracle`, `sles`,
/// `opensuse-leap`), else the `ID` as written.
fn family_for_id(id: &str) -> String {
    let id = id.trim().to_ascii_lowercase();
    match id.as_str() {
        "amzn" => "amazon",
        "rhel" | "redhat" => "redhat",
        "almalinux" => "alma",
        "ol" | "oracle" => "oracle",
        "sles" | "sled" | "sles_sap" => "sles",
        "sle-micro" | "sl-micro" => "slem",
        "opensuse-leap" | "opensuse.leap" => "opensuse-leap",
        "opensuse-tumbleweed" | "opensuse.tumbleweed" => "opensuse-tumbleweed",
        _ => return id,
    }
    .to_string()
}

/// `12.5` → `12`; `trixie/sid` stays as written.
fn debian_release(text: &str) -> Option<String> {
    let v = text.lines().next()?.trim();
    if v.is_empty() {
        return None;
    }
    match v.split_once('.') {
        Some((major, _)) if !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()) => {
            Some(major.to_string())
        }
        _ => Some(v.to_string()),
    }
}

fn first_line(text: &str) -> Option<String> {
    let v = text.lines().next()?.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// `Amazon Linux release 2023.3.20240219 (Amazon Linux)` → `amazon`/`2023`;
/// `Rocky Linux release 9.3 (Blue Onyx)` → `rocky`/`9.3`; `CentOS Linux release 7.9.2009 (Core)`
/// → `centos`/`7.9.2009`; the old `SUSE Linux Enterprise Server 12 (x86_64)` + `VERSION = 12`.
/// Families are Trivy's names, as for os-release.
fn rpm_release(text: &str) -> Option<OsInfo> {
    let line = text.lines().next()?.trim();
    let families: [(&str, &str); 11] = [
        ("Amazon Linux", "amazon"),
        ("Red Hat Enterprise Linux", "redhat"),
        ("CentOS Stream", "centos"),
        ("CentOS", "centos"),
        ("Rocky Linux", "rocky"),
        ("AlmaLinux", "alma"),
        ("Oracle Linux", "oracle"),
        ("Enterprise Linux", "oracle"),
        ("Fedora", "fedora"),
        ("SUSE Linux Enterprise", "sles"),
        ("openSUSE", "opensuse"),
    ];
    let family = families
        .iter()
        .find(|(prefix, _)| line.starts_with(prefix))
        .map(|(_, f)| f.to_string())?;
    let version = match line.split_once(" release ") {
        Some((_, rest)) => rest.split_whitespace().next()?.to_string(),
        // SuSE-release: the version is on a `VERSION = 12` line.
        None => text
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == "VERSION")
            .map(|(_, v)| v.trim().to_string())?,
    };
    let version = if family == "amazon" {
        // `2023.3.20240219` and `2 (Karoo)`: advisories are per major release.
        version.split('.').next().unwrap_or_default().to_string()
    } else {
        version
    };
    Some(OsInfo {
        family,
        name: version,
    })
}

/// Decide the OS from the merged OS files.
pub fn detect(files: &BTreeMap<String, String>) -> Option<OsInfo> {
    let release = files
        .get(OS_RELEASE)
        .or_else(|| files.get(USR_OS_RELEASE))
        .map(|t| parse_os_release(t));
    if let Some(fields) = release {
        if let Some(id) = fields.get("ID").filter(|id| !id.trim().is_empty()) {
            let family = family_for_id(id);
            let name = fields
                .get("VERSION_ID")
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .or_else(|| match family.as_str() {
                    // Debian testing/sid and Alpine edge have no VERSION_ID.
                    "debian" => files.get(DEBIAN_VERSION).and_then(|t| debian_release(t)),
                    "alpine" => files.get(ALPINE_RELEASE).and_then(|t| first_line(t)),
                    _ => None,
                })
                .or_else(|| fields.get("VERSION_CODENAME").cloned())
                .unwrap_or_default();
            return Some(OsInfo { family, name });
        }
    }
    if let Some(lsb) = files.get(LSB_RELEASE).map(|t| parse_os_release(t)) {
        if let Some(id) = lsb.get("DISTRIB_ID").filter(|id| !id.trim().is_empty()) {
            return Some(OsInfo {
                family: family_for_id(id),
                name: lsb.get("DISTRIB_RELEASE").cloned().unwrap_or_default(),
            });
        }
    }
    if let Some(name) = files.get(ALPINE_RELEASE).and_then(|t| first_line(t)) {
        return Some(OsInfo {
            family: "alpine".into(),
            name,
        });
    }
    if let Some(os) = RPM_RELEASE_FILES
        .iter()
        .find_map(|p| files.get(*p).and_then(|t| rpm_release(t)))
    {
        return Some(os);
    }
    if let Some(name) = files.get(DEBIAN_VERSION).and_then(|t| debian_release(t)) {
        return Some(OsInfo {
            family: "debian".into(),
            name,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(files: &[(&str, &str)]) -> Option<(String, String)> {
        let map = files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect(&map).map(|o| (o.family, o.name))
    }

    fn some(f: &str, n: &str) -> Option<(String, String)> {
        Some((f.to_string(), n.to_string()))
    }

    #[test]
    fn real_os_release_files() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        assert_eq!(os(&[(OS_RELEASE, debian)]), some("debian", "12"));
        let alpine = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n";
        assert_eq!(os(&[(USR_OS_RELEASE, alpine)]), some("alpine", "3.20.3"));
        let ubuntu = "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\r\nNAME=\"Ubuntu\"\r\nVERSION_ID=\"22.04\"\r\nID=ubuntu\r\nID_LIKE=debian\r\n";
        assert_eq!(os(&[(OS_RELEASE, ubuntu)]), some("ubuntu", "22.04"));
        let amazon = "NAME=\"Amazon Linux\"\nVERSION=\"2023\"\nID=\"amzn\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"2023\"\n";
        assert_eq!(os(&[(OS_RELEASE, amazon)]), some("amazon", "2023"));
        let rocky = "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n";
        assert_eq!(os(&[(OS_RELEASE, rocky)]), some("rocky", "9.3"));
        let al2 = "NAME=\"Amazon Linux\"\nVERSION=\"2\"\nID=\"amzn\"\nID_LIKE=\"centos rhel fedora\"\nVERSION_ID=\"2\"\nPRETTY_NAME=\"Amazon Linux 2\"\n";
        assert_eq!(os(&[(OS_RELEASE, al2)]), some("amazon", "2"));
        let ubi = "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"9.4 (Plow)\"\nID=\"rhel\"\nID_LIKE=\"fedora\"\nVERSION_ID=\"9.4\"\n";
        assert_eq!(os(&[(OS_RELEASE, ubi)]), some("redhat", "9.4"));
        let alma = "NAME=\"AlmaLinux\"\nVERSION=\"9.4 (Seafoam Ocelot)\"\nID=\"almalinux\"\nVERSION_ID=\"9.4\"\n";
        assert_eq!(os(&[(USR_OS_RELEASE, alma)]), some("alma", "9.4"));
        let ol = "NAME=\"Oracle Linux Server\"\nVERSION=\"8.9\"\nID=\"ol\"\nVERSION_ID=\"8.9\"\n";
        assert_eq!(os(&[(OS_RELEASE, ol)]), some("oracle", "8.9"));
        let centos = "NAME=\"CentOS Stream\"\nVERSION=\"9\"\nID=\"centos\"\nVERSION_ID=\"9\"\n";
        assert_eq!(os(&[(OS_RELEASE, centos)]), some("centos", "9"));
        let fedora =
            "NAME=\"Fedora Linux\"\nVERSION=\"40 (Container Image)\"\nID=fedora\nVERSION_ID=40\n";
        assert_eq!(os(&[(OS_RELEASE, fedora)]), some("fedora", "40"));
        let sles = "NAME=\"SLES\"\nVERSION=\"15-SP5\"\nVERSION_ID=\"15.5\"\nID=\"sles\"\nID_LIKE=\"suse\"\n";
        assert_eq!(os(&[(USR_OS_RELEASE, sles)]), some("sles", "15.5"));
        let leap = "NAME=\"openSUSE Leap\"\nVERSION=\"15.6\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.6\"\n";
        assert_eq!(os(&[(USR_OS_RELEASE, leap)]), some("opensuse-leap", "15.6"));
        let tumbleweed =
            "NAME=\"openSUSE Tumbleweed\"\nID=\"opensuse-tumbleweed\"\nVERSION_ID=\"20240601\"\n";
        assert_eq!(
            os(&[(USR_OS_RELEASE, tumbleweed)]),
            some("opensuse-tumbleweed", "20240601")
        );
    }

    #[test]
    fn etc_wins_over_usr_lib() {
        assert_eq!(
            os(&[
                (OS_RELEASE, "ID=ubuntu\nVERSION_ID=24.04\n"),
                (USR_OS_RELEASE, "ID=debian\nVERSION_ID=12\n")
            ]),
            some("ubuntu", "24.04")
        );
    }

    #[test]
    fn fallbacks() {
        assert_eq!(os(&[(DEBIAN_VERSION, "12.5\n")]), some("debian", "12"));
        assert_eq!(
            os(&[(DEBIAN_VERSION, "trixie/sid\n")]),
            some("debian", "trixie/sid")
        );
        assert_eq!(
            os(&[(ALPINE_RELEASE, "3.20.3\n")]),
            some("alpine", "3.20.3")
        );
        // sid: os-release without VERSION_ID
        assert_eq!(
            os(&[
                (OS_RELEASE, "ID=debian\nVERSION_CODENAME=trixie\n"),
                (DEBIAN_VERSION, "trixie/sid\n")
            ]),
            some("debian", "trixie/sid")
        );
        // os-release without ID falls back to the release files
        assert_eq!(
            os(&[(OS_RELEASE, "# nothing\n"), (ALPINE_RELEASE, "3.19.1")]),
            some("alpine", "3.19.1")
        );
        assert_eq!(
            os(&[
                (
                    LSB_RELEASE,
                    "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\n"
                ),
                (DEBIAN_VERSION, "bookworm/sid\n")
            ]),
            some("ubuntu", "22.04")
        );
        assert_eq!(
            os(&[(
                "etc/system-release",
                "Amazon Linux release 2023.3.20240219 (Amazon Linux)\n"
            )]),
            some("amazon", "2023")
        );
        assert_eq!(
            os(&[("etc/system-release", "Amazon Linux release 2 (Karoo)\n")]),
            some("amazon", "2")
        );
        assert_eq!(
            os(&[(
                "etc/redhat-release",
                "Rocky Linux release 9.3 (Blue Onyx)\n"
            )]),
            some("rocky", "9.3")
        );
        for (file, text, family, name) in [
            (
                "etc/centos-release",
                "CentOS Linux release 7.9.2009 (Core)\n",
                "centos",
                "7.9.2009",
            ),
            (
                "etc/centos-release",
                "CentOS Stream release 9\n",
                "centos",
                "9",
            ),
            (
                "etc/almalinux-release",
                "AlmaLinux release 9.4 (Seafoam Ocelot)\n",
                "alma",
                "9.4",
            ),
            (
                "etc/oracle-release",
                "Oracle Linux Server release 8.9\n",
                "oracle",
                "8.9",
            ),
            (
                "etc/fedora-release",
                "Fedora release 40 (Forty)\n",
                "fedora",
                "40",
            ),
            (
                "etc/rocky-release",
                "Rocky Linux release 8.9 (Green Obsidian)\n",
                "rocky",
                "8.9",
            ),
            (
                "etc/redhat-release",
                "Red Hat Enterprise Linux release 8.10 (Ootpa)\n",
                "redhat",
                "8.10",
            ),
            (
                "etc/redhat-release",
                "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n",
                "redhat",
                "7.9",
            ),
            (
                "etc/SuSE-release",
                "SUSE Linux Enterprise Server 12 (x86_64)\nVERSION = 12\nPATCHLEVEL = 5\n",
                "sles",
                "12",
            ),
        ] {
            assert_eq!(os(&[(file, text)]), some(family, name), "{file}: {text}");
            assert!(is_os_file(file), "{file}");
        }
        // The distribution's own file wins over redhat-release (CentOS 7 links them; a rebuild that
        // left a stale redhat-release must not read as RHEL).
        assert_eq!(
            os(&[
                (
                    "etc/redhat-release",
                    "Red Hat Enterprise Linux release 8.10 (Ootpa)\n"
                ),
                (
                    "etc/rocky-release",
                    "Rocky Linux release 8.9 (Green Obsidian)\n"
                )
            ]),
            some("rocky", "8.9")
        );
        assert_eq!(os(&[("etc/redhat-release", "Something else\n")]), None);
        assert_eq!(os(&[]), None);
        assert_eq!(os(&[(DEBIAN_VERSION, "\n")]), None);
    }

    #[test]
    fn quoting() {
        let f =
            parse_os_release("A='x y'\nB=\"a\\\"b\"\nC=plain\n  # c\nbad line\nD=\"unterminated\n");
        assert_eq!(f.get("A").map(String::as_str), Some("x y"));
        assert_eq!(f.get("B").map(String::as_str), Some("a\"b"));
        assert_eq!(f.get("C").map(String::as_str), Some("plain"));
        assert_eq!(f.get("D").map(String::as_str), Some("unterminated"));
        assert_eq!(f.len(), 4);
    }
}
