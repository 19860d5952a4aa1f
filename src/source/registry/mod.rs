//! Registry fetcher: resolve a reference, authenticate, pick a platform, fetch and verify the
//! manifest and config; layers stream from the network on demand.
//!
//! The source owns a tokio runtime; callers stay synchronous. A layer is pulled by a small thread
//! that drives the HTTP body on that runtime and hands chunks through a bounded channel to the
//! blocking `Read` the unpacker consumes, so memory stays bounded and nothing is written to disk.
//! Redirects (ECR and others send blob GETs to S3) are followed by reqwest, which drops the
//! `Authorization` header when the host, port or scheme changes.

pub mod auth;
pub mod manifest;
pub mod reference;

use crate::cli::RegistryArgs;
use crate::model::{ArtifactType, LayerRef, Target};
use crate::source::{LayerBlob, Source};
use anyhow::{anyhow, bail, Context};
use auth::CredentialSource;
use bytes::Bytes;
use futures_util::StreamExt;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use reference::ImageRef;
use sha2::Digest as _;
use std::future::Future;
use std::io::{BufRead, Read};
use std::sync::Arc;
use std::time::Duration;

pub use auth::{ecr_credentials, ecr_credentials_blocking, ecr_credentials_with, Credentials};
pub use reference::EcrHost;

/// Attempts for manifest, config and starting a blob fetch.
use crate::source::FETCH_ATTEMPTS as ATTEMPTS;
/// Largest manifest or config we accept.
const MAX_DOCUMENT: usize = 32 * 1024 * 1024;
/// Chunks buffered between the network and the reader of one layer. hyper hands over what one
/// socket read gave, at most about 400 KiB, so a layer holds at most ~3.3 MiB here, however many
/// layers download at once (`--parallel`, default the number of cores).
const CHANNEL_CHUNKS: usize = 8;

/// How to reach the registry; [`RegistryOptions::from_args`] for the CLI, or filled in by callers
/// such as the ECR hook that bring their own credentials and host.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// `os/arch[/variant]`.
    pub platform: String,
    /// Plain HTTP (when the registry does not speak TLS) and unverified certificates.
    pub insecure: bool,
    /// Per-request timeout (connect, and each read; a whole manifest or config request).
    pub timeout: Duration,
    /// Use these credentials instead of running the credential chain.
    pub credentials: Option<Credentials>,
    /// Talk to this `HOST[:PORT]` instead of the reference's registry (VPC endpoints, mirrors,
    /// tests). The repository, tag and digest are kept.
    pub registry_host: Option<String>,
}

impl RegistryOptions {
    pub fn from_args(args: &RegistryArgs) -> RegistryOptions {
        RegistryOptions {
            platform: args.platform.clone(),
            insecure: args.insecure,
            timeout: Duration::from_secs(args.timeout.max(1)),
            credentials: None,
            registry_host: None,
        }
    }
}

/// Registry flags with no credentials set (for [`RegistrySource::open_with`]).
fn no_flags(opts: &RegistryOptions) -> RegistryArgs {
    RegistryArgs {
        platform: opts.platform.clone(),
        insecure: opts.insecure,
        username: None,
        password: None,
        password_stdin: false,
        registry_token: None,
        timeout: opts.timeout.as_secs(),
    }
}

/// Everything a layer fetch needs, shared with the fetch threads.
struct Inner {
    client: oci_client::Client,
    image: ImageRef,
    /// The image as the user named it (before a `registry_host` override), for the report.
    named: ImageRef,
    oci_ref: oci_client::Reference,
    auth: Credentials,
    auth_source: CredentialSource,
    insecure: bool,
    timeout: Duration,
}

