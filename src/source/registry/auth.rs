//! Registry credentials: the chain that finds them and the ECR token exchange.
//!
//! Credentials are secrets: [`Credentials`] has a redacting `Debug`, nothing here logs or formats a
//! password or token, and errors name the registry and where credentials came from, never their value.

use super::reference::{EcrHost, ImageRef};
use crate::cli::RegistryArgs;
use anyhow::{bail, Context};
use base64::Engine;
use std::io::Read;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    /// HTTP Basic (also what a bearer-token service is sent to get a token).
    Basic {
        username: String,
        password: String,
    },
    /// A registry bearer token, sent as is.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { .. } => f.write_str("Basic(<redacted>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    pub(crate) fn to_oci(&self) -> oci_client::secrets::RegistryAuth {
        use oci_client::secrets::RegistryAuth;
        match self {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credentials::Bearer(t) => RegistryAuth::Bearer(t.clone()),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Credentials::Anonymous)
    }
}

/// Where the credentials in use came from (for messages; never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Given by the caller (e.g. the ECR hook).
    Explicit,
    /// `--username/--password`, `--password-stdin` or `LAYERSCAN_USERNAME/LAYERSCAN_PASSWORD`.
    Flags,
    /// `--registry-token` / `LAYERSCAN_REGISTRY_TOKEN`.
    Token,
    /// The docker config file (`auths`, `credsStore` or `credHelpers`).
    DockerConfig,
    /// ECR `GetAuthorizationToken` through the AWS credential chain.
    Ecr,
    None,
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialSource::Explicit => "the credentials given by the caller",
            CredentialSource::Flags => {
                "--username/--password (or LAYERSCAN_USERNAME/LAYERSCAN_PASSWORD)"
            }
            CredentialSource::Token => "--registry-token (or LAYERSCAN_REGISTRY_TOKEN)",
            CredentialSource::DockerConfig => {
                "the docker config (DOCKER_CONFIG or ~/.docker/config.json)"
            }
            CredentialSource::Ecr => "an ECR authorization token from the AWS credential chain",
            CredentialSource::None => "no credentials (anonymous)",
        })
    }
}

/// The credential chain, first match wins: flags (and their env vars), `--registry-token`, the
/// docker config, and for private ECR hosts `GetAuthorizationToken`; else anonymous.
pub async fn resolve(
    image: &ImageRef,
    args: &RegistryArgs,
) -> anyhow::Result<(Credentials, CredentialSource)> {
    let token = args.registry_token.as_deref().filter(|t| !t.is_empty());
    // clap folds LAYERSCAN_USERNAME/LAYERSCAN_PASSWORD into the flags; the documented order puts
    // --registry-token between the flags and those variables.
    let user_from_env = args.username.is_some()
        && std::env::var("LAYERSCAN_USERNAME").ok() == args.username
        && (args.password_stdin || std::env::var("LAYERSCAN_PASSWORD").ok() == args.password);
    if let (Some(t), true) = (token, user_from_env) {
        return Ok((Credentials::Bearer(t.to_string()), CredentialSource::Token));
    }
    if let Some(c) = from_flags(args, &mut std::io::stdin().lock())? {
        return Ok((c, CredentialSource::Flags));
    }
    if let Some(t) = token {
        return Ok((Credentials::Bearer(t.to_string()), CredentialSource::Token));
    }
    if let Some(c) = from_docker_config(image) {
        return Ok((c, CredentialSource::DockerConfig));
    }
    if let Some(ecr) = EcrHost::parse(&image.host) {
        let c = ecr_credentials_in(&ecr.region, ecr.fips)
            .await
            .with_context(|| {
                format!(
                    "authentication to registry {}: no credentials were given and getting an ECR \
                 authorization token through the AWS credential chain failed",
                    image.host
                )
            })?;
        return Ok((c, CredentialSource::Ecr));
    }
    Ok((Credentials::Anonymous, CredentialSource::None))
}

/// `--username` with `--password` or `--password-stdin` (the env vars fill the same fields).
pub fn from_flags(
    args: &RegistryArgs,
    stdin: &mut dyn Read,
) -> anyhow::Result<Option<Credentials>> {
    let password = if args.password_stdin {
        if args.password.is_some() {
            bail!("--password and --password-stdin are mutually exclusive");
        }
        let mut s = String::new();
        stdin
            .take(64 * 1024)
            .read_to_string(&mut s)
            .context("reading the registry password from stdin")?;
        let s = s.trim_end_matches(['\n', '\r']).to_string();
        if s.is_empty() {
            bail!("--password-stdin: stdin was empty");
        }
        Some(s)
    } else {
        args.password.clone()
    };
    match (&args.username, password) {
        (Some(u), Some(p)) => Ok(Some(Credentials::basic(u.clone(), p))),
        (Some(_), None) => {
            bail!("--username needs a password: --password, --password-stdin or LAYERSCAN_PASSWORD")
        }
        (None, Some(_)) => {
            bail!("a registry password was given without --username (or LAYERSCAN_USERNAME)")
        }
        (None, None) => Ok(None),
    }
}

