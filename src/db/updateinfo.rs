//! Amazon Linux security advisories (ALAS) from a yum repository's `updateinfo.xml[.gz]`
//! (`repodata/repomd.xml` → `<data type="updateinfo">`), turned into OSV-shaped records.
//!
//! The schema, as Amazon Linux publishes it:
//!
//! ```xml
//! <updates>
//!   <update type="security" status="final" ...>
//!     <id>ALAS2023-2023-070</id> <title>...</title>
//!     <issued date="2023-02-14 19:37:00"/> <updated date="..."/>
//!     <severity>Medium</severity> <description>...</description>
//!     <references><reference type="cve" id="CVE-2022-46908" href="..."/></references>
//!     <pkglist><collection short="..."><package name="sqlite-libs" epoch="0" version="3.40.0"
//!       release="1.amzn2023.0.2" arch="x86_64"><filename>...</filename></package></collection></pkglist>
//!   </update>
//! </updates>
//! ```
//!
//! Each `<update type="security">` becomes one record: the ALAS id, the CVE ids as aliases (so CVE
//! enrichment applies), the ALAS severity in `database_specific.severity` (Critical/Important/
//! Medium/Low → CRITICAL/HIGH/MEDIUM/LOW), and one `affected` entry per binary package name with
//! its EVR as the `fixed` event. Source packages (`arch="src"`) are not installed and are left out.
//! Amazon Linux only publishes fixed issues, so every range has a fix.
//!
//! XML is read with `xmlparser` (already in the dependency tree through the AWS SDK): a tokenizer,
//! no DOM, no entity expansion beyond the five predefined entities and character references.

use crate::advisory::{Advisory, Affected, AffectedPackage, Event, Range, Reference};
use serde_json::json;
use std::collections::BTreeSet;
use xmlparser::{ElementEnd, Token, Tokenizer};

/// The OSV-style ecosystem of an Amazon Linux release: `Amazon Linux:2023`, `Amazon Linux:2`.
pub fn ecosystem(release: &str) -> String {
    format!("Amazon Linux:{release}")
}

/// Amazon Linux releases we know the advisory data of, as `--release` takes them.
pub const RELEASES: [&str; 3] = ["1", "2", "2023"];

/// What one `updateinfo.xml` gave.
#[derive(Debug, Default)]
pub struct Parsed {
    pub advisories: Vec<Advisory>,
    /// `<update>`s of another type (bugfix, enhancement, newpackage).
    pub not_security: u64,
    /// Security updates that name no installable package (only source rpms, or none).
    pub without_packages: u64,
}

/// One element of an `<update>`, as much of it as we use.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    fn child_text(&self, name: &str) -> Option<String> {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .filter(|t| !t.is_empty())
    }

    fn descendants<'a>(&'a self, name: &'a str, out: &mut Vec<&'a Node>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.descendants(name, out);
        }
    }
}

