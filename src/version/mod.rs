//! Version order per ecosystem. Every comparison answers `None` when a version can't be parsed in
//! that ecosystem, so that callers report it instead of guessing an order.

pub mod apk;
pub mod deb;
pub mod pep440;
pub mod rpm;
pub mod semver;

use std::cmp::Ordering;

/// Which version order an ecosystem uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Pep440,
    Dpkg,
    Apk,
    Rpm,
    SemVer,
}

impl Scheme {
    /// The order for an OSV ecosystem base (`PyPI`, `Debian`, `Ubuntu`, `Alpine`) or `SEMVER`.
    pub fn for_ecosystem(ecosystem_base: &str) -> Option<Scheme> {
        let base = crate::advisory::Advisory::ecosystem_base(ecosystem_base);
        Some(match base.to_ascii_lowercase().as_str() {
            "pypi" => Scheme::Pep440,
            "debian" | "ubuntu" => Scheme::Dpkg,
            "alpine" => Scheme::Apk,
            "amazon linux" | "almalinux" | "rocky linux" | "red hat" | "suse" | "opensuse" => {
                Scheme::Rpm
            }
            "semver" | "npm" | "crates.io" | "go" | "hex" | "pub" => Scheme::SemVer,
            _ => return None,
        })
    }

    pub fn compare(self, a: &str, b: &str) -> Option<Ordering> {
        match self {
            Scheme::Pep440 => pep440::compare(a, b),
            Scheme::Dpkg => deb::compare(a, b),
            Scheme::Apk => apk::compare(a, b),
            Scheme::Rpm => rpm::compare(a, b),
            Scheme::SemVer => semver::compare(a, b),
        }
    }

    /// Is `v` a valid version in this scheme?
    pub fn is_valid(self, v: &str) -> bool {
        match self {
            Scheme::Pep440 => pep440::parse(v).is_some(),
            Scheme::Dpkg => deb::parse(v).is_some(),
            Scheme::Apk => apk::is_valid(v.trim()),
            Scheme::Rpm => rpm::is_valid(v),
            Scheme::SemVer => semver::parse(v).is_some(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scheme::Pep440 => "PEP 440",
            Scheme::Dpkg => "dpkg",
            Scheme::Apk => "apk",
            Scheme::Rpm => "rpm",
            Scheme::SemVer => "SemVer",
        }
    }
}

/// Compare two versions in the order of `ecosystem_base` (`PyPI`, `Debian`, `Ubuntu`, `Alpine`,
/// `SEMVER`). `None` when the ecosystem is unknown or either version is unparsable.
pub fn compare(ecosystem_base: &str, a: &str, b: &str) -> Option<Ordering> {
    Scheme::for_ecosystem(ecosystem_base)?.compare(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatches_by_ecosystem() {
        assert_eq!(compare("PyPI", "1.0", "1.0.0"), Some(Ordering::Equal));
        assert_eq!(compare("Debian:12", "1.0~rc1", "1.0"), Some(Ordering::Less));
        assert_eq!(compare("Ubuntu", "1:1.0", "2.0"), Some(Ordering::Greater));
        assert_eq!(
            compare("Alpine:v3.20", "1.0_rc1", "1.0"),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare("Amazon Linux:2023", "1.0-1.amzn2023", "1:0.9-1"),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare("Rocky Linux:9", "1.0-1.el9", "1.0-1.el9_2"),
            Some(Ordering::Less)
        );
        assert_eq!(compare("SEMVER", "v1.0.0", "1.0.1"), Some(Ordering::Less));
        assert_eq!(compare("Maven", "1.0", "1.0"), None);
    }
}
