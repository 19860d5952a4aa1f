//! rpm version order (Amazon Linux, RHEL and its rebuilds, Fedora, SUSE), written from rpm's own
//! `rpmvercmp` (rpmio/rpmvercmp.c) and `rpmverCmp`/`parseEVR` (lib/rpmver.c, rpm 4.18) and checked
//! against the real `rpm`'s `rpm.vercmp` on thousands of EVR pairs (tests/matching.rs).
//!
//! An EVR is `[epoch:]version[-release]`: a missing epoch is 0; with equal versions, an EVR with a
//! release sorts after one without (as `rpm.vercmp` does: `1.0` < `1.0-1`).

use std::cmp::Ordering;

/// A split `[epoch:]version[-release]`, borrowing from the string it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evr<'a> {
    /// The digits before `:`; `None` when there is no epoch (compared as `0`).
    pub epoch: Option<&'a str>,
    pub version: &'a str,
    pub release: Option<&'a str>,
}

/// Split an EVR as rpm's `parseEVR` does: the epoch is the leading digits when a `:` follows them,
/// the release is what follows the last `-` after that. `None` for an empty or whitespace-holding
/// string (rpm refuses an empty one; whitespace never appears in a real EVR).
pub fn parse(evr: &str) -> Option<Evr<'_>> {
    let evr = c_string(evr);
    if evr.is_empty()
        || evr
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return None;
    }
    let digits = evr.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &evr[digits..];
    let (epoch, version_release) = match rest.strip_prefix(':') {
        Some(after) => (Some(if digits == 0 { "0" } else { &evr[..digits] }), after),
        None => (None, evr),
    };
    // rpm searches for the last `-` from the end of the epoch digits, which is the same as searching
    // the part after the epoch unless there was no `:` (then it is the whole string).
    let (version, release) = match version_release.rfind('-') {
        Some(i) => (&version_release[..i], Some(&version_release[i + 1..])),
        None => (version_release, None),
    };
    Some(Evr {
        epoch,
        version,
        release,
    })
}

/// C strings end at the first NUL; rpm never sees what follows one.
fn c_string(s: &str) -> &str {
    match s.find('\0') {
        Some(i) => &s[..i],
        None => s,
    }
}

/// Compare two EVRs as `rpm.vercmp` does. `None` when either is unparsable.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(compare_evr(&parse(a)?, &parse(b)?))
}

/// rpm's `rpmverCmp`: epoch, then version, then release (a missing release sorts first).
pub fn compare_evr(a: &Evr<'_>, b: &Evr<'_>) -> Ordering {
    rpmvercmp(a.epoch.unwrap_or("0"), b.epoch.unwrap_or("0"))
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        })
}

/// Is `v` a version rpm can compare?
pub fn is_valid(v: &str) -> bool {
    parse(v).is_some()
}

/// `[epoch:]version-release` as Trivy and `rpm -q --qf '%{EVR}'` write it: the epoch only when set.
pub fn format_evr(epoch: Option<u32>, version: &str, release: &str) -> String {
    let mut out = String::with_capacity(version.len() + release.len() + 4);
    if let Some(e) = epoch {
        out.push_str(&e.to_string());
        out.push(':');
    }
    out.push_str(version);
    if !release.is_empty() {
        out.push('-');
        out.push_str(release);
    }
    out
}

/// rpm's `rpmvercmp` on one version or release string. ASCII letters and digits form segments;
/// every other byte except `~` and `^` separates them. `~` sorts before anything, even the end of
/// the string; `^` sorts after the end of the string but before anything else.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (c_string(a).as_bytes(), c_string(b).as_bytes());
    if a == b {
        return Ordering::Equal;
    }
    let (mut i, mut j) = (0usize, 0usize);
    let at = |s: &[u8], k: usize| s.get(k).copied();
    let is_sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && is_sep(a[i]) {
            i += 1;
        }
        while j < b.len() && is_sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (at(a, i), at(b, j));
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let end_a = i + a[i..].iter().take_while(|c| class(c)).count();
        let end_b = j + b[j..].iter().take_while(|c| class(c)).count();
        let (mut seg_a, mut seg_b) = (&a[i..end_a], &b[j..end_b]);
        // `b` has a segment of the other kind here: a number is newer than letters.
        if seg_b.is_empty() {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if numeric {
            while seg_a.first() == Some(&b'0') {
                seg_a = &seg_a[1..];
            }
            while seg_b.first() == Some(&b'0') {
                seg_b = &seg_b[1..];
            }
            match seg_a.len().cmp(&seg_b.len()) {
                Ordering::Equal => {}
                longer => return longer,
            }
        }
        match seg_a.cmp(seg_b) {
            Ordering::Equal => {}
            other => return other,
        }
        i = end_a;
        j = end_b;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn rpmvercmp_cases_from_rpm_testsuite() {
        // A selection of rpm's tests/rpmvercmp.at.
        let cases: &[(&str, &str, Ordering)] = &[
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("1.0aa", "1.0a", Greater),
            ("2_0", "2_0", Equal),
            ("2.0", "2_0", Equal),
            ("a+", "a_", Equal),
            ("+a", "_a", Equal),
            ("+_", "_+", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("001", "1", Equal),
            ("1.002", "1.2", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), *want, "rpmvercmp({a:?}, {b:?})");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "rpmvercmp({b:?}, {a:?})");
        }
    }

    #[test]
    fn evr_parse_and_compare() {
        assert_eq!(
            parse("2:1.0-3.amzn2023"),
            Some(Evr {
                epoch: Some("2"),
                version: "1.0",
                release: Some("3.amzn2023")
            })
        );
        assert_eq!(parse(":1.0").map(|e| e.epoch), Some(Some("0")));
        assert_eq!(parse("a:1").map(|e| e.version), Some("a:1"));
        assert_eq!(parse(""), None);
        assert_eq!(parse("1 0"), None);
        assert_eq!(compare("1:1.0-1", "2.0-1"), Some(Greater));
        assert_eq!(compare("0:1.0-1", "1.0-1"), Some(Equal));
        assert_eq!(compare("1.0", "1.0-5"), Some(Less));
        assert_eq!(compare("1.0-1", "1.0-2"), Some(Less));
        assert_eq!(
            compare("3.40.0-1.amzn2023.0.3", "3.40.0-1.amzn2023.0.4"),
            Some(Less)
        );
        assert_eq!(format_evr(None, "1.0", "2"), "1.0-2");
        assert_eq!(format_evr(Some(1), "1.0", "2"), "1:1.0-2");
    }

    proptest::proptest! {
        #[test]
        fn antisymmetric(a in "[0-9a-z.~^_+-]{0,12}", b in "[0-9a-z.~^_+-]{0,12}") {
            proptest::prop_assert_eq!(rpmvercmp(&a, &b), rpmvercmp(&b, &a).reverse());
        }
    }
}