/// Replace the predefined entities and character references (`&amp;`, `&#10;`, `&#x41;`).
fn unescape(raw: &str) -> Result<String, String> {
    if !raw.contains('&') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(';').filter(|&e| e <= 10).ok_or_else(|| {
            format!(
                "unterminated entity near {:?}",
                &rest[i..rest.len().min(i + 12)]
            )
        })?;
        let entity = &after[..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{entity};"))?
            }
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parse an `updateinfo.xml` document for `release` (`2023`, `2`).
pub fn parse(xml: &str, release: &str) -> Result<Parsed, String> {
    let ecosystem = ecosystem(release);
    let mut parsed = Parsed::default();
    // The elements open around the tokenizer's position; `Some` once inside an `<update>`.
    let mut stack: Vec<Node> = Vec::new();
    let mut depth = 0usize;
    let mut root_seen = false;
    for token in Tokenizer::from(xml) {
        let token = token.map_err(|e| format!("not well-formed XML: {e}"))?;
        match token {
            Token::ElementStart { local, .. } => {
                depth += 1;
                if depth == 1 {
                    if local.as_str() != "updates" {
                        return Err(format!(
                            "the root element is <{}>, not <updates>: not an updateinfo.xml",
                            local.as_str()
                        ));
                    }
                    root_seen = true;
                } else if depth == 2 && local.as_str() == "update" || !stack.is_empty() {
                    stack.push(Node {
                        name: local.as_str().to_string(),
                        ..Node::default()
                    });
                }
            }
            Token::Attribute { local, value, .. } => {
                if let Some(node) = stack.last_mut() {
                    node.attrs
                        .push((local.as_str().to_string(), unescape(value.as_str())?));
                }
            }
            Token::Text { text } => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&unescape(text.as_str())?);
                }
            }
            Token::Cdata { text, .. } => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(text.as_str());
                }
            }
            Token::ElementEnd { end, .. } => {
                let closing = match end {
                    ElementEnd::Open => continue,
                    ElementEnd::Close(_, local) => Some(local.as_str()),
                    ElementEnd::Empty => None,
                };
                if depth == 0 {
                    return Err("not well-formed XML: a closing tag without an opening one".into());
                }
                depth -= 1;
                if let Some(node) = stack.pop() {
                    if closing.is_some_and(|c| c != node.name) {
                        return Err(format!(
                            "not well-formed XML: </{}> closes <{}>",
                            closing.unwrap_or_default(),
                            node.name
                        ));
                    }
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => convert(&node, &ecosystem, &mut parsed)?,
                    }
                }
            }
            _ => {}
        }
    }
    if !root_seen {
        return Err("no <updates> element: not an updateinfo.xml".into());
    }
    if depth != 0 {
        return Err("the document ends inside an element (truncated?)".into());
    }
    Ok(parsed)
}

/// ALAS severity → ours. Amazon uses Critical, Important, Medium, Low (and `None` on a few
/// old records, which is no severity).
fn severity(alas: &str) -> Option<&'static str> {
    match alas.trim().to_ascii_lowercase().as_str() {
        "critical" => Some("CRITICAL"),
        "important" | "high" => Some("HIGH"),
        "medium" | "moderate" => Some("MEDIUM"),
        "low" => Some("LOW"),
        _ => None,
    }
}

/// `2023-02-14 19:37:00` or `2019-01-03 18:17` (UTC) → RFC 3339; `None` for anything else.
fn date(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let (day, time) = raw.split_once(' ').unwrap_or((raw, "00:00:00"));
    let time = match time.len() {
        5 => format!("{time}:00"),
        8 => time.to_string(),
        _ => return None,
    };
    let text = format!("{day}T{time}Z");
    time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(text)
}

