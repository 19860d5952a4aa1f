//! rpm: the version order against the real `rpm`'s `rpm.vercmp`, and the database readers against
//! `rpm -qa --dbpath` on every database this machine's rpm can read (sqlite and Berkeley DB fixtures
//! built by `cargo xtask fixtures`, the real databases in `../shared/rpm/`). rpm has no ndb backend:
//! the ndb reader's headers are written into a sqlite database that rpm rebuilds and lists.

use crate::common::testdata;
use layerscan::analyzer::rpm::{self, RpmPackage};
use layerscan::version;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn have_rpm() -> bool {
    let ok = Command::new("rpm").arg("--version").output().is_ok();
    if !ok {
        eprintln!("skipped: rpm is not installed on this machine (apt-get install rpm)");
    }
    ok
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// Real version strings: every Debian version apt knows (thousands, with `~`, `+`, letters and
/// leading zeros; rpm orders any string) and the EVRs of the real rpm databases.
fn real_versions() -> Vec<String> {
    let mut set = BTreeSet::new();
    if let Ok(out) = Command::new("apt-cache").arg("dumpavail").output() {
        for l in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(v) = l.strip_prefix("Version: ") {
                set.insert(v.trim().to_string());
            }
        }
    }
    for db in [
        "../shared/rpm/Packages",
        "../shared/rpm/Packages.db",
        "testdata/fixtures/rpmdb/sqlite/rpmdb.sqlite",
    ] {
        let path = crate::common::root().join(db);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let name = format!(
            "var/lib/rpm/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        if let Ok(c) = rpm::read_db(&name, &bytes, None) {
            for p in c.packages {
                set.insert(p.evr());
                set.insert(p.release.clone());
            }
        }
    }
    for v in [
        "3.40.0-1.amzn2023.0.4",
        "3.40.0-1.amzn2023.0.10",
        "1:3.0.8-1.amzn2023.0.3",
        "2.32.1-42.el8_8",
        "2.32.1-42.el8",
        "1.2~rc1^git20230101-3.amzn2023",
        "1.2^git1",
        "1.2~~",
        "1.2^",
        "1.2~^",
        "0001.02",
        "1.0_1",
        "1.0+1",
        "a1.0",
        "1..0",
        "1.0.",
        "20230101",
    ] {
        set.insert(v.to_string());
    }
    set.into_iter()
        .filter(|v| !v.is_empty() && !v.contains(['\n', ']']))
        .collect()
}

/// Near-neighbour pairs from the characters rpm treats specially.
fn synthetic_pairs(n: usize) -> Vec<(String, String)> {
    const PIECES: &[&str] = &[
        "0", "1", "9", "10", "00", "01", ".", "_", "+", "~", "^", "a", "z", "B", "rc", "el8",
    ];
    let mut rng = Lcg(0x9e3);
    let piece = |rng: &mut Lcg, len: usize| {
        (0..len)
            .map(|_| PIECES[rng.next(PIECES.len())])
            .collect::<String>()
    };
    (0..n)
        .map(|_| {
            let base = format!("{}{}", rng.next(3), piece(&mut rng, 2));
            let side = |rng: &mut Lcg| {
                let epoch = ["", "", "", "1:", "0:", "01:"][rng.next(6)];
                let release = match rng.next(3) {
                    0 => String::new(),
                    _ => {
                        let len = 1 + rng.next(2);
                        format!("-{}", piece(rng, len))
                    }
                };
                let len = rng.next(3);
                let tail = piece(rng, len);
                format!("{epoch}{base}{tail}{release}")
            };
            (side(&mut rng), side(&mut rng))
        })
        .filter(|(a, b)| !a.ends_with('-') && !b.ends_with('-'))
        .collect()
}

/// `rpm.vercmp` on every pair, in one rpm process (a Lua file of long-bracket strings).
fn rpm_vercmp(pairs: &[(String, String)]) -> Vec<i32> {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("pairs.lua");
    let mut lua = String::new();
    for (a, b) in pairs {
        lua.push_str(&format!(
            "io.write(rpm.vercmp([==[{a}]==], [==[{b}]==]), '\\n')\n"
        ));
    }
    std::fs::write(&script, lua).unwrap();
    let out = Command::new("rpm")
        .arg("--eval")
        .arg(format!("%{{lua: dofile([==[{}]==])}}", script.display()))
        .output()
        .expect("rpm --eval");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().parse().expect("a number from rpm.vercmp"))
        .collect()
}

