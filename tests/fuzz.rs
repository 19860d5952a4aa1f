//! The in-tree fuzzer (`layerscan::fuzz`): every parser of untrusted input, mutated real inputs,
//! no panic, bounded time and output. A short run here (`LAYERSCAN_FUZZ_SECONDS`, default 40 s
//! over all harnesses, run side by side with the other tests); `cargo xtask fuzz --minutes N`
//! for long runs with fresh seeds (`LAYERSCAN_FUZZ_SEED`).

use std::time::Duration;

#[test]
fn fuzz_every_parser_briefly() {
    let total: f64 = std::env::var("LAYERSCAN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40.0);
    let seed: u64 = std::env::var("LAYERSCAN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let harnesses = layerscan::fuzz::harnesses();
    let per = Duration::from_secs_f64(total / harnesses.len() as f64);
    let save = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-findings");
    let mut findings = Vec::new();
    let mut cases = 0;
    for (i, h) in harnesses.iter().enumerate() {
        let out = layerscan::fuzz::run_harness(h, per, seed.wrapping_add(i as u64), Some(&save));
        println!("fuzz {:<45} {:>8} cases", h.name, out.cases);
        assert!(out.cases > 0, "{}: no case ran", h.name);
        cases += out.cases;
        findings.extend(out.findings);
    }
    println!(
        "fuzz: {cases} cases in {total} s, seed {seed}, {} findings",
        findings.len()
    );
    assert!(
        findings.is_empty(),
        "fuzz findings (inputs saved under {}):\n{findings:#?}",
        save.display()
    );
}
