//! Alpine (apk-tools) version order, written from apk-tools' rules because no crate implements it.
//!
//! Grammar: `digits{.digits}...{letter}{_suffix{digits}}...{~hash}{-rN}`.
//! - Numeric components compare as numbers, except that a non-initial component with a leading zero
//!   compares as a string against its peer (Gentoo's rule: `1.05` < `1.5`, `1.01` < `1.1`).
//! - One lowercase letter may follow the numbers (`1.2a` > `1.2`).
//! - Suffixes `_alpha`, `_beta`, `_pre`, `_rc` are pre-releases (lower than no suffix); `_cvs`,
//!   `_svn`, `_git`, `_hg`, `_p` are post-releases (higher). Each may carry a number.
//! - `~<hex>` commit hash (apk-tools 3), compared as a string.
//! - `-rN` is the package revision.
//!
//! When the common prefix of two versions is equal, the one that stops earlier is lower unless the
//! longer one continues with a pre-release suffix. An invalid remainder sorts lowest, as in apk.

use std::cmp::Ordering;

/// Token kinds in the order apk uses to decide "which one stops earlier".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix ranks: pre-releases below `None`, post-releases above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Suffix {
    Alpha,
    Beta,
    Pre,
    Rc,
    None,
    Cvs,
    Svn,
    Git,
    Hg,
    P,
}

fn suffix_rank(s: &str) -> Option<Suffix> {
    Some(match s {
        "alpha" => Suffix::Alpha,
        "beta" => Suffix::Beta,
        "pre" => Suffix::Pre,
        "rc" => Suffix::Rc,
        "cvs" => Suffix::Cvs,
        "svn" => Suffix::Svn,
        "git" => Suffix::Git,
        "hg" => Suffix::Hg,
        "p" => Suffix::P,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    suffix: Suffix,
}

struct Lexer<'a> {
    rest: &'a str,
    last: Kind,
    started: bool,
}

fn take_while(s: &str, f: impl Fn(u8) -> bool) -> (&str, &str) {
    let n = s.bytes().take_while(|b| f(*b)).count();
    s.split_at(n)
}

impl<'a> Lexer<'a> {
    fn new(s: &'a str) -> Self {
        Lexer {
            rest: s,
            last: Kind::InitialDigit,
            started: false,
        }
    }

    fn token(&mut self, kind: Kind, text: &'a str) -> Token<'a> {
        self.last = kind;
        Token {
            kind,
            text,
            suffix: Suffix::None,
        }
    }

    fn invalid(&mut self) -> Token<'a> {
        self.rest = "";
        self.token(Kind::Invalid, "")
    }

    fn next_token(&mut self) -> Token<'a> {
        if !self.started {
            self.started = true;
            let (digits, rest) = take_while(self.rest, |b| b.is_ascii_digit());
            self.rest = rest;
            if digits.is_empty() {
                return self.invalid();
            }
            return self.token(Kind::InitialDigit, digits);
        }
        if matches!(self.last, Kind::End | Kind::Invalid) {
            return self.token(self.last, "");
        }
        let Some(&first) = self.rest.as_bytes().first() else {
            return self.token(Kind::End, "");
        };
        match first {
            b'a'..=b'z' => {
                if self.last > Kind::Digit {
                    return self.invalid();
                }
                let (letter, rest) = self.rest.split_at(1);
                self.rest = rest;
                self.token(Kind::Letter, letter)
            }
            b'.' | b'0'..=b'9' => {
                if first == b'.' {
                    if self.last > Kind::Digit {
                        return self.invalid();
                    }
                    self.rest = &self.rest[1..];
                }
                let (digits, rest) = take_while(self.rest, |b| b.is_ascii_digit());
                self.rest = rest;
                let kind = match self.last {
                    Kind::Suffix => Kind::SuffixNo,
                    Kind::InitialDigit | Kind::Digit => Kind::Digit,
                    _ => return self.invalid(),
                };
                if digits.is_empty() {
                    return self.invalid();
                }
                self.token(kind, digits)
            }
            b'_' => {
                if self.last > Kind::SuffixNo {
                    return self.invalid();
                }
                let (name, rest) = take_while(&self.rest[1..], |b| b.is_ascii_lowercase());
                self.rest = rest;
                match suffix_rank(name) {
                    Some(rank) => {
                        let mut t = self.token(Kind::Suffix, name);
                        t.suffix = rank;
                        t
                    }
                    None => self.invalid(),
                }
            }
            b'~' => {
                if self.last >= Kind::CommitHash {
                    return self.invalid();
                }
                let (hash, rest) = take_while(&self.rest[1..], |b| b.is_ascii_hexdigit());
                self.rest = rest;
                if hash.is_empty() {
                    return self.invalid();
                }
                self.token(Kind::CommitHash, hash)
            }
            b'-' => {
                if self.last >= Kind::RevisionNo || !self.rest.starts_with("-r") {
                    return self.invalid();
                }
                let (digits, rest) = take_while(&self.rest[2..], |b| b.is_ascii_digit());
                self.rest = rest;
                if digits.is_empty() {
                    return self.invalid();
                }
                self.token(Kind::RevisionNo, digits)
            }
            _ => self.invalid(),
        }
    }
}

