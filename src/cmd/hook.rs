//! `hook ecr`: scan the image an ECR push event names.
//!
//! One event from `--event FILE|-`, or, inside Lambda (`AWS_LAMBDA_RUNTIME_API` set, no `--event`),
//! one event per invocation. Either way: parse the event, ignore what is not a successful push,
//! pull `<account>.dkr.ecr.<region>.amazonaws.com/<repo>@<digest>` (through `--registry` when
//! given) with credentials from the flags, the docker config, or ECR `GetAuthorizationToken`
//! signed for the event's region, run the `image` scan and policy, and report.
//!
//! The exit code is the policy's, as for `image`; a webhook that cannot be delivered is a warning,
//! because the scan's verdict does not depend on a chat service being up.

use crate::cli::{EcrHookArgs, HookCommand, RegistryArgs};
use crate::hook::event::{self, Parsed, PushEvent};
use crate::hook::lambda::{Outcome, RuntimeApi};
use crate::hook::summary::{self, Summary};
use crate::model::Report;
use crate::policy::Policy;
use crate::source::registry::auth::{self, Credentials};
use crate::source::registry::reference::ImageRef;
use crate::source::registry::{RegistryOptions, RegistrySource};
use anyhow::{anyhow, bail, Context};
use std::io::Read;
use std::time::Duration;

pub fn run(cmd: HookCommand) -> anyhow::Result<i32> {
    match cmd {
        HookCommand::Ecr(args) => ecr(args),
    }
}

