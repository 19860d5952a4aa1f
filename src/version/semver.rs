//! SemVer order for OSV `SEMVER` ranges, tolerant of a leading `v` and of missing minor/patch
//! components (`1.2` is read as `1.2.0`), as OSV producers write them.

use std::cmp::Ordering;

pub fn parse(v: &str) -> Option<::semver::Version> {
    let v = v.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    if let Ok(parsed) = ::semver::Version::parse(v) {
        return Some(parsed);
    }
    // Pad `1` / `1.2` (with optional pre-release/build) to three components.
    let split = v.find(['-', '+']).unwrap_or(v.len());
    let (core, rest) = v.split_at(split);
    let dots = core.matches('.').count();
    if dots >= 2 || core.is_empty() {
        return None;
    }
    let padded = format!("{core}{}{rest}", ".0".repeat(2 - dots));
    ::semver::Version::parse(&padded).ok()
}

/// SemVer 2.0 order (build metadata ignored); `None` when either version does not parse.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a)?, parse(b)?);
    Some(a.cmp_precedence(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_rules() {
        assert_eq!(compare("v1.2.3", "1.2.3"), Some(Ordering::Equal));
        assert_eq!(compare("1.2", "1.2.0"), Some(Ordering::Equal));
        assert_eq!(compare("1.0.0-alpha", "1.0.0"), Some(Ordering::Less));
        assert_eq!(
            compare("1.0.0-alpha.1", "1.0.0-alpha.beta"),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare("1.0.0+build1", "1.0.0+build2"),
            Some(Ordering::Equal)
        );
        assert_eq!(compare("1.10.0", "1.9.0"), Some(Ordering::Greater));
        assert_eq!(compare("1.0.0.0", "1.0.0"), None);
        assert_eq!(compare("x", "1.0.0"), None);
    }
}
