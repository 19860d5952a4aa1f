//! A Lambda custom runtime, spoken directly over the Runtime API
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>): `GET .../invocation/next`
//! blocks until an event arrives, then exactly one of `POST .../invocation/{id}/response` or
//! `.../{id}/error`. A failed invocation is reported and the loop goes on; the loop ends when the
//! API goes away (in Lambda it never does: the sandbox is frozen between invocations).
//!
//! Plain blocking HTTP is all this needs; the scan itself runs on its own runtimes.

use anyhow::{anyhow, bail, Context};
use std::time::Duration;

/// Lambda's limit for a synchronous payload.
const MAX_PAYLOAD: u64 = 6 * 1024 * 1024;

/// The Runtime API at `AWS_LAMBDA_RUNTIME_API` (`host:port`).
pub struct RuntimeApi {
    base: String,
    /// No timeout: `next` is a long poll.
    polling: reqwest::blocking::Client,
    posting: reqwest::blocking::Client,
}

/// One invocation.
#[derive(Debug)]
pub struct Invocation {
    pub request_id: String,
    pub payload: Vec<u8>,
    /// `Lambda-Runtime-Deadline-Ms`: when the platform kills the invocation ("Task timed out").
    pub deadline: Option<std::time::SystemTime>,
    /// `Lambda-Runtime-Trace-Id` (X-Ray), passed on as `_X_AMZN_TRACE_ID`.
    pub trace_id: Option<String>,
}

impl Invocation {
    /// How long the work of this invocation may run: until the deadline less a margin to post
    /// the error, log it and send the webhook (10% of the time left, at least 2 s and at most
    /// 10 s, never more than half). `None` without a deadline.
    pub fn budget(&self) -> Option<Duration> {
        let left = self
            .deadline?
            .duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let margin = (left / 10)
            .clamp(Duration::from_secs(2), Duration::from_secs(10))
            .min(left / 2);
        Some(left.saturating_sub(margin))
    }
}

/// The name the X-Ray SDKs (and the AWS SDK) read the trace header from.
pub const TRACE_ID_ENV: &str = "_X_AMZN_TRACE_ID";

/// Why `next` returned no invocation.
#[derive(Debug)]
pub enum NextError {
    /// The API cannot be reached (any more).
    Gone(anyhow::Error),
    /// It answered, but not with a usable invocation.
    Protocol(anyhow::Error),
}

impl RuntimeApi {
    pub fn new(host_port: &str) -> anyhow::Result<RuntimeApi> {
        let ok = !host_port.is_empty()
            && host_port.len() <= 255
            && host_port.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !ok {
            bail!(
                "AWS_LAMBDA_RUNTIME_API must be host:port, found {:?}",
                crate::report::truncate(&crate::report::clean(host_port), 80)
            );
        }
        let build = |timeout: Option<Duration>| {
            reqwest::blocking::Client::builder()
                .no_proxy()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(5))
                .build()
                .context("creating the Lambda Runtime API client")
        };
        Ok(RuntimeApi {
            base: format!("http://{host_port}/2018-06-01/runtime"),
            polling: build(None)?,
            posting: build(Some(Duration::from_secs(30)))?,
        })
    }

    pub fn next(&self) -> Result<Invocation, NextError> {
        let resp = self
            .polling
            .get(format!("{}/invocation/next", self.base))
            .send()
            .map_err(|e| NextError::Gone(anyhow!("{}", chain(e))))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(NextError::Gone(anyhow!(
                "the Runtime API answered HTTP {status} to invocation/next"
            )));
        }
        let id = resp
            .headers()
            .get("Lambda-Runtime-Aws-Request-Id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !valid_request_id(&id) {
            return Err(NextError::Protocol(anyhow!(
                "invocation without a usable Lambda-Runtime-Aws-Request-Id header"
            )));
        }
        if resp.content_length().is_some_and(|n| n > MAX_PAYLOAD) {
            return Err(NextError::Protocol(anyhow!(
                "invocation {id}: payload larger than {MAX_PAYLOAD} bytes"
            )));
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let deadline = header("Lambda-Runtime-Deadline-Ms")
            .and_then(|ms| ms.trim().parse::<u64>().ok())
            .map(|ms| std::time::UNIX_EPOCH + Duration::from_millis(ms));
        let trace_id = header("Lambda-Runtime-Trace-Id").filter(|t| valid_trace_id(t));
        let payload = resp
            .bytes()
            .map_err(|e| NextError::Gone(anyhow!("reading invocation {id}: {}", chain(e))))?;
        Ok(Invocation {
            request_id: id,
            payload: payload.to_vec(),
            deadline,
            trace_id,
        })
    }

    pub fn respond(&self, request_id: &str, body: &serde_json::Value) -> anyhow::Result<()> {
        self.post(
            &format!("invocation/{request_id}/response"),
            body.to_string(),
            None,
        )
    }

    /// Report a failed invocation (`errorType` is also sent as
    /// `Lambda-Runtime-Function-Error-Type`).
    pub fn fail(&self, request_id: &str, error_type: &str, message: &str) -> anyhow::Result<()> {
        self.post(
            &format!("invocation/{request_id}/error"),
            error_body(error_type, message),
            Some(error_type),
        )
    }

    /// Report a failure before the first invocation (bad configuration).
    pub fn init_error(&self, error_type: &str, message: &str) -> anyhow::Result<()> {
        self.post(
            "init/error",
            error_body(error_type, message),
            Some(error_type),
        )
    }

    fn post(&self, path: &str, body: String, error_type: Option<&str>) -> anyhow::Result<()> {
        let mut req = self
            .posting
            .post(format!("{}/{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = error_type {
            req = req.header("Lambda-Runtime-Function-Error-Type", t);
        }
        let resp = req
            .send()
            .map_err(|e| anyhow!("POST {path} to the Runtime API: {}", chain(e)))?;
        if !resp.status().is_success() {
            bail!("POST {path} to the Runtime API: HTTP {}", resp.status());
        }
        Ok(())
    }
}

