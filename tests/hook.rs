//! Integration tests: `hook ecr` (event file and Lambda runtime) and `layer ARN|URL`.
//!
//! Every AWS endpoint is a stand-in on loopback written here: the ECR API (GetAuthorizationToken,
//! checking the SigV4 scope), the Lambda API (GetLayerVersionByArn, GetFunction, and the presigned
//! download), the Lambda Runtime API and a webhook listener. The registry is the real
//! `docker-registry` with an htpasswd user `AWS` whose password is the token the ECR stand-in
//! hands out, holding a fixture pushed with `skopeo` (skipped with a reason when those tools are
//! missing).

use crate::common::registry::{tools, Registry};
use crate::common::{json, testdata, Sandbox};
use base64::Engine;
use sha2::Digest as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---- Secrets the tests hand out; none may ever appear in any output. ----

const ACCESS_KEY: &str = "AKIDLAYERSCANTEST01";
const SECRET_KEY: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRET01";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzESSIONTOKEN-do-not-print-01";
/// The registry password inside the ECR token (`AWS:<this>`).
const TOKEN_PASSWORD: &str = "ecr-registry-password-do-not-print-77";
const PRESIGN_SECRET: &str = "X-Amz-Signature=presigned0secret0signature";
const WEBHOOK_SECRET_PATH: &str = "/services/T0001/B0001/webhook-path-secret-55";

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn ecr_token(password: &str) -> String {
    B64.encode(format!("AWS:{password}"))
}

/// Every secret above (and the encoded token) absent from `text`.
fn assert_no_secrets(what: &str, text: &str) {
    for s in [
        SECRET_KEY,
        SESSION_TOKEN,
        TOKEN_PASSWORD,
        &ecr_token(TOKEN_PASSWORD),
        PRESIGN_SECRET,
        "presigned0secret0signature",
        WEBHOOK_SECRET_PATH,
        "webhook-path-secret-55",
    ] {
        assert!(!text.contains(s), "{what} contains a secret ({s}):\n{text}");
    }
}

fn assert_no_panic(out: &std::process::Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
}

// ---- A minimal HTTP/1.1 server for the stand-ins. ----

#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, v: serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: v.to_string().into_bytes(),
        }
    }
    fn bytes(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/octet-stream".into())],
            body,
        }
    }
}

type Handler = dyn Fn(&Request) -> Option<Response> + Send + Sync;