/// Everything an event needs that does not change between events.
struct Hook {
    args: EcrHookArgs,
    webhook: Option<Webhook>,
    /// `AWS_USE_FIPS_ENDPOINT=true`: `dkr.ecr-fips` hosts and the FIPS ECR API.
    fips: bool,
    /// Credentials from `--username/--password[-stdin]` or `--registry-token`, resolved once.
    fixed_credentials: Option<(Credentials, &'static str)>,
}

fn ecr(mut args: EcrHookArgs) -> anyhow::Result<i32> {
    // In Lambda, every configuration error must reach the Runtime API's init-error endpoint (or
    // the function just "exits" with nothing in its logs but our stderr): the API first.
    let lambda_api = match (&args.event, std::env::var("AWS_LAMBDA_RUNTIME_API")) {
        (Some(_), _) => None,
        (None, Ok(api)) => Some(RuntimeApi::new(&api)?),
        (None, Err(_)) => bail!(
            "--event FILE (or --event - for stdin) is required: without it `hook ecr` runs only as \
             a Lambda custom runtime, and AWS_LAMBDA_RUNTIME_API is not set"
        ),
    };
    let setup = (|| {
        args.db.cache_dir = crate::hook::writable_cache_dir(args.db.cache_dir.as_ref());
        let webhook = args.webhook.as_deref().map(Webhook::parse).transpose()?;
        if let Some(host) = &args.registry {
            validate_registry_host(host)?;
        }
        if args.event.as_deref() == Some("-") && args.registry_args.password_stdin {
            bail!("--event - and --password-stdin both read stdin; pass the event as a file");
        }
        // Checked once up front so that a bad ignore file fails before any event is taken.
        Policy::from_args(&args.report)?;
        let fixed = fixed_credentials(&args.registry_args)?;
        Ok((webhook, fixed))
    })();
    let (webhook, fixed_credentials) = match (setup, &lambda_api) {
        (Ok(c), _) => c,
        (Err(e), Some(api)) => {
            let _ = api.init_error("layerscan.InitError", &format!("{e:#}"));
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    let fips = std::env::var("AWS_USE_FIPS_ENDPOINT").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let hook = std::sync::Arc::new(Hook {
        args,
        webhook,
        fips,
        fixed_credentials,
    });
    match lambda_api {
        Some(api) => {
            crate::hook::lambda::serve(&api, |inv| hook.invocation(inv))?;
            Ok(0)
        }
        None => hook.cli(),
    }
}

impl Hook {
    /// `--event FILE|-`: one event, the report on stdout (or `--output`), the policy's exit code.
    fn cli(&self) -> anyhow::Result<i32> {
        let name = self.args.event.as_deref().unwrap_or("-");
        let shown = if name == "-" {
            "from stdin".to_string()
        } else {
            name.to_string()
        };
        let bytes = read_event(name)?;
        let event = match event::parse(&bytes).with_context(|| format!("event {shown}"))? {
            Parsed::Ignored(reason) => {
                if tracing::enabled!(tracing::Level::WARN) {
                    crate::output::line_to_stderr(&format!(
                        "layerscan hook ecr: ignoring event {shown}: {reason}"
                    ));
                }
                return Ok(0);
            }
            Parsed::Push(e) => e,
        };
        let (report, summary, policy) = self.scan(&event)?;
        let options =
            crate::report::RenderOptions::for_destination(self.args.report.output.as_deref());
        let bytes = crate::report::render_with(&report, self.args.report.format, &options)?;
        crate::report::write_output(&bytes, self.args.report.output.as_deref())?;
        self.publish(&summary);
        Ok(policy.exit_code(&report))
    }

    /// One Lambda invocation: the payload is the event, the response the summary. The scan runs
    /// on its own thread, bounded by the invocation's deadline: with the margin left, the error
    /// (saying what timed out) is posted, logged and sent to the webhook, which a "Task timed
    /// out" from the platform never is.
    fn invocation(self: &std::sync::Arc<Self>, inv: &crate::hook::lambda::Invocation) -> Outcome {
        let event = match event::parse(&inv.payload) {
            Ok(Parsed::Push(e)) => e,
            Ok(Parsed::Ignored(reason)) => {
                let body = summary::ignored(&reason);
                if tracing::enabled!(tracing::Level::WARN) {
                    crate::output::line_to_stderr(&body.to_string());
                }
                return Outcome::Response(body);
            }
            Err(e) => return Outcome::Error("layerscan.InvalidEvent", format!("{e:#}")),
        };
        let started = std::time::Instant::now();
        let budget = inv.budget();
        let (tx, rx) = std::sync::mpsc::channel();
        let hook = std::sync::Arc::clone(self);
        let ev = event.clone();
        let spawned = std::thread::Builder::new()
            .name("scan".to_owned())
            .spawn(move || {
                let _ = tx.send(hook.scan_and_write(&ev));
            });
        if let Err(e) = spawned {
            return Outcome::Error("layerscan.ScanError", format!("starting the scan: {e}"));
        }
        let scanned = match budget {
            Some(b) => rx.recv_timeout(b),
            None => rx
                .recv()
                .map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected),
        };
        match scanned {
            Ok(Ok(summary)) => {
                self.publish(&summary);
                match serde_json::to_value(&summary) {
                    Ok(v) => Outcome::Response(v),
                    Err(e) => Outcome::Error(
                        "layerscan.ScanError",
                        format!("serializing the summary: {e}"),
                    ),
                }
            }
            Ok(Err(e)) => Outcome::Error("layerscan.ScanError", format!("{e:#}")),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Outcome::Error(
                "layerscan.ScanError",
                format!(
                    "scanning {}@{}: the scan stopped without a result",
                    event.repository, event.digest
                ),
            ),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let left = inv
                    .deadline
                    .and_then(|d| d.duration_since(std::time::SystemTime::now()).ok())
                    .unwrap_or_default();
                let message = format!(
                    "timed out: the scan of {}@{} did not finish within the invocation's deadline \
                     (stopped after {:.1} s with {:.1} s left); raise the function's timeout or \
                     memory, or pass a smaller --timeout",
                    event.repository,
                    event.digest,
                    started.elapsed().as_secs_f64(),
                    left.as_secs_f64()
                );
                tracing::error!("{message}");
                let body = summary::timed_out(&event, &message);
                if let Some(w) = &self.webhook {
                    // Within what is left, so that the error still reaches the Runtime API.
                    let within = left.saturating_sub(Duration::from_millis(500));
                    if let Err(e) = w.post_within(&body, within.max(Duration::from_millis(200))) {
                        tracing::warn!("webhook {}: not delivered: {e:#}", w.shown);
                    }
                }
                Outcome::TimedOut(message)
            }
        }
    }

    /// The scan of one invocation and, with `--output`, its report written.
    fn scan_and_write(&self, event: &PushEvent) -> anyhow::Result<Summary> {
        let (report, summary, _) = self.scan(event)?;
        if let Some(out) = self.args.report.output.as_deref() {
            let bytes = crate::report::render(&report, self.args.report.format)?;
            crate::report::write_output(&bytes, Some(out))?;
        }
        Ok(summary)
    }

    /// Pull, scan, apply the policy. The report comes back filtered, as it is rendered.
    fn scan(&self, event: &PushEvent) -> anyhow::Result<(Report, Summary, Policy)> {
        let reference = event.reference(self.fips);
        let what = format!("{}@{}", event.repository, event.digest);
        let (credentials, from) = self
            .credentials(event)
            .with_context(|| format!("scanning {what}: registry credentials"))?;
        let args = &self.args.registry_args;
        let opts = RegistryOptions {
            platform: args.platform.clone(),
            insecure: args.insecure,
            timeout: Duration::from_secs(args.timeout.max(1)),
            credentials: Some(credentials),
            registry_host: self.args.registry.clone(),
        };
        tracing::info!("scanning {reference} (credentials: {from})");
        let source = RegistrySource::open_with(&reference, opts)
            .with_context(|| format!("pulling {reference} (credentials: {from})"))?;
        let mut report =
            crate::cmd::scan::build_report(&source, &self.args.pipeline, &self.args.db)
                .with_context(|| format!("scanning {reference}"))?;
        drop(source);
        let policy = Policy::from_args(&self.args.report)?;
        policy.apply(&mut report);
        let summary = Summary::new(event, &reference, &report, &policy);
        Ok((report, summary, policy))
    }

    /// Flags, then the docker config (for the host we connect to, then the ECR host), then an ECR
    /// authorization token for the event's account and region.
    fn credentials(&self, event: &PushEvent) -> anyhow::Result<(Credentials, &'static str)> {
        if let Some((c, from)) = &self.fixed_credentials {
            return Ok((c.clone(), from));
        }
        let ecr_host = event.registry_host(self.fips);
        let mut hosts = vec![];
        if let Some(h) = &self.args.registry {
            hosts.push(h.clone());
        }
        hosts.push(ecr_host.clone());
        for host in hosts {
            let image = ImageRef::parse(&format!("{host}/{}@{}", event.repository, event.digest))?;
            if let Some(c) = auth::from_docker_config(&image) {
                return Ok((c, "the docker config"));
            }
        }
        let region = event.region.clone();
        let fips = self.fips;
        let creds = crate::source::aws::block_on(async move {
            let conf = crate::source::aws::sdk_config(&region, fips).await;
            crate::source::aws::check_credentials(&conf).await?;
            auth::ecr_credentials_with(&conf).await
        })
        .with_context(|| {
            format!(
                "getting an ECR authorization token for {ecr_host} (region {}); no --username/--password, \
                 --registry-token or docker config credentials were given",
                event.region
            )
        })?;
        Ok((creds, "an ECR authorization token (GetAuthorizationToken)"))
    }

    /// The summary as one JSON line on stderr, and to the webhook.
    fn publish(&self, summary: &Summary) {
        if tracing::enabled!(tracing::Level::WARN) {
            if let Ok(line) = serde_json::to_string(summary) {
                crate::output::line_to_stderr(&line);
            }
        }
        if let Some(w) = &self.webhook {
            if let Err(e) = w.post(summary) {
                tracing::warn!(
                    "webhook {}: {e:#}; the scan result and exit code are unchanged",
                    w.shown
                );
            }
        }
    }
}

/// `--username/--password[-stdin]` or `--registry-token` (and their env vars), if given.
fn fixed_credentials(args: &RegistryArgs) -> anyhow::Result<Option<(Credentials, &'static str)>> {
    if let Some(c) = auth::from_flags(args, &mut std::io::stdin().lock())? {
        return Ok(Some((c, "--username/--password")));
    }
    if let Some(t) = args.registry_token.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some((
            Credentials::Bearer(t.to_string()),
            "--registry-token",
        )));
    }
    Ok(None)
}

