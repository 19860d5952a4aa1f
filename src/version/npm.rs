//! node-semver's version order, for npm packages and the `SEMVER` ranges of OSV's `npm` records.
//!
//! Written from node-semver 7 (`classes/semver.js`, `internal/re.js`, `internal/identifiers.js`),
//! strict mode, the mode `semver.compare(a, b)` and npm's own version checks use, and checked
//! against the real `semver` package on thousands of published versions (`tests/matching.rs`,
//! `testdata/npm/semver-order.tsv`). Where node-semver differs from the `semver` crate:
//!
//! - a version is trimmed (JavaScript's whitespace) and may start with one lowercase `v`; at most
//!   256 characters; major, minor and patch at most `Number.MAX_SAFE_INTEGER`;
//! - numeric pre-release identifiers are compared as JavaScript numbers (IEEE doubles), so two
//!   digit runs beyond 2^53 that round to the same double compare equal, and a comparison of two
//!   unequal identifiers that compare equal as numbers ends the pre-release comparison there;
//! - build metadata is parsed and ignored by the order (`compare`, not `compareBuild`).
//!
//! OSV ranges over these versions (introduced/fixed/last_affected events) are a walk in this
//! order: a pre-release of a fixed version (`1.2.3-rc.1` < `1.2.3`) is affected, a version that
//! differs from an event only by build metadata equals it. That is not node-semver's *range*
//! syntax (`<1.2.3` there excludes pre-releases unless `includePrerelease`); OSV's walk, like
//! Trivy's npm comparer (which sets `includePrerelease`), orders pre-releases with the rest.

use std::cmp::Ordering;

/// node-semver's `MAX_LENGTH`.
pub const MAX_LENGTH: usize = 256;
/// `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A parsed npm version. Pre-release identifiers are kept as written; build metadata is dropped
/// (it plays no part in the order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpmVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub prerelease: Vec<String>,
}

fn is_numeric(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

/// `0|[1-9]\d*`, within `MAX_SAFE_INTEGER`.
fn main_part(s: &str) -> Option<u64> {
    if !is_numeric(s) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    // More than 16 digits is above 2^53 whatever they are.
    if s.len() > 16 {
        return None;
    }
    let n: u64 = s.parse().ok()?;
    (n <= MAX_SAFE_INTEGER).then_some(n)
}

/// A pre-release identifier: `0|[1-9]\d*` or `\d*[a-zA-Z-][a-zA-Z0-9-]*`.
fn valid_prerelease_id(id: &str) -> bool {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return false;
    }
    !is_numeric(id) || id == "0" || !id.starts_with('0')
}