/// Serves requests with `handler` (one per connection, `Connection: close`) and records them. A
/// handler answering `None` stops the server after closing that connection (the "API goes away").
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(handler: impl Fn(&Request) -> Option<Response> + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (reqs, stopping) = (Arc::clone(&requests), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut sock) = conn else { continue };
                let _ = sock.set_read_timeout(Some(Duration::from_secs(30)));
                let Some(req) = read_request(&mut sock) else {
                    continue;
                };
                reqs.lock().unwrap().push(req.clone());
                match handler(&req) {
                    Some(resp) => write_response(&mut sock, &resp),
                    None => {
                        drop(sock);
                        break;
                    }
                }
            }
        });
        Server {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(sock: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(sock.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    let mut len = 0usize;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        if k.eq_ignore_ascii_case("content-length") {
            len = v.parse().ok()?;
        }
        if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
        headers.push((k, v));
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

fn write_response(sock: &mut TcpStream, resp: &Response) {
    let mut head = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        resp.status,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = sock.write_all(head.as_bytes());
    let _ = sock.write_all(&resp.body);
    let _ = sock.flush();
}

// ---- The stand-ins. ----

/// The ECR API: answers GetAuthorizationToken with `token` when the request is SigV4-signed by
/// our test key for service `ecr` in `region`, with the session token; 403 otherwise.
fn ecr_api(token: String, region: &'static str) -> Server {
    Server::start(move |req| {
        let target = req.header("x-amz-target").unwrap_or("");
        let auth = req.header("authorization").unwrap_or("");
        let scope_ok = auth.starts_with("AWS4-HMAC-SHA256 ")
            && auth.contains(&format!("Credential={ACCESS_KEY}/"))
            && auth.contains(&format!("/{region}/ecr/aws4_request"))
            && auth.contains("Signature=");
        let session_ok = req.header("x-amz-security-token") == Some(SESSION_TOKEN);
        if req.method != "POST"
            || target != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
            || !scope_ok
            || !session_ok
        {
            return Some(Response::json(
                403,
                serde_json::json!({"__type": "InvalidSignatureException", "message": "bad request signature"}),
            ));
        }
        Some(Response::json(
            200,
            serde_json::json!({"authorizationData": [{
                "authorizationToken": token,
                "expiresAt": 1.9e9,
                "proxyEndpoint": format!("https://{ACCOUNT}.dkr.ecr.{region}.amazonaws.com")
            }]}),
        ))
    })
}

/// A webhook listener answering `status`.
fn webhook(status: u16) -> Server {
    Server::start(move |_| {
        Some(Response::json(
            status,
            serde_json::json!({"ok": status == 200}),
        ))
    })
}

/// The registry with user `AWS`/[`TOKEN_PASSWORD`], holding the debian-app fixture as
/// `team/app:v1`. Returns it and the manifest digest.
fn ecr_registry() -> (Registry, String) {
    let reg = Registry::start_with_user("AWS", TOKEN_PASSWORD);
    let tar = testdata("fixtures/debian-app.docker.tar");
    reg.copy(
        &format!("docker-archive:{}", tar.display()),
        "team/app:v1",
        false,
    );
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("--creds=AWS:{TOKEN_PASSWORD}"))
        .arg(format!("docker://{}/team/app:v1", reg.host()))
        .output()
        .expect("skopeo inspect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&out.stdout)));
    (reg, digest)
}

fn push_event(digest: &str, tag: Option<&str>) -> serde_json::Value {
    let mut detail = serde_json::json!({
        "result": "SUCCESS",
        "repository-name": "team/app",
        "image-digest": digest,
        "action-type": "PUSH",
    });
    if let Some(t) = tag {
        detail["image-tag"] = serde_json::json!(t);
    }
    serde_json::json!({
        "version": "0",
        "id": "13cde686-328b-6117-af20-0e5566167482",
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": ACCOUNT,
        "time": "2026-11-16T01:54:34Z",
        "region": REGION,
        "resources": [],
        "detail": detail
    })
}

/// `layerscan` with test AWS credentials, the given ECR endpoint, no instance metadata, no
/// proxies and none of the developer's AWS settings.
fn aws_cmd(sb: &Sandbox, ecr_endpoint: Option<&str>) -> assert_cmd::Command {
    let mut c = sb.cmd();
    for var in [
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_ECR",
        "AWS_ENDPOINT_URL_LAMBDA",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_USE_FIPS_ENDPOINT",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        c.env_remove(var);
    }
    c.env("NO_PROXY", "127.0.0.1,localhost")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .timeout(Duration::from_secs(300));
    if let Some(e) = ecr_endpoint {
        c.env("AWS_ENDPOINT_URL_ECR", e);
    }
    c
}

/// `hook ecr --event FILE --registry HOST --insecure` with `extra` flags.
fn hook_cmd(
    sb: &Sandbox,
    ecr: &Server,
    reg_host: &str,
    event: &serde_json::Value,
    extra: &[&str],
) -> assert_cmd::Command {
    let path = sb.path().join("event.json");
    std::fs::write(&path, event.to_string()).expect("write event");
    let mut c = aws_cmd(sb, Some(&ecr.url()));
    c.args(["hook", "ecr", "--event"])
        .arg(&path)
        .args(["--registry", reg_host, "--insecure"])
        .args(extra);
    c
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one JSON line on stderr (the structured summary).
fn stderr_summary(out: &std::process::Output) -> serde_json::Value {
    let stderr = stderr_of(out);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one JSON line on stderr:\n{stderr}"
    );
    serde_json::from_str(lines[0]).expect("stderr summary is JSON")
}

fn report_counts(report: &serde_json::Value) -> (usize, usize) {
    let mut vulns = 0;
    let mut misconfigs = 0;
    for r in report["Results"].as_array().expect("Results") {
        vulns += r["Vulnerabilities"].as_array().map_or(0, Vec::len);
        misconfigs += r["Misconfigurations"].as_array().map_or(0, Vec::len);
    }
    (vulns, misconfigs)
}

// ---- hook ecr --event ----

#[test]
fn push_event_scanned_end_to_end_with_policy_exit_code_and_webhook() {
    let Some(()) = tools() else { return };
    let (reg, digest) = ecr_registry();
    let ecr = ecr_api(ecr_token(TOKEN_PASSWORD), REGION);
    let hook = webhook(200);
    let sb = Sandbox::new();
    let out = hook_cmd(
        &sb,
        &ecr,
        &reg.host(),
        &push_event(&digest, Some("v1")),
        &[
            "--severity",
            "CRITICAL,HIGH",
            "--exit-code",
            "3",
            "--format",
            "json",
            "--webhook",
            &format!("{}{WEBHOOK_SECRET_PATH}?token=1", hook.url()),
        ],
    )
    .output()
    .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(3), "stderr:\n{stderr}");
    let report = json(&out);
    let reference = format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/app@{digest}");
    assert_eq!(report["ArtifactName"], reference);
    assert_eq!(report["ArtifactType"], "container_image");
    let (vulns, misconfigs) = report_counts(&report);
    assert!(vulns > 0, "the fixture has CRITICAL/HIGH findings");

    // ECR was asked once, signed for service ecr in the event's region (checked by the stand-in).
    let calls = ecr.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let auth = calls[0].header("authorization").unwrap_or_default();
    assert!(
        auth.contains(&format!("/{REGION}/ecr/aws4_request")),
        "{auth}"
    );

    // The webhook got the summary; stderr has the same summary as one JSON line.
    let posts = hook.requests();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].method, "POST");
    assert_eq!(posts[0].path(), WEBHOOK_SECRET_PATH);
    let body: serde_json::Value = serde_json::from_slice(&posts[0].body).expect("webhook JSON");
    assert_eq!(body, stderr_summary(&out));
    assert_eq!(body["schema"], "layerscan.ecr-hook.summary/v1");
    assert_eq!(body["repository"], "team/app");
    assert_eq!(body["tag"], "v1");
    assert_eq!(body["digest"], digest);
    assert_eq!(body["reference"], reference);
    assert_eq!(body["account"], ACCOUNT);
    assert_eq!(body["region"], REGION);
    assert_eq!(body["verdict"], "fail");
    assert_eq!(body["exit_code"], 3);
    assert_eq!(body["severities"], serde_json::json!(["CRITICAL", "HIGH"]));
    assert_eq!(body["vulnerabilities"]["total"], vulns);
    assert_eq!(body["misconfigurations"]["total"], misconfigs);
    assert_eq!(
        body["vulnerabilities"]["MEDIUM"], 0,
        "filtered by --severity"
    );
    let top = body["top_findings"].as_array().expect("top_findings");
    // One entry per distinct finding (a package listed in two files counts twice in the report).
    let mut distinct = std::collections::BTreeSet::new();
    for r in report["Results"].as_array().unwrap() {
        for v in r["Vulnerabilities"].as_array().into_iter().flatten() {
            distinct.insert((
                v["VulnerabilityID"].to_string(),
                v["PkgName"].to_string(),
                v["InstalledVersion"].to_string(),
            ));
        }
    }
    assert_eq!(top.len(), (distinct.len() + misconfigs).min(10));
    let keys: std::collections::BTreeSet<String> = top
        .iter()
        .map(|f| format!("{}{}{}", f["id"], f["package"], f["installed_version"]))
        .collect();
    assert_eq!(keys.len(), top.len(), "no duplicates in {top:?}");
    assert_eq!(top[0]["severity"], "CRITICAL");
    // Every top vulnerability is one the report lists, with the same versions.
    for f in top.iter().filter(|f| f["kind"] == "vulnerability") {
        let found = report["Results"].as_array().unwrap().iter().any(|r| {
            r["Vulnerabilities"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| {
                    v["VulnerabilityID"] == f["id"]
                        && v["PkgName"] == f["package"]
                        && v["InstalledVersion"] == f["installed_version"]
                        && v.get("FixedVersion").unwrap_or(&serde_json::Value::Null)
                            == &f["fixed_version"]
                })
        });
        assert!(found, "{f} is not in the report");
    }
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("layerscan: FAIL team/app:v1 ({})", &digest[..19])),
        "{text}"
    );
    assert!(text.contains("CRITICAL"), "{text}");

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_no_secrets("stdout", &stdout);
    assert_no_secrets("stderr", &stderr);
    assert_no_secrets("webhook body", &posts[0].text());
    for r in ecr.requests() {
        assert!(
            !r.text().contains(SECRET_KEY),
            "the secret key is never sent"
        );
    }

    // The same image under a policy it passes: exit 0, verdict pass, table on stdout.
    let out = hook_cmd(
        &sb,
        &ecr,
        &reg.host(),
        &push_event(&digest, None),
        &["--severity", "LOW", "--exit-code", "3", "--ignore-unfixed"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let summary = stderr_summary(&out);
    assert_eq!(summary["verdict"], "pass");
    assert_eq!(summary["tag"], serde_json::Value::Null);
    assert!(
        summary["text"]
            .as_str()
            .unwrap()
            .contains("No findings at LOW"),
        "{summary}"
    );
}

#[test]
fn webhook_failure_warns_and_keeps_the_exit_code() {
    let Some(()) = tools() else { return };
    let (reg, digest) = ecr_registry();
    let ecr = ecr_api(ecr_token(TOKEN_PASSWORD), REGION);
    let hook = webhook(500);
    let sb = Sandbox::new();
    let url = format!("{}{WEBHOOK_SECRET_PATH}", hook.url());
    let out = hook_cmd(
        &sb,
        &ecr,
        &reg.host(),
        &push_event(&digest, Some("v1")),
        &[
            "--severity",
            "CRITICAL",
            "--exit-code",
            "4",
            "--webhook",
            &url,
        ],
    )
    .output()
    .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("webhook") && stderr.contains("HTTP 500"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("127.0.0.1:{}", hook.port)),
        "names the host: {stderr}"
    );
    assert_eq!(hook.requests().len(), 2, "one retry on a 5xx");
    assert!(!out.stdout.is_empty(), "the report is still printed");
    assert_no_secrets("stderr", &stderr);

    // A webhook nobody listens on: same.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = hook_cmd(
        &sb,
        &ecr,
        &reg.host(),
        &push_event(&digest, Some("v1")),
        &[
            "--severity",
            "CRITICAL",
            "--exit-code",
            "4",
            "--webhook",
            &format!("http://127.0.0.1:{port}{WEBHOOK_SECRET_PATH}"),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert_no_secrets("stderr", &stderr_of(&out));
}

#[test]
fn delete_and_foreign_events_are_ignored() {
    // No registry and an ECR endpoint that refuses everything: nothing may be contacted.
    let ecr = ecr_api("unused".into(), "nowhere-1");
    let sb = Sandbox::new();
    let mut delete = push_event(
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        Some("v1"),
    );
    delete["detail"]["action-type"] = serde_json::json!("DELETE");
    let mut failed = delete.clone();
    failed["detail"]["action-type"] = serde_json::json!("PUSH");
    failed["detail"]["result"] = serde_json::json!("FAILURE");
    let foreign =
        serde_json::json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}});
    for (event, why) in [
        (delete, "DELETE"),
        (failed, "FAILURE"),
        (foreign, "Object Created"),
    ] {
        let out = hook_cmd(&sb, &ecr, "127.0.0.1:1", &event, &["--exit-code", "1"])
            .output()
            .unwrap();
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(out.stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "one line saying why:\n{stderr}");
        assert!(
            stderr.contains("ignoring") && stderr.contains(why),
            "{stderr}"
        );
    }
    assert!(ecr.requests().is_empty());
}