/// `--registry HOST[:PORT]`: a host, nothing else.
fn validate_registry_host(host: &str) -> anyhow::Result<()> {
    let shown = crate::report::truncate(&crate::report::clean(host), 100);
    let parsed = ImageRef::parse(&format!("{host}/x")).ok().filter(|r| {
        r.host == host && r.repository == "x" && host.contains(['.', ':']) || host == "localhost"
    });
    if parsed.is_none() {
        bail!("--registry {shown:?}: expected HOST[:PORT] (no scheme, path or credentials)");
    }
    Ok(())
}

/// The event file (or stdin), bounded.
fn read_event(name: &str) -> anyhow::Result<Vec<u8>> {
    let limit = event::MAX_EVENT_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    if name == "-" {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)
            .context("reading the event from stdin")?;
    } else {
        let file =
            std::fs::File::open(name).with_context(|| format!("cannot open event file {name}"))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            bail!("event file {name} is a directory");
        }
        file.take(limit)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read event file {name}"))?;
    }
    Ok(bytes)
}

/// `--webhook URL`. The URL is a secret (Slack and Teams put the token in the path): messages show
/// only its scheme and host.
struct Webhook {
    url: reqwest::Url,
    shown: String,
}

impl Webhook {
    fn parse(url: &str) -> anyhow::Result<Webhook> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| anyhow!("--webhook: not a valid URL ({e})"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            bail!(
                "--webhook: the URL must be https (or http), not {:?}",
                parsed.scheme()
            );
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            bail!("--webhook: the URL must not carry user:password@");
        }
        let host = parsed.host_str().unwrap_or_default().to_string();
        if host.is_empty() {
            bail!("--webhook: the URL has no host");
        }
        let shown = match parsed.port() {
            Some(p) => format!("{}://{host}:{p}/…", parsed.scheme()),
            None => format!("{}://{host}/…", parsed.scheme()),
        };
        Ok(Webhook { url: parsed, shown })
    }

    /// POST the summary; one retry on a connection error, 429 or 5xx.
    fn post(&self, summary: &Summary) -> anyhow::Result<()> {
        self.post_within(summary, Duration::from_secs(15))
    }

    /// POST `body`, each attempt bounded by `timeout`.
    fn post_within(&self, body: &impl serde::Serialize, timeout: Duration) -> anyhow::Result<()> {
        let summary = body;
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("layerscan/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("creating the webhook client")?;
        let body = serde_json::to_vec(summary).context("serializing the summary")?;
        let mut last = None;
        for attempt in 1..=2 {
            if attempt > 1 {
                std::thread::sleep(Duration::from_millis(500));
            }
            let sent = client
                .post(self.url.clone())
                .header("content-type", "application/json")
                .body(body.clone())
                .send();
            match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => {
                    let status = r.status();
                    last = Some(anyhow!("HTTP {status}"));
                    if !(status.is_server_error() || status.as_u16() == 429) {
                        break;
                    }
                }
                Err(e) => last = Some(anyhow!("{}", e.without_url())),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("not delivered")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_never_shown_whole() {
        let w =
            Webhook::parse("https://hooks.slack.com/services/T000/B000/SECRETTOKEN?x=1").unwrap();
        assert_eq!(w.shown, "https://hooks.slack.com/…");
        for bad in [
            "ftp://x/y",
            "https://u:p@h/x",
            "not a url",
            "file:///etc/passwd",
        ] {
            let e = Webhook::parse(bad).err().map(|e| format!("{e:#}"));
            assert!(
                e.as_ref().is_some_and(|m| !m.contains("u:p")),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn registry_override_is_a_host() {
        for ok in [
            "127.0.0.1:5000",
            "vpce-1.ecr.eu-west-1.vpce.amazonaws.com",
            "localhost",
            "[::1]:5000",
        ] {
            assert!(validate_registry_host(ok).is_ok(), "{ok}");
        }
        for bad in ["http://x:5000", "x:5000/path", "user:pw@host", "", "noport"] {
            assert!(validate_registry_host(bad).is_err(), "{bad}");
        }
    }
}
