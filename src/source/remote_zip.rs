//! Lambda layers and functions that are not on disk yet: an ARN (`GetLayerVersionByArn` /
//! `GetFunction`, then the presigned `Location`) or an https URL.
//!
//! The zip is streamed once to a private temporary file while its sha256 is computed, then checked
//! (against `CodeSize`/`CodeSha256` for an ARN, `--sha256` for a URL) before anything reads it, and
//! handed to [`LambdaZipSource`]; the file is removed when the source is dropped. A zip needs random
//! access (its directory is at the end), so a temporary file is the one copy we keep.
//!
//! A presigned URL is a bearer credential for the code: it is never logged or put in an error, and
//! a URL the user gave is shown without its query string (which is where signatures live).

use crate::cli::RegistryArgs;
use crate::model::{ArtifactType, Target};
use crate::source::lambda_zip::LambdaZipSource;
use crate::source::{LayerBlob, Source};
use anyhow::{anyhow, bail, Context};
use base64::Engine;
use sha2::Digest as _;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Attempts for a download (as for registry blobs).
use crate::source::FETCH_ATTEMPTS as ATTEMPTS;
/// Largest zip fetched from a URL without a known size. Lambda's own limit is 250 MB unzipped.
const MAX_ZIP: u64 = 1 << 30;

/// A Lambda ARN we can fetch code for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LambdaArn {
    /// `arn:<partition>:lambda:<region>:<account>:layer:<name>:<version>`
    Layer {
        region: String,
        account: String,
        name: String,
        version: u64,
    },
    /// `arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`
    Function {
        region: String,
        account: String,
        name: String,
        qualifier: Option<String>,
    },
}

impl LambdaArn {
    pub fn parse(arn: &str) -> anyhow::Result<LambdaArn> {
        let shown = crate::report::truncate(&crate::report::clean(arn), 200);
        let bad = |why: &str| {
            anyhow!(
                "{shown}: not a Lambda layer-version or function ARN ({why}); expected \
                 arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION or \
                 arn:aws:lambda:REGION:ACCOUNT:function:NAME"
            )
        };
        let parts: Vec<&str> = arn.split(':').collect();
        if parts.len() < 7 || parts[0] != "arn" {
            return Err(bad("too few fields"));
        }
        let (partition, service, region, account, kind) =
            (parts[1], parts[2], parts[3], parts[4], parts[5]);
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
            return Err(bad("unknown partition"));
        }
        if service != "lambda" {
            return Err(bad("not a lambda ARN"));
        }
        if !valid_region(region) {
            return Err(bad("invalid region"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the account must be 12 digits"));
        }
        let name = parts[6];
        let name_ok = !name.is_empty()
            && name.len() <= 140
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(bad("invalid name"));
        }
        match (kind, parts.len()) {
            ("layer", 8) => {
                let version = parts[7]
                    .parse::<u64>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| bad("the layer version must be a positive number"))?;
                Ok(LambdaArn::Layer {
                    region: region.into(),
                    account: account.into(),
                    name: name.into(),
                    version,
                })
            }
            ("layer", _) => Err(bad("a layer ARN must end with :VERSION")),
            ("function", 7 | 8) => {
                let qualifier = parts.get(7).map(|q| q.to_string());
                if let Some(q) = &qualifier {
                    let ok = !q.is_empty()
                        && q.len() <= 128
                        && q.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$'
                        });
                    if !ok {
                        return Err(bad("invalid version or alias"));
                    }
                }
                Ok(LambdaArn::Function {
                    region: region.into(),
                    account: account.into(),
                    name: name.into(),
                    qualifier,
                })
            }
            ("function", _) => Err(bad("too many fields")),
            _ => Err(bad("only layer and function ARNs name code")),
        }
    }

    pub fn region(&self) -> &str {
        match self {
            LambdaArn::Layer { region, .. } | LambdaArn::Function { region, .. } => region,
        }
    }
}

/// `us-east-1`, `cn-north-1`, `us-gov-west-1`: lowercase letters, digits and dashes.
pub fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.contains('-')
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The zip a remote layer or function was downloaded to, scanned like a local one.
pub struct RemoteZipSource {
    zip: LambdaZipSource,
    _file: TempZip,
}

impl Source for RemoteZipSource {
    fn target(&self) -> &Target {
        self.zip.target()
    }
    fn artifact_type(&self) -> ArtifactType {
        self.zip.artifact_type()
    }
    fn open_layer(&self, index: usize) -> anyhow::Result<LayerBlob> {
        self.zip.open_layer(index)
    }
}

/// What the Lambda API says about the code behind an ARN.
struct CodeLocation {
    /// Presigned: a secret.
    location: String,
    size: u64,
    sha256: [u8; 32],
}