#[test]
fn malformed_events_exit_2_naming_the_problem() {
    let ecr = ecr_api("unused".into(), REGION);
    let sb = Sandbox::new();
    let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let mut no_digest = push_event(d, None);
    no_digest["detail"]
        .as_object_mut()
        .unwrap()
        .remove("image-digest");
    let mut wrong_type = push_event(d, None);
    wrong_type["account"] = serde_json::json!(123456789012u64);
    let mut huge = push_event(d, None);
    huge["detail"]["repository-name"] = serde_json::json!("a".repeat(300_000));
    let mut bad_repo = push_event(d, None);
    bad_repo["detail"]["repository-name"] = serde_json::json!("../../etc/passwd");
    let cases: Vec<(String, &str)> = vec![
        ("{\"source\": \"aws.ecr\", ".into(), "not valid JSON"),
        ("[1, 2, 3]".into(), "JSON object"),
        ("\"just a string\"".into(), "JSON object"),
        (no_digest.to_string(), "detail.image-digest"),
        (wrong_type.to_string(), "`account` must be a string"),
        (huge.to_string(), "repository-name"),
        (bad_repo.to_string(), "repository-name"),
        ("{}".into(), "not an EventBridge event"),
        (
            format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)),
            "not valid JSON",
        ),
    ];
    for (text, want) in cases {
        let path = sb.path().join("event.json");
        std::fs::write(&path, &text).unwrap();
        let out = aws_cmd(&sb, Some(&ecr.url()))
            .args(["hook", "ecr", "--event"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = stderr_of(&out);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{want}: {stderr}");
        assert!(out.stdout.is_empty());
        assert!(stderr.contains(want), "expected {want:?} in:\n{stderr}");
        assert!(stderr.contains("event.json"), "names the input: {stderr}");
        assert!(stderr.len() < 2000, "no huge echo: {} bytes", stderr.len());
    }
    // From stdin, and a file that does not exist.
    let out = aws_cmd(&sb, None)
        .args(["hook", "ecr", "--event", "-"])
        .write_stdin("not json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("event from stdin"),
        "{}",
        stderr_of(&out)
    );
    let out = aws_cmd(&sb, None)
        .args(["hook", "ecr", "--event", "missing.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("missing.json"));
    // Neither --event nor Lambda.
    let out = aws_cmd(&sb, None).args(["hook", "ecr"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--event"), "{}", stderr_of(&out));
    assert!(ecr.requests().is_empty());
}

#[test]
fn missing_aws_credentials_name_the_sources_tried() {
    let ecr = ecr_api(ecr_token(TOKEN_PASSWORD), REGION);
    let sb = Sandbox::new();
    let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let mut cmd = hook_cmd(&sb, &ecr, "127.0.0.1:1", &push_event(d, Some("v1")), &[]);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN");
    let out = cmd.output().unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    for source in [
        "AWS_ACCESS_KEY_ID",
        "profile",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "container credentials",
        "instance metadata",
    ] {
        assert!(stderr.contains(source), "{source} not named:\n{stderr}");
    }
    assert!(stderr.contains("ECR authorization token"), "{stderr}");
    assert!(ecr.requests().is_empty(), "no unsigned request is sent");
}

#[test]
fn an_invalid_token_is_an_auth_error() {
    let Some(()) = tools() else { return };
    let (reg, digest) = ecr_registry();
    let sb = Sandbox::new();
    // A well-formed token whose password the registry does not accept.
    let wrong = "not-the-registry-password-99";
    let ecr = ecr_api(ecr_token(wrong), REGION);
    let out = hook_cmd(
        &sb,
        &ecr,
        &reg.host(),
        &push_event(&digest, Some("v1")),
        &[],
    )
    .output()
    .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("authentication") && stderr.contains(&reg.host()),
        "{stderr}"
    );
    assert!(
        stderr.contains("ECR authorization token"),
        "says where the credentials came from: {stderr}"
    );
    assert!(
        !stderr.contains(wrong) && !stderr.contains(&ecr_token(wrong)),
        "{stderr}"
    );
    assert_no_secrets("stderr", &stderr);

    // A token that is not base64 of user:password.
    let ecr = ecr_api("!!not-base64!!".into(), REGION);
    let out = hook_cmd(
        &sb,
        &ecr,
        &reg.host(),
        &push_event(&digest, Some("v1")),
        &[],
    )
    .output()
    .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ECR authorization token is not base64"),
        "{stderr}"
    );

    // The ECR API refuses the signature (here: signed for another region than it expects).
    let ecr = ecr_api(ecr_token(TOKEN_PASSWORD), "us-east-1");
    let out = hook_cmd(
        &sb,
        &ecr,
        &reg.host(),
        &push_event(&digest, Some("v1")),
        &[],
    )
    .output()
    .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("GetAuthorizationToken") && stderr.contains("InvalidSignatureException"),
        "{stderr}"
    );
    assert_no_secrets("stderr", &stderr);
}

#[test]
fn docker_config_credentials_are_used_before_ecr() {
    let Some(()) = tools() else { return };
    let (reg, digest) = ecr_registry();
    let sb = Sandbox::new();
    let docker = sb.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let config = serde_json::json!({"auths": {reg.host(): {"auth": ecr_token(TOKEN_PASSWORD)}}});
    std::fs::write(docker.join("config.json"), config.to_string()).unwrap();
    let ecr = ecr_api("unused".into(), REGION);
    let out = hook_cmd(
        &sb,
        &ecr,
        &reg.host(),
        &push_event(&digest, Some("v1")),
        &["--format", "json"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(ecr.requests().is_empty(), "ECR was not asked");
    assert_no_secrets("stderr", &stderr_of(&out));
}

// ---- Lambda mode ----

/// The Runtime API: serves `events` in order, records what comes back, then goes away.
fn runtime_api(events: Vec<Vec<u8>>) -> Server {
    runtime_api_with(events, None)
}

/// Like [`runtime_api`]; each invocation's deadline is `deadline` after it was handed out.
fn runtime_api_with(events: Vec<Vec<u8>>, deadline: Option<Duration>) -> Server {
    let queue = Arc::new(Mutex::new(
        events.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    Server::start(move |req| {
        let base = "/2018-06-01/runtime/invocation/";
        match (req.method.as_str(), req.path()) {
            ("GET", p) if p == format!("{base}next") => {
                let mut q = queue.lock().unwrap();
                if q.is_empty() {
                    return None;
                }
                let (i, payload) = q.remove(0);
                let deadline_ms = match deadline {
                    Some(d) => (std::time::SystemTime::now() + d)
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis()
                        .to_string(),
                    None => "4102444800000".to_string(),
                };
                Some(Response {
                    status: 200,
                    headers: vec![
                        ("content-type".into(), "application/json".into()),
                        ("Lambda-Runtime-Aws-Request-Id".into(), format!("req-{i}")),
                        ("Lambda-Runtime-Deadline-Ms".into(), deadline_ms),
                        (
                            "Lambda-Runtime-Invoked-Function-Arn".into(),
                            format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:scan"),
                        ),
                        (
                            "Lambda-Runtime-Trace-Id".into(),
                            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700".into(),
                        ),
                    ],
                    body: payload,
                })
            }
            ("POST", p) if p.starts_with(base) || p == "/2018-06-01/runtime/init/error" => {
                Some(Response::json(202, serde_json::json!({"status": "OK"})))
            }
            _ => Some(Response::json(
                404,
                serde_json::json!({"errorType": "NotFound"}),
            )),
        }
    })
}

#[test]
fn lambda_mode_answers_invocations_until_the_api_goes_away() {
    let Some(()) = tools() else { return };
    let (reg, digest) = ecr_registry();
    let ecr = ecr_api(ecr_token(TOKEN_PASSWORD), REGION);
    let hook = webhook(200);
    let mut delete = push_event(&digest, Some("v1"));
    delete["detail"]["action-type"] = serde_json::json!("DELETE");
    let api = runtime_api(vec![
        push_event(&digest, Some("v1")).to_string().into_bytes(),
        b"{\"this is\": not json".to_vec(),
        delete.to_string().into_bytes(),
    ]);
    let sb = Sandbox::new();
    // Lambda's home is not writable: the cache must go to $TMPDIR/layerscan.
    let blocker = sb.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let tmp = sb.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // As Lambda starts it: `bootstrap` with no arguments, flags from LAYERSCAN_HOOK_ARGS.
    let out = aws_cmd(&sb, Some(&ecr.url()))
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .env(
            "LAYERSCAN_HOOK_ARGS",
            format!(
                "--registry {} --insecure --severity CRITICAL --exit-code 1 --webhook {}{WEBHOOK_SECRET_PATH}",
                reg.host(),
                hook.url()
            ),
        )
        .env_remove("LAYERSCAN_CACHE_DIR")
        .env("XDG_CACHE_HOME", blocker.join("cache"))
        .env("HOME", blocker.join("home"))
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout in Lambda mode");
    assert!(
        tmp.join("layerscan").is_dir(),
        "cache fell back to $TMPDIR/layerscan"
    );

    let reqs = api.requests();
    let posts: Vec<&Request> = reqs.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 3, "{reqs:?}");
    // 1: the push, answered with the summary.
    assert_eq!(
        posts[0].path(),
        "/2018-06-01/runtime/invocation/req-0/response"
    );
    let summary: serde_json::Value = serde_json::from_slice(&posts[0].body).expect("response JSON");
    assert_eq!(summary["status"], "scanned");
    assert_eq!(summary["digest"], digest);
    assert_eq!(summary["verdict"], "fail");
    assert_eq!(summary["exit_code"], 1);
    assert!(summary["vulnerabilities"]["CRITICAL"].as_u64().unwrap() > 0);
    assert_eq!(hook.requests().len(), 1);
    let hooked: serde_json::Value = serde_json::from_slice(&hook.requests()[0].body).unwrap();
    assert_eq!(hooked, summary);
    // 2: not JSON: the error endpoint, with an error type, and the loop went on.
    assert_eq!(
        posts[1].path(),
        "/2018-06-01/runtime/invocation/req-1/error"
    );
    assert_eq!(
        posts[1].header("Lambda-Runtime-Function-Error-Type"),
        Some("layerscan.InvalidEvent")
    );
    let err: serde_json::Value = serde_json::from_slice(&posts[1].body).unwrap();
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{err}"
    );
    // 3: a DELETE: answered, ignored.
    assert_eq!(
        posts[2].path(),
        "/2018-06-01/runtime/invocation/req-2/response"
    );
    let ignored: serde_json::Value = serde_json::from_slice(&posts[2].body).unwrap();
    assert_eq!(ignored["status"], "ignored");
    assert!(ignored["reason"].as_str().unwrap().contains("DELETE"));

    for p in &posts {
        assert_no_secrets("Lambda response", &p.text());
    }
    assert_no_secrets("stderr", &stderr);
    assert_no_secrets("webhook body", &hook.requests()[0].text());
}

#[test]
fn lambda_mode_reports_a_failed_scan_and_goes_on() {
    // No registry behind --registry: the scan fails, the error endpoint gets it, exit 0 at the end.
    let ecr = ecr_api(ecr_token(TOKEN_PASSWORD), REGION);
    let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let api = runtime_api(vec![push_event(d, None).to_string().into_bytes()]);
    let sb = Sandbox::new();
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = aws_cmd(&sb, Some(&ecr.url()))
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .args([
            "hook",
            "ecr",
            "--registry",
            &format!("127.0.0.1:{dead}"),
            "--insecure",
            "--timeout",
            "2",
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let reqs = api.requests();
    let post = reqs.iter().find(|r| r.method == "POST").expect("an answer");
    assert_eq!(post.path(), "/2018-06-01/runtime/invocation/req-0/error");
    assert_eq!(
        post.header("Lambda-Runtime-Function-Error-Type"),
        Some("layerscan.ScanError")
    );
    let err: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert!(
        err["errorMessage"]
            .as_str()
            .unwrap()
            .contains("could not reach registry"),
        "{err}"
    );
    assert_no_secrets("Lambda error", &post.text());
    assert_no_secrets("stderr", &stderr);
}

/// A registry that accepts connections and never answers.
fn silent_registry() -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            if stopping.load(Ordering::SeqCst) {
                break;
            }
            if let Ok(c) = conn {
                held.push(c);
            }
        }
    });
    (port, stop)
}

#[test]
fn lambda_deadline_stops_the_scan_with_time_to_report_it() {
    let ecr = ecr_api(ecr_token(TOKEN_PASSWORD), REGION);
    let hook = webhook(200);
    let (port, stop) = silent_registry();
    let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let api = runtime_api_with(
        vec![push_event(d, Some("v1")).to_string().into_bytes()],
        Some(Duration::from_secs(8)),
    );
    let sb = Sandbox::new();
    let started = std::time::Instant::now();
    let out = aws_cmd(&sb, Some(&ecr.url()))
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        // The AWS SDK passes `_X_AMZN_TRACE_ID` on as X-Amzn-Trace-Id inside Lambda.
        .env("AWS_LAMBDA_FUNCTION_NAME", "scan")
        .env_remove("_X_AMZN_TRACE_ID")
        .args([
            "hook",
            "ecr",
            "--registry",
            &format!("127.0.0.1:{port}"),
            "--insecure",
            "--timeout",
            "300",
            "--webhook",
            &format!("{}{WEBHOOK_SECRET_PATH}", hook.url()),
        ])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(("127.0.0.1", port));
    let stderr = stderr_of(&out);
    assert_no_panic(&out);
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?} {stderr}");
    let reqs = api.requests();
    let post = reqs.iter().find(|r| r.method == "POST").expect("an answer");
    assert_eq!(post.path(), "/2018-06-01/runtime/invocation/req-0/error");
    assert_eq!(
        post.header("Lambda-Runtime-Function-Error-Type"),
        Some("layerscan.Timeout")
    );
    let err: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    let msg = err["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("timed out") && msg.contains("deadline") && msg.contains(d),
        "{msg}"
    );
    assert!(
        stderr.contains("did not finish within the invocation's deadline"),
        "{stderr}"
    );
    // The webhook heard it too.
    let hooked: Vec<serde_json::Value> = hook
        .requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(hooked.len(), 1, "{hooked:?}");
    assert_eq!(hooked[0]["status"], "timed_out");
    assert_eq!(hooked[0]["digest"], d);
    // The runtime exits after a timed-out scan (it cannot be stopped): Lambda starts a new one.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The invocation's trace id reached the AWS SDK's request to ECR.
    let ecr_reqs = ecr.requests();
    assert!(!ecr_reqs.is_empty());
    assert_eq!(
        ecr_reqs[0].header("X-Amzn-Trace-Id"),
        Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700"),
        "{:?}",
        ecr_reqs[0].headers
    );
    assert_no_secrets("stderr", &stderr);
}

#[test]
fn lambda_configuration_errors_reach_init_error() {
    for (hook_args, expect) in [
        ("--no-such-flag", "--no-such-flag"),
        ("--webhook ftp://example.com/x", "--webhook"),
        ("--severity NOPE", "NOPE"),
    ] {
        let api = runtime_api(vec![]);
        let sb = Sandbox::new();
        let out = aws_cmd(&sb, None)
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
            .env("LAYERSCAN_HOOK_ARGS", hook_args)
            .output()
            .unwrap();
        assert_no_panic(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{hook_args}: {}",
            stderr_of(&out)
        );
        let reqs = api.requests();
        let post = reqs
            .iter()
            .find(|r| r.method == "POST")
            .unwrap_or_else(|| panic!("{hook_args}: no init error posted: {reqs:?}"));
        assert_eq!(post.path(), "/2018-06-01/runtime/init/error", "{hook_args}");
        assert!(post
            .header("Lambda-Runtime-Function-Error-Type")
            .is_some_and(|t| t.starts_with("layerscan.")));
        let err: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
        let msg = err["errorMessage"].as_str().unwrap();
        assert!(msg.contains(expect), "{hook_args}: {msg}");
        assert!(!msg.contains('\u{1b}'), "no terminal escapes: {msg:?}");
    }
}

// ---- layer ARN / URL ----

/// The Lambda API and the presigned download on one loopback server. `served` is what the
/// download returns; `claimed` is what CodeSha256 says.
fn lambda_api(served: Vec<u8>, claimed: Vec<u8>) -> Server {
    let sha = B64.encode(sha2::Sha256::digest(&claimed));
    let size = claimed.len();
    let port = Arc::new(Mutex::new(0u16));
    let port_in = Arc::clone(&port);
    let server = Server::start(move |req| {
        let location = format!(
            "http://127.0.0.1:{}/presigned/code.zip?X-Amz-Security-Token=tok&{PRESIGN_SECRET}",
            *port_in.lock().unwrap()
        );
        let auth = req.header("authorization").unwrap_or("");
        let signed = auth.contains("/us-east-1/lambda/aws4_request");
        match req.path() {
            "/presigned/code.zip" => Some(Response::bytes(200, served.clone())),
            _ if !signed => Some(Response::json(
                403,
                serde_json::json!({"Type": "User", "message": "bad signature"}),
            )),
            "/2018-10-31/layers" => Some(Response::json(
                200,
                serde_json::json!({
                    "Content": {"Location": location, "CodeSha256": sha, "CodeSize": size},
                    "LayerArn": "arn:aws:lambda:us-east-1:123456789012:layer:deps",
                    "LayerVersionArn": "arn:aws:lambda:us-east-1:123456789012:layer:deps:3",
                    "Version": 3
                }),
            )),
            p if p.starts_with("/2015-03-31/functions/") => Some(Response::json(
                200,
                serde_json::json!({
                    "Configuration": {"FunctionName": "scan", "CodeSha256": sha, "CodeSize": size, "PackageType": "Zip"},
                    "Code": {"RepositoryType": "S3", "Location": location}
                }),
            )),
            _ => Some(Response::json(
                404,
                serde_json::json!({"Type": "User", "message": "no such route"}),
            )),
        }
    });
    *port.lock().unwrap() = server.port;
    server
}

fn layer_cmd(sb: &Sandbox, lambda: &Server, arg: &str) -> assert_cmd::Command {
    let mut c = aws_cmd(sb, None);
    c.env("AWS_ENDPOINT_URL_LAMBDA", lambda.url())
        .args(["layer", arg, "--format", "json"]);
    c
}

const LAYER_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:layer:deps:3";

#[test]
fn layer_arn_downloads_verifies_and_scans() {
    let zip = std::fs::read(testdata("fixtures/python-layer.zip")).unwrap();
    let lambda = lambda_api(zip.clone(), zip.clone());
    let sb = Sandbox::new();
    let out = layer_cmd(&sb, &lambda, LAYER_ARN).output().unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report = json(&out);
    assert_eq!(report["ArtifactName"], LAYER_ARN);
    assert_eq!(report["ArtifactType"], "lambda_layer");
    // Same inventory as scanning the file itself.
    let local = sb
        .cmd()
        .args(["layer"])
        .arg(testdata("fixtures/python-layer.zip"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(report["Results"], json(&local)["Results"]);
    let reqs = lambda.requests();
    let api = reqs
        .iter()
        .find(|r| r.path() == "/2018-10-31/layers")
        .expect("GetLayerVersionByArn");
    assert!(api.target.contains("find=LayerVersion"), "{}", api.target);
    assert!(
        api.target
            .contains("Arn=arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Alayer%3Adeps%3A3"),
        "{}",
        api.target
    );
    assert!(reqs.iter().any(|r| r.path() == "/presigned/code.zip"));
    assert_no_secrets("stdout", &String::from_utf8_lossy(&out.stdout));
    assert_no_secrets("stderr", &stderr);

    // A function ARN goes through GetFunction.
    let fzip = std::fs::read(testdata("fixtures/function.zip")).unwrap();
    let lambda = lambda_api(fzip.clone(), fzip);
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:scan";
    let out = layer_cmd(&sb, &lambda, arn).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(json(&out)["ArtifactType"], "lambda_function");
    assert!(lambda
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path().starts_with("/2015-03-31/functions/")));
}

#[test]
fn layer_arn_whose_download_does_not_match_code_sha256() {
    let zip = std::fs::read(testdata("fixtures/python-layer.zip")).unwrap();
    let mut tampered = zip.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    let lambda = lambda_api(tampered.clone(), zip.clone());
    let sb = Sandbox::new();
    let out = layer_cmd(&sb, &lambda, LAYER_ARN).output().unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    let want = B64.encode(sha2::Sha256::digest(&zip));
    let got = B64.encode(sha2::Sha256::digest(&tampered));
    assert!(
        stderr.contains("CodeSha256") && stderr.contains(&want) && stderr.contains(&got),
        "{stderr}"
    );
    assert!(stderr.contains(LAYER_ARN), "{stderr}");
    assert_no_secrets("stderr", &stderr);

    // A size that differs from CodeSize is refused as well.
    let lambda = lambda_api(zip[..zip.len() - 10].to_vec(), zip.clone());
    let out = layer_cmd(&sb, &lambda, LAYER_ARN).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("CodeSize"), "{}", stderr_of(&out));
    assert_no_secrets("stderr", &stderr_of(&out));
}

#[test]
fn layer_arn_without_credentials_or_with_a_bad_arn() {
    let zip = std::fs::read(testdata("fixtures/python-layer.zip")).unwrap();
    let lambda = lambda_api(zip.clone(), zip);
    let sb = Sandbox::new();
    let out = layer_cmd(&sb, &lambda, LAYER_ARN)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("AWS_ACCESS_KEY_ID") && stderr.contains("instance metadata"),
        "{stderr}"
    );
    assert!(lambda.requests().is_empty());
    for bad in [
        "arn:aws:lambda:us-east-1:123456789012:layer:deps",
        "arn:aws:s3:::bucket/key",
    ] {
        let out = layer_cmd(&sb, &lambda, bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr_of(&out).contains("not a Lambda layer-version or function ARN"),
            "{}",
            stderr_of(&out)
        );
    }
}

#[test]
fn layer_by_url_with_sha256() {
    let zip = std::fs::read(testdata("fixtures/python-layer.zip")).unwrap();
    let hex = hex::encode(sha2::Sha256::digest(&zip));
    let lambda = lambda_api(zip.clone(), zip);
    let sb = Sandbox::new();
    let url = format!("{}/presigned/code.zip?{PRESIGN_SECRET}", lambda.url());
    let run = |extra: &[&str]| {
        aws_cmd(&sb, None)
            .args(["layer", &url, "--format", "json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--insecure", "--sha256", &hex]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let report = json(&out);
    assert_eq!(
        report["ArtifactName"],
        format!("{}/presigned/code.zip", lambda.url())
    );
    assert_no_secrets("stdout", &String::from_utf8_lossy(&out.stdout));

    let wrong = "0".repeat(64);
    let out = run(&["--insecure", "--sha256", &wrong]);
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&wrong) && stderr.contains(&hex), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_no_secrets("stderr", &stderr);

    // Plain http needs --insecure.
    let out = run(&["--sha256", &hex]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("https"), "{}", stderr_of(&out));
    assert_no_secrets("stderr", &stderr_of(&out));
}
