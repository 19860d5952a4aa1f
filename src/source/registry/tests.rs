//! Unit tests against a small fake registry on loopback: the parts a real registry can't easily
//! be made to do (fail transiently, redirect blobs to another host, drop a connection mid-body).

use super::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;

/// Answers one request: (socket, path, Authorization header).
type Handler = Arc<dyn Fn(&mut TcpStream, &str, Option<&str>) + Send + Sync>;

#[derive(Debug, Clone)]
struct Seen {
    port: u16,
    path: String,
    authorization: Option<String>,
}

#[derive(Default)]
struct Behaviour {
    /// Manifest GETs answered 503 before a real answer.
    manifest_failures: usize,
    /// Serve the layer blob from a second server through a 307.
    redirect_layer: bool,
    /// Announce the full layer but close the connection after half of it.
    truncate_layer: bool,
    /// Docker Hub style: a Bearer challenge whose token service (on the second server) takes
    /// the Basic credentials and issues the token the registry wants.
    bearer: bool,
}

const TOKEN: &str = "issued-bearer-token";

struct Fake {
    port: u16,
    storage_port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    manifest_digest: String,
    layer_digest: String,
    layer: Vec<u8>,
}

const USER: &str = "alice";
const PASS: &str = "s3cret-pw";

fn basic_header() -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"))
    )
}

fn respond(sock: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| *k == "content-length") {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let _ = sock.write_all(head.as_bytes());
    let _ = sock.write_all(body);
}

/// Read a request's path and Authorization header.
fn read_request(sock: &TcpStream) -> Option<(String, Option<String>)> {
    let mut r = BufReader::new(sock.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut auth = None;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = Some(v.trim().to_string());
            }
        }
    }
    Some((path, auth))
}

fn serve(listener: TcpListener, handler: Handler, seen: Arc<Mutex<Vec<Seen>>>) {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { continue };
            let handler = Arc::clone(&handler);
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                if let Some((path, auth)) = read_request(&sock) {
                    seen.lock().unwrap().push(Seen {
                        port,
                        path: path.clone(),
                        authorization: auth.clone(),
                    });
                    handler(&mut sock, &path, auth.as_deref());
                }
            });
        }
    });
}