#[test]
fn rpm_order_agrees_with_rpm_vercmp() {
    if !have_rpm() {
        return;
    }
    let versions = real_versions();
    assert!(versions.len() > 40, "{} versions", versions.len());
    let mut rng = Lcg(0x5eed);
    let mut pairs = Vec::new();
    for _ in 0..3000 {
        let a = &versions[rng.next(versions.len())];
        let b = &versions[rng.next(versions.len())];
        pairs.push((a.clone(), b.clone()));
    }
    for w in versions.windows(2).step_by((versions.len() / 3000).max(1)) {
        pairs.push((w[0].clone(), w[1].clone()));
    }
    pairs.extend(synthetic_pairs(3000));
    // Spellings rpm treats as equal (or nearly): separators swapped, leading zeros, epoch 0.
    for v in versions.iter().step_by((versions.len() / 500).max(1)) {
        let respelled = v.replace('.', "_").replace("+", ".");
        let zeros = v.replace(".1", ".01");
        pairs.push((v.clone(), respelled));
        pairs.push((v.clone(), zeros));
        if !v.contains(':') {
            pairs.push((v.clone(), format!("0:{v}")));
        }
    }
    let answers = rpm_vercmp(&pairs);
    assert_eq!(answers.len(), pairs.len());
    let mut disagreements = Vec::new();
    let mut seen = [0usize; 3];
    for ((a, b), want) in pairs.iter().zip(&answers) {
        let want = want.cmp(&0);
        seen[(want as i32 + 1) as usize] += 1;
        let got = version::rpm::compare(a, b);
        if got != Some(want) {
            disagreements.push(format!("{a} vs {b}: rpm {want:?}, ours {got:?}"));
        }
    }
    eprintln!(
        "rpm oracle: {} pairs checked (less/equal/greater {seen:?})",
        pairs.len()
    );
    assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(30)].join("\n")
    );
}

/// `rpm -qa` of a database directory, as our packages would print, gpg-pubkey left out.
fn rpm_qa(dbpath: &Path, bdb: bool) -> Vec<String> {
    let mut cmd = Command::new("rpm");
    cmd.arg("--dbpath").arg(dbpath);
    if bdb {
        cmd.args(["--define", "_db_backend bdb_ro"]);
    }
    let out = cmd
        .args([
            "-qa",
            "--qf",
            "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SOURCERPM}|%{LICENSE}\\n",
        ])
        .output()
        .expect("rpm -qa");
    assert!(
        out.status.success(),
        "rpm -qa --dbpath {}: {}",
        dbpath.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("gpg-pubkey|"))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn ours(packages: &[RpmPackage]) -> Vec<String> {
    let mut lines: Vec<String> = packages
        .iter()
        .map(|p| {
            format!(
                "{}|{}|{}|{}|{}|{}|{}",
                p.name,
                p.epoch.map_or("(none)".to_string(), |e| e.to_string()),
                p.version,
                p.release,
                p.arch,
                p.source.as_ref().map_or("(none)".to_string(), |s| format!(
                    "{}-{}-{}.src.rpm",
                    s.name, s.version, s.release
                )),
                p.license.as_deref().unwrap_or("(none)"),
            )
        })
        .collect();
    lines.sort();
    lines
}

/// A copy of a database file in a fresh directory (rpm wants to lock and may write beside it).
fn copy_to_dbpath(file: &Path, name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(file, dir.path().join(name)).unwrap();
    dir
}

fn read(path: &Path, db_name: &str) -> rpm::DbContents {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rpm::read_db(&format!("var/lib/rpm/{db_name}"), &bytes, None).unwrap()
}

#[test]
fn sqlite_and_berkeley_db_fixtures_agree_with_rpm_qa() {
    let sqlite = testdata("fixtures/rpmdb/sqlite/rpmdb.sqlite");
    let ours_sqlite = read(&sqlite, "rpmdb.sqlite");
    assert!(
        ours_sqlite.warnings.is_empty(),
        "{:?}",
        ours_sqlite.warnings
    );
    let names: Vec<&str> = ours_sqlite
        .packages
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(!names.contains(&"gpg-pubkey"));
    let sqlite_lines = ours(&ours_sqlite.packages);
    // The same headers in every Berkeley DB variant.
    for rel in [
        "fixtures/rpmdb/bdb/Packages",
        "fixtures/rpmdb/bdb-be-512/Packages",
    ] {
        let c = read(&testdata(rel), "Packages");
        assert!(c.warnings.is_empty(), "{rel}: {:?}", c.warnings);
        assert_eq!(ours(&c.packages), sqlite_lines, "{rel}");
    }
    if !have_rpm() {
        return;
    }
    let dir = copy_to_dbpath(&sqlite, "rpmdb.sqlite");
    assert_eq!(rpm_qa(dir.path(), false), sqlite_lines);
    for rel in [
        "fixtures/rpmdb/bdb/Packages",
        "fixtures/rpmdb/bdb-be-512/Packages",
    ] {
        let dir = copy_to_dbpath(&testdata(rel), "Packages");
        assert_eq!(rpm_qa(dir.path(), true), sqlite_lines, "{rel}");
    }
}

fn shared(name: &str) -> Option<PathBuf> {
    let p = crate::common::root().join("../shared/rpm").join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} is not present", p.display());
        None
    }
}

