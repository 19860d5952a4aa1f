//! FIRST's EPSS scores (`https://epss.empiricalsecurity.com/epss_scores-current.csv.gz`, formerly
//! `epss.cyentia.com`): a comment line `#model_version:v2025.03.14,score_date:2025-06-01T12:55:00Z`,
//! the header `cve,epss,percentile`, then one line per CVE. Read a line at a time.

use super::{cve_id, MAX_FIELD};
use std::io::{BufRead, Read};

#[derive(Debug, Clone, PartialEq)]
pub struct EpssRow {
    pub cve: String,
    /// Probability of exploitation in the next 30 days, 0..=1.
    pub score: f64,
    /// 0..=1.
    pub percentile: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpssStats {
    pub rows: u64,
    pub model_version: Option<String>,
    pub score_date: Option<String>,
}

impl EpssStats {
    /// `v2025.03.14, 2025-06-01T12:55:00Z` for `db status`.
    pub fn version(&self) -> Option<String> {
        match (&self.model_version, &self.score_date) {
            (Some(m), Some(d)) => Some(format!("{m}, {d}")),
            (Some(m), None) => Some(m.clone()),
            (None, Some(d)) => Some(d.clone()),
            (None, None) => None,
        }
    }
}

fn unit(s: &str) -> Option<f64> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && (0.0..=1.0).contains(v))
}

/// Stream the rows to `each`. A malformed line is an error naming its line number.
pub fn parse<R: BufRead>(
    mut reader: R,
    mut each: impl FnMut(EpssRow) -> anyhow::Result<()>,
) -> anyhow::Result<EpssStats> {
    let mut stats = EpssStats::default();
    let mut line = Vec::with_capacity(128);
    let mut n = 0u64;
    let mut header = false;
    loop {
        line.clear();
        let got = Read::take(reader.by_ref(), MAX_FIELD as u64 * 4).read_until(b'\n', &mut line)?;
        if got == 0 {
            break;
        }
        n += 1;
        if line.last() != Some(&b'\n') && got >= MAX_FIELD * 4 {
            anyhow::bail!("EPSS scores, line {n}: longer than {} bytes", MAX_FIELD * 4);
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| anyhow::anyhow!("EPSS scores, line {n}: not UTF-8"))?
            .trim_start_matches('\u{feff}')
            .trim();
        if text.is_empty() {
            continue;
        }
        if let Some(meta) = text.strip_prefix('#') {
            for part in meta.split(',') {
                if let Some((k, v)) = part.split_once(':') {
                    let v = v.trim();
                    let v = (!v.is_empty() && v.len() <= 64).then(|| v.to_string());
                    match k.trim() {
                        "model_version" => stats.model_version = v,
                        "score_date" => stats.score_date = v,
                        _ => {}
                    }
                }
            }
            continue;
        }
        if !header {
            let cols: Vec<&str> = text.split(',').map(str::trim).collect();
            if cols != ["cve", "epss", "percentile"] {
                anyhow::bail!(
                    "EPSS scores, line {n}: expected the header `cve,epss,percentile`, found {:?}",
                    text.chars().take(80).collect::<String>()
                );
            }
            header = true;
            continue;
        }
        let mut cols = text.split(',');
        let (Some(c), Some(e), Some(p), None) =
            (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            anyhow::bail!("EPSS scores, line {n}: expected three columns");
        };
        let row = match (cve_id(c), unit(e), unit(p)) {
            (Some(cve), Some(score), Some(percentile)) => EpssRow {
                cve,
                score,
                percentile,
            },
            _ => anyhow::bail!(
                "EPSS scores, line {n}: not `CVE-id,probability,percentile`: {:?}",
                text.chars().take(80).collect::<String>()
            ),
        };
        stats.rows += 1;
        each(row)?;
    }
    if !header {
        anyhow::bail!("EPSS scores: no `cve,epss,percentile` header");
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scores() {
        let csv =
            "#model_version:v2025.03.14,score_date:2025-06-01T12:55:00Z\ncve,epss,percentile\n\
                   CVE-2021-44228,0.94358,0.99957\nCVE-1999-0001,0.01,0.5\n";
        let mut got = Vec::new();
        let st = parse(csv.as_bytes(), |r| {
            got.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(st.rows, 2);
        assert_eq!(st.model_version.as_deref(), Some("v2025.03.14"));
        assert_eq!(st.score_date.as_deref(), Some("2025-06-01T12:55:00Z"));
        assert_eq!(got[0].cve, "CVE-2021-44228");
        assert_eq!(got[0].score, 0.94358);
        for bad in [
            "cve,epss,percentile\nCVE-2021-44228,1.5,0.9\n",
            "cve,epss,percentile\nCVE-2021-44228,0.5\n",
            "hello\n",
            "",
        ] {
            assert!(parse(bad.as_bytes(), |_| Ok(())).is_err(), "{bad}");
        }
    }
}
