//! dpkg version order (Debian, Ubuntu), written from dpkg's own `verrevcmp` rules
//! (lib/dpkg/version.c) and checked against `dpkg --compare-versions` on real version strings
//! (tests/matching.rs). The `debversion` crate was dropped: it ordered `3.1.2+dfsg-3` below
//! `3.1.2+dfsg0-1`, where dpkg treats an empty digit run as zero and so compares the revisions.

use std::cmp::Ordering;

/// A parsed dpkg version: `[epoch:]upstream[-revision]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebVersion {
    pub epoch: u64,
    pub upstream: String,
    pub revision: String,
}

impl Ord for DebVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(&self.upstream, &other.upstream))
            .then_with(|| verrevcmp(&self.revision, &other.revision))
    }
}

impl PartialOrd for DebVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Parse a dpkg version with dpkg's own syntax rules (`parseversion`): a numeric epoch, an
/// upstream part that starts with a digit and holds only alphanumerics and `.+~-:`, and a revision
/// (after the last `-`) of alphanumerics and `.+~`. `None` for anything dpkg would reject.
pub fn parse(v: &str) -> Option<DebVersion> {
    let v = v.trim();
    if v.is_empty() || v.contains(char::is_whitespace) {
        return None;
    }
    let (epoch, rest) = match v.split_once(':') {
        Some((epoch, rest)) => {
            if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) || epoch.len() > 9 {
                return None;
            }
            (epoch.parse::<u64>().ok()?, rest)
        }
        None => (0, v),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, r),
        None => (rest, ""),
    };
    if upstream.is_empty() || !upstream.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    if rest.ends_with('-') {
        return None;
    }
    let upstream_ok = upstream
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".+~-:".contains(&b));
    let revision_ok = revision
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".+~".contains(&b));
    if !upstream_ok || !revision_ok {
        return None;
    }
    Some(DebVersion {
        epoch,
        upstream: upstream.to_string(),
        revision: revision.to_string(),
    })
}

/// dpkg's character weight: digits 0 (never reached in the non-digit loop), letters their ASCII
/// value, `~` below everything including the end of the string, other symbols after letters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternate non-digit runs (compared by `order`) and digit runs (compared
/// numerically, any length, an empty run counting as zero).
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
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
        // An empty digit run is zero: the upstream parts are equal and the revision decides.
        lt("3.1.2+dfsg0-1", "3.1.2+dfsg-3");
        assert_eq!(compare("1.0dfsg", "1.0dfsg0"), Some(Ordering::Equal));
        lt("1.0~~", "1.0~~a");
        lt("1.0~~a", "1.0~");
        lt("1.0-1", "1.0-1.1");
        lt("1.2-3-4", "1.2-3-5");
        lt("1.0-0001", "1.0-2");
        lt("99999999999999999999999", "100000000000000000000000");
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