fn convert(update: &Node, ecosystem: &str, parsed: &mut Parsed) -> Result<(), String> {
    if update.attr("type") != Some("security") {
        parsed.not_security += 1;
        return Ok(());
    }
    let id = update
        .child_text("id")
        .ok_or("a security <update> without an <id>")?;
    let mut refs = Vec::new();
    update.descendants("reference", &mut refs);
    let mut aliases = BTreeSet::new();
    let mut references = Vec::new();
    for r in refs {
        if r.attr("type") == Some("cve") {
            if let Some(cve) = r
                .attr("id")
                .map(str::trim)
                .filter(|c| c.starts_with("CVE-"))
            {
                aliases.insert(cve.to_string());
            }
        }
        if let Some(href) = r.attr("href").map(str::trim).filter(|h| !h.is_empty()) {
            references.push(Reference {
                kind: Some(
                    if r.attr("type") == Some("cve") {
                        "WEB"
                    } else {
                        "ADVISORY"
                    }
                    .into(),
                ),
                url: href.to_string(),
            });
        }
    }
    let mut packages = Vec::new();
    update.descendants("package", &mut packages);
    // (name, evr) pairs in document order, once each; the arches of each.
    let mut fixed: Vec<(String, String, BTreeSet<String>)> = Vec::new();
    for p in packages {
        let (Some(name), Some(version)) = (p.attr("name"), p.attr("version")) else {
            return Err(format!("{id}: a <package> without name or version"));
        };
        let arch = p.attr("arch").unwrap_or_default();
        if arch == "src" || arch == "nosrc" {
            continue;
        }
        let epoch = p
            .attr("epoch")
            .map(str::trim)
            .filter(|e| !e.is_empty() && *e != "0")
            .map(|e| {
                e.parse::<u32>()
                    .map_err(|_| format!("{id}: {name}: epoch {e:?} is not a number"))
            })
            .transpose()?;
        let evr = crate::version::rpm::format_evr(
            epoch,
            version.trim(),
            p.attr("release").unwrap_or_default().trim(),
        );
        if !crate::version::rpm::is_valid(&evr) {
            return Err(format!("{id}: {name}: {evr:?} is not an rpm version"));
        }
        match fixed.iter_mut().find(|(n, e, _)| n == name && *e == evr) {
            Some((_, _, arches)) => {
                arches.insert(arch.to_string());
            }
            None => fixed.push((name.to_string(), evr, [arch.to_string()].into())),
        }
    }
    if fixed.is_empty() {
        parsed.without_packages += 1;
        return Ok(());
    }
    let alas_severity = update.child_text("severity");
    let issued = update.child("issued").and_then(|n| n.attr("date"));
    let updated = update.child("updated").and_then(|n| n.attr("date"));
    let mut specific = serde_json::Map::new();
    if let Some(s) = &alas_severity {
        specific.insert("alas_severity".into(), json!(s));
        if let Some(ours) = severity(s) {
            specific.insert("severity".into(), json!(ours));
        }
    }
    let adv = Advisory {
        id: id.clone(),
        modified: updated.and_then(date).or_else(|| issued.and_then(date)),
        published: issued.and_then(date),
        withdrawn: None,
        aliases: aliases.into_iter().collect(),
        related: Vec::new(),
        upstream: Vec::new(),
        summary: update.child_text("title"),
        details: update.child_text("description"),
        severity: Vec::new(),
        affected: fixed
            .into_iter()
            .map(|(name, evr, arches)| Affected {
                package: Some(AffectedPackage {
                    ecosystem: ecosystem.to_string(),
                    name,
                    purl: None,
                }),
                severity: Vec::new(),
                ranges: vec![Range {
                    kind: "ECOSYSTEM".into(),
                    repo: None,
                    events: vec![
                        Event {
                            introduced: Some("0".into()),
                            ..Event::default()
                        },
                        Event {
                            fixed: Some(evr),
                            ..Event::default()
                        },
                    ],
                }],
                versions: Vec::new(),
                ecosystem_specific: None,
                database_specific: Some(json!({ "arches": arches })),
            })
            .collect(),
        references,
        database_specific: Some(serde_json::Value::Object(specific)),
    };
    adv.validate().map_err(|e| e.to_string())?;
    parsed.advisories.push(adv);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<updates>
  <update author="linux-security@amazon.com" from="linux-security@amazon.com" status="final" type="security" version="2.0">
    <id>ALAS2023-2023-070</id>
    <title>Amazon Linux 2023 - ALAS2023-2023-070: medium priority package update for sqlite</title>
    <issued date="2023-02-14 19:37:00" />
    <updated date="2023-02-17 00:12" />
    <severity>Medium</severity>
    <description>SQLite through 3.40.0 &amp; the CLI's --safe mode &lt;x&gt;&#10;</description>
    <references>
      <reference href="https://www.cve.org/CVERecord?id=CVE-2022-46908" id="CVE-2022-46908" title="" type="cve" />
    </references>
    <pkglist>
      <collection short="amazon-linux-2023">
        <name>amazon-linux-2023</name>
        <package arch="src" epoch="0" name="sqlite" release="1.amzn2023.0.2" version="3.40.0"><filename>x.src.rpm</filename></package>
        <package arch="x86_64" epoch="0" name="sqlite-libs" release="1.amzn2023.0.2" version="3.40.0"><filename>a.rpm</filename></package>
        <package arch="aarch64" epoch="0" name="sqlite-libs" release="1.amzn2023.0.2" version="3.40.0"><filename>b.rpm</filename></package>
        <package arch="x86_64" epoch="1" name="sqlite" release="1.amzn2023.0.2" version="3.40.0"/>
      </collection>
    </pkglist>
  </update>
  <update type="bugfix"><id>ALAS2023-2023-071</id><pkglist/></update>
  <update type="security"><id>ALAS2023-2023-072</id><pkglist><collection><package arch="src" name="x" version="1" release="1"/></collection></pkglist></update>
</updates>"#;

    #[test]
    fn reads_the_real_schema() {
        let p = parse(SAMPLE, "2023").unwrap();
        assert_eq!((p.not_security, p.without_packages), (1, 1));
        assert_eq!(p.advisories.len(), 1);
        let a = &p.advisories[0];
        assert_eq!(a.id, "ALAS2023-2023-070");
        assert_eq!(a.aliases, ["CVE-2022-46908"]);
        assert_eq!(a.published.as_deref(), Some("2023-02-14T19:37:00Z"));
        assert_eq!(a.modified.as_deref(), Some("2023-02-17T00:12:00Z"));
        assert_eq!(
            a.details.as_deref(),
            Some("SQLite through 3.40.0 & the CLI's --safe mode <x>")
        );
        let spec = a.database_specific.as_ref().unwrap();
        assert_eq!(spec["severity"], "MEDIUM");
        assert_eq!(spec["alas_severity"], "Medium");
        let fixed: Vec<(String, String, String)> = a
            .affected
            .iter()
            .map(|x| {
                let p = x.package.as_ref().unwrap();
                (
                    p.ecosystem.clone(),
                    p.name.clone(),
                    x.ranges[0].events[1].fixed.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            fixed,
            [
                (
                    "Amazon Linux:2023".to_string(),
                    "sqlite-libs".to_string(),
                    "3.40.0-1.amzn2023.0.2".to_string()
                ),
                (
                    "Amazon Linux:2023".to_string(),
                    "sqlite".to_string(),
                    "1:3.40.0-1.amzn2023.0.2".to_string()
                ),
            ]
        );
        assert_eq!(
            a.affected[0].database_specific.as_ref().unwrap()["arches"],
            json!(["aarch64", "x86_64"])
        );
    }

    #[test]
    fn severities_and_errors() {
        assert_eq!(severity("Critical"), Some("CRITICAL"));
        assert_eq!(severity("Important"), Some("HIGH"));
        assert_eq!(severity("Low"), Some("LOW"));
        assert_eq!(severity("None"), None);
        assert!(parse("<repomd/>", "2")
            .unwrap_err()
            .contains("not <updates>"));
        assert!(parse("", "2").unwrap_err().contains("no <updates>"));
        assert!(parse("<updates><update", "2").is_err());
        assert!(parse("<updates><update type=\"security\"><id>A</id>", "2")
            .unwrap_err()
            .contains("truncated"));
        assert!(parse("<updates><update><id>A</x></update></updates>", "2")
            .unwrap_err()
            .contains("closes"));
        assert!(parse(
            r#"<updates><update type="security"><pkglist><package name="a" version="1"/></pkglist></update></updates>"#,
            "2"
        )
        .unwrap_err()
        .contains("without an <id>"));
        assert!(unescape("&bogus;").is_err());
        assert!(unescape("a & b").is_err());
    }

    proptest::proptest! {
        #[test]
        fn no_panic(s in "(<updates>|<update type=\"security\">|<id>A</id>|<package name=\"a\" version=\"1\" release=\"2\" epoch=\"x\"/>|</update>|</updates>|&amp;|&#|<|>|\"|[a-z ]){0,40}") {
            let _ = parse(&s, "2");
        }
    }
}
