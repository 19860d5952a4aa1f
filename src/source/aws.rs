//! AWS SDK configuration shared by the ECR hook and Lambda ARN downloads.
//!
//! The SDK's default chain is used as is (env, profiles, SSO, web identity, container and instance
//! credentials; `AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL` endpoint overrides), with two
//! changes that matter outside EC2: the instance-metadata probe is bounded to about a second, so a
//! laptop or CI job without credentials fails quickly, and a failure names every source that was
//! tried instead of the SDK's terse "the credential provider was not enabled".

use anyhow::Context;
use aws_sdk_ecr::config::ProvideCredentials;
use std::time::Duration;

/// What the default chain looks at, in order (for messages).
pub const CREDENTIAL_SOURCES: &str = "environment variables (AWS_ACCESS_KEY_ID, \
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the shared profile files (~/.aws/credentials and \
~/.aws/config, profile AWS_PROFILE or `default`, including SSO and assume-role profiles), a web \
identity token (AWS_WEB_IDENTITY_TOKEN_FILE), container credentials \
(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI) and EC2 instance metadata (IMDS)";

/// An SDK config for `region`: the default credential chain with a short IMDS timeout, FIPS
/// endpoints when `fips`. Endpoint overrides come from the environment as usual.
pub async fn sdk_config(region: &str, fips: bool) -> aws_config::SdkConfig {
    let region = aws_sdk_ecr::config::Region::new(region.to_string());
    let imds = aws_config::imds::Client::builder()
        .connect_timeout(Duration::from_millis(1000))
        .read_timeout(Duration::from_millis(1000))
        .max_attempts(1)
        .build();
    let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
        .region(region.clone())
        .imds_client(imds)
        .build()
        .await;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(region)
        .credentials_provider(chain);
    if fips {
        loader = loader.use_fips(true);
    }
    loader.load().await
}

/// Resolve credentials once, up front, so that "no credentials" is reported as such (naming the
/// sources tried) rather than as an opaque dispatch failure of the first API call. Never prints a
/// credential: only the SDK's error chain, which holds none.
pub async fn check_credentials(conf: &aws_config::SdkConfig) -> anyhow::Result<()> {
    let provider = conf.credentials_provider().with_context(|| {
        format!("no AWS credentials provider is configured; tried {CREDENTIAL_SOURCES}")
    })?;
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(e) => anyhow::bail!(
            "no usable AWS credentials ({}); tried {CREDENTIAL_SOURCES}. Set credentials in one of \
             them, e.g. export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
            error_text(&e)
        ),
    }
}

/// An SDK error as one short line: each cause's `Display`, deduplicated, without the raw
/// responses `DisplayErrorContext` appends.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    crate::report::truncate(&crate::report::clean(&super::cause_chain(e)), 600)
}

/// Run `fut` on a private runtime (callers here are synchronous; the registry source brings its
/// own runtime, so none may be current when this returns).
pub fn block_on<F, T>(fut: F) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the AWS client runtime")?;
    let out = rt.block_on(fut);
    rt.shutdown_background();
    out
}
