//! Image references as users write them, resolved to the host we actually talk to.
//!
//! Docker's conventions decide the shorthand: a first path component without a dot or a colon
//! (and not `localhost`) is a Docker Hub repository, `alpine` is `library/alpine`, and a missing
//! tag is `latest`. Docker Hub's API lives on `registry-1.docker.io`, while credentials for it are
//! stored under `https://index.docker.io/v1/`.

use anyhow::{bail, Context};

/// The registry host used for Docker Hub's API.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The host (and port) requests go to: `registry-1.docker.io`, `localhost:5000`, ...
    pub host: String,
    /// Repository path inside the registry: `library/alpine`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<hex>` when the reference pins a digest.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parse `host[:port]/repo[:tag][@digest]` or the Docker Hub shorthand.
    pub fn parse(input: &str) -> anyhow::Result<ImageRef> {
        let s = input.trim();
        if s.is_empty() {
            bail!("empty image reference");
        }
        // skopeo's transport prefix for registries.
        let s = s.strip_prefix("docker://").unwrap_or(s);
        // `user:password@host/...` is not a reference; say so without echoing the secret.
        let after_scheme = s.split_once("://").map_or(s, |(_, rest)| rest);
        // (A digest after '@' never contains '/'; a host and repository do.)
        if let Some((before, after)) = after_scheme.split_once('@') {
            if !before.contains('/') && after.contains('/') {
                bail!("an image reference must not contain credentials (user:password@host); use --username with --password-stdin instead");
            }
        }
        if s.contains("://") {
            bail!(
                "image reference {s:?} must not contain a URL scheme (write host/repository:tag)"
            );
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (
                n,
                Some(parse_digest(d).with_context(|| format!("image reference {s:?}"))?),
            ),
            None => (s, None),
        };
        // A tag is after the last ':' that comes after the last '/'.
        let last_slash = name_tag.rfind('/');
        let (name, tag) = match name_tag.rfind(':') {
            Some(colon) if last_slash.is_none_or(|sl| colon > sl) => {
                let (n, t) = name_tag.split_at(colon);
                (n, Some(t.trim_start_matches(':').to_string()))
            }
            _ => (name_tag, None),
        };
        if let Some(t) = &tag {
            let valid = !t.is_empty()
                && t.len() <= 128
                && t.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !valid {
                bail!("image reference {s:?}: invalid tag {t:?}");
            }
        }
        let (host, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let host = match host.as_str() {
            "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_HOST.to_string(),
            _ => host,
        };
        let repository = if host == DOCKER_HUB_HOST && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        validate_host(&host).with_context(|| format!("image reference {s:?}"))?;
        validate_repository(&repository).with_context(|| format!("image reference {s:?}"))?;
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(ImageRef {
            host,
            repository,
            tag,
            digest,
        })
    }

    /// Whether this is Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.host == DOCKER_HUB_HOST
    }

    /// The name users know: `alpine`, `user/app`, `localhost:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.is_docker_hub() {
            let repo = self
                .repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository);
            repo.to_string()
        } else {
            format!("{}/{}", self.host, self.repository)
        }
    }

    /// The tag or digest requests name.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The reference in oci-client's form, with the host we connect to as its registry.
    pub fn to_oci(&self) -> oci_client::Reference {
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => oci_client::Reference::with_tag_and_digest(
                self.host.clone(),
                self.repository.clone(),
                t.clone(),
                d.clone(),
            ),
            (None, Some(d)) => oci_client::Reference::with_digest(
                self.host.clone(),
                self.repository.clone(),
                d.clone(),
            ),
            (t, None) => oci_client::Reference::with_tag(
                self.host.clone(),
                self.repository.clone(),
                t.clone().unwrap_or_else(|| "latest".into()),
            ),
        }
    }

    /// The same repository, pinned to `digest` (tag dropped).
    pub fn with_digest(&self, digest: &str) -> ImageRef {
        ImageRef {
            digest: Some(digest.to_string()),
            tag: None,
            ..self.clone()
        }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `sha256:<64 hex>` (lowercase); other algorithms are refused, since everything downstream
/// verifies with sha256.
pub fn parse_digest(d: &str) -> anyhow::Result<String> {
    let Some(hex) = d.strip_prefix("sha256:") else {
        bail!(
            "unsupported digest {:?} (expected sha256:<64 hex digits>)",
            crate::limits::shown(d)
        );
    };
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        bail!(
            "invalid digest {:?} (expected sha256:<64 lowercase hex digits>)",
            crate::limits::shown(d)
        );
    }
    Ok(d.to_string())
}

fn validate_host(host: &str) -> anyhow::Result<()> {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(']') || host.starts_with('[') => (n, Some(p)),
        _ => (host, None),
    };
    if let Some(p) = port {
        if p.parse::<u16>().is_err() {
            bail!("invalid registry port {p:?}");
        }
    }
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    if !ok {
        bail!("invalid registry host {host:?}");
    }
    Ok(())
}