/// The keys docker uses for a registry in `config.json`.
fn docker_config_keys(image: &ImageRef) -> Vec<String> {
    if image.is_docker_hub() {
        vec![
            "https://index.docker.io/v1/".into(),
            "index.docker.io".into(),
            "docker.io".into(),
            "registry-1.docker.io".into(),
        ]
    } else {
        vec![image.host.clone()]
    }
}

/// Credentials from `DOCKER_CONFIG/config.json` or `~/.docker/config.json`: `credHelpers`, `auths`,
/// then `credsStore` (via `docker-credential-*`). Problems are logged (without secrets) and skipped.
pub fn from_docker_config(image: &ImageRef) -> Option<Credentials> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".docker")))?;
    from_docker_config_file(&dir.join("config.json"), image)
}

/// [`from_docker_config`] with the config file named.
pub fn from_docker_config_file(path: &std::path::Path, image: &ImageRef) -> Option<Credentials> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    if !path.is_file() {
        return None;
    }
    for key in docker_config_keys(image) {
        let found = std::fs::File::open(path)
            .map_err(|_| E::ConfigReadError)
            .and_then(|f| {
                docker_credential::get_credential_from_reader(std::io::BufReader::new(f), &key)
            });
        match found {
            Ok(DockerCredential::UsernamePassword(u, p)) => {
                tracing::info!("using credentials for {key} from {}", path.display());
                return Some(Credentials::basic(u, p));
            }
            Ok(DockerCredential::IdentityToken(t)) => {
                // An identity token is exchanged like a password; the all-zero user is what
                // registries that issue identity tokens (ACR) expect with it.
                tracing::info!("using an identity token for {key} from {}", path.display());
                return Some(Credentials::basic(
                    "00000000-0000-0000-0000-000000000000",
                    t,
                ));
            }
            Err(E::NoCredentialConfigured) => continue,
            Err(E::HelperFailure { helper, .. }) => {
                // The helper's output is not shown: it may echo secrets.
                tracing::info!("credential helper {helper} has no credentials for {key}");
            }
            Err(E::ConfigReadError) | Err(E::ConfigNotFound) => {
                tracing::warn!(
                    "could not parse docker config {} (ignored for credentials)",
                    path.display()
                );
                return None;
            }
            Err(e) => {
                tracing::warn!("docker config {} for {key}: {e}", path.display());
            }
        }
    }
    None
}

/// ECR `GetAuthorizationToken` in `region` through the AWS SDK's default chain (env, profile, SSO,
/// web identity, container and instance credentials; `AWS_ENDPOINT_URL_ECR` overrides the endpoint).
/// Returns `Basic AWS:<token>` credentials.
pub async fn ecr_credentials(region: &str) -> anyhow::Result<Credentials> {
    ecr_credentials_in(region, false).await
}

/// [`ecr_credentials`] through the FIPS endpoint when `fips` (for `dkr.ecr-fips` hosts).
pub async fn ecr_credentials_in(region: &str, fips: bool) -> anyhow::Result<Credentials> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_ecr::config::Region::new(region.to_string()));
    if fips {
        loader = loader.use_fips(true);
    }
    let conf = loader.load().await;
    ecr_credentials_with(&conf).await
}

/// [`ecr_credentials`] with an explicit SDK config (tests, callers with their own config).
pub async fn ecr_credentials_with(conf: &aws_config::SdkConfig) -> anyhow::Result<Credentials> {
    let client = aws_sdk_ecr::Client::new(conf);
    let out = client
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", crate::source::aws::error_text(&e)))
        .context("ECR GetAuthorizationToken")?;
    let data = out
        .authorization_data()
        .first()
        .context("ECR GetAuthorizationToken returned no authorization data")?;
    let token = data
        .authorization_token()
        .context("ECR GetAuthorizationToken returned no token")?;
    decode_ecr_token(token)
}

/// [`ecr_credentials`] for callers without an async runtime (runs on a private one).
pub fn ecr_credentials_blocking(region: &str) -> anyhow::Result<Credentials> {
    let region = region.to_string();
    super::run_blocking(async move { ecr_credentials(&region).await })
}

