//! Manifests and indexes as the registry sends them, and picking one platform from an index.
//!
//! Parsed with our own small serde types rather than oci-client's, so that an unknown
//! architecture or OS string in an index is data to report, not a parse failure.

use anyhow::{bail, Context};
use serde::Deserialize;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// What we ask for: the four media types we can read (never schema 1).
pub const ACCEPTED: &[&str] = &[OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: Option<i64>,
    #[serde(default)]
    pub platform: Option<PlatformSpec>,
    #[serde(default)]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PlatformSpec {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    schema_version: Option<i64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// A parsed manifest document.
#[derive(Debug)]
pub enum Document {
    Index(Vec<Descriptor>),
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
}

/// Parse a manifest or index. `content_type` is the response's media type when known.
pub fn parse(body: &[u8], what: &str) -> anyhow::Result<Document> {
    let raw: Raw = serde_json::from_slice(body)
        .with_context(|| format!("manifest {what} is not valid JSON"))?;
    if raw.schema_version == Some(1) {
        bail!("manifest {what} uses Docker schema 1, which is not supported (re-push the image with a current client)");
    }
    let mt = raw.media_type.as_deref().unwrap_or("");
    if mt == OCI_INDEX || mt == DOCKER_LIST || (mt.is_empty() && raw.manifests.is_some()) {
        return Ok(Document::Index(raw.manifests.unwrap_or_default()));
    }
    if !mt.is_empty() && mt != OCI_MANIFEST && mt != DOCKER_MANIFEST {
        bail!("manifest {what} has unsupported media type {mt:?}");
    }
    let config = raw
        .config
        .with_context(|| format!("manifest {what} has no config descriptor"))?;
    Ok(Document::Image {
        config,
        layers: raw.layers.unwrap_or_default(),
    })
}

/// A requested platform, `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl std::str::FromStr for Platform {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Platform> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, v] => (*os, *arch, Some(v.to_string())),
            _ => bail!("invalid --platform {s:?} (expected os/arch[/variant], e.g. linux/arm64)"),
        };
        if os.is_empty() || arch.is_empty() || variant.as_deref() == Some("") {
            bail!("invalid --platform {s:?} (expected os/arch[/variant], e.g. linux/arm64)");
        }
        Ok(Platform {
            os: os.to_ascii_lowercase(),
            arch: normalize_arch(&arch.to_ascii_lowercase()),
            variant,
        })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

fn normalize_arch(a: &str) -> String {
    match a {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.into(),
    }
}

impl Platform {
    fn matches(&self, p: &PlatformSpec) -> bool {
        if p.os.to_ascii_lowercase() != self.os
            || normalize_arch(&p.architecture.to_ascii_lowercase()) != self.arch
        {
            return false;
        }
        match (
            &self.variant,
            p.variant.as_deref().filter(|v| !v.is_empty()),
        ) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            // arm64 images usually leave out their (only) variant v8.
            (Some(want), None) => self.arch == "arm64" && want == "v8",
        }
    }
}

/// Attestation and other non-image entries (`unknown/unknown`) are not candidates.
fn is_image_entry(d: &Descriptor) -> bool {
    let attestation = d
        .annotations
        .as_ref()
        .and_then(|a| a.get("vnd.docker.reference.type"))
        .is_some_and(|t| t == "attestation-manifest");
    let unknown = d
        .platform
        .as_ref()
        .is_some_and(|p| p.os == "unknown" || p.architecture == "unknown");
    !attestation && !unknown
}

/// Pick the index entry for `want`. With no variant requested, an entry without a variant (or
/// `v8` for arm64) is preferred over other variants. None matching → an error listing what the
/// index offers.
pub fn select<'a>(
    entries: &'a [Descriptor],
    want: &Platform,
    what: &str,
) -> anyhow::Result<&'a Descriptor> {
    let candidates: Vec<&Descriptor> = entries
        .iter()
        .filter(|d| is_image_entry(d))
        .filter(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .collect();
    let preferred = candidates.iter().find(|d| {
        d.platform.as_ref().is_some_and(|p| {
            p.variant.as_deref().is_none_or(|v| v.is_empty())
                || (want.arch == "arm64" && p.variant.as_deref() == Some("v8"))
        })
    });
    if let Some(d) = preferred.or(candidates.first()) {
        return Ok(d);
    }
    let mut offered: Vec<String> = entries
        .iter()
        .filter(|d| is_image_entry(d))
        .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
        .collect();
    offered.dedup();
    if offered.is_empty() {
        bail!("image index {what} lists no platform-specific images");
    }
    bail!(
        "image index {what} has no image for platform {want}; it offers: {} (choose one with --platform)",
        offered.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:aa", "size": 1,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:bb", "size": 1,
         "platform": {"architecture": "arm", "os": "linux", "variant": "v6"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:cc", "size": 1,
         "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:dd", "size": 1,
         "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:ee", "size": 1,
         "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
         "platform": {"architecture": "unknown", "os": "unknown"}}
      ]}"#;

    fn pick(p: &str) -> anyhow::Result<String> {
        let Document::Index(entries) = parse(INDEX.as_bytes(), "t").unwrap() else {
            panic!("not an index")
        };
        select(&entries, &p.parse()?, "t").map(|d| d.digest.clone())
    }

    #[test]
    fn selects_platforms() {
        assert_eq!(pick("linux/amd64").unwrap(), "sha256:aa");
        assert_eq!(pick("linux/x86_64").unwrap(), "sha256:aa");
        assert_eq!(pick("linux/arm64").unwrap(), "sha256:dd");
        assert_eq!(pick("linux/aarch64/v8").unwrap(), "sha256:dd");
        assert_eq!(pick("linux/arm/v7").unwrap(), "sha256:cc");
        assert_eq!(pick("linux/arm/v6").unwrap(), "sha256:bb");
    }

    #[test]
    fn no_match_lists_offers() {
        let e = pick("linux/s390x").unwrap_err().to_string();
        assert!(
            e.contains("linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8"),
            "{e}"
        );
        assert!(!e.contains("unknown"), "{e}");
        assert!(pick("windows/amd64").is_err());
        assert!(pick("linux/arm/v5").is_err());
        assert!("linux".parse::<Platform>().is_err());
        assert!("linux/amd64/".parse::<Platform>().is_err());
        assert!("a/b/c/d".parse::<Platform>().is_err());
    }

    #[test]
    fn parses_manifests() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
          "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:c","size":2},
          "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:l","size":3}]}"#;
        match parse(m, "t").unwrap() {
            Document::Image { config, layers } => {
                assert_eq!(config.digest, "sha256:c");
                assert_eq!(layers.len(), 1);
                assert_eq!(layers[0].size, Some(3));
            }
            Document::Index(_) => panic!("not an index"),
        }
        assert!(parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, "t").is_err());
        assert!(parse(b"not json", "t").is_err());
        assert!(parse(br#"{"schemaVersion":2,"mediaType":"text/plain"}"#, "t").is_err());
    }
}
