//! Fuzzing in the tree: one harness per parser of untrusted input, driven by a small mutation
//! engine over real inputs from `testdata/` (byte flips, truncations, splices, repeated chunks,
//! interesting bytes). `cargo fuzz` needs a nightly toolchain; this runs on stable, in the normal
//! tests for a short budget and with `cargo xtask fuzz --minutes N` for long runs.
//!
//! Each case must not panic, must finish within [`MAX_CASE_TIME`], and its output (what the parser
//! returns, rendered with `Debug`) must stay within [`output_bound`] of the input's size: a report
//! grows with what is in the input, not with how hostile it is.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One case may take this long (a debug build on a busy machine) before it is a finding.
pub const MAX_CASE_TIME: Duration = Duration::from_secs(10);

/// Largest output allowed for an input of `len` bytes.
pub fn output_bound(len: usize) -> usize {
    64 * len + (1 << 20)
}

/// A parser under test: takes the input, returns a size of what it produced (bytes of output).
pub struct Harness {
    pub name: &'static str,
    /// Seed inputs (real files), read at run time.
    pub seeds: fn() -> Vec<Vec<u8>>,
    pub run: fn(&[u8]) -> usize,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(root().join(rel)).unwrap_or_default()
}

/// Every regular file under `rel` whose name satisfies `keep`, at most `max` of them.
fn files_under(rel: &str, keep: fn(&str) -> bool, max: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![root().join(rel)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() && keep(&e.path().to_string_lossy()) && out.len() < max {
                if let Ok(b) = std::fs::read(e.path()) {
                    out.push(b);
                }
            }
        }
    }
    out
}

fn debug_len(v: &impl std::fmt::Debug) -> usize {
    format!("{v:?}").len()
}

fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// A small gzip'd and a plain tar with files the analyzers want, beside the fixture blobs.
fn tar_seeds() -> Vec<Vec<u8>> {
    let mut seeds = files_under("testdata/fixtures", |p| p.contains("/blobs/sha256/"), 64)
        .into_iter()
        .filter(|b| b.len() < 256 << 10 && !b.starts_with(b"{"))
        .collect::<Vec<_>>();
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in [
        (
            "var/lib/dpkg/status",
            read("testdata/src/debian-app/layer1-base/var/lib/dpkg/status"),
        ),
        ("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n".to_vec()),
        (
            "app/requirements.txt",
            b"requests==2.0.0\n-r other.txt\n".to_vec(),
        ),
        ("app/.wh.gone", Vec::new()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        let _ = b.append_data(&mut h, path, data.as_slice());
    }
    if let Ok(plain) = b.into_inner() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = std::io::Write::write_all(&mut gz, &plain);
        if let Ok(g) = gz.finish() {
            seeds.push(g);
        }
        if let Ok(z) = zstd::encode_all(plain.as_slice(), 1) {
            seeds.push(z);
        }
        seeds.push(plain);
    }
    seeds
}

/// A scratch file per thread for the harnesses that take a path.
fn scratch(ext: &str, bytes: &[u8]) -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("layerscan-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let name = format!("{:?}.{ext}", std::thread::current().id())
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "");
    let p = dir.join(name);
    std::fs::write(&p, bytes).ok()?;
    Some(p)
}

fn run_tar(b: &[u8]) -> usize {
    debug_len(&crate::unpack::analyze_tar_blob(b, None, None))
}

fn run_zip(b: &[u8]) -> usize {
    let Some(p) = scratch("zip", b) else { return 0 };
    debug_len(&crate::unpack::analyze_zip(&p))
}

fn run_docker_archive(b: &[u8]) -> usize {
    let Some(p) = scratch("tar", b) else { return 0 };
    match crate::source::archive::open_local_image(&p, None, "fuzz.tar", "linux/amd64") {
        Ok(img) => {
            let mut n = debug_len(&img.target);
            for i in 0..img.target.layers.len() {
                if let Ok(crate::source::LayerBlob::Tar(r)) =
                    crate::source::Source::open_layer(&img, i)
                {
                    n += debug_len(&crate::unpack::analyze_tar_blob(r, None, None));
                }
            }
            n
        }
        Err(e) => format!("{e:#}").len(),
    }
}