/// An ECR authorization token is base64 of `user:password` (the user is `AWS`).
pub fn decode_ecr_token(token: &str) -> anyhow::Result<Credentials> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .context("ECR authorization token is not base64")?;
    let s = String::from_utf8(bytes).context("ECR authorization token is not UTF-8")?;
    let Some((u, p)) = s.split_once(':') else {
        bail!("ECR authorization token is not of the form user:password");
    };
    if u.is_empty() || p.is_empty() {
        bail!("ECR authorization token has an empty user or password");
    }
    Ok(Credentials::basic(u, p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    fn args() -> RegistryArgs {
        RegistryArgs {
            platform: "linux/amd64".into(),
            insecure: false,
            username: None,
            password: None,
            password_stdin: false,
            registry_token: None,
            timeout: 30,
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::basic("alice", "s3cret-pw");
        let d = format!("{c:?}");
        assert!(!d.contains("s3cret-pw") && !d.contains("alice"), "{d}");
        let d = format!("{:?}", Credentials::Bearer("tok-123".into()));
        assert!(!d.contains("tok-123"), "{d}");
    }

    #[test]
    fn flags_and_stdin() {
        let mut a = args();
        assert_eq!(from_flags(&a, &mut &b""[..]).unwrap(), None);
        a.username = Some("u".into());
        assert!(
            from_flags(&a, &mut &b""[..]).is_err(),
            "user without password"
        );
        a.password_stdin = true;
        assert_eq!(
            from_flags(&a, &mut &b"pw from stdin\n"[..]).unwrap(),
            Some(Credentials::basic("u", "pw from stdin"))
        );
        assert!(from_flags(&a, &mut &b"\n"[..]).is_err(), "empty stdin");
        a.password = Some("x".into());
        assert!(
            from_flags(&a, &mut &b"y"[..]).is_err(),
            "both password sources"
        );
        a.password_stdin = false;
        assert_eq!(
            from_flags(&a, &mut &b""[..]).unwrap(),
            Some(Credentials::basic("u", "x"))
        );
        a.username = None;
        assert!(
            from_flags(&a, &mut &b""[..]).is_err(),
            "password without user"
        );
    }

    #[test]
    fn docker_config_keys_and_forms() {
        use base64::engine::general_purpose::STANDARD;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let hub = ImageRef::parse("alpine:3.20").unwrap();
        let quay = ImageRef::parse("quay.io/org/app").unwrap();
        let local = ImageRef::parse("localhost:5000/app").unwrap();
        let config = serde_json::json!({"auths": {
            "https://index.docker.io/v1/": {"auth": STANDARD.encode("hubuser:hubpass")},
            "quay.io": {"username": "q", "password": "qp"},
            "http://localhost:5000": {"identitytoken": "idtok"}
        }});
        std::fs::write(&path, config.to_string()).unwrap();
        assert_eq!(
            from_docker_config_file(&path, &hub),
            Some(Credentials::basic("hubuser", "hubpass"))
        );
        assert_eq!(
            from_docker_config_file(&path, &quay),
            Some(Credentials::basic("q", "qp"))
        );
        assert_eq!(
            from_docker_config_file(&path, &local),
            Some(Credentials::basic(
                "00000000-0000-0000-0000-000000000000",
                "idtok"
            ))
        );
        let ghcr = ImageRef::parse("ghcr.io/o/app").unwrap();
        assert_eq!(from_docker_config_file(&path, &ghcr), None);
        // A malformed or missing file is skipped, not an error.
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(from_docker_config_file(&path, &hub), None);
        assert_eq!(
            from_docker_config_file(&dir.path().join("nope.json"), &hub),
            None
        );
    }

    #[test]
    fn ecr_token_decoding() {
        let t = base64::engine::general_purpose::STANDARD.encode("AWS:abc:def");
        assert_eq!(
            decode_ecr_token(&t).unwrap(),
            Credentials::basic("AWS", "abc:def")
        );
        assert!(decode_ecr_token("!!!").is_err());
        let t = base64::engine::general_purpose::STANDARD.encode("nocolon");
        assert!(decode_ecr_token(&t).is_err());
    }

    /// A one-shot fake ECR endpoint on loopback: answers GetAuthorizationToken (awsJson1.1).
    #[test]
    fn ecr_get_authorization_token_against_fake_endpoint() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(sock.try_clone().unwrap());
            let mut target = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if let Some(v) = l.strip_prefix("x-amz-target:") {
                    target = v.trim().to_string();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let token = base64::engine::general_purpose::STANDARD.encode("AWS:ecr-secret");
            let resp = format!(
                "{{\"authorizationData\":[{{\"authorizationToken\":\"{token}\",\
                 \"expiresAt\":1.9E9,\"proxyEndpoint\":\"https://123456789012.dkr.ecr.eu-west-1.amazonaws.com\"}}]}}"
            );
            write!(
                sock,
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{resp}",
                resp.len()
            )
            .unwrap();
            target
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let creds = rt.block_on(async {
            let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_sdk_ecr::config::Region::new("eu-west-1"))
                .endpoint_url(format!("http://{addr}"))
                .credentials_provider(aws_sdk_ecr::config::Credentials::new(
                    "AKIDTEST", "secret", None, None, "test",
                ))
                .load()
                .await;
            ecr_credentials_with(&conf).await
        });
        let target = server.join().unwrap();
        assert_eq!(
            target,
            "amazonec2containerregistry_v20150921.getauthorizationtoken"
        );
        assert_eq!(creds.unwrap(), Credentials::basic("AWS", "ecr-secret"));
    }
}
