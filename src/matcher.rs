//! Matching packages against advisories with OSV semantics.
//!
//! The matcher sees only the report's package lists and an [`AdvisoryStore`]; it never opens a
//! layer. For each package it asks the store for the records naming the package in its ecosystem,
//! keeps the `affected[]` entries for the image's release, decides "affected" with the ecosystem's
//! version order, and folds records that name the same flaw (through `aliases`, or a single
//! `upstream` id) into one finding.
//!
//! Decisions where OSV is silent:
//! - `VulnerabilityID` of an alias group: the CVE id (lowest when several), else a `GHSA-` id, else a
//!   `PYSEC-` id, else the lowest id. GHSA is preferred over PYSEC because GHSA ids are the ones
//!   GitHub code scanning and most advisories link to.
//! - A record whose `upstream` lists several ids (a DSA covering many CVEs; or a DSA/DLA listing
//!   them as `related`) does not merge those CVEs into one group. When any of its ids is already a
//!   finding for the package, its id is added to those findings' aliases (scanners report Debian
//!   flaws per CVE); otherwise it stays a finding of its own.
//! - Severity prefers a CVSS v3.x vector over a v4 vector (v3 scores are what most tools show),
//!   then `database_specific.severity`, then Ubuntu's priority, then another record of the group.
//! - A range whose event version can't be parsed is skipped with a warning; other ranges of the
//!   record are still evaluated.
//! - For Debian/Ubuntu packages without a recorded source version, a binNMU suffix (`+bN`) is
//!   removed from the binary version to get the source version.

use crate::advisory::{normalize_name, Advisory, AffectedPackage, Range};
use crate::db::AdvisoryStore;
use crate::model::{CvssEntry, Ecosystem, OsInfo, Package, Report, Severity, Vulnerability};
use crate::version::{deb, Scheme};
use anyhow::Context;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

/// Fill `Vulnerabilities` of every package result in the report (one finding per package per alias
/// group); add non-fatal problems (unparsable versions) to `report.warnings`.
pub fn match_report(report: &mut Report, store: &dyn AdvisoryStore) -> anyhow::Result<()> {
    let mut m = Matcher::new(store, report.metadata.os.clone());
    for result in &mut report.results {
        let kind_eco = ecosystem_for_result(&result.kind);
        let Some(packages) = &result.packages else {
            continue;
        };
        let mut found = Vec::new();
        for pkg in packages {
            let eco = match pkg.ecosystem {
                Some(Ecosystem::Other) => None,
                Some(e) => Some(e),
                None => kind_eco,
            };
            if let Some(eco) = eco {
                found.extend(m.match_package(eco, pkg)?);
            }
        }
        if kind_eco.is_none() && found.is_empty() {
            continue;
        }
        sort_findings(&mut found);
        result.vulnerabilities = if found.is_empty() { None } else { Some(found) };
    }
    for w in m.warnings {
        if !report.warnings.contains(&w) {
            report.warnings.push(w);
        }
    }
    Ok(())
}

/// Worst first, then by id, package and version, so reports are stable.
pub fn sort_findings(v: &mut [Vulnerability]) {
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.vulnerability_id.cmp(&b.vulnerability_id))
            .then_with(|| a.pkg_name.cmp(&b.pkg_name))
            .then_with(|| a.installed_version.cmp(&b.installed_version))
            .then_with(|| a.pkg_path.cmp(&b.pkg_path))
    });
}

/// The ecosystem a report result's `Type` stands for.
pub fn ecosystem_for_result(kind: &str) -> Option<Ecosystem> {
    Some(match kind.to_ascii_lowercase().as_str() {
        "debian" => Ecosystem::Debian,
        "ubuntu" => Ecosystem::Ubuntu,
        "alpine" => Ecosystem::Alpine,
        "python-pkg" | "pip" | "pipenv" | "poetry" | "pypi" => Ecosystem::PyPI,
        _ => return None,
    })
}

fn ecosystem_base(eco: Ecosystem) -> Option<&'static str> {
    Some(match eco {
        Ecosystem::Debian => "Debian",
        Ecosystem::Ubuntu => "Ubuntu",
        Ecosystem::Alpine => "Alpine",
        Ecosystem::PyPI => "PyPI",
        Ecosystem::Other => return None,
    })
}