fn start(b: Behaviour) -> Fake {
    let layer: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let layer_digest = sha256_of(&layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"User": "app"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "ADD rootfs /"}, {"created_by": "ENV X=1", "empty_layer": true}]
    })
    .to_string()
    .into_bytes();
    let config_digest = sha256_of(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}]
    })
    .to_string()
    .into_bytes();
    let manifest_digest = sha256_of(&manifest);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let storage = TcpListener::bind("127.0.0.1:0").unwrap();
    let storage_port = storage.local_addr().unwrap().port();
    let main = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = main.local_addr().unwrap().port();

    let blob = layer.clone();
    let truncate = b.truncate_layer;
    let send_layer = Arc::new(move |sock: &mut TcpStream| {
        if truncate {
            respond(
                sock,
                "200 OK",
                &[("content-length", blob.len().to_string())],
                &blob[..blob.len() / 2],
            );
        } else {
            respond(sock, "200 OK", &[], &blob);
        }
    });
    let send = Arc::clone(&send_layer);
    serve(
        storage,
        Arc::new(move |sock, path, auth| {
            if !path.starts_with("/token") {
                return send(sock);
            }
            if auth == Some(basic_header().as_str())
                && path.contains("scope=repository%3Aapp%3Apull")
            {
                let body = format!("{{\"token\":\"{TOKEN}\",\"expires_in\":300}}");
                respond(
                    sock,
                    "200 OK",
                    &[("content-type", "application/json".to_string())],
                    body.as_bytes(),
                )
            } else {
                respond(
                    sock,
                    "401 Unauthorized",
                    &[],
                    b"{\"details\":\"bad credentials\"}",
                )
            }
        }),
        Arc::clone(&seen),
    );

    let failures = Arc::new(Mutex::new(b.manifest_failures));
    let docs: HashMap<String, (Vec<u8>, &'static str)> = [
        (
            "/v2/app/manifests/v1".to_string(),
            (manifest.clone(), manifest::OCI_MANIFEST),
        ),
        (
            format!("/v2/app/manifests/{manifest_digest}"),
            (manifest, manifest::OCI_MANIFEST),
        ),
        (
            format!("/v2/app/blobs/{config_digest}"),
            (config, "application/octet-stream"),
        ),
    ]
    .into_iter()
    .collect();
    let layer_path = format!("/v2/app/blobs/{layer_digest}");
    let redirect = b.redirect_layer;
    let bearer = b.bearer;
    serve(
        main,
        Arc::new(move |sock, path, auth| {
            let bearer_ok = auth == Some(format!("Bearer {TOKEN}").as_str());
            if bearer && !bearer_ok {
                let challenge = format!(
                    r#"Bearer realm="http://127.0.0.1:{storage_port}/token",service="fake""#
                );
                return respond(
                    sock,
                    "401 Unauthorized",
                    &[("www-authenticate", challenge)],
                    b"{}",
                );
            }
            if !bearer && auth != Some(basic_header().as_str()) {
                let body =
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
                return respond(
                    sock,
                    "401 Unauthorized",
                    &[
                        ("www-authenticate", r#"Basic realm="fake""#.to_string()),
                        ("content-type", "application/json".to_string()),
                    ],
                    body,
                );
            }
            if path == "/v2/" {
                return respond(sock, "200 OK", &[], b"{}");
            }
            if path.contains("/manifests/") {
                let mut f = failures.lock().unwrap();
                if *f > 0 {
                    *f -= 1;
                    return respond(sock, "503 Service Unavailable", &[], b"busy");
                }
            }
            if let Some((body, ct)) = docs.get(path) {
                return respond(sock, "200 OK", &[("content-type", ct.to_string())], body);
            }
            if path == layer_path {
                if redirect {
                    let to = format!(
                        "http://127.0.0.1:{storage_port}/bucket/layer?X-Amz-Signature=presigned-secret"
                    );
                    return respond(sock, "307 Temporary Redirect", &[("location", to)], b"");
                }
                return send_layer(sock);
            }
            let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
            respond(
                sock,
                "404 Not Found",
                &[("content-type", "application/json".to_string())],
                body,
            )
        }),
        Arc::clone(&seen),
    );
    Fake {
        port,
        storage_port,
        seen,
        manifest_digest,
        layer_digest,
        layer,
    }
}

fn opts(creds: Option<Credentials>) -> RegistryOptions {
    RegistryOptions {
        platform: "linux/amd64".into(),
        insecure: true,
        timeout: Duration::from_secs(20),
        credentials: creds,
        registry_host: None,
    }
}

fn good() -> Option<Credentials> {
    Some(Credentials::basic(USER, PASS))
}

#[test]
fn pulls_with_retry_redirect_and_no_auth_leak() {
    let fake = start(Behaviour {
        manifest_failures: 2,
        redirect_layer: true,
        ..Default::default()
    });
    let src = RegistrySource::open_with(&format!("127.0.0.1:{}/app:v1", fake.port), opts(good()))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let t = src.target();
    assert_eq!(t.layers.len(), 1);
    assert_eq!(t.layers[0].digest, fake.layer_digest);
    assert_eq!(
        t.layers[0].diff_id.as_deref(),
        Some(fake.layer_digest.as_str())
    );
    assert_eq!(t.layers[0].created_by.as_deref(), Some("ADD rootfs /"));
    assert_eq!(
        t.repo_digests,
        vec![format!(
            "127.0.0.1:{}/app@{}",
            fake.port, fake.manifest_digest
        )]
    );
    assert_eq!(t.repo_tags, vec![format!("127.0.0.1:{}/app:v1", fake.port)]);
    assert_eq!(
        t.config.as_ref().and_then(|c| c.pointer("/config/User")),
        Some(&serde_json::json!("app"))
    );

    let LayerBlob::Tar(mut r) = src.open_layer(0).unwrap() else {
        panic!("not a tar stream")
    };
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert!(got == fake.layer, "layer bytes differ");
    assert!(src.open_layer(1).is_err());

    let seen = fake.seen.lock().unwrap().clone();
    let manifest_gets = seen
        .iter()
        .filter(|s| s.path.ends_with("/manifests/v1"))
        .count();
    assert!(manifest_gets >= 3, "503s are retried: {seen:?}");
    let storage: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.port == fake.storage_port)
        .collect();
    assert_eq!(storage.len(), 1, "{seen:?}");
    assert_eq!(
        storage[0].authorization, None,
        "the registry's Authorization must not follow a redirect to another host"
    );
}