pub struct RegistrySource {
    target: Target,
    layers: Vec<manifest::Descriptor>,
    inner: Arc<Inner>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl RegistrySource {
    /// Resolve `reference` (Docker Hub shorthand, `host[:port]/repo[:tag|@digest]`), authenticate,
    /// fetch the manifest (picking `args.platform` from an index) and the config. Layers are fetched
    /// lazily by `open_layer`.
    pub fn open(reference: &str, args: &RegistryArgs) -> anyhow::Result<RegistrySource> {
        Self::open_inner(reference, RegistryOptions::from_args(args), Some(args))
    }

    /// Like [`RegistrySource::open`], with explicit options: credentials given by the caller (e.g.
    /// `Credentials::basic("AWS", token)` from [`ecr_credentials`]) skip the credential chain, and
    /// `registry_host` replaces the reference's host.
    pub fn open_with(reference: &str, opts: RegistryOptions) -> anyhow::Result<RegistrySource> {
        Self::open_inner(reference, opts, None)
    }

    fn open_inner(
        reference: &str,
        opts: RegistryOptions,
        args: Option<&RegistryArgs>,
    ) -> anyhow::Result<RegistrySource> {
        let mut image = ImageRef::parse(reference)?;
        let named = image.clone();
        if let Some(host) = &opts.registry_host {
            let replaced = ImageRef::parse(&format!("{host}/{}", image.repository))
                .with_context(|| format!("registry override {host:?}"))?;
            image.host = replaced.host;
        }
        let platform: manifest::Platform = opts.platform.parse()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("layerscan-registry")
            .enable_all()
            .build()
            .context("starting the registry client runtime")?;
        let args = args.cloned();
        let name = reference.to_string();
        let fut = async move {
            let (auth, auth_source) = match (opts.credentials.clone(), &args) {
                (Some(c), _) => (c, CredentialSource::Explicit),
                (None, Some(a)) => auth::resolve(&image, a).await?,
                // No flags: the rest of the chain (docker config, ECR, anonymous).
                (None, None) => auth::resolve(&image, &no_flags(&opts)).await?,
            };
            tracing::debug!("registry {}: authenticating with {auth_source}", image.host);
            let client = build_client(&image, &opts).await?;
            let inner = Inner {
                client,
                oci_ref: image.to_oci(),
                named,
                image,
                auth,
                auth_source,
                insecure: opts.insecure,
                timeout: opts.timeout,
            };
            let (target, layers) = inner.fetch_target(&name, &platform).await?;
            Ok::<_, anyhow::Error>((target, layers, inner))
        };
        let (target, layers, inner) = match block_on(&runtime, fut) {
            Ok(v) => v,
            Err(e) => {
                // Dropping a runtime inside another one panics; this never blocks.
                runtime.shutdown_background();
                return Err(e);
            }
        };
        Ok(RegistrySource {
            target,
            layers,
            inner: Arc::new(inner),
            runtime: Some(runtime),
        })
    }
}

impl Drop for RegistrySource {
    fn drop(&mut self) {
        // Never block (or panic) when dropped inside another runtime.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Source for RegistrySource {
    fn target(&self) -> &Target {
        &self.target
    }
    fn artifact_type(&self) -> ArtifactType {
        ArtifactType::ContainerImage
    }
    /// oci-client's blob stream hashes every byte on the download thread and ends with an error
    /// when the digest does not match, so the unpacker (which reads every blob to its end) does not
    /// hash the compressed bytes again.
    fn verifies_blob_digests(&self) -> bool {
        true
    }
    fn open_layer(&self, index: usize) -> anyhow::Result<LayerBlob> {
        let desc = self
            .layers
            .get(index)
            .with_context(|| {
                format!(
                    "layer {index} does not exist in {} (it has {} layers)",
                    self.target.name,
                    self.layers.len()
                )
            })?
            .clone();
        let handle = self
            .runtime
            .as_ref()
            .context("registry source is shut down")?
            .handle()
            .clone();
        let inner = Arc::clone(&self.inner);
        let (start_tx, start_rx) = std::sync::mpsc::sync_channel::<anyhow::Result<()>>(1);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(CHANNEL_CHUNKS);
        let digest = desc.digest.clone();
        std::thread::Builder::new()
            .name(format!("layerscan-fetch-{index}"))
            .spawn(move || {
                handle.block_on(async move {
                    let mut stream = match inner.start_blob(&desc.digest).await {
                        Ok(s) => {
                            let _ = start_tx.send(Ok(()));
                            s
                        }
                        Err(e) => {
                            let _ = start_tx.send(Err(e));
                            return;
                        }
                    };
                    while let Some(item) = stream.next().await {
                        let msg = match item {
                            Ok(b) => Chunk::Data(b),
                            Err(e) => Chunk::Err(inner.stream_error(&desc.digest, e)),
                        };
                        let stop = matches!(msg, Chunk::Err(_));
                        // The reader went away (error elsewhere, or done early): stop downloading.
                        if tx.send(msg).is_err() || stop {
                            return;
                        }
                    }
                    let _ = tx.send(Chunk::Done);
                })
            })
            .context("starting a layer download thread")?;
        match start_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => bail!("download of layer {digest} stopped before it started"),
        }
        Ok(LayerBlob::Tar(Box::new(ChannelReader::new(rx, digest))))
    }
}

enum Chunk {
    Data(Bytes),
    Err(std::io::Error),
    Done,
}

/// The blocking end of a layer download.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Chunk>,
    current: Bytes,
    finished: bool,
    /// Why the download failed: every later read fails too, never a clean-looking end.
    failed: Option<String>,
    digest: String,
}