/// `layerscan layer ARN`: ask the Lambda API where the code is, download it, check `CodeSize` and
/// `CodeSha256`, open it.
pub fn open_arn(arn: &str, args: &RegistryArgs) -> anyhow::Result<RemoteZipSource> {
    let parsed = LambdaArn::parse(arn)?;
    let code = crate::source::aws::block_on(code_location(arn, &parsed))?;
    let what = format!("the code of {arn} (from its presigned Content.Location, not shown)");
    let timeout = Duration::from_secs(args.timeout.max(1));
    // The content is checked against the API's CodeSha256, so any scheme the API hands out is fine.
    let (file, digest, size) = download(&code.location, &what, timeout, false, code.size)?;
    if size != code.size {
        bail!(
            "{arn}: downloaded {size} bytes but the Lambda API says CodeSize is {}",
            code.size
        );
    }
    if digest != code.sha256 {
        let b64 = base64::engine::general_purpose::STANDARD;
        bail!(
            "{arn}: the downloaded zip does not match CodeSha256: expected {} (sha256:{}), got {} \
             (sha256:{})",
            b64.encode(code.sha256),
            hex::encode(code.sha256),
            b64.encode(digest),
            hex::encode(digest)
        );
    }
    let zip = LambdaZipSource::open(&file.path, arn)?;
    Ok(RemoteZipSource { zip, _file: file })
}

async fn code_location(arn: &str, parsed: &LambdaArn) -> anyhow::Result<CodeLocation> {
    let conf = crate::source::aws::sdk_config(parsed.region(), false).await;
    let op = match parsed {
        LambdaArn::Layer { .. } => "GetLayerVersionByArn",
        LambdaArn::Function { .. } => "GetFunction",
    };
    crate::source::aws::check_credentials(&conf)
        .await
        .with_context(|| format!("{arn}: calling Lambda {op}"))?;
    let client = aws_sdk_lambda::Client::new(&conf);
    let sdk_err = |e: &(dyn std::error::Error + 'static)| {
        anyhow!(
            "{arn}: Lambda {op} failed: {}",
            crate::source::aws::error_text(e)
        )
    };
    let (location, size, sha) = match parsed {
        LambdaArn::Layer { .. } => {
            let out = client
                .get_layer_version_by_arn()
                .arn(arn)
                .send()
                .await
                .map_err(|e| sdk_err(&e))?;
            let content = out
                .content()
                .with_context(|| format!("{arn}: GetLayerVersionByArn returned no Content"))?;
            (
                content.location().map(str::to_string),
                content.code_size(),
                content.code_sha256().map(str::to_string),
            )
        }
        LambdaArn::Function { .. } => {
            let out = client
                .get_function()
                .function_name(arn)
                .send()
                .await
                .map_err(|e| sdk_err(&e))?;
            let code = out
                .code()
                .with_context(|| format!("{arn}: GetFunction returned no Code"))?;
            if let Some(image) = code.image_uri() {
                bail!(
                    "{arn} is a container-image function; scan its image instead: layerscan image {}",
                    crate::report::clean(image)
                );
            }
            let config = out
                .configuration()
                .with_context(|| format!("{arn}: GetFunction returned no Configuration"))?;
            (
                code.location().map(str::to_string),
                config.code_size(),
                config.code_sha256().map(str::to_string),
            )
        }
    };
    let location = location
        .filter(|l| !l.is_empty())
        .with_context(|| format!("{arn}: Lambda {op} returned no code location"))?;
    let size = u64::try_from(size)
        .ok()
        .filter(|s| *s > 0 && *s <= MAX_ZIP)
        .with_context(|| format!("{arn}: Lambda {op} returned an invalid CodeSize {size}"))?;
    let sha = sha.with_context(|| format!("{arn}: Lambda {op} returned no CodeSha256"))?;
    let sha: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(sha.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| {
            format!(
                "{arn}: Lambda {op} returned a CodeSha256 that is not base64 of a sha256 ({:?})",
                crate::report::truncate(&crate::report::clean(&sha), 80)
            )
        })?;
    Ok(CodeLocation {
        location,
        size,
        sha256: sha,
    })
}