#[test]
fn pull_by_digest_and_wrong_digest() {
    let fake = start(Behaviour::default());
    let src = RegistrySource::open_with(
        &format!("127.0.0.1:{}/app@{}", fake.port, fake.manifest_digest),
        opts(good()),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(src.target().layers.len(), 1);

    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let err = RegistrySource::open_with(
        &format!("127.0.0.1:{}/app@{other}", fake.port),
        opts(good()),
    )
    .err()
    .expect("unknown digest fails");
    let msg = format!("{err:#}");
    eprintln!("message: {msg}");
    assert!(
        msg.contains("manifest unknown") && msg.contains(other),
        "{msg}"
    );
}

#[test]
fn auth_errors_name_the_registry_and_hide_secrets() {
    let fake = start(Behaviour::default());
    let host = format!("127.0.0.1:{}", fake.port);
    let err = RegistrySource::open_with(&format!("{host}/app:v1"), opts(None))
        .err()
        .expect("anonymous fails");
    let msg = format!("{err:#}");
    eprintln!("message: {msg}");
    assert!(
        msg.contains("requires authentication") && msg.contains(&host),
        "{msg}"
    );

    let wrong = Credentials::basic(USER, "wrong-password-xyz");
    let err = RegistrySource::open_with(&format!("{host}/app:v1"), opts(Some(wrong)))
        .err()
        .expect("wrong password fails");
    let msg = format!("{err:#} {err:?}");
    assert!(
        msg.contains("authentication to registry") && msg.contains(&host),
        "{msg}"
    );
    assert!(!msg.contains("wrong-password-xyz"), "{msg}");
}

#[test]
fn truncated_layer_is_an_error_naming_the_blob() {
    let fake = start(Behaviour {
        truncate_layer: true,
        ..Default::default()
    });
    let src = RegistrySource::open_with(&format!("127.0.0.1:{}/app:v1", fake.port), opts(good()))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let LayerBlob::Tar(mut r) = src.open_layer(0).unwrap() else {
        panic!("not a tar stream")
    };
    let mut got = Vec::new();
    let err = r
        .read_to_end(&mut got)
        .expect_err("truncated body must fail");
    let msg = err.to_string();
    eprintln!("message: {msg}");
    assert!(msg.contains(&fake.layer_digest), "{msg}");
}

#[test]
fn plain_http_needs_insecure() {
    let fake = start(Behaviour::default());
    let mut o = opts(good());
    o.insecure = false;
    o.timeout = Duration::from_secs(5);
    let err = RegistrySource::open_with(&format!("127.0.0.1:{}/app:v1", fake.port), o)
        .err()
        .expect("TLS against a plain HTTP registry fails");
    let msg = format!("{err:#}");
    eprintln!("message: {msg}");
    assert!(msg.contains("--insecure"), "{msg}");
}

#[test]
fn registry_host_override() {
    let fake = start(Behaviour::default());
    let mut o = opts(good());
    o.registry_host = Some(format!("127.0.0.1:{}", fake.port));
    let src = RegistrySource::open_with("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1", o)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(src.target().layers.len(), 1);
    assert_eq!(
        src.target().repo_digests,
        vec![format!(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@{}",
            fake.manifest_digest
        )]
    );
    assert_eq!(
        src.target().name,
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1"
    );
}

/// The ECR hook may run inside a tokio runtime: opening, reading, failing and dropping a source
/// there must neither panic nor deadlock.
#[test]
fn usable_inside_an_async_runtime() {
    let fake = start(Behaviour::default());
    let reference = format!("127.0.0.1:{}/app:v1", fake.port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let src =
            RegistrySource::open_with(&reference, opts(good())).unwrap_or_else(|e| panic!("{e:#}"));
        let LayerBlob::Tar(mut r) = src.open_layer(0).unwrap() else {
            panic!("not a tar stream")
        };
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert!(got == fake.layer, "layer bytes differ");
        assert!(RegistrySource::open_with(&reference, opts(None)).is_err());
        drop(src);
    });
}