fn run_dpkg(b: &[u8]) -> usize {
    debug_len(&crate::analyzer::dpkg::parse_status(
        "var/lib/dpkg/status",
        &text(b),
    ))
}

fn run_apk(b: &[u8]) -> usize {
    debug_len(&crate::analyzer::apk::parse_installed(
        "lib/apk/db/installed",
        &text(b),
    ))
}

fn run_metadata(b: &[u8]) -> usize {
    debug_len(&crate::analyzer::python::parse_metadata(
        "site-packages/x-1.dist-info/METADATA",
        &text(b),
    ))
}

fn run_requirements(b: &[u8]) -> usize {
    let mut files = std::collections::BTreeMap::new();
    files.insert("app/requirements.txt".to_string(), text(b).into_owned());
    // The same text as an include of itself and of a sibling: cycles must end.
    files.insert(
        "app/other.txt".to_string(),
        format!("-r requirements.txt\n{}", text(b)),
    );
    debug_len(&crate::analyzer::requirements::resolve(&files))
}

/// Every analyzer at once, as the unpacker feeds them (with the caps of `LayerAnalyzer`).
fn run_layer_analyzer(b: &[u8]) -> usize {
    let mut a = crate::analyzer::LayerAnalyzer::new();
    for path in [
        "var/lib/dpkg/status",
        "lib/apk/db/installed",
        "usr/lib/python3/site-packages/x-1.dist-info/METADATA",
        "requirements.txt",
        "etc/os-release",
    ] {
        a.add_file(path, b);
    }
    debug_len(&a.finish())
}

fn run_osv(b: &[u8]) -> usize {
    match crate::advisory::Advisory::from_json(b) {
        Ok(a) => debug_len(&a.validate()) + debug_len(&a),
        Err(e) => e.to_string().len(),
    }
}

fn run_config(name: &str, b: &[u8]) -> usize {
    match crate::audit::audit_text(name, name.rsplit('/').next().unwrap_or(name), &text(b)) {
        Ok(a) => debug_len(&a),
        Err(e) => e.message.len(),
    }
}

fn run_yaml(b: &[u8]) -> usize {
    run_config("deploy.yaml", b)
}

fn run_task_definition(b: &[u8]) -> usize {
    run_config("taskdef.json", b)
}

fn run_dockerfile(b: &[u8]) -> usize {
    run_config("Dockerfile", b)
}

fn run_event(b: &[u8]) -> usize {
    debug_len(&crate::hook::event::parse(b))
}

fn run_ignore_file(b: &[u8]) -> usize {
    let t = text(b);
    debug_len(&crate::policy::IgnoreList::parse(
        Path::new(".layerscanignore"),
        &t,
    )) + debug_len(&crate::policy::IgnoreList::parse(
        Path::new("ignore.yaml"),
        &t,
    ))
}

fn run_manifest(b: &[u8]) -> usize {
    debug_len(&crate::source::registry::manifest::parse(b, "fuzz"))
}

fn run_image_config(b: &[u8]) -> usize {
    let digest = crate::unpack::sha256_digest(b);
    let parsed = crate::source::layout::parse_config(b, &digest, 1, "fuzz");
    let mut n = debug_len(&parsed);
    if let Ok((value, _, _)) = &parsed {
        n += debug_len(&crate::audit::image_config("fuzz", value));
    }
    n
}

fn event_seed() -> Vec<u8> {
    serde_json::json!({
        "version": "0", "id": "13cde686-328b-6117-af20-0e5566167482",
        "detail-type": "ECR Image Action", "source": "aws.ecr", "account": "123456789012",
        "time": "2026-11-16T01:54:34Z", "region": "eu-west-1", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "team/app", "action-type": "PUSH",
            "image-digest": format!("sha256:{}", "a".repeat(64)), "image-tag": "v1"}
    })
    .to_string()
    .into_bytes()
}

fn is_json_blob(p: &str) -> bool {
    p.contains("/blobs/sha256/") || p.ends_with("index.json")
}