fn validate_repository(repo: &str) -> anyhow::Result<()> {
    if repo.is_empty() || repo.len() > 255 {
        bail!("invalid repository name {repo:?}");
    }
    for comp in repo.split('/') {
        let ok = !comp.is_empty()
            && comp.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
            && comp
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && comp
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric());
        if !ok {
            bail!("invalid repository name {repo:?} (lowercase letters, digits, '.', '_', '-', separated by '/')");
        }
    }
    Ok(())
}

/// A private ECR registry host: `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrHost {
    pub account: String,
    pub region: String,
    pub fips: bool,
}

impl EcrHost {
    pub fn parse(host: &str) -> Option<EcrHost> {
        let host = host.split(':').next().unwrap_or(host);
        let rest = host
            .strip_suffix(".amazonaws.com")
            .or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
        let mut parts = rest.split('.');
        let account = parts.next()?;
        if parts.next()? != "dkr" {
            return None;
        }
        let ecr = parts.next()?;
        let fips = match ecr {
            "ecr" => false,
            "ecr-fips" => true,
            _ => return None,
        };
        let region = parts.next()?;
        if parts.next().is_some()
            || account.len() != 12
            || !account.bytes().all(|b| b.is_ascii_digit())
            || region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return None;
        }
        Some(EcrHost {
            account: account.to_string(),
            region: region.to_string(),
            fips,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e:#}"))
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn docker_hub_shorthand() {
        let r = p("alpine:3.20");
        assert_eq!(r.host, "registry-1.docker.io");
        assert_eq!(r.repository, "library/alpine");
        assert_eq!(r.tag.as_deref(), Some("3.20"));
        assert_eq!(r.to_string(), "registry-1.docker.io/library/alpine:3.20");
        assert_eq!(r.familiar_name(), "alpine");

        let r = p("user/app");
        assert_eq!(r.host, "registry-1.docker.io");
        assert_eq!(r.repository, "user/app");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.familiar_name(), "user/app");

        assert_eq!(
            p("docker.io/library/python:3.12-slim"),
            p("python:3.12-slim")
        );
        assert_eq!(p("index.docker.io/user/app"), p("user/app"));
        assert_eq!(p("docker://alpine:3.20"), p("alpine:3.20"));
    }

    #[test]
    fn hosts_ports_and_digests() {
        let r = p("localhost:5000/app:dev");
        assert_eq!(
            (r.host.as_str(), r.repository.as_str()),
            ("localhost:5000", "app")
        );
        assert_eq!(r.tag.as_deref(), Some("dev"));

        let r = p("localhost/app");
        assert_eq!(r.host, "localhost");

        let r = p(&format!("127.0.0.1:5000/a/b/c@{D}"));
        assert_eq!(r.host, "127.0.0.1:5000");
        assert_eq!(r.repository, "a/b/c");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.reference(), D);

        let r = p(&format!("ghcr.io/o/app:1.0@{D}"));
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.reference(), D);

        let r = p("public.ecr.aws/lambda/python:3.12");
        assert_eq!(r.host, "public.ecr.aws");
        assert_eq!(r.repository, "lambda/python");

        let o = p(&format!("localhost:5000/app@{D}")).to_oci();
        assert_eq!(o.resolve_registry(), "localhost:5000");
        assert_eq!(o.repository(), "app");
        assert_eq!(o.digest(), Some(D));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "Alpine",
            "https://ghcr.io/a/b",
            "alpine@sha256:abc",
            "alpine@md5:0123456789abcdef0123456789abcdef",
            "alpine:",
            "alpine:-x",
            "host:notaport/app",
            "a//b",
            "app/",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn credentials_in_a_reference_are_not_echoed() {
        let e = ImageRef::parse("bob:hunter2@ghcr.io/o/app:1").unwrap_err();
        assert!(!format!("{e:#}").contains("hunter2"), "{e:#}");
        let e = ImageRef::parse("https://bob:hunter2@ghcr.io/o/app").unwrap_err();
        assert!(!format!("{e:#}").contains("hunter2"), "{e:#}");
        assert!(ImageRef::parse(&format!("alpine@{D}")).is_ok());
        assert!(ImageRef::parse(&format!("alpine:3.20@{D}")).is_ok());
    }

    #[test]
    fn ecr_hosts() {
        let e = EcrHost::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap();
        assert_eq!(e.region, "eu-west-1");
        assert_eq!(e.account, "123456789012");
        assert!(!e.fips);
        let e = EcrHost::parse("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com").unwrap();
        assert!(e.fips);
        let e = EcrHost::parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").unwrap();
        assert_eq!(e.region, "cn-north-1");
        assert!(EcrHost::parse("public.ecr.aws").is_none());
        assert!(EcrHost::parse("12345.dkr.ecr.eu-west-1.amazonaws.com").is_none());
        assert!(EcrHost::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.io").is_none());
        assert!(EcrHost::parse("localhost:5000").is_none());
    }
}
