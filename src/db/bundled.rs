//! The curated sample in `advisories/*.json`, compiled into the binary (see `build.rs`), served from
//! memory so that a scan works out of the box, without a database or network. Also a plain in-memory
//! [`AdvisoryStore`] for tests.

use super::{canonical_base, AdvisoryStore};
use crate::advisory::{normalize_name, Advisory};
use std::collections::{BTreeMap, HashMap};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/bundled_advisories.rs"));
}

/// `(file name, contents)` of the bundled records.
pub fn bundled_files() -> &'static [(&'static str, &'static str)] {
    generated::BUNDLED
}

/// Advisories held in memory, indexed like the database: by (ecosystem base, normalised name), by id
/// and by alias.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    records: Vec<Advisory>,
    by_name: HashMap<(&'static str, String), Vec<usize>>,
    by_id: HashMap<String, usize>,
    by_alias: HashMap<String, usize>,
}

impl MemoryStore {
    /// Index `records`. A later record with the same id replaces an earlier one.
    pub fn new(records: Vec<Advisory>) -> MemoryStore {
        let mut dedup: Vec<Advisory> = Vec::with_capacity(records.len());
        let mut pos: HashMap<String, usize> = HashMap::new();
        for r in records {
            match pos.get(&r.id) {
                Some(&i) => {
                    if let Some(slot) = dedup.get_mut(i) {
                        *slot = r;
                    }
                }
                None => {
                    pos.insert(r.id.clone(), dedup.len());
                    dedup.push(r);
                }
            }
        }
        let mut store = MemoryStore {
            records: dedup,
            ..MemoryStore::default()
        };
        for (i, adv) in store.records.iter().enumerate() {
            store.by_id.insert(adv.id.clone(), i);
            for alias in &adv.aliases {
                store.by_alias.entry(alias.clone()).or_insert(i);
            }
            let mut keys: Vec<(&'static str, String)> = adv
                .affected
                .iter()
                .filter_map(|a| a.package.as_ref())
                .filter_map(|p| {
                    let base = canonical_base(Advisory::ecosystem_base(&p.ecosystem))?;
                    Some((base, normalize_name(base, p.name.trim())))
                })
                .collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                store.by_name.entry(k).or_default().push(i);
            }
        }
        store
    }

    /// The records compiled into the binary. A record that fails validation is an error naming the
    /// file (the unit test below keeps that from ever shipping).
    pub fn bundled() -> anyhow::Result<MemoryStore> {
        let mut records = Vec::with_capacity(bundled_files().len());
        for (name, text) in bundled_files() {
            let adv = Advisory::from_json(text.as_bytes()).map_err(|e| {
                anyhow::anyhow!("bundled advisory advisories/{name} is invalid: {e}")
            })?;
            records.push(adv);
        }
        Ok(MemoryStore::new(records))
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records per ecosystem base (a record affecting two ecosystems counts in both).
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut out: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
        for ((base, _), ids) in &self.by_name {
            out.entry(base).or_default().extend(ids.iter().copied());
        }
        out.into_iter()
            .map(|(k, mut v)| {
                v.sort_unstable();
                v.dedup();
                (k, v.len())
            })
            .collect()
    }
}

impl AdvisoryStore for MemoryStore {
    fn advisories_for(&self, ecosystem_base: &str, name: &str) -> anyhow::Result<Vec<Advisory>> {
        let Some(base) = canonical_base(ecosystem_base) else {
            return Ok(Vec::new());
        };
        let key = (base, normalize_name(base, name.trim()));
        Ok(self
            .by_name
            .get(&key)
            .map(|ids| {
                ids.iter()
                    .filter_map(|&i| self.records.get(i).cloned())
                    .collect()
            })
            .unwrap_or_default())
    }

    fn advisory_by_id(&self, id: &str) -> anyhow::Result<Option<Advisory>> {
        let id = id.trim();
        let idx = self.by_id.get(id).or_else(|| self.by_alias.get(id));
        Ok(idx.and_then(|&i| self.records.get(i).cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(json: &str) -> Advisory {
        Advisory::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn every_bundled_record_is_valid_and_named_after_its_id() {
        for (name, text) in bundled_files() {
            let adv = Advisory::from_json(text.as_bytes())
                .unwrap_or_else(|e| panic!("advisories/{name}: {e}"));
            assert_eq!(
                name.trim_end_matches(".json"),
                adv.id,
                "advisories/{name}: the file must be named <id>.json"
            );
            assert!(
                adv.affected.iter().any(|a| a
                    .package
                    .as_ref()
                    .is_some_and(
                        |p| canonical_base(Advisory::ecosystem_base(&p.ecosystem)).is_some()
                    )),
                "advisories/{name}: no package in a supported ecosystem"
            );
        }
        let store = MemoryStore::bundled().unwrap();
        assert_eq!(store.len(), bundled_files().len());
    }

    #[test]
    fn lookup_by_normalised_name_id_and_alias() {
        let store = MemoryStore::new(vec![
            rec(
                r#"{"id":"PYSEC-1","aliases":["CVE-2020-1","GHSA-x"],"affected":[
                {"package":{"ecosystem":"PyPI","name":"Flask_Cors"},"versions":["1.0"]}]}"#,
            ),
            rec(r#"{"id":"DSA-1","affected":[
                {"package":{"ecosystem":"Debian:12","name":"openssl"},"versions":["3.0"]},
                {"package":{"ecosystem":"npm","name":"openssl"},"versions":["3.0"]}]}"#),
        ]);
        let hits = store.advisories_for("PyPI", "flask.cors").unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].id, "PYSEC-1");
        assert!(store.advisories_for("PyPI", "flask").unwrap().is_empty());
        assert_eq!(store.advisories_for("Debian", "openssl").unwrap().len(), 1);
        // Debian names are case-sensitive and not PEP 503-normalised.
        assert!(store
            .advisories_for("Debian", "OpenSSL")
            .unwrap()
            .is_empty());
        assert!(store.advisories_for("npm", "openssl").unwrap().is_empty());
        assert_eq!(
            store.advisory_by_id("GHSA-x").unwrap().map(|a| a.id),
            Some("PYSEC-1".to_string())
        );
        assert_eq!(
            store.advisory_by_id("DSA-1").unwrap().map(|a| a.id),
            Some("DSA-1".to_string())
        );
        assert!(store.advisory_by_id("CVE-0").unwrap().is_none());
        assert_eq!(store.counts().get("Debian"), Some(&1));
    }

    #[test]
    fn a_later_record_with_the_same_id_replaces_the_earlier() {
        let store = MemoryStore::new(vec![
            rec(r#"{"id":"A","affected":[{"package":{"ecosystem":"PyPI","name":"x"}}]}"#),
            rec(r#"{"id":"A","affected":[{"package":{"ecosystem":"PyPI","name":"y"}}]}"#),
        ]);
        assert_eq!(store.len(), 1);
        assert!(store.advisories_for("PyPI", "x").unwrap().is_empty());
        assert_eq!(store.advisories_for("PyPI", "y").unwrap().len(), 1);
    }
}
