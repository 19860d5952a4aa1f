//! PEP 440 order (PyPI) through `pep440_rs`.

use std::cmp::Ordering;

pub fn parse(v: &str) -> Option<pep440_rs::Version> {
    v.trim().parse::<pep440_rs::Version>().ok()
}

/// PEP 440 order; `None` when either version is not a valid PEP 440 version.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(parse(a)?.cmp(&parse(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep440_rules() {
        let lt = |a: &str, b: &str| {
            assert_eq!(compare(a, b), Some(Ordering::Less), "{a} < {b}");
            assert_eq!(compare(b, a), Some(Ordering::Greater), "{b} > {a}");
        };
        lt("1.0.dev1", "1.0a1");
        lt("1.0a1", "1.0b1");
        lt("1.0rc1", "1.0");
        lt("1.0", "1.0.post1");
        lt("1.0", "1.0+local");
        lt("1!0.1", "2!0.0");
        lt("2.9", "2.10");
        lt("0.9", "1!0.1");
        assert_eq!(compare("1.0", "1.0.0"), Some(Ordering::Equal));
        assert_eq!(compare("1.0RC1", "1.0rc1"), Some(Ordering::Equal));
        assert_eq!(compare("not a version", "1.0"), None);
    }
}