/// A build identifier: `[0-9A-Za-z-]+` (leading zeros allowed).
fn valid_build_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Parse as `new SemVer(v)` does (strict): `None` where node-semver throws.
pub fn parse(v: &str) -> Option<NpmVersion> {
    if v.len() > MAX_LENGTH {
        return None;
    }
    // JavaScript's `trim` strips Unicode spaces and U+FEFF, but not U+0085 (which Rust counts).
    let v = v.trim_matches(|c: char| (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}');
    let v = v.strip_prefix('v').unwrap_or(v);
    // The main version ends at the first `-` or `+`; a `+` ends the pre-release.
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    if let Some(build) = build {
        if !build.split('.').all(valid_build_id) {
            return None;
        }
    }
    let (main, pre) = match rest.split_once('-') {
        Some((m, p)) => (m, Some(p)),
        None => (rest, None),
    };
    let mut parts = main.split('.');
    let major = main_part(parts.next()?)?;
    let minor = main_part(parts.next()?)?;
    let patch = main_part(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    let prerelease = match pre {
        None => Vec::new(),
        Some(p) => {
            let ids: Vec<&str> = p.split('.').collect();
            if !ids.iter().all(|id| valid_prerelease_id(id)) {
                return None;
            }
            ids.into_iter().map(str::to_string).collect()
        }
    };
    Some(NpmVersion {
        major,
        minor,
        patch,
        prerelease,
    })
}

/// JavaScript's `+"123"` for a digit run: the nearest double (Rust's float parsing rounds the same
/// way, to nearest, ties to even).
fn js_number(digits: &str) -> f64 {
    digits.parse::<f64>().unwrap_or(f64::INFINITY)
}

/// node-semver's `compareIdentifiers`: numbers numerically (as doubles), numbers before words,
/// words by UTF-16 code units (bytes, for these ASCII identifiers).
fn compare_identifiers(a: &str, b: &str) -> Ordering {
    match (is_numeric(a), is_numeric(b)) {
        (true, true) => js_number(a)
            .partial_cmp(&js_number(b))
            .unwrap_or(Ordering::Equal),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.as_bytes().cmp(b.as_bytes()),
    }
}

/// The value node-semver keeps for a parsed pre-release identifier: a number below
/// `MAX_SAFE_INTEGER`, else the string. Two identifiers are `===` when these are equal.
fn same_identifier(a: &str, b: &str) -> bool {
    let small = |s: &str| {
        is_numeric(s)
            .then(|| s.parse::<u64>().ok())
            .flatten()
            .filter(|n| *n < MAX_SAFE_INTEGER)
    };
    match (small(a), small(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a == b,
        _ => false,
    }
}

impl NpmVersion {
    /// `SemVer.compare` (build metadata ignored).
    pub fn compare(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| self.compare_pre(other))
    }

    /// `SemVer.comparePre`: no pre-release above any; else identifier by identifier, and the
    /// first pair that is not identical decides, even when it compares equal as numbers.
    fn compare_pre(&self, other: &Self) -> Ordering {
        let (a, b) = (&self.prerelease, &other.prerelease);
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            (false, false) => {}
        }
        let mut i = 0;
        loop {
            match (a.get(i), b.get(i)) {
                (None, None) => return Ordering::Equal,
                (Some(_), None) => return Ordering::Greater,
                (None, Some(_)) => return Ordering::Less,
                (Some(x), Some(y)) if same_identifier(x, y) => {}
                (Some(x), Some(y)) => return compare_identifiers(x, y),
            }
            i += 1;
        }
    }
}

/// `semver.compare(a, b)`; `None` when either is not a valid version (where node-semver throws).
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(parse(a)?.compare(&parse(b)?))
}

/// `semver.valid(v) !== null`.
pub fn is_valid(v: &str) -> bool {
    parse(v).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_semver_rules() {
        let lt = |a: &str, b: &str| {
            assert_eq!(compare(a, b), Some(Ordering::Less), "{a} < {b}");
            assert_eq!(compare(b, a), Some(Ordering::Greater), "{b} > {a}");
        };
        lt("1.0.0-alpha", "1.0.0-alpha.1");
        lt("1.0.0-alpha.1", "1.0.0-alpha.beta");
        lt("1.0.0-alpha.beta", "1.0.0-beta");
        lt("1.0.0-beta.2", "1.0.0-beta.11");
        lt("1.0.0-beta.11", "1.0.0-rc.1");
        lt("1.0.0-rc.1", "1.0.0");
        lt("1.0.0-9", "1.0.0-a");
        lt("1.0.0-Z", "1.0.0-a");
        lt("1.9.0", "1.10.0");
        lt("0.0.0-experimental-1", "0.0.0");
        assert_eq!(compare("v1.2.3", " 1.2.3 "), Some(Ordering::Equal));
        assert_eq!(compare("1.2.3+a", "1.2.3+b"), Some(Ordering::Equal));
        assert_eq!(compare("1.2.3-rc.1+x", "1.2.3-rc.1"), Some(Ordering::Equal));
        // Doubles: these two digit runs are the same number in JavaScript, and the comparison
        // stops at them.
        assert_eq!(
            compare("1.0.0-9007199254740993.2", "1.0.0-9007199254740992.1"),
            Some(Ordering::Equal)
        );
        for bad in [
            "1.2",
            "1",
            "1.2.3.4",
            "01.2.3",
            "1.2.3-01",
            "1.2.3-",
            "1.2.3-a..b",
            "1.2.3+",
            "=1.2.3",
            "V1.2.3",
            "vv1.2.3",
            "1.2.3 4",
            "9007199254740992.0.0",
            "",
            "x",
            "1.2.3-é",
        ] {
            assert!(!is_valid(bad), "{bad:?} should be invalid");
        }
        for good in [
            "9007199254740991.0.0",
            "1.2.3-0",
            "1.2.3-0a",
            "1.2.3-00a",
            "1.2.3+001",
            "1.2.3--",
            "1.2.3-a-b.c",
        ] {
            assert!(is_valid(good), "{good:?} should be valid");
        }
        assert!(!is_valid(&format!("1.2.3-{}", "a".repeat(300))));
    }
}