/// The OSV release qualifier for an OS: `12` for Debian `12.5`, `v3.20` for Alpine `3.20.3`,
/// `22.04` for Ubuntu.
pub fn os_release(eco: Ecosystem, os: Option<&OsInfo>) -> Option<String> {
    let name = os?.name.trim();
    if name.is_empty() {
        return None;
    }
    match eco {
        Ecosystem::Debian => {
            let first = name.split(['/', ' ']).next().unwrap_or(name);
            let major = first.split('.').next().unwrap_or(first);
            if !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()) {
                return Some(major.to_string());
            }
            let n = match first.to_ascii_lowercase().as_str() {
                "buster" => "10",
                "bullseye" => "11",
                "bookworm" => "12",
                "trixie" => "13",
                "forky" => "14",
                _ => return None,
            };
            Some(n.to_string())
        }
        Ecosystem::Alpine => {
            let name = name.strip_prefix('v').unwrap_or(name);
            let mut parts = name.split('.');
            let major = parts.next()?;
            let minor: String = parts
                .next()?
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if major.is_empty() || !major.bytes().all(|b| b.is_ascii_digit()) || minor.is_empty() {
                return None;
            }
            Some(format!("v{major}.{minor}"))
        }
        Ecosystem::Ubuntu => {
            // `22.04`, `22.04.4 LTS` → `22.04`.
            let v: String = name
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let mut parts = v.split('.').filter(|p| !p.is_empty());
            let major = parts.next()?;
            Some(match parts.next() {
                Some(minor) => format!("{major}.{minor}"),
                None => major.to_string(),
            })
        }
        _ => None,
    }
}

/// Does an `affected[].package.ecosystem` apply to packages of `eco` on `release`?
/// Plain `Debian`/`Alpine`/`Ubuntu` apply to every release; `Ubuntu:22.04:LTS` and
/// `Ubuntu:Pro:22.04:LTS` apply to 22.04 (FIPS streams are separate packages and do not).
pub fn ecosystem_applies(affected_ecosystem: &str, eco: Ecosystem, release: Option<&str>) -> bool {
    let Some(base) = ecosystem_base(eco) else {
        return false;
    };
    let mut parts = affected_ecosystem.trim().split(':');
    if !parts
        .next()
        .is_some_and(|b| b.trim().eq_ignore_ascii_case(base))
    {
        return false;
    }
    let rest: Vec<&str> = parts.map(str::trim).collect();
    if rest.is_empty() {
        return true;
    }
    let Some(release) = release else {
        return false;
    };
    match eco {
        Ecosystem::Debian | Ecosystem::Alpine => rest.as_slice() == [release],
        Ecosystem::Ubuntu => {
            rest.contains(&release)
                && !rest
                    .iter()
                    .any(|p| p.to_ascii_lowercase().starts_with("fips"))
        }
        _ => false,
    }
}

/// One record that affects the package, with the fixed versions above the installed one.
struct Hit {
    adv: Rc<Advisory>,
    fixed: Vec<String>,
    /// The ranges that contain the installed version, with the order they are evaluated in.
    ranges: Vec<(Range, Scheme)>,
}

struct Matcher<'a> {
    store: &'a dyn AdvisoryStore,
    os: Option<OsInfo>,
    by_name: HashMap<(&'static str, String), Rc<Vec<Rc<Advisory>>>>,
    by_id: HashMap<String, Option<Rc<Advisory>>>,
    warnings: Vec<String>,
    warned: HashSet<String>,
}

impl<'a> Matcher<'a> {
    fn new(store: &'a dyn AdvisoryStore, os: Option<OsInfo>) -> Self {
        Matcher {
            store,
            os,
            by_name: HashMap::new(),
            by_id: HashMap::new(),
            warnings: Vec::new(),
            warned: HashSet::new(),
        }
    }

    /// A non-fatal problem: once into the report's warnings and to stderr.
    fn warn(&mut self, w: String) {
        if self.warned.insert(w.clone()) {
            tracing::warn!("{w}");
            self.warnings.push(w);
        }
    }

    fn lookup(&mut self, base: &'static str, name: &str) -> anyhow::Result<Rc<Vec<Rc<Advisory>>>> {
        let key = (base, name.to_string());
        if let Some(v) = self.by_name.get(&key) {
            return Ok(v.clone());
        }
        let recs = self
            .store
            .advisories_for(base, name)
            .with_context(|| format!("looking up {base} advisories for package {name}"))?;
        let recs = Rc::new(recs.into_iter().map(Rc::new).collect::<Vec<_>>());
        self.by_name.insert(key, recs.clone());
        Ok(recs)
    }

    fn by_id(&mut self, id: &str) -> Option<Rc<Advisory>> {
        if let Some(v) = self.by_id.get(id) {
            return v.clone();
        }
        let found = match self.store.advisory_by_id(id) {
            Ok(v) => v.map(Rc::new),
            Err(e) => {
                self.warn(format!("advisory {id}: lookup failed: {e:#}"));
                None
            }
        };
        self.by_id.insert(id.to_string(), found.clone());
        found
    }