/// `layerscan layer URL [--sha256 HEX]`.
pub fn open_url(
    url: &str,
    sha256: Option<&str>,
    args: &RegistryArgs,
) -> anyhow::Result<RemoteZipSource> {
    let shown = redact_url(url);
    let expected = sha256
        .map(|s| parse_sha256_hex(s).with_context(|| format!("--sha256 for {shown}")))
        .transpose()?;
    let parsed = reqwest::Url::parse(url).map_err(|e| anyhow!("{shown}: not a valid URL ({e})"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if args.insecure => {}
        "http" => bail!(
            "{shown}: plain http is refused; use an https URL (or --insecure for a trusted network)"
        ),
        other => bail!("{shown}: unsupported URL scheme {other:?} (expected https)"),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        bail!("{shown}: a URL must not carry credentials (user:password@host)");
    }
    let timeout = Duration::from_secs(args.timeout.max(1));
    let (file, digest, _size) = download(url, &shown, timeout, args.insecure, 0)?;
    match expected {
        Some(want) if want != digest => bail!(
            "{shown}: sha256 mismatch: expected {} (--sha256), downloaded {}",
            hex::encode(want),
            hex::encode(digest)
        ),
        Some(_) => {}
        None => tracing::warn!(
            "{shown}: downloaded without --sha256, so its integrity is not verified (sha256 {})",
            hex::encode(digest)
        ),
    }
    let zip = LambdaZipSource::open(&file.path, &shown)?;
    Ok(RemoteZipSource { zip, _file: file })
}

fn parse_sha256_hex(s: &str) -> anyhow::Result<[u8; 32]> {
    let s = s.trim();
    let s = s.strip_prefix("sha256:").unwrap_or(s);
    let bytes = hex::decode(s)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok());
    bytes.with_context(|| {
        format!(
            "expected 64 hex digits, got {:?}",
            crate::report::truncate(&crate::report::clean(s), 80)
        )
    })
}

/// A URL for messages: scheme, host, port and path; no user info, query or fragment.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let mut s = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
            if let Some(p) = u.port() {
                s.push_str(&format!(":{p}"));
            }
            s.push_str(u.path());
            crate::report::truncate(&s, 300)
        }
        Err(_) => {
            let base = url.split(['?', '#']).next().unwrap_or("");
            let base = match base.split_once("://") {
                Some((scheme, rest)) => {
                    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
                    format!("{scheme}://{rest}")
                }
                None => base.to_string(),
            };
            crate::report::truncate(&crate::report::clean(&base), 300)
        }
    }
}

/// A temporary file, removed on drop.
struct TempZip {
    path: PathBuf,
}

impl TempZip {
    fn create() -> anyhow::Result<(TempZip, std::fs::File)> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut last = None;
        for _ in 0..20 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(
                "layerscan-download-{}-{nanos}-{n}.zip",
                std::process::id()
            ));
            let mut opts = std::fs::OpenOptions::new();
            opts.read(true).write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            match opts.open(&path) {
                Ok(f) => return Ok((TempZip { path }, f)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("creating a temporary file in {}", dir.display())
                    });
                }
            }
        }
        Err(anyhow!(
            "creating a temporary file in {}: {last:?}",
            dir.display()
        ))
    }
}

impl Drop for TempZip {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

enum Attempt {
    Retry(anyhow::Error),
    Fatal(anyhow::Error),
}

/// Download `url` to a temporary file, hashing as it streams. `what` names it in messages (the
/// URL itself never appears). `expected_size` (when non-zero) caps the body; otherwise
/// [`MAX_ZIP`]. Retries like the registry fetcher: up to [`ATTEMPTS`], exponential backoff, on
/// connection errors, 429 and 5xx.
fn download(
    url: &str,
    what: &str,
    timeout: Duration,
    insecure: bool,
    expected_size: u64,
) -> anyhow::Result<(TempZip, [u8; 32], u64)> {
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .danger_accept_invalid_certs(insecure)
        .user_agent(concat!("layerscan/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("creating the HTTP client")?;
    let cap = if expected_size > 0 {
        expected_size
    } else {
        MAX_ZIP
    };
    let mut attempt = 1;
    loop {
        match download_once(&client, url, what, cap) {
            Ok(v) => return Ok(v),
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Retry(e)) if attempt >= ATTEMPTS => {
                return Err(e.context(format!(
                    "downloading {what} (gave up after {ATTEMPTS} attempts)"
                )));
            }
            Err(Attempt::Retry(e)) => {
                let wait = crate::source::fetch_backoff(attempt);
                tracing::warn!(
                    "downloading {what} failed (attempt {attempt} of {ATTEMPTS}): {e:#}; retrying in {}ms",
                    wait.as_millis()
                );
                std::thread::sleep(wait);
                attempt += 1;
            }
        }
    }
}

fn download_once(
    client: &reqwest::blocking::Client,
    url: &str,
    what: &str,
    cap: u64,
) -> Result<(TempZip, [u8; 32], u64), Attempt> {
    let fatal = |e: anyhow::Error| Attempt::Fatal(e);
    let mut resp = client.get(url).send().map_err(|e| {
        let e = e.without_url();
        let err = anyhow!("could not download {what}: {}", super::cause_chain(&e));
        if e.is_builder() {
            Attempt::Fatal(err)
        } else {
            Attempt::Retry(err)
        }
    })?;
    let status = resp.status();
    if !status.is_success() {
        let err = anyhow!(
            "downloading {what}: HTTP {status}{}",
            if status.as_u16() == 403 {
                " (a presigned URL may have expired, or access is denied)"
            } else {
                ""
            }
        );
        return Err(if status.as_u16() == 429 || status.is_server_error() {
            Attempt::Retry(err)
        } else {
            Attempt::Fatal(err)
        });
    }
    if let Some(len) = resp.content_length() {
        if len > cap {
            return Err(fatal(anyhow!(
                "downloading {what}: the server announces {len} bytes, more than the {cap} expected"
            )));
        }
    }
    let (file, mut out) = TempZip::create().map_err(fatal)?;
    let mut hasher = sha2::Sha256::new();
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match resp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let text = match e.get_ref().and_then(|i| i.downcast_ref::<reqwest::Error>()) {
                    Some(_) => "the connection failed or timed out".to_string(),
                    None => e.kind().to_string(),
                };
                return Err(Attempt::Retry(anyhow!(
                    "downloading {what}: {text} after {total} bytes"
                )));
            }
        };
        total += n as u64;
        if total > cap {
            return Err(fatal(anyhow!(
                "downloading {what}: more than the {cap} bytes expected"
            )));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .with_context(|| format!("writing the download to {}", file.path.display()))
            .map_err(fatal)?;
    }
    out.flush()
        .with_context(|| format!("writing the download to {}", file.path.display()))
        .map_err(fatal)?;
    Ok((file, hasher.finalize().into(), total))
}

