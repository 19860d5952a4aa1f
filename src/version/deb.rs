//! dpkg version order (Debian, Ubuntu) through `debversion`, with dpkg's own parsing rules checked
//! first so that strings dpkg rejects are reported as unparsable instead of being ordered by guess.

use std::cmp::Ordering;

/// Parse a dpkg version: `[epoch:]upstream[-revision]`.
pub fn parse(v: &str) -> Option<debversion::Version> {
    let v = v.trim();
    if v.is_empty() || v.contains(char::is_whitespace) {
        return None;
    }
    // dpkg requires the upstream part to start with a digit (it warns otherwise; OSV data and
    // real status files always follow it), and the epoch to be a number.
    let upstream = match v.split_once(':') {
        Some((epoch, rest)) => {
            if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) || epoch.len() > 9 {
                return None;
            }
            rest
        }
        None => v,
    };
    if !upstream.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<debversion::Version>()
        .or_else(|_| debversion::Version::parse_lenient(v))
        .ok()
}

/// dpkg order; `None` when either version does not parse.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(parse(a)?.cmp(&parse(b)?))
}

/// The source version a binary version was built from when the binary carries a binNMU suffix
/// (`1.0.8-5+b1` → `1.0.8-5`). Other versions are returned unchanged.
pub fn strip_binnmu(v: &str) -> &str {
    if let Some(idx) = v.rfind("+b") {
        let tail = &v[idx + 2..];
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            return &v[..idx];
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_rules() {
        let lt = |a: &str, b: &str| {
            assert_eq!(compare(a, b), Some(Ordering::Less), "{a} < {b}");
            assert_eq!(compare(b, a), Some(Ordering::Greater), "{b} > {a}");
        };
        lt("1.0~rc1", "1.0");
        lt("1.0", "1.0+b1");
        lt("1.0-1", "1.0-1+deb12u1");
        lt("2.38.1-5+deb12u2", "2.38.1-5+deb12u3");
        lt("9.9", "1:0.1");
        lt("1.0-1~bpo12+1", "1.0-1");
        lt("1.0a", "1.0+");
        lt("1.9", "1.10");
        assert_eq!(compare("1.0", "1.0-0"), Some(Ordering::Equal));
        assert_eq!(compare("0:1.0", "1.0"), Some(Ordering::Equal));
        for bad in ["", "a1.0", "x:1.0", ":1.0", "1.0 2", "1.0-1-(x)"] {
            assert_eq!(compare(bad, "1.0"), None, "{bad:?}");
        }
    }

    #[test]
    fn binnmu() {
        assert_eq!(strip_binnmu("1.0.8-5+b1"), "1.0.8-5");
        assert_eq!(strip_binnmu("1.0.8-5+b12"), "1.0.8-5");
        assert_eq!(strip_binnmu("1.0.8-5+deb12u1"), "1.0.8-5+deb12u1");
        assert_eq!(strip_binnmu("1.0+b"), "1.0+b");
    }
}