    fn match_package(
        &mut self,
        eco: Ecosystem,
        pkg: &Package,
    ) -> anyhow::Result<Vec<Vulnerability>> {
        let Some(base) = ecosystem_base(eco) else {
            return Ok(Vec::new());
        };
        let Some(scheme) = Scheme::for_ecosystem(base) else {
            return Ok(Vec::new());
        };
        let (name, version) = match eco {
            Ecosystem::Debian | Ecosystem::Ubuntu => {
                let name = pkg.src_name.clone().unwrap_or_else(|| pkg.name.clone());
                let version = match &pkg.src_version {
                    Some(v) if !v.trim().is_empty() => v.clone(),
                    _ => deb::strip_binnmu(pkg.version.trim()).to_string(),
                };
                (name, version)
            }
            Ecosystem::Alpine => (
                pkg.src_name.clone().unwrap_or_else(|| pkg.name.clone()),
                pkg.version.clone(),
            ),
            _ => (normalize_name(base, &pkg.name), pkg.version.clone()),
        };
        let version = version.trim().to_string();
        let name = name.trim().to_string();
        if version.is_empty() || name.is_empty() {
            // Unpinned requirement: nothing to compare.
            return Ok(Vec::new());
        }
        let installed_ok = scheme.is_valid(&version);
        if !installed_ok {
            let place = pkg
                .file_path
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            self.warn(format!(
                "{base} package {name} {version:?}{place}: not a valid {} version; only exact version lists were checked",
                scheme.name()
            ));
        }
        let release = os_release(eco, self.os.as_ref());
        if release.is_none() && eco != Ecosystem::PyPI {
            let os = self
                .os
                .as_ref()
                .map(|o| format!("{} {:?}", o.family, o.name))
                .unwrap_or_else(|| "not detected".to_string());
            self.warn(format!(
                "{base} release unknown (OS: {os}): only advisories that name no release were checked for {base} packages"
            ));
        }
        let records = self.lookup(base, &name)?;
        let norm = normalize_name(base, &name);
        let mut hits: Vec<Hit> = Vec::new();
        for adv in records.iter() {
            if adv
                .withdrawn
                .as_deref()
                .is_some_and(|w| !w.trim().is_empty())
            {
                continue;
            }
            let mut affected = false;
            let mut fixed = Vec::new();
            let mut ranges = Vec::new();
            for aff in &adv.affected {
                let Some(AffectedPackage {
                    ecosystem,
                    name: aff_name,
                    ..
                }) = &aff.package
                else {
                    continue;
                };
                if !ecosystem_applies(ecosystem, eco, release.as_deref())
                    || normalize_name(base, aff_name.trim()) != norm
                {
                    continue;
                }
                if aff.versions.iter().any(|v| {
                    v.trim() == version
                        || (installed_ok && scheme.compare(v, &version) == Some(Ordering::Equal))
                }) {
                    affected = true;
                }
                if !installed_ok {
                    continue;
                }
                for range in &aff.ranges {
                    let range_scheme = match range.kind.trim().to_ascii_uppercase().as_str() {
                        "ECOSYSTEM" => scheme,
                        "SEMVER" => Scheme::SemVer,
                        _ => continue, // GIT ranges name commits, not versions.
                    };
                    match range_affects(range, &version, range_scheme) {
                        Ok(true) => {
                            affected = true;
                            ranges.push((range.clone(), range_scheme));
                            for e in &range.events {
                                if let Some(f) = &e.fixed {
                                    if range_scheme.compare(f, &version) == Some(Ordering::Greater)
                                    {
                                        fixed.push(f.trim().to_string());
                                    }
                                }
                            }
                        }
                        Ok(false) => {}
                        Err(bad) => self.warn(format!(
                            "advisory {}: {} range version {bad:?} for {base} package {name} is not a valid {} version; range skipped",
                            adv.id,
                            range.kind,
                            range_scheme.name()
                        )),
                    }
                }
            }
            if affected {
                hits.push(Hit {
                    adv: adv.clone(),
                    fixed,
                    ranges,
                });
            }
        }
        let groups = group_hits(&hits);
        let keysets: Vec<BTreeSet<String>> = groups
            .iter()
            .map(|g| {
                g.iter()
                    .filter_map(|&i| hits.get(i))
                    .flat_map(|h| group_keys(&h.adv))
                    .collect()
            })
            .collect();
        // An umbrella record (a DSA fixing several CVEs) adds nothing but its id when the CVEs it
        // names are findings already: fold its id into those findings' aliases.
        let mut folded: Vec<Vec<String>> = vec![Vec::new(); groups.len()];
        let mut skip = vec![false; groups.len()];
        for (gi, g) in groups.iter().enumerate() {
            let Some(adv) = (match g.as_slice() {
                [only] => hits.get(*only).map(|h| &h.adv),
                _ => None,
            }) else {
                continue;
            };
            let targets: Vec<usize> = umbrella_ids(adv)
                .iter()
                .filter_map(|u| {
                    keysets
                        .iter()
                        .enumerate()
                        .position(|(gj, ks)| gj != gi && ks.contains(u.trim()))
                })
                .collect();
            if targets.is_empty() {
                continue;
            }
            if let Some(flag) = skip.get_mut(gi) {
                *flag = true;
            }
            for gj in targets {
                if let Some(list) = folded.get_mut(gj) {
                    if !list.contains(&adv.id) {
                        list.push(adv.id.clone());
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (gi, group) in groups.iter().enumerate() {
            if skip.get(gi).copied().unwrap_or(false) {
                continue;
            }
            let extra = folded.get(gi).cloned().unwrap_or_default();
            out.push(self.finding(pkg, scheme, &version, &hits, group, &extra));
        }
        Ok(out)
    }

    fn finding(
        &mut self,
        pkg: &Package,
        scheme: Scheme,
        version: &str,
        hits: &[Hit],
        group: &[usize],
        folded: &[String],
    ) -> Vulnerability {
        let records: Vec<&Hit> = group.iter().filter_map(|&i| hits.get(i)).collect();
        let mut ids: BTreeSet<String> = BTreeSet::new();
        for h in &records {
            ids.extend(group_keys(&h.adv));
        }
        ids.extend(folded.iter().cloned());
        let own_severity = records.iter().any(|h| record_severity(&h.adv).is_some());
        let has_cve = ids
            .iter()
            .any(|i| i.to_ascii_uppercase().starts_with("CVE-"));
        // Records of the group that the name lookup did not return (a GHSA record aliased by a
        // PYSEC record): fetched by id when they can give the group its CVE id or its severity.
        // Their ids join the group (one hop).
        let mut extra: Vec<Rc<Advisory>> = Vec::new();
        if !own_severity || !has_cve {
            let known: HashSet<&str> = records.iter().map(|h| h.adv.id.as_str()).collect();
            let wanted: Vec<String> = ids
                .iter()
                .filter(|i| !known.contains(i.as_str()))
                .cloned()
                .collect();
            for id in wanted {
                if let Some(adv) = self.by_id(&id) {
                    let withdrawn = adv
                        .withdrawn
                        .as_deref()
                        .is_some_and(|w| !w.trim().is_empty());
                    if !withdrawn
                        && !known.contains(adv.id.as_str())
                        && !extra.iter().any(|e| e.id == adv.id)
                    {
                        extra.push(adv);
                    }
                }
            }
            for adv in &extra {
                ids.extend(group_keys(adv));
            }
        }
        let primary = pick_primary(ids.iter().map(String::as_str))
            .unwrap_or_default()
            .to_string();
        let aliases: Vec<String> = ids.iter().filter(|i| **i != primary).cloned().collect();
        // The record that speaks for the group: the one carrying the primary id, else the
        // preferred record id.
        let mut ordered: Vec<&Hit> = records.clone();
        ordered.sort_by(|a, b| id_rank(&a.adv.id).cmp(&id_rank(&b.adv.id)));
        if let Some(pos) = ordered.iter().position(|h| h.adv.id == primary) {
            let h = ordered.remove(pos);
            ordered.insert(0, h);
        }

        // Severity: the speaking record (plain source), then the other matched records, then the
        // fetched ones (`alias:<ID>`).
        let mut severity = None;
        let candidates = ordered
            .iter()
            .map(|h| &h.adv)
            .chain(extra.iter().filter(|e| id_rank(&e.id).0 < 3))
            .chain(extra.iter().filter(|e| id_rank(&e.id).0 >= 3));
        for (n, adv) in candidates.enumerate() {
            if let Some((sev, src)) = record_severity(adv) {
                let src = if n == 0 {
                    src.to_string()
                } else {
                    format!("alias:{}", adv.id)
                };
                severity = Some((sev, src));
                break;
            }
        }
        let (severity, severity_source) = match severity {
            Some((s, src)) => (s, Some(src)),
            None => (Severity::Unknown, None),
        };

        // Nearest fixed version above the installed one: the lowest candidate that no range of
        // the group still covers (records of a group can disagree), else the highest candidate.
        let mut candidates: Vec<&str> = Vec::new();
        for f in records.iter().flat_map(|h| h.fixed.iter()) {
            if !candidates.contains(&f.as_str()) {
                candidates.push(f);
            }
        }
        let mut fixed: Option<&str> = None;
        let mut highest: Option<&str> = None;
        for &c in &candidates {
            let still_affected = records
                .iter()
                .flat_map(|h| h.ranges.iter())
                .any(|(r, sch)| range_affects(r, c, *sch) == Ok(true));
            if !still_affected
                && fixed.is_none_or(|cur| scheme.compare(c, cur) == Some(Ordering::Less))
            {
                fixed = Some(c);
            }
            if highest.is_none_or(|cur| scheme.compare(c, cur) == Some(Ordering::Greater)) {
                highest = Some(c);
            }
        }
        let fixed = fixed.or(highest);
        let fixed_version = fixed.map(str::to_string);

        let title = ordered.iter().find_map(|h| title_of(&h.adv));
        let primary_url = ordered.first().map(|h| primary_url_of(&h.adv)).or_else(|| {
            (!primary.is_empty()).then(|| format!("https://osv.dev/vulnerability/{primary}"))
        });
        let mut references: Vec<String> = Vec::new();
        for h in &ordered {
            for r in &h.adv.references {
                let u = r.url.trim();
                if !u.is_empty() && !references.iter().any(|x| x == u) {
                    references.push(u.to_string());
                }
            }
        }
        let mut cvss = BTreeMap::new();
        for adv in ordered.iter().map(|h| &h.adv).chain(extra.iter()) {
            if let Some(entry) = cvss_entry(adv) {
                cvss.entry(cvss_source(&adv.id)).or_insert(entry);
            }
        }

        Vulnerability {
            vulnerability_id: primary,
            aliases,
            pkg_name: pkg.name.clone(),
            pkg_path: pkg.file_path.clone(),
            installed_version: if pkg.version.trim().is_empty() {
                version.to_string()
            } else {
                pkg.version.clone()
            },
            status: if fixed_version.is_some() {
                "fixed".to_string()
            } else {
                "affected".to_string()
            },
            fixed_version,
            severity,
            severity_source,
            cvss,
            title,
            primary_url,
            references,
            layer: pkg.layer.clone(),
        }
    }
}

/// Is `version` inside the range? `Err(v)` names an event version that does not parse.
///
/// Equivalent to OSV's "sort the events, walk them": the last event at or below the version
/// decides (an `introduced` opens, `fixed`/`last_affected` close); at equal versions a closing
/// event wins; any `limit` at or below the version excludes it.
pub fn range_affects(range: &Range, version: &str, scheme: Scheme) -> Result<bool, String> {
    // The deciding event so far: its version (None = the "0" minimum) and whether it closes.
    let mut best: Option<(Option<&str>, bool)> = None;
    for e in &range.events {
        let (v, closing) = if let Some(v) = &e.introduced {
            let v = v.trim();
            if v == "0" {
                consider(&mut best, None, false, scheme);
                continue;
            }
            (v, false)
        } else if let Some(v) = &e.fixed {
            (v.trim(), true)
        } else if let Some(v) = &e.last_affected {
            let v = v.trim();
            match scheme.compare(v, version) {
                Some(Ordering::Less) => consider(&mut best, Some(v), true, scheme),
                Some(_) => {}
                None => return Err(v.to_string()),
            }
            continue;
        } else if let Some(v) = &e.limit {
            let v = v.trim();
            if v == "*" {
                continue;
            }
            match scheme.compare(v, version) {
                Some(Ordering::Less | Ordering::Equal) => return Ok(false),
                Some(Ordering::Greater) => {}
                None => return Err(v.to_string()),
            }
            continue;
        } else {
            continue;
        };
        match scheme.compare(v, version) {
            Some(Ordering::Less | Ordering::Equal) => consider(&mut best, Some(v), closing, scheme),
            Some(Ordering::Greater) => {}
            None => return Err(v.to_string()),
        }
    }
    Ok(matches!(best, Some((_, false))))
}

fn consider<'v>(
    best: &mut Option<(Option<&'v str>, bool)>,
    v: Option<&'v str>,
    closing: bool,
    scheme: Scheme,
) {
    let ord = match (*best, v) {
        (None, _) => Ordering::Greater,
        (Some((None, _)), None) => Ordering::Equal,
        (Some((None, _)), Some(_)) => Ordering::Greater,
        (Some((Some(_), _)), None) => Ordering::Less,
        (Some((Some(b), _)), Some(v)) => scheme.compare(v, b).unwrap_or(Ordering::Equal),
    };
    match ord {
        Ordering::Greater => *best = Some((v, closing)),
        Ordering::Equal => {
            if let Some(b) = best.as_mut() {
                b.1 |= closing;
            }
        }
        Ordering::Less => {}
    }
}

/// The ids through which a record joins an alias group: its id, its aliases, and its `upstream`
/// id when it tracks exactly one.
fn group_keys(adv: &Advisory) -> Vec<String> {
    let mut keys = vec![adv.id.trim().to_string()];
    keys.extend(
        adv.aliases
            .iter()
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty()),
    );
    if let [one] = adv.upstream.as_slice() {
        if !one.trim().is_empty() {
            keys.push(one.trim().to_string());
        }
    }
    keys
}

/// The ids an umbrella record covers: several `upstream` ids, or, for Debian's DSA/DLA/DTSA
/// advisories without `upstream`, the CVEs they list as `related`.
fn umbrella_ids(adv: &Advisory) -> &[String] {
    if adv.upstream.len() >= 2 {
        return &adv.upstream;
    }
    let id = adv.id.to_ascii_uppercase();
    if adv.upstream.is_empty() && ["DSA-", "DLA-", "DTSA-"].iter().any(|p| id.starts_with(p)) {
        return &adv.related;
    }
    &[]
}

/// Partition hits into alias groups (union-find over shared ids).
fn group_hits(hits: &[Hit]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..hits.len()).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while let Some(&p) = parent.get(i) {
            if p == i {
                break;
            }
            let gp = parent.get(p).copied().unwrap_or(p);
            if let Some(slot) = parent.get_mut(i) {
                *slot = gp;
            }
            i = p;
        }
        i
    }
    let mut owner: HashMap<String, usize> = HashMap::new();
    for (i, h) in hits.iter().enumerate() {
        for key in group_keys(&h.adv) {
            match owner.get(&key.to_ascii_uppercase()) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    if a != b {
                        if let Some(slot) = parent.get_mut(a) {
                            *slot = b;
                        }
                    }
                }
                None => {
                    owner.insert(key.to_ascii_uppercase(), i);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..hits.len() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    groups.into_values().collect()
}

/// Preference of ids as a group's `VulnerabilityID`: CVE, GHSA, PYSEC, then the rest.
fn id_rank(id: &str) -> (u8, &str) {
    let upper = id.to_ascii_uppercase();
    let rank = if upper.starts_with("CVE-") {
        0
    } else if upper.starts_with("GHSA-") {
        1
    } else if upper.starts_with("PYSEC-") {
        2
    } else {
        3
    };
    (rank, id)
}

fn pick_primary<'s>(ids: impl Iterator<Item = &'s str>) -> Option<&'s str> {
    ids.min_by(|a, b| id_rank(a).cmp(&id_rank(b)))
}

/// Severity from a score, with the thresholds of CVSS v3/v4.
pub fn severity_from_score(score: f64) -> Severity {
    if score >= 9.0 {
        Severity::Critical
    } else if score >= 7.0 {
        Severity::High
    } else if score >= 4.0 {
        Severity::Medium
    } else if score > 0.0 {
        Severity::Low
    } else {
        Severity::Unknown
    }
}

fn cvss_score(vector: &str) -> Option<f64> {
    let parsed: cvss::Cvss = vector.trim().parse().ok()?;
    let s = parsed.score();
    s.is_finite().then_some(s)
}

fn severity_entries(adv: &Advisory) -> impl Iterator<Item = &crate::advisory::SeverityEntry> {
    adv.severity
        .iter()
        .chain(adv.affected.iter().flat_map(|a| a.severity.iter()))
}

/// A record's own severity and where it came from.
pub fn record_severity(adv: &Advisory) -> Option<(Severity, &'static str)> {
    for (kind, label) in [("CVSS_V3", "cvss_v3"), ("CVSS_V4", "cvss_v4")] {
        for e in severity_entries(adv) {
            if e.kind.eq_ignore_ascii_case(kind) {
                if let Some(score) = cvss_score(&e.score) {
                    let sev = severity_from_score(score);
                    if sev != Severity::Unknown {
                        return Some((sev, label));
                    }
                }
            }
        }
    }
    let from_json = |v: Option<&serde_json::Value>| -> Option<Severity> {
        let s = v?.get("severity")?.as_str()?;
        s.parse::<Severity>()
            .ok()
            .filter(|s| *s != Severity::Unknown)
    };
    if let Some(s) = from_json(adv.database_specific.as_ref()) {
        return Some((s, "database_specific"));
    }
    for a in &adv.affected {
        if let Some(s) = from_json(a.database_specific.as_ref()) {
            return Some((s, "database_specific"));
        }
        if let Some(s) = from_json(a.ecosystem_specific.as_ref()) {
            return Some((s, "ecosystem_specific"));
        }
    }
    for e in severity_entries(adv) {
        if e.kind.eq_ignore_ascii_case("Ubuntu") {
            let s = match e.score.trim().to_ascii_lowercase().as_str() {
                "negligible" | "low" => Some(Severity::Low),
                "medium" => Some(Severity::Medium),
                "high" => Some(Severity::High),
                "critical" => Some(Severity::Critical),
                _ => None,
            };
            if let Some(s) = s {
                return Some((s, "ubuntu"));
            }
        }
    }
    None
}

fn cvss_entry(adv: &Advisory) -> Option<CvssEntry> {
    let mut entry = CvssEntry::default();
    for e in severity_entries(adv) {
        let score = cvss_score(&e.score);
        if e.kind.eq_ignore_ascii_case("CVSS_V3") && entry.v3_vector.is_none() && score.is_some() {
            entry.v3_vector = Some(e.score.trim().to_string());
            entry.v3_score = score;
        } else if e.kind.eq_ignore_ascii_case("CVSS_V4")
            && entry.v40_vector.is_none()
            && score.is_some()
        {
            entry.v40_vector = Some(e.score.trim().to_string());
            entry.v40_score = score;
        }
    }
    (entry.v3_vector.is_some() || entry.v40_vector.is_some()).then_some(entry)
}

/// The `CVSS` map key for a record: `nvd` for CVE records, `ghsa`, `pysec`, else the id's prefix.
fn cvss_source(id: &str) -> String {
    let prefix = id.split('-').next().unwrap_or(id).to_ascii_lowercase();
    match prefix.as_str() {
        "cve" => "nvd".to_string(),
        _ => prefix,
    }
}

fn title_of(adv: &Advisory) -> Option<String> {
    if let Some(s) = adv
        .summary
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        return Some(s.to_string());
    }
    adv.details
        .as_deref()
        .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
        .map(str::to_string)
}