/// Whether `arg` names remote code rather than a file.
pub fn is_remote(arg: &str) -> bool {
    arg.starts_with("arn:") || arg.starts_with("https://") || arg.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        assert_eq!(
            LambdaArn::parse("arn:aws:lambda:us-east-1:123456789012:layer:my-layer:7").unwrap(),
            LambdaArn::Layer {
                region: "us-east-1".into(),
                account: "123456789012".into(),
                name: "my-layer".into(),
                version: 7
            }
        );
        assert_eq!(
            LambdaArn::parse("arn:aws-cn:lambda:cn-north-1:123456789012:function:fn_1:prod")
                .unwrap(),
            LambdaArn::Function {
                region: "cn-north-1".into(),
                account: "123456789012".into(),
                name: "fn_1".into(),
                qualifier: Some("prod".into())
            }
        );
        assert!(matches!(
            LambdaArn::parse("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f"),
            Ok(LambdaArn::Function {
                qualifier: None,
                ..
            })
        ));
        for bad in [
            "arn:aws:lambda:us-east-1:123456789012:layer:my-layer",
            "arn:aws:lambda:us-east-1:123456789012:layer:my-layer:0",
            "arn:aws:lambda:us-east-1:123456789012:layer:my-layer:x",
            "arn:aws:s3:us-east-1:123456789012:layer:my-layer:1",
            "arn:aws:lambda:US-EAST-1:123456789012:layer:l:1",
            "arn:aws:lambda:us-east-1:12345:layer:l:1",
            "arn:aws:lambda:us-east-1:123456789012:event-source-mapping:abc",
            "arn:evil:lambda:us-east-1:123456789012:layer:l:1",
            "arn:aws:lambda:us-east-1:123456789012:function:a:b:c",
            "arn:aws:lambda:us-east-1:123456789012:function:a b",
            "arn:",
        ] {
            assert!(LambdaArn::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn urls_are_shown_without_secrets() {
        assert_eq!(
            redact_url(
                "https://bucket.s3.amazonaws.com/l.zip?X-Amz-Signature=abc&X-Amz-Security-Token=t"
            ),
            "https://bucket.s3.amazonaws.com/l.zip"
        );
        assert_eq!(
            redact_url("https://user:pw@example.com:8443/a.zip#frag"),
            "https://example.com:8443/a.zip"
        );
        let s = redact_url("not a url?sig=SECRET");
        assert!(!s.contains("SECRET"), "{s}");
        let s = redact_url("ht!tp://u:SECRET@h/x");
        assert!(!s.contains("SECRET"), "{s}");
    }

    #[test]
    fn sha256_flag() {
        let h = "a".repeat(64);
        assert_eq!(parse_sha256_hex(&h).unwrap(), [0xaa; 32]);
        assert_eq!(
            parse_sha256_hex(&format!("sha256:{h}")).unwrap(),
            [0xaa; 32]
        );
        assert!(parse_sha256_hex("abc").is_err());
        assert!(parse_sha256_hex(&"g".repeat(64)).is_err());
    }
}