/// All harnesses.
pub fn harnesses() -> Vec<Harness> {
    vec![
        Harness {
            name: "tar-walk (plain, gzip, zstd)",
            seeds: tar_seeds,
            run: run_tar,
        },
        Harness {
            name: "zip",
            seeds: || files_under("testdata/fixtures", |p| p.ends_with(".zip"), 8),
            run: run_zip,
        },
        Harness {
            name: "docker-archive",
            seeds: || files_under("testdata/fixtures", |p| p.ends_with(".docker.tar"), 4),
            run: run_docker_archive,
        },
        Harness {
            name: "dpkg-status",
            seeds: || {
                files_under(
                    "testdata/src",
                    |p| p.contains("dpkg/status") && !p.ends_with(".md5sums"),
                    8,
                )
            },
            run: run_dpkg,
        },
        Harness {
            name: "apk-installed",
            seeds: || files_under("testdata/src", |p| p.ends_with("apk/db/installed"), 4),
            run: run_apk,
        },
        Harness {
            name: "python-metadata",
            seeds: || {
                files_under(
                    "testdata/src",
                    |p| {
                        p.ends_with("/METADATA")
                            || p.ends_with("/PKG-INFO")
                            || p.ends_with(".egg-info")
                    },
                    8,
                )
            },
            run: run_metadata,
        },
        Harness {
            name: "requirements",
            seeds: || {
                let mut s = files_under(
                    "testdata/src",
                    |p| p.contains("requirements") && p.ends_with(".txt"),
                    8,
                );
                s.push(b"requests[socks]==2.31.0 ; python_version >= \"3.8\" --hash=sha256:abc\n-e git+https://u:p@h/x.git#egg=x\n-r more.txt\nflask>=2,<3\n".to_vec());
                s
            },
            run: run_requirements,
        },
        Harness {
            name: "layer-analyzer (all analyzers, caps)",
            seeds: || {
                files_under(
                    "testdata/src",
                    |p| p.ends_with("dpkg/status") || p.ends_with("/METADATA"),
                    4,
                )
            },
            run: run_layer_analyzer,
        },
        Harness {
            name: "osv-json",
            seeds: || files_under("advisories", |p| p.ends_with(".json"), 12),
            run: run_osv,
        },
        Harness {
            name: "ecs-task-definition",
            seeds: || files_under("testdata/config/ecs", |_| true, 8),
            run: run_task_definition,
        },
        Harness {
            name: "yaml (kubernetes, cloud run, cloudformation)",
            seeds: || {
                let mut s = files_under("testdata/config/k8s", |_| true, 6);
                s.extend(files_under("testdata/config/cfn", |_| true, 6));
                s.extend(files_under("testdata/config/cloudrun", |_| true, 4));
                s.push(b"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c, *c]\n".to_vec());
                s
            },
            run: run_yaml,
        },
        Harness {
            name: "dockerfile",
            seeds: || files_under("testdata/config/docker", |_| true, 8),
            run: run_dockerfile,
        },
        Harness {
            name: "eventbridge-event",
            seeds: || vec![event_seed()],
            run: run_event,
        },
        Harness {
            name: "ignore-file",
            seeds: || {
                vec![
                    b"# team\nCVE-2023-1234\nDOCKERFILE-001 exp:2030-01-01\nGHSA-xxxx-yyyy-zzzz\n".to_vec(),
                    b"vulnerabilities:\n  - id: CVE-2023-1\n    paths: [\"usr/lib/*\"]\n    purls: [\"pkg:pypi/x\"]\n    expired_at: 2030-01-01\nmisconfigurations:\n  - id: DOCKERFILE-001\n".to_vec(),
                ]
            },
            run: run_ignore_file,
        },
        Harness {
            name: "registry-manifest-index",
            seeds: || {
                files_under("testdata/fixtures", is_json_blob, 32)
                    .into_iter()
                    .filter(|b| b.starts_with(b"{"))
                    .collect()
            },
            run: run_manifest,
        },
        Harness {
            name: "image-config",
            seeds: || {
                files_under("testdata/fixtures", |p| p.contains("/blobs/sha256/"), 32)
                    .into_iter()
                    .filter(|b| b.starts_with(b"{") && b.windows(6).any(|w| w == b"rootfs"))
                    .collect()
            },
            run: run_image_config,
        },
    ]
}