impl ChannelReader {
    fn new(rx: std::sync::mpsc::Receiver<Chunk>, digest: String) -> ChannelReader {
        ChannelReader {
            rx,
            current: Bytes::new(),
            finished: false,
            failed: None,
            digest,
        }
    }

    fn fail(&mut self, e: std::io::Error) -> std::io::Error {
        self.failed = Some(e.to_string());
        e
    }
}

/// The download's chunks are the buffer: the decompressor reads them in place.
impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.current.is_empty() {
            if let Some(why) = &self.failed {
                return Err(std::io::Error::other(why.clone()));
            }
            if self.finished {
                return Ok(&[]);
            }
            match self.rx.recv() {
                Ok(Chunk::Data(b)) => self.current = b,
                Ok(Chunk::Done) => self.finished = true,
                Ok(Chunk::Err(e)) => return Err(self.fail(e)),
                Err(_) => {
                    let e = std::io::Error::other(format!(
                        "download of layer {} ended unexpectedly",
                        self.digest
                    ));
                    return Err(self.fail(e));
                }
            }
        }
        Ok(&self.current)
    }
    fn consume(&mut self, amt: usize) {
        let n = amt.min(self.current.len());
        bytes::Buf::advance(&mut self.current, n);
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        Ok(n)
    }
}

/// Run `fut` to completion on `rt`, also when called from inside another runtime (then on a
/// helper thread, since `block_on` may not nest).
fn block_on<F, T>(rt: &tokio::runtime::Runtime, fut: F) -> anyhow::Result<T>
where
    F: Future<Output = anyhow::Result<T>> + Send,
    T: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| rt.block_on(fut))
                .join()
                .map_err(|_| anyhow!("registry client thread panicked"))?
        })
    } else {
        rt.block_on(fut)
    }
}

/// Run `fut` on a private current-thread runtime (for callers without one).
pub(crate) fn run_blocking<F, T>(fut: F) -> anyhow::Result<T>
where
    F: Future<Output = anyhow::Result<T>> + Send,
    T: Send,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting an async runtime")?;
    let out = block_on(&rt, fut);
    rt.shutdown_background();
    out
}