#[test]
fn bearer_challenge_is_followed() {
    let fake = start(Behaviour {
        bearer: true,
        ..Default::default()
    });
    let reference = format!("127.0.0.1:{}/app:v1", fake.port);
    let src =
        RegistrySource::open_with(&reference, opts(good())).unwrap_or_else(|e| panic!("{e:#}"));
    let LayerBlob::Tar(mut r) = src.open_layer(0).unwrap() else {
        panic!("not a tar stream")
    };
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert!(got == fake.layer, "layer bytes differ");
    let seen = fake.seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|s| s.path.starts_with("/token")
            && s.authorization.as_deref() == Some(basic_header().as_str())),
        "the Basic credentials go to the token service: {seen:?}"
    );

    let wrong = Credentials::basic(USER, "nope-nope-99");
    let err = RegistrySource::open_with(&reference, opts(Some(wrong)))
        .err()
        .expect("wrong password fails");
    let msg = format!("{err:#}");
    eprintln!("message: {msg}");
    assert!(
        msg.contains("authentication to registry") && !msg.contains("nope-nope-99"),
        "{msg}"
    );
}

/// A registry that accepts connections and never answers: the per-request timeout ends it with
/// an error naming the registry (after the retries).
#[test]
fn silent_registry_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s); // keep the connection open, say nothing
        }
    });
    let mut o = opts(good());
    o.insecure = false;
    o.timeout = Duration::from_secs(1);
    let err = RegistrySource::open_with(&format!("127.0.0.1:{port}/app:v1"), o)
        .err()
        .expect("a silent registry fails");
    let msg = format!("{err:#}");
    eprintln!("message: {msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(
        msg.contains("timed out") || msg.contains("--timeout"),
        "{msg}"
    );
}

/// The download's chunks are read in place, in order, across chunk ends; after the download fails,
/// every later read fails too (never a clean-looking end), and a download whose thread went away
/// without finishing is an error naming the layer.
#[test]
fn channel_reader_reads_chunks_in_place_and_errors_stick() {
    let (tx, rx) = std::sync::mpsc::sync_channel(8);
    tx.send(Chunk::Data(Bytes::from_static(b"hello "))).unwrap();
    tx.send(Chunk::Data(Bytes::new())).unwrap();
    tx.send(Chunk::Data(Bytes::from_static(b"world"))).unwrap();
    tx.send(Chunk::Err(std::io::Error::other(
        "blob sha256:feed did not match",
    )))
    .unwrap();
    let mut r = ChannelReader::new(rx, "sha256:feed".into());
    assert_eq!(r.fill_buf().unwrap(), b"hello ");
    r.consume(2);
    let mut buf = [0u8; 3];
    assert_eq!(r.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf, b"llo");
    assert_eq!(r.fill_buf().unwrap(), b" ");
    r.consume(1);
    assert_eq!(
        r.fill_buf().unwrap(),
        b"world",
        "an empty chunk is passed over"
    );
    r.consume(5);
    for _ in 0..2 {
        let err = r.fill_buf().unwrap_err();
        assert!(err.to_string().contains("sha256:feed"), "{err}");
    }
    assert!(r.read(&mut buf).is_err());

    let (tx, rx) = std::sync::mpsc::sync_channel(8);
    tx.send(Chunk::Data(Bytes::from_static(b"part"))).unwrap();
    drop(tx);
    let mut r = ChannelReader::new(rx, "sha256:beef".into());
    let mut all = Vec::new();
    let err = r.read_to_end(&mut all).unwrap_err();
    assert_eq!(all, b"part");
    assert!(err.to_string().contains("sha256:beef"), "{err}");
    assert!(r.fill_buf().is_err(), "still failed");

    let (tx, rx) = std::sync::mpsc::sync_channel(8);
    tx.send(Chunk::Data(Bytes::from_static(b"x"))).unwrap();
    tx.send(Chunk::Done).unwrap();
    let mut r = ChannelReader::new(rx, "sha256:c0de".into());
    let mut all = Vec::new();
    r.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"x");
    assert_eq!(
        r.fill_buf().unwrap(),
        b"",
        "a finished download stays at its end"
    );
}