/// Compare two runs of ASCII digits as numbers of any length.
fn cmp_numeric(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn cmp_token(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        Kind::Digit if a.text.starts_with('0') || b.text.starts_with('0') => a.text.cmp(b.text),
        Kind::InitialDigit | Kind::Digit | Kind::SuffixNo | Kind::RevisionNo => {
            cmp_numeric(a.text, b.text)
        }
        Kind::Suffix => a.suffix.cmp(&b.suffix),
        _ => a.text.cmp(b.text),
    }
}

/// Is `v` a valid apk version?
pub fn is_valid(v: &str) -> bool {
    let mut lx = Lexer::new(v);
    loop {
        match lx.next_token().kind {
            Kind::End => return true,
            Kind::Invalid => return false,
            _ => {}
        }
    }
}

/// apk's total order, invalid versions included (an invalid remainder sorts below a valid one).
pub fn compare_lenient(a: &str, b: &str) -> Ordering {
    let mut la = Lexer::new(a);
    let mut lb = Lexer::new(b);
    loop {
        let ta = la.next_token();
        let tb = lb.next_token();
        if ta.kind != tb.kind {
            // The common prefix is equal; decide by what follows.
            if ta.kind == Kind::Suffix && ta.suffix < Suffix::None {
                return Ordering::Less;
            }
            if tb.kind == Kind::Suffix && tb.suffix < Suffix::None {
                return Ordering::Greater;
            }
            // The version whose next token kind is "later" stopped earlier: it is lower.
            return tb.kind.cmp(&ta.kind);
        }
        if matches!(ta.kind, Kind::End | Kind::Invalid) {
            return Ordering::Equal;
        }
        match cmp_token(&ta, &tb) {
            Ordering::Equal => {}
            other => return other,
        }
    }
}