/// xorshift64*: reproducible from the seed printed with a finding.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"\n",
    b"\r\n",
    b":",
    b"=",
    b"-",
    b"\"",
    b"'",
    b"{",
    b"}",
    b"[",
    b"]",
    b"&a ",
    b"*a",
    b"!Ref ",
    b"<<: ",
    b"..",
    b"../",
    b"/",
    b"\\",
    b"%",
    b"\xef\xbb\xbf",
    b"\xc3",
    b"\xe2\x80",
    b"sha256:",
    b"==",
    b"-r ",
    b"${",
    b"\t",
    b" ",
    b"0",
    b"-1",
    b"18446744073709551616",
    b"1e999",
    b"null",
    b"true",
    b"\x1b[31m",
];

/// One mutation of `input` (sometimes several stacked), spliced with `other` at times.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = out.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            2 => out.truncate(rng.below(len + 1)),
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                out.drain(start..end);
            }
            4 => {
                let word = INTERESTING[rng.below(INTERESTING.len())];
                let at = rng.below(len + 1);
                out.splice(at..at, word.iter().copied());
            }
            5 if len > 0 => {
                // Repeat a chunk (long fields, deep nesting, many entries).
                let start = rng.below(len);
                let end = (start + 1 + rng.below(256)).min(len);
                let chunk = out[start..end].to_vec();
                let times = 1 + rng.below(64);
                let at = rng.below(out.len() + 1);
                let rep: Vec<u8> = chunk
                    .iter()
                    .copied()
                    .cycle()
                    .take(chunk.len() * times)
                    .collect();
                out.splice(at..at, rep);
            }
            6 if !other.is_empty() => {
                // Splice: our head, their tail.
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            7 if len > 1 => {
                let a = rng.below(len);
                let b = rng.below(len);
                out.swap(a, b);
            }
            _ => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
        }
        if out.len() > 4 << 20 {
            out.truncate(4 << 20);
        }
    }
    out
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub cases: u64,
    /// `(harness, problem, path of the saved input)`.
    pub findings: Vec<(String, String, Option<PathBuf>)>,
}

/// Run `harness` for `budget` from `seed`; findings are saved under `save_dir` when given.
pub fn run_harness(h: &Harness, budget: Duration, seed: u64, save_dir: Option<&Path>) -> Outcome {
    let seeds = (h.seeds)();
    let mut out = Outcome::default();
    if seeds.is_empty() {
        out.findings
            .push((h.name.to_string(), "no seed inputs found".into(), None));
        return out;
    }
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut corpus_index = 0usize;
    while started.elapsed() < budget {
        // The seeds themselves first, then mutations.
        let input = if (out.cases as usize) < seeds.len() {
            seeds[out.cases as usize].clone()
        } else {
            let a = &seeds[corpus_index % seeds.len()];
            let b = &seeds[rng.below(seeds.len())];
            corpus_index += 1;
            mutate(&mut rng, a, b)
        };
        out.cases += 1;
        let t = Instant::now();
        let run = h.run;
        let result = std::panic::catch_unwind(|| run(&input));
        let took = t.elapsed();
        let problem = match result {
            Err(p) => Some(format!(
                "panic: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
            Ok(_) if took > MAX_CASE_TIME => Some(format!("slow: {took:?}")),
            Ok(n) if n > output_bound(input.len()) => Some(format!(
                "output of {n} bytes for {} bytes of input",
                input.len()
            )),
            Ok(_) => None,
        };
        if let Some(problem) = problem {
            let saved = save_dir.and_then(|d| {
                std::fs::create_dir_all(d).ok()?;
                let slug: String = h
                    .name
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect();
                let p = d.join(format!("{slug}-{seed}-{}.bin", out.cases));
                std::fs::write(&p, &input).ok()?;
                Some(p)
            });
            out.findings.push((h.name.to_string(), problem, saved));
            if out.findings.len() >= 5 {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_reproducible_and_bounded() {
        let a = mutate(&mut Rng::new(7), b"hello world", b"other");
        let b = mutate(&mut Rng::new(7), b"hello world", b"other");
        assert_eq!(a, b);
        let mut rng = Rng::new(3);
        let mut x = b"seed".to_vec();
        for _ in 0..2000 {
            x = mutate(&mut rng, &x, b"abc");
            assert!(x.len() <= 4 << 20);
        }
    }

    #[test]
    fn every_harness_has_seeds() {
        for h in harnesses() {
            assert!(!(h.seeds)().is_empty(), "{}", h.name);
        }
    }
}