#[test]
fn real_berkeley_db_with_overflow_pages_agrees_with_rpm_qa() {
    let Some(path) = shared("Packages") else {
        return;
    };
    let c = read(&path, "Packages");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        ours(&c.packages),
        ["libuuid|(none)|2.32.1|42.el8_8|x86_64|util-linux-2.32.1-42.el8_8.src.rpm|BSD"]
    );
    if have_rpm() {
        let dir = copy_to_dbpath(&path, "Packages");
        assert_eq!(rpm_qa(dir.path(), true), ours(&c.packages));
    }
}

#[test]
fn real_ndb_headers_agree_with_rpm_qa() {
    let Some(path) = shared("Packages.db") else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let c = rpm::read_db("usr/lib/sysimage/rpm/Packages.db", &bytes, None).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.packages.len() > 20, "{}", c.packages.len());
    assert!(c.packages.iter().any(|p| p.name == "glibc"));
    if !have_rpm() {
        return;
    }
    // rpm has no ndb backend: give it the blobs our ndb reader found as a sqlite database.
    let blobs = rpm::ndb::header_blobs(&bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("rpmdb.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)",
    )
    .unwrap();
    for (hnum, blob) in blobs {
        conn.execute(
            "INSERT INTO Packages VALUES (?1, ?2)",
            rusqlite::params![hnum as i64, blob.unwrap()],
        )
        .unwrap();
    }
    drop(conn);
    let rebuilt = Command::new("rpm")
        .arg("--dbpath")
        .arg(dir.path())
        .arg("--rebuilddb")
        .output()
        .unwrap();
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    assert_eq!(rpm_qa(dir.path(), false), ours(&c.packages));
}

#[test]
fn truncated_and_garbage_databases_are_errors_naming_the_file() {
    let sqlite = std::fs::read(testdata("fixtures/rpmdb/sqlite/rpmdb.sqlite")).unwrap();
    let bdb = std::fs::read(testdata("fixtures/rpmdb/bdb/Packages")).unwrap();
    for (name, bytes) in [("rpmdb.sqlite", &sqlite), ("Packages", &bdb)] {
        let path = format!("var/lib/rpm/{name}");
        for cut in [0, 10, 100, bytes.len() / 2, bytes.len() - 1] {
            match rpm::read_db(&path, &bytes[..cut], None) {
                Err(e) => assert!(e.starts_with(&path), "{e}"),
                // A cut that leaves whole pages may still be readable; what it lists is real.
                Ok(c) => assert!(c.packages.len() <= 5),
            }
        }
        let garbage: Vec<u8> = (0..bytes.len()).map(|i| (i * 31 % 251) as u8).collect();
        assert!(rpm::read_db(&path, &garbage, None).is_err());
    }
    // A version compare on what the ALAS records use.
    assert_eq!(
        version::rpm::compare("3.40.0-1.amzn2023.0.3", "3.40.0-1.amzn2023.0.4"),
        Some(Ordering::Less)
    );
}