fn primary_url_of(adv: &Advisory) -> String {
    for wanted in ["ADVISORY", "WEB"] {
        if let Some(r) = adv.references.iter().find(|r| {
            r.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(wanted))
                && !r.url.trim().is_empty()
        }) {
            return r.url.trim().to_string();
        }
    }
    format!("https://osv.dev/vulnerability/{}", adv.id.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::Event;

    fn range(kind: &str, events: &[(&str, &str)]) -> Range {
        Range {
            kind: kind.to_string(),
            repo: None,
            events: events
                .iter()
                .map(|(k, v)| {
                    let v = Some(v.to_string());
                    match *k {
                        "introduced" => Event {
                            introduced: v,
                            ..Default::default()
                        },
                        "fixed" => Event {
                            fixed: v,
                            ..Default::default()
                        },
                        "last_affected" => Event {
                            last_affected: v,
                            ..Default::default()
                        },
                        _ => Event {
                            limit: v,
                            ..Default::default()
                        },
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn range_semantics() {
        let r = range("ECOSYSTEM", &[("introduced", "0"), ("fixed", "2.0")]);
        let p = Scheme::Pep440;
        assert_eq!(range_affects(&r, "1.9", p), Ok(true));
        assert_eq!(range_affects(&r, "2.0", p), Ok(false));
        assert_eq!(range_affects(&r, "2.0rc1", p), Ok(true));
        // Two intervals, events listed out of order.
        let r = range(
            "ECOSYSTEM",
            &[
                ("fixed", "1.5"),
                ("introduced", "2.0"),
                ("introduced", "1.0"),
                ("fixed", "2.3"),
            ],
        );
        assert_eq!(range_affects(&r, "0.9", p), Ok(false));
        assert_eq!(range_affects(&r, "1.2", p), Ok(true));
        assert_eq!(range_affects(&r, "1.7", p), Ok(false));
        assert_eq!(range_affects(&r, "2.0", p), Ok(true));
        assert_eq!(range_affects(&r, "2.3", p), Ok(false));
        let r = range(
            "ECOSYSTEM",
            &[("introduced", "1.0"), ("last_affected", "1.4")],
        );
        assert_eq!(range_affects(&r, "1.4", p), Ok(true));
        assert_eq!(range_affects(&r, "1.4.1", p), Ok(false));
        let r = range("ECOSYSTEM", &[("introduced", "0"), ("limit", "3.0")]);
        assert_eq!(range_affects(&r, "2.9", p), Ok(true));
        assert_eq!(range_affects(&r, "3.0", p), Ok(false));
        let r = range("ECOSYSTEM", &[("introduced", "1.0"), ("fixed", "1.0")]);
        assert_eq!(range_affects(&r, "1.0", p), Ok(false));
        let r = range(
            "ECOSYSTEM",
            &[("introduced", "0"), ("fixed", "not-a-version")],
        );
        assert!(range_affects(&r, "1.0", p).is_err());
    }

    /// OSV's reference algorithm, literally: sort the events, walk them.
    fn osv_walk(v: u32, events: &[(u8, u32)]) -> bool {
        let mut sorted = events.to_vec();
        sorted.sort_by_key(|e| e.1);
        let mut vulnerable = false;
        for (kind, at) in sorted {
            match kind {
                0 if v >= at => vulnerable = true,
                1 if v >= at => vulnerable = false,
                2 if v > at => vulnerable = false,
                _ => {}
            }
        }
        vulnerable
    }

    proptest::proptest! {
        #[test]
        fn range_evaluation_matches_the_osv_walk(
            picks in proptest::collection::vec((0u8..3, 0u32..60), 1..8),
            v in 0u32..70,
            zero in proptest::bool::ANY,
        ) {
            // Distinct event versions: OSV leaves ties undefined.
            let mut seen = std::collections::HashSet::new();
            let mut events: Vec<(u8, u32)> =
                picks.into_iter().filter(|e| seen.insert(e.1)).collect();
            if zero && !seen.contains(&0) {
                events.push((0, 0));
            }
            let r = Range {
                kind: "ECOSYSTEM".into(),
                repo: None,
                events: events
                    .iter()
                    .map(|(k, at)| {
                        let s = Some(at.to_string());
                        match k {
                            0 => Event { introduced: s, ..Default::default() },
                            1 => Event { fixed: s, ..Default::default() },
                            _ => Event { last_affected: s, ..Default::default() },
                        }
                    })
                    .collect(),
            };
            let want = osv_walk(v, &events);
            proptest::prop_assert_eq!(
                range_affects(&r, &v.to_string(), Scheme::Pep440),
                Ok(want),
                "events {:?} version {}", events, v
            );
        }
    }

    #[test]
    fn releases_and_ecosystems() {
        let os = |n: &str| OsInfo {
            family: String::new(),
            name: n.to_string(),
        };
        assert_eq!(
            os_release(Ecosystem::Debian, Some(&os("12"))).as_deref(),
            Some("12")
        );
        assert_eq!(
            os_release(Ecosystem::Debian, Some(&os("12.7"))).as_deref(),
            Some("12")
        );
        assert_eq!(
            os_release(Ecosystem::Debian, Some(&os("trixie/sid"))).as_deref(),
            Some("13")
        );
        assert_eq!(
            os_release(Ecosystem::Alpine, Some(&os("3.20.3"))).as_deref(),
            Some("v3.20")
        );
        assert_eq!(
            os_release(Ecosystem::Alpine, Some(&os("3.21_alpha20240807"))).as_deref(),
            Some("v3.21")
        );
        assert_eq!(os_release(Ecosystem::Alpine, Some(&os("edge"))), None);
        assert_eq!(
            os_release(Ecosystem::Ubuntu, Some(&os("22.04"))).as_deref(),
            Some("22.04")
        );
        assert_eq!(
            os_release(Ecosystem::Ubuntu, Some(&os("22.04.4 LTS"))).as_deref(),
            Some("22.04")
        );
        let d = Ecosystem::Debian;
        assert!(ecosystem_applies("Debian:12", d, Some("12")));
        assert!(ecosystem_applies("Debian", d, Some("12")));
        assert!(ecosystem_applies("Debian", d, None));
        assert!(!ecosystem_applies("Debian:11", d, Some("12")));
        assert!(!ecosystem_applies("Debian:12", d, None));
        assert!(!ecosystem_applies("Ubuntu:12", d, Some("12")));
        let u = Ecosystem::Ubuntu;
        assert!(ecosystem_applies("Ubuntu:22.04:LTS", u, Some("22.04")));
        assert!(ecosystem_applies("Ubuntu:Pro:22.04:LTS", u, Some("22.04")));
        assert!(ecosystem_applies("Ubuntu:22.04", u, Some("22.04")));
        assert!(!ecosystem_applies("Ubuntu:20.04:LTS", u, Some("22.04")));
        assert!(!ecosystem_applies(
            "Ubuntu:Pro:FIPS:22.04:LTS",
            u,
            Some("22.04")
        ));
        let a = Ecosystem::Alpine;
        assert!(ecosystem_applies("Alpine:v3.20", a, Some("v3.20")));
        assert!(!ecosystem_applies("Alpine:v3.19", a, Some("v3.20")));
        assert!(ecosystem_applies("PyPI", Ecosystem::PyPI, None));
        assert!(!ecosystem_applies("npm", Ecosystem::PyPI, None));
    }

    #[test]
    fn severities() {
        assert_eq!(severity_from_score(9.8), Severity::Critical);
        assert_eq!(severity_from_score(7.0), Severity::High);
        assert_eq!(severity_from_score(6.9), Severity::Medium);
        assert_eq!(severity_from_score(0.1), Severity::Low);
        assert_eq!(
            cvss_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Some(9.8)
        );
        assert_eq!(cvss_score("garbage"), None);
        let adv = Advisory::from_json(
            br#"{"id": "GHSA-test", "database_specific": {"severity": "LOW"},
                 "severity": [{"type": "CVSS_V4",
                   "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]}"#,
        )
        .expect("valid record");
        assert_eq!(record_severity(&adv), Some((Severity::Critical, "cvss_v4")));
        assert_eq!(id_rank("GHSA-x").0, 1);
        assert_eq!(
            pick_primary(["PYSEC-2023-1", "GHSA-aaaa", "CVE-2023-2", "CVE-2023-1"].into_iter()),
            Some("CVE-2023-1")
        );
        assert_eq!(
            pick_primary(["PYSEC-2023-1", "GHSA-aaaa"].into_iter()),
            Some("GHSA-aaaa")
        );
    }
}