/// A reqwest error with its causes ("connection refused"), without the URL.
fn chain(e: reqwest::Error) -> String {
    crate::source::aws::error_text(&e.without_url())
}

fn error_body(error_type: &str, message: &str) -> String {
    serde_json::json!({"errorType": error_type, "errorMessage": message, "stackTrace": []})
        .to_string()
}

/// Request ids are UUIDs; anything else is refused before it becomes part of a URL path.
fn valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `Root=1-...;Parent=...;Sampled=1`: printable ASCII without spaces, bounded.
fn valid_trace_id(t: &str) -> bool {
    !t.is_empty() && t.len() <= 512 && t.bytes().all(|b| b.is_ascii_graphic())
}

/// How one invocation ended.
pub enum Outcome {
    Response(serde_json::Value),
    /// `(errorType, message)`.
    Error(&'static str, String),
    /// The work ran out of time and is still running on its thread: the error is posted, then the
    /// runtime exits, so that Lambda starts a fresh one (a stuck scan cannot be cancelled).
    TimedOut(String),
}

/// Serve invocations until the API goes away. Returns how many were served. A Runtime API that
/// cannot be reached on the first call is an error (a wrong `AWS_LAMBDA_RUNTIME_API`).
pub fn serve(
    api: &RuntimeApi,
    mut handle: impl FnMut(&Invocation) -> Outcome,
) -> anyhow::Result<u64> {
    let mut served: u64 = 0;
    loop {
        let inv = match api.next() {
            Ok(inv) => inv,
            Err(NextError::Gone(e)) if served == 0 => {
                return Err(
                    e.context("cannot reach the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API)")
                );
            }
            Err(NextError::Gone(e)) => {
                tracing::info!(
                    "the Lambda Runtime API went away ({e:#}); exiting after {served} invocations"
                );
                return Ok(served);
            }
            Err(NextError::Protocol(e)) => {
                // Without a request id there is nobody to answer; the platform times it out.
                tracing::error!("{e:#}");
                continue;
            }
        };
        served += 1;
        let id = inv.request_id.clone();
        // As the managed runtimes do: the trace header of this invocation, for the X-Ray SDKs and
        // the AWS SDK. Set between invocations, while no scan of ours runs.
        match &inv.trace_id {
            Some(t) => std::env::set_var(TRACE_ID_ENV, t),
            None => std::env::remove_var(TRACE_ID_ENV),
        }
        match handle(&inv) {
            Outcome::Response(body) => {
                if let Err(e) = api.respond(&id, &body) {
                    tracing::error!("invocation {id}: {e:#}");
                }
            }
            Outcome::Error(kind, message) => {
                crate::output::line_to_stderr(&format!("error: invocation {id}: {message}"));
                if let Err(e) = api.fail(&id, kind, &message) {
                    tracing::error!("invocation {id}: {e:#}");
                }
            }
            Outcome::TimedOut(message) => {
                crate::output::line_to_stderr(&format!("error: invocation {id}: {message}"));
                if let Err(e) = api.fail(&id, "layerscan.Timeout", &message) {
                    tracing::error!("invocation {id}: {e:#}");
                }
                bail!(
                    "invocation {id} ran out of time; exiting so that Lambda starts a fresh \
                     runtime for the next one (the unfinished scan cannot be stopped)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_and_hosts() {
        assert!(valid_request_id("8476a536-e9f4-11e8-9739-2dfe598c3fcd"));
        assert!(!valid_request_id("../../init/error"));
        assert!(!valid_request_id(""));
        assert!(RuntimeApi::new("127.0.0.1:9001").is_ok());
        assert!(RuntimeApi::new("localhost:9001/x?y").is_err());
        assert!(RuntimeApi::new("").is_err());
    }

    #[test]
    fn unreachable_api_on_first_call_is_an_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let api = RuntimeApi::new(&format!("127.0.0.1:{port}")).unwrap();
        let mut calls = 0;
        let e = serve(&api, |_: &Invocation| {
            calls += 1;
            Outcome::Response(serde_json::json!({}))
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("AWS_LAMBDA_RUNTIME_API"), "{e:#}");
        assert_eq!(calls, 0);
    }
}