/// apk order; `None` when either version is not a valid apk version.
pub fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (a.trim(), b.trim());
    if !is_valid(a) || !is_valid(b) {
        return None;
    }
    Some(compare_lenient(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors derived from apk-tools' rules (and checked against the cases its test suite covers).
    const VECTORS: &[(&str, char, &str)] = &[
        ("1.0", '=', "1.0"),
        ("1.0", '<', "1.1"),
        ("1.0", '<', "1.0.0"),
        ("1.0.0", '<', "1.0.1"),
        ("1.9", '<', "1.10"),
        ("2.34", '>', "0.1.0_alpha"),
        ("0.1.0_alpha", '=', "0.1.0_alpha"),
        ("0.1.0_alpha", '<', "0.1.3_alpha"),
        ("0.1.0_alpha2", '>', "0.1.0_alpha"),
        ("0.1.0_alpha", '<', "2.2.39-r1"),
        ("1.0.4-r3", '<', "1.0.4-r4"),
        ("1.1", '>', "1.1_alpha1"),
        ("1.2", '<', "1.3_alpha"),
        ("1.3_alpha2", '<', "1.3_alpha3"),
        ("0.7.0", '<', "0.8_beta1"),
        ("0.8_beta1", '<', "0.8_beta2"),
        ("2.3.0b-r1", '<', "2.3.0b-r2"),
        ("3.10.18-r1", '>', "2.3.0b-r1"),
        ("0.12.3", '>', "0.12"),
        ("1.2.11", '<', "1.2.12.1"),
        ("3.1_p16", '<', "3.1_p17"),
        ("1.06-r6", '<', "006"),
        ("006", '>', "1.0.0"),
        ("1.2.2-r1", '>', "1.2.2"),
        ("20050718-r1", '<', "20050718-r2"),
        ("2.01.01_alpha10", '>', "0.94"),
        ("1.0", '>', "0.99.3.20040818"),
        ("1.39", '>', "1.00_beta2"),
        ("1.02", '<', "1.03-r1"),
        ("4.2.52_p2-r1", '<', "4.2.52_p4-r2"),
        ("1.02.07", '<', "1.02.10-r1"),
        ("20060720", '>', "3.0.20060720"),
        ("2.5.1-r8", '<', "2.5.1a-r1"),
        ("2.0.0_rc3-r1", '>', "1.5"),
        ("3.0.0-r2", '<', "021109-r3"),
        ("3.9_pre20060124", '>', "0.01"),
        ("0.01", '<', "0.06"),
        ("6b-r7", '>', "1.12-r7"),
        ("0.10.0", '<', "0.10.1_rc1"),
        ("1.1a", '<', "1.3a"),
        ("0.15.1b", '<', "0.15.1b-r2"),
        ("22.7-r1", '<', "22.7.3-r1"),
        ("2.1_pre20", '<', "2.1_pre26"),
        ("2.10.1", '>', "02.08.01b"),
        ("1.6d", '>', "1.2.07.8"),
        ("1.2.07.8", '<', "1.2.12.04"),
        ("1.2.12.04", '<', "1.2.12.05"),
        ("0.1_pre20060810", '<', "0.1_pre20060817"),
        ("0.59s-r11", '<', "0.65"),
        ("0.20070118", '<', "0.20070207_rc1"),
        ("4.3_p2-r1", '<', "4.3_p2-r5"),
        ("4.5_p1", '<', "4.5_p1-r1"),
        ("0.9.8c-r1", '<', "0.9.8d"),
        ("013", '<', "014-r1"),
        ("1.7", '<', "1.7b"),
        ("1.8.5", '<', "1.8.5_p2"),
        ("2.9.11_pre20051101-r3", '>', "2.9.11_pre20051101"),
        ("1.6.8_p12-r1", '>', "1.6.8_p9-r2"),
        ("0.9.28.1", '<', "087-r1"),
        ("104-r11", '>', "104-r9"),
        ("1.2.5_rc2", '>', "0.1"),
        ("2.12r-r4", '<', "2.12r-r5"),
        ("7.0.17", '<', "7.0.174"),
        ("1.3-r0", '<', "1.3.1-r0"),
        ("1.3_pre1-r1", '<', "1.3.2"),
        ("1.0_p10-r0", '>', "1.0_p9-r0"),
        ("0.1.0_alpha_pre2", '<', "0.1.0_alpha"),
        (
            "1.0.0_pre20191002222144-r0",
            '<',
            "1.0.0_pre20210530193627-r0",
        ),
        // Pre-release suffixes in order, all below the release, post-releases above it.
        ("1.0_alpha", '<', "1.0_beta"),
        ("1.0_beta", '<', "1.0_pre"),
        ("1.0_pre", '<', "1.0_rc"),
        ("1.0_rc", '<', "1.0"),
        ("1.0_rc9", '<', "1.0"),
        ("1.0", '<', "1.0_cvs"),
        ("1.0_cvs", '<', "1.0_svn"),
        ("1.0_svn", '<', "1.0_git"),
        ("1.0_git", '<', "1.0_hg"),
        ("1.0_hg", '<', "1.0_p"),
        ("1.0_p1", '<', "1.0_p2"),
        ("1.0_p", '<', "1.0_p0"),
        ("1.0_rc1", '<', "1.0_rc1-r1"),
        ("1.0-r1", '<', "1.0_p1"),
        ("1.0_rc1-r5", '<', "1.0-r0"),
        ("1.0", '<', "1.0-r0"),
        ("1.0-r9", '<', "1.0-r10"),
        ("1.0-r10", '<', "1.0a"),
        ("1.0a", '<', "1.0b"),
        ("1.0z", '<', "1.0.1"),
        ("1.0a_rc1", '<', "1.0a"),
        ("1.0a", '<', "1.0a_p1"),
        ("1.0_rc1", '>', "1.0_alpha9"),
        // Leading zeros compare as strings after the first component.
        ("1.01", '<', "1.1"),
        ("1.05", '<', "1.5"),
        ("1.010", '<', "1.09"),
        ("1.001", '<', "1.01"),
        ("1.0", '<', "1.00"),
        ("01", '=', "1"),
        ("1.10", '>', "1.010"),
        // Long numbers do not overflow.
        (
            "1.99999999999999999999999",
            '<',
            "1.100000000000000000000000",
        ),
        ("1.0-r99999999999999999999", '>', "1.0-r9"),
        // Commit hashes (apk-tools 3).
        ("1.0~abc", '<', "1.0~abd"),
        ("1.0~abc-r1", '>', "1.0~abc-r0"),
        ("1.0", '<', "1.0~abc"),
        // Real Alpine package versions.
        ("3.1.4-r5", '<', "3.1.4-r6"),
        ("3.3.1-r0", '>', "3.1.4-r6"),
        ("1.36.1-r29", '<', "1.36.1-r30"),
        ("8.9.1-r1", '<', "8.10.1-r0"),
        ("2.40_rc1-r0", '<', "2.40-r0"),
        ("9.6_p1-r0", '<', "9.7_p1-r4"),
        ("9.7_p1-r4", '>', "9.7-r4"),
        ("1.2.5-r0", '<', "1.2.5-r1"),
        ("2024a-r0", '<', "2024b-r0"),
        ("20240705-r0", '>', "20240226-r0"),
        ("1.1.1w-r1", '>', "1.1.1v-r0"),
        ("3.0.15-r0", '<', "3.3.2-r0"),
    ];

    fn expect(op: char) -> Ordering {
        match op {
            '<' => Ordering::Less,
            '>' => Ordering::Greater,
            _ => Ordering::Equal,
        }
    }

    #[test]
    fn vectors_hold_both_ways() {
        for (a, op, b) in VECTORS {
            let want = expect(*op);
            assert_eq!(compare(a, b), Some(want), "{a} {op} {b}");
            assert_eq!(compare(b, a), Some(want.reverse()), "{b} vs {a}");
            assert_eq!(compare(a, a), Some(Ordering::Equal), "{a} = {a}");
        }
    }

    /// A chain in ascending apk order: every pair (i, j) must compare as i vs j, which gives
    /// a few thousand vectors from one list.
    const CHAIN: &[&str] = &[
        "0.1",
        "0.9_alpha",
        "0.9",
        "0.9-r1",
        "0.10",
        "1",
        "1.0_alpha",
        "1.0_alpha1",
        "1.0_alpha2",
        "1.0_alpha2_p1",
        "1.0_beta",
        "1.0_beta1-r3",
        "1.0_pre1",
        "1.0_rc1",
        "1.0_rc1_p1",
        "1.0_rc2",
        "1.0",
        "1.0-r1",
        "1.0-r2",
        "1.0-r10",
        "1.0_cvs20200101",
        "1.0_svn",
        "1.0_git20240101",
        "1.0_hg1",
        "1.0_p1",
        "1.0_p1-r1",
        "1.0_p2",
        "1.0_p10",
        "1.0a",
        "1.0a_p1",
        "1.0b",
        "1.0z",
        "1.0.0",
        "1.0.0.0",
        "1.0.1_rc1",
        "1.0.1",
        "1.0.9",
        "1.0.10",
        "1.01",
        "1.010",
        "1.1",
        "1.1.0",
        "1.2",
        "1.9",
        "1.10_alpha",
        "1.10",
        "1.100",
        "2",
        "2.0_rc1",
        "2.0",
        "10",
        "20240101",
    ];

    #[test]
    fn chain_is_ascending_in_every_pair() {
        for (i, a) in CHAIN.iter().enumerate() {
            for (j, b) in CHAIN.iter().enumerate() {
                assert_eq!(compare(a, b), Some(i.cmp(&j)), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn invalid_versions() {
        for bad in [
            "",
            "a1.0",
            "1.0-foo",
            "1.0_foo",
            "1.0ab",
            "1.0a.1",
            "1.0-r",
            "1.0-r1-r2",
            "1..0",
            "1.0_rc1a",
            "1.0-r1_p1",
            "1.0.",
            "1.0_",
            "v1.0",
            "1.0 beta",
            "1.0-r1~abc",
            "1.0~",
            "1.0A",
        ] {
            assert!(!is_valid(bad), "{bad:?} must be invalid");
            assert_eq!(compare(bad, "1.0"), None, "{bad:?}");
        }
        for good in [
            "1",
            "1.0a",
            "1.0_rc1_p2",
            "1.0_p-r3",
            "0",
            "1.0~deadbeef-r2",
        ] {
            assert!(is_valid(good), "{good:?} must be valid");
        }
    }

    #[test]
    fn invalid_tail_sorts_below_as_in_apk() {
        assert_eq!(compare_lenient("1.0-foo", "1.0"), Ordering::Less);
        assert_eq!(compare_lenient("1.0", "1.0bc"), Ordering::Less);
        assert_eq!(compare_lenient("1.1-foo", "1.0"), Ordering::Greater);
        assert_eq!(compare_lenient("23_foo", "4_beta"), Ordering::Greater);
        assert_eq!(compare("23_foo", "4_beta"), None);
    }

    proptest::proptest! {
        #[test]
        fn order_is_consistent(a in version_strategy(), b in version_strategy(), c in version_strategy()) {
            let ab = compare_lenient(&a, &b);
            proptest::prop_assert_eq!(ab, compare_lenient(&b, &a).reverse());
            let bc = compare_lenient(&b, &c);
            let ac = compare_lenient(&a, &c);
            if ab != Ordering::Greater && bc != Ordering::Greater {
                proptest::prop_assert_ne!(ac, Ordering::Greater, "{} <= {} <= {}", a, b, c);
            }
        }
    }

    fn version_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::string::string_regex(
            "[0-9]{1,2}(\\.0?[0-9]{1,2}){0,3}[a-c]?(_(alpha|beta|pre|rc|p|git)[0-9]?){0,2}(-r[0-9])?",
        )
        .expect("valid regex")
    }
}