/// Build the client. TLS unless `insecure`; then a registry that does not answer TLS on `/v2/`
/// is spoken to over plain HTTP (as docker does for insecure registries).
async fn build_client(
    image: &ImageRef,
    opts: &RegistryOptions,
) -> anyhow::Result<oci_client::Client> {
    use oci_client::client::{ClientConfig, ClientProtocol};
    let protocol = if opts.insecure && !speaks_tls(&image.host, opts.timeout).await {
        tracing::info!(
            "registry {} does not answer over TLS; using plain HTTP (--insecure)",
            image.host
        );
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    let config = ClientConfig {
        protocol,
        accept_invalid_certificates: opts.insecure,
        platform_resolver: None,
        read_timeout: Some(opts.timeout),
        connect_timeout: Some(opts.timeout),
        user_agent: concat!("layerscan/", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    };
    oci_client::Client::try_from(config)
        .map_err(|e| anyhow!("creating the registry client: {}", describe_plain(&e)))
}

/// Whether `https://host/v2/` answers at all (any status) with certificate checks off.
async fn speaks_tls(host: &str, timeout: Duration) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .connect_timeout(timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    else {
        return false;
    };
    client
        .get(format!("https://{host}/v2/"))
        .send()
        .await
        .is_ok()
}

impl Inner {
    /// Manifest (through an index when there is one), config, and the `Target` they describe.
    async fn fetch_target(
        &self,
        name: &str,
        platform: &manifest::Platform,
    ) -> anyhow::Result<(Target, Vec<manifest::Descriptor>)> {
        let what = self.image.to_string();
        let top_ref = self.oci_ref.clone();
        let (body, top_digest) = self
            .retry(&format!("manifest of {what}"), || {
                self.pull_manifest(&top_ref, self.image.digest.as_deref())
            })
            .await?;
        let (config_desc, layers, manifest_digest) = match manifest::parse(&body, &what)? {
            manifest::Document::Image { config, layers } => (config, layers, top_digest.clone()),
            manifest::Document::Index(entries) => {
                let entry = manifest::select(&entries, platform, &what)?;
                let digest = reference::parse_digest(&entry.digest)
                    .with_context(|| format!("image index {what}"))?;
                let child = self.image.with_digest(&digest);
                tracing::debug!("{what}: platform {platform} is {digest}");
                let child_ref = child.to_oci();
                let (body, d) = self
                    .retry(&format!("manifest of {child}"), || {
                        self.pull_manifest(&child_ref, Some(&digest))
                    })
                    .await?;
                match manifest::parse(&body, &child.to_string())? {
                    manifest::Document::Image { config, layers } => (config, layers, d),
                    manifest::Document::Index(_) => {
                        bail!("image index {what}: the entry for {platform} is another index, which is not supported")
                    }
                }
            }
        };
        let config_digest = reference::parse_digest(&config_desc.digest)
            .with_context(|| format!("config descriptor in manifest {manifest_digest}"))?;
        let config_bytes = self
            .retry(&format!("config {config_digest} of {what}"), || {
                self.pull_small_blob(&config_digest)
            })
            .await?;
        let config: serde_json::Value = serde_json::from_slice(&config_bytes)
            .with_context(|| format!("image config {config_digest} of {what} is not valid JSON"))?;

        let diff_ids: Vec<String> = config
            .pointer("/rootfs/diff_ids")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for (i, d) in diff_ids.iter().enumerate() {
            crate::limits::sha256_digest(
                &format!("image {what}: config {config_digest} rootfs.diff_ids[{i}]"),
                d,
            )?;
        }
        if diff_ids.len() != layers.len() {
            bail!(
                "image {what}: the config {config_digest} lists {} diff_ids but the manifest {manifest_digest} has {} layers",
                diff_ids.len(),
                layers.len()
            );
        }
        let created_by: Vec<Option<String>> = config
            .get("history")
            .and_then(|h| h.as_array())
            .map(|h| {
                h.iter()
                    .filter(|e| {
                        !e.get("empty_layer")
                            .and_then(|v| v.as_bool())
                            .unwrap_or(false)
                    })
                    .map(|e| {
                        e.get("created_by").and_then(|v| v.as_str()).map(|c| {
                            crate::limits::cap(c, crate::limits::MAX_TEXT_FIELD).into_owned()
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut layer_refs = Vec::with_capacity(layers.len());
        for (i, l) in layers.iter().enumerate() {
            let digest = reference::parse_digest(&l.digest)
                .with_context(|| format!("layer {i} in manifest {manifest_digest}"))?;
            layer_refs.push(LayerRef {
                digest,
                diff_id: diff_ids.get(i).cloned(),
                media_type: l.media_type.clone(),
                size: l.size.and_then(|s| u64::try_from(s).ok()),
                created_by: created_by.get(i).cloned().flatten(),
            });
        }
        let familiar = self.named.familiar_name();
        let target = Target {
            name: name.to_string(),
            image_id: Some(config_digest),
            repo_tags: self
                .image
                .tag
                .iter()
                .map(|t| format!("{familiar}:{t}"))
                .collect(),
            repo_digests: vec![format!("{familiar}@{top_digest}")],
            config: Some(config),
            layers: layer_refs,
        };
        Ok((target, layers))
    }

    /// One manifest GET; the body is checked against `expect` (the digest we asked for) here, on
    /// top of oci-client's checks, since everything after trusts it.
    async fn pull_manifest(
        &self,
        r: &oci_client::Reference,
        expect: Option<&str>,
    ) -> Result<(Bytes, String), FetchError> {
        let auth = self.auth.to_oci();
        let fut = self.client.pull_manifest_raw(r, &auth, manifest::ACCEPTED);
        let (body, digest) = self.timed(fut).await?;
        if body.len() > MAX_DOCUMENT {
            return Err(FetchError::Fatal(anyhow!(
                "manifest {r} is larger than {MAX_DOCUMENT} bytes"
            )));
        }
        let actual = sha256_of(&body);
        if let Some(want) = expect {
            if want != actual {
                return Err(FetchError::Fatal(anyhow!(
                    "manifest digest mismatch for {r}: expected {want}, got {actual}"
                )));
            }
        }
        let digest = if digest.starts_with("sha256:") {
            digest
        } else {
            actual
        };
        Ok((body, digest))
    }

    /// A config blob, read whole (bounded) and verified.
    async fn pull_small_blob(&self, digest: &str) -> Result<Bytes, FetchError> {
        let mut stream = self.start_blob_once(digest).await?;
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            let chunk = item.map_err(|e| {
                let corrupt = e
                    .get_ref()
                    .is_some_and(|i| i.is::<oci_client::errors::DigestError>());
                let err = anyhow::Error::from(self.stream_error(digest, e));
                if corrupt {
                    FetchError::Fatal(err)
                } else {
                    FetchError::Retry(err)
                }
            })?;
            if out.len() + chunk.len() > MAX_DOCUMENT {
                return Err(FetchError::Fatal(anyhow!(
                    "blob {digest} is larger than {MAX_DOCUMENT} bytes"
                )));
            }
            out.extend_from_slice(&chunk);
        }
        let actual = sha256_of(&out);
        if actual != digest {
            return Err(FetchError::Fatal(anyhow!(
                "digest mismatch for blob {digest} from {}: got {actual}",
                self.image.host
            )));
        }
        Ok(Bytes::from(out))
    }

    /// Start a blob download (status and headers received), with retries.
    async fn start_blob(
        &self,
        digest: &str,
    ) -> anyhow::Result<futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>> {
        self.retry(&format!("layer {digest} of {}", self.image), || {
            self.start_blob_once(digest)
        })
        .await
    }

    async fn start_blob_once(
        &self,
        digest: &str,
    ) -> Result<futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>, FetchError> {
        // Blob requests reuse the credentials stored by the manifest request.
        self.client
            .store_auth_if_needed(self.oci_ref.resolve_registry(), &self.auth.to_oci())
            .await;
        let fut = self.client.pull_blob_stream(&self.oci_ref, digest);
        let sized = self.timed(fut).await?;
        Ok(sized.stream)
    }

    async fn timed<T>(
        &self,
        fut: impl Future<Output = Result<T, OciDistributionError>>,
    ) -> Result<T, FetchError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.classify(e)),
            Err(_) => Err(FetchError::Retry(anyhow!(
                "registry {} did not answer within {}s (--timeout)",
                self.image.host,
                self.timeout.as_secs()
            ))),
        }
    }

    /// Up to [`ATTEMPTS`] tries with exponential backoff on retryable failures.
    async fn retry<T, Fut>(&self, what: &str, mut f: impl FnMut() -> Fut) -> anyhow::Result<T>
    where
        Fut: Future<Output = Result<T, FetchError>>,
    {
        let mut attempt = 1;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(FetchError::Fatal(e)) => return Err(e.context(format!("fetching {what}"))),
                Err(FetchError::Retry(e)) if attempt >= ATTEMPTS => {
                    return Err(e.context(format!(
                        "fetching {what} (gave up after {ATTEMPTS} attempts)"
                    )))
                }
                Err(FetchError::Retry(e)) => {
                    let wait = crate::source::fetch_backoff(attempt);
                    tracing::warn!(
                        "fetching {what} failed (attempt {attempt} of {ATTEMPTS}): {e:#}; retrying in {}ms",
                        wait.as_millis()
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Turn an oci-client error into a message a user can act on. Never includes credentials;
    /// URLs are reduced to scheme, host and path (a redirect target may carry a signed query).
    fn classify(&self, e: OciDistributionError) -> FetchError {
        let host = &self.image.host;
        let auth_failed = |detail: String| {
            let hint = if self.auth.is_anonymous() {
                format!(
                    "registry {host} requires authentication and no credentials were found; \
                     pass --username/--password (or --password-stdin), --registry-token, set \
                     LAYERSCAN_USERNAME/LAYERSCAN_PASSWORD, or log in with `docker login {host}`"
                )
            } else {
                format!(
                    "authentication to registry {host} failed with {}; check the credentials \
                     and that they may pull {}",
                    self.auth_source, self.image.repository
                )
            };
            FetchError::Fatal(anyhow!("{hint} ({detail})"))
        };
        match e {
            OciDistributionError::UnauthorizedError { url } => {
                auth_failed(format!("HTTP 401 from {}", strip_query(&url)))
            }
            OciDistributionError::AuthenticationFailure(msg) => {
                auth_failed(format!("token service: {}", truncate(&msg)))
            }
            OciDistributionError::RegistryError { envelope, url } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let msgs: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|e| truncate(&e.message))
                    .collect();
                let detail = format!("{} ({})", msgs.join("; "), strip_query(&url));
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    auth_failed(detail)
                } else if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Toomanyrequests))
                {
                    FetchError::Retry(anyhow!("registry {host} is rate limiting: {detail}"))
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    FetchError::Fatal(anyhow!(
                        "manifest unknown: {} was not found in registry {host} ({detail})",
                        self.image
                    ))
                } else if codes.iter().any(|c| matches!(c, OciErrorCode::BlobUnknown)) {
                    FetchError::Fatal(anyhow!(
                        "blob unknown: registry {host} does not have it ({detail})"
                    ))
                } else {
                    FetchError::Fatal(anyhow!("registry {host} refused the request: {detail}"))
                }
            }
            OciDistributionError::ServerError { code, url, message } => {
                let detail = format!(
                    "HTTP {code} from {}: {}",
                    strip_query(&url),
                    truncate(&message)
                );
                match code {
                    401 | 403 => auth_failed(detail),
                    404 => FetchError::Fatal(anyhow!(
                        "not found: {} in registry {host} ({detail})",
                        self.image
                    )),
                    429 | 500..=599 => FetchError::Retry(anyhow!("registry {host}: {detail}")),
                    _ => FetchError::Fatal(anyhow!("registry {host}: {detail}")),
                }
            }
            OciDistributionError::RequestError(e) => {
                let retry = !e.is_builder();
                let err = anyhow!(
                    "could not reach registry {host}: {}{}",
                    reqwest_chain(e),
                    if self.insecure {
                        ""
                    } else {
                        " (for a registry that only serves plain HTTP, pass --insecure)"
                    }
                );
                if retry {
                    FetchError::Retry(err)
                } else {
                    FetchError::Fatal(err)
                }
            }
            OciDistributionError::IoError(e) => {
                FetchError::Retry(anyhow!("reading from registry {host}: {e}"))
            }
            OciDistributionError::DigestError(d) => {
                FetchError::Fatal(anyhow!("digest verification failed: {d}"))
            }
            other => FetchError::Fatal(anyhow!("registry {host}: {}", describe_plain(&other))),
        }
    }

    /// An error in the middle of a blob body: the connection dropped or the digest did not match.
    fn stream_error(&self, digest: &str, e: std::io::Error) -> std::io::Error {
        let inner = e.into_inner();
        let text = match inner {
            Some(b) => match b.downcast::<reqwest::Error>() {
                Ok(re) => reqwest_chain(*re),
                Err(other) => super::cause_chain(&*other),
            },
            None => "I/O error".to_string(),
        };
        std::io::Error::other(format!(
            "downloading blob {digest} from registry {} failed: {text}",
            self.image.host
        ))
    }
}

enum FetchError {
    Retry(anyhow::Error),
    Fatal(anyhow::Error),
}

fn sha256_of(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

fn strip_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or(url).to_string()
}

fn truncate(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A reqwest error and its causes, without the URL (which may carry a signed query).
fn reqwest_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    super::cause_chain(&e)
}

fn describe_plain(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::RequestError(r) => super::cause_chain(r),
        other => truncate(&other.to_string()),
    }
}

#[cfg(test)]
mod tests;
