//! The worker's security: config-provider secrets never leave the process through REST answers
//! or log lines, undeclared providers and paths outside `allowed.paths` are refused, the REST
//! API can require basic or bearer auth (with `/health` open), and serves https.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{run_config, start_with, worker_config};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use walcast_connect::redact::ScrubbingWriter;
use walcast_connect::Worker;

/// Every log line of this test binary, written through walcast's scrubbing writer as the
/// binary's are.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || ScrubbingWriter(SharedBuf(Arc::clone(&sink))))
            .init();
        buf
    })
    .clone()
}

struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs_text() -> String {
    String::from_utf8_lossy(&captured_logs().lock().expect("log buffer")).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolved_secrets_never_appear_in_rest_answers_or_logs() {
    captured_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let secrets_dir = tempfile::tempdir().expect("secrets dir");
    let secret = "Sup3r-Secret-Value-7f3a9c";
    let secret_file = secrets_dir.path().join("db.properties");
    std::fs::write(&secret_file, format!("password={secret}\n")).expect("write");
    let file_ref = format!("${{file:{}:password}}", secret_file.display());
    let env_value = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it for tests");

    let allowed = secrets_dir.path().display().to_string();
    let config = worker_config(
        dir.path(),
        &[("config.providers.file.param.allowed.paths", &allowed)],
    );
    let w = start_with(config, Vec::new()).await;

    // 1. A FAILED task whose connector put the resolved values in its error and log line.
    let body = json!({"name": "exfil", "config": {
        "connector.class": "com.example.test.FailingConnector",
        "fail.host": format!("{file_ref} and ${{env:CARGO_MANIFEST_DIR}}"),
        "fail.after.ms": "10",
    }});
    let (code, created) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 201, "{created}");
    let status = w.wait_task_state("exfil", "FAILED").await;
    let trace = status["tasks"][0]["trace"].as_str().expect("trace");
    assert!(
        trace.contains("cannot reach [hidden] and [hidden]"),
        "{trace}"
    );

    // 2. A plugin's validation message quoting the resolved value.
    let body = json!({"name": "exfil2", "config": run_config(&[("flush.ms", file_ref.as_str())])});
    let (code, err) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 400, "{err}");
    assert!(
        err["message"]
            .as_str()
            .expect("message")
            .contains("[hidden]"),
        "{err}"
    );
    let (code, validated) = w
        .call(
            "PUT",
            "/connector-plugins/com.example.test.RunConnector/config/validate",
            Some(&run_config(&[("flush.ms", file_ref.as_str())])),
        )
        .await;
    assert_eq!(code, 200, "{validated}");
    // `name` is missing (the validate body has none) and `flush.ms` is not a number; the
    // second message quotes the value only as `[hidden]`.
    assert_eq!(validated["error_count"], 2, "{validated}");
    assert!(
        validated.to_string().contains("not `[hidden]`"),
        "{validated}"
    );

    // Everything a caller could read back, and every log line.
    let mut answers = vec![status.to_string(), err.to_string(), validated.to_string()];
    for path in [
        "/connectors?expand=status&expand=info",
        "/connectors/exfil",
        "/connectors/exfil/config",
        "/connectors/exfil/tasks",
        "/connectors/exfil/status",
        "/connectors/exfil/tasks/0/status",
    ] {
        answers.push(w.call("GET", path, None).await.1.to_string());
    }
    // The log did record the failure, scrubbed.
    let logs = logs_text();
    assert!(
        logs.contains("cannot reach [hidden] and [hidden]"),
        "the careless connector's line is missing from the log:\n{logs}"
    );
    answers.push(logs);
    for text in &answers {
        assert!(!text.contains(secret), "secret leaked: {text}");
        assert!(!text.contains(&env_value), "env value leaked: {text}");
    }
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_outside_the_declared_providers_and_paths_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secrets_dir = tempfile::tempdir().expect("secrets dir");
    std::fs::write(secrets_dir.path().join("real.properties"), "other=1\n").expect("write");
    let allowed = secrets_dir.path().display().to_string();
    // Only `file` is declared, confined to one directory.
    let mut props = vec![
        ("config.providers", "file"),
        (
            "config.providers.file.param.allowed.paths",
            allowed.as_str(),
        ),
    ];
    props.push((
        "config.providers.file.class",
        "org.apache.kafka.common.config.provider.FileConfigProvider",
    ));
    let w = start_with(worker_config(dir.path(), &props), Vec::new()).await;

    let post = |key: &'static str, value: String| {
        let body = json!({"name": "probe", "config": run_config(&[(key, value.as_str())])});
        let w = &w;
        async move {
            let (code, err) = w.call("POST", "/connectors", Some(&body)).await;
            assert_eq!(code, 400, "{err}");
            err["message"].as_str().expect("message").to_owned()
        }
    };
    let msg = post("database.password", "${env:PATH}".into()).await;
    assert!(
        msg.contains("database.password") && msg.contains("not declared"),
        "{msg}"
    );
    let msg = post("database.password", "${directory:/etc:hostname}".into()).await;
    assert!(msg.contains("not declared"), "{msg}");
    let msg = post("database.password", "${file:/etc/passwd:root}".into()).await;
    assert!(msg.contains("allowed.paths"), "{msg}");

    // Inside the allowed directory, a missing file and an existing file without the key
    // answer alike: a caller cannot probe which files exist.
    let root = secrets_dir.path().display();
    let missing = post(
        "database.password",
        format!("${{file:{root}/nope.properties:password}}"),
    )
    .await;
    let no_key = post(
        "database.password",
        format!("${{file:{root}/real.properties:password}}"),
    )
    .await;
    assert_eq!(
        missing.replace("nope.properties", "F"),
        no_key.replace("real.properties", "F")
    );
    assert_eq!(w.call("GET", "/connectors", None).await, (200, json!([])));
    w.stop().await;
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_auth_basic_and_bearer_with_health_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let creds = dir.path().join("credentials.properties");
    std::fs::write(&creds, "admin: adm1n-pass\nreader=r3ader-pass\n").expect("write");
    let token = "tok-0123456789abcdef0123456789";
    let creds_path = creds.display().to_string();
    let config = worker_config(
        &dir.path().join("state"),
        &[
            ("rest.basic.auth.credentials.file", creds_path.as_str()),
            ("rest.auth.bearer.token", token),
        ],
    );
    let w = start_with(config, Vec::new()).await;
    let client = reqwest::Client::new();
    let get = |path: &str, auth: Option<String>| {
        let mut req = client.get(w.url(path));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move {
            let resp = req.send().await.expect("request");
            let code = resp.status().as_u16();
            let challenges: Vec<String> = resp
                .headers()
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap_or_default().to_owned())
                .collect();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (code, challenges, body)
        }
    };
    let (code, _, body) = get("/health", None).await;
    assert_eq!((code, body), (200, json!({"status": "UP"})));
    for path in ["/", "/connectors", "/metrics", "/connector-plugins"] {
        let (code, challenges, body) = get(path, None).await;
        assert_eq!(code, 401, "{path}: {body}");
        assert_eq!(body["error_code"], 401, "{body}");
        assert!(
            challenges.iter().any(|c| c.starts_with("Basic "))
                && challenges.iter().any(|c| c.starts_with("Bearer ")),
            "{challenges:?}"
        );
    }
    assert_eq!(
        get("/connectors", Some(basic("admin", "wrong"))).await.0,
        401
    );
    assert_eq!(
        get("/connectors", Some(basic("nobody", "adm1n-pass")))
            .await
            .0,
        401
    );
    assert_eq!(
        get("/connectors", Some(format!("Bearer {token}x"))).await.0,
        401
    );
    assert_eq!(
        get("/connectors", Some(basic("admin", "adm1n-pass")))
            .await
            .0,
        200
    );
    assert_eq!(
        get("/connectors", Some(basic("reader", "r3ader-pass")))
            .await
            .0,
        200
    );
    assert_eq!(
        get("/connectors", Some(format!("Bearer {token}"))).await.0,
        200
    );
    // Writes are protected as well.
    let body = json!({"name": "a", "config": run_config(&[])});
    let resp = client
        .post(w.url("/connectors"))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 401);
    let resp = client
        .post(w.url("/connectors"))
        .header("authorization", basic("admin", "adm1n-pass"))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 201);
    w.stop().await;
}

/// A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI.
fn make_cert(dir: &Path) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl CLI is installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=walcast test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listener_serves_the_api_with_the_configured_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    make_cert(dir.path());
    let cert = dir.path().join("server.pem").display().to_string();
    let key = dir.path().join("server.key").display().to_string();
    let config = worker_config(
        &dir.path().join("state"),
        &[
            ("listeners", "https://127.0.0.1:0"),
            ("listeners.https.ssl.certificate.location", cert.as_str()),
            ("listeners.https.ssl.key.location", key.as_str()),
        ],
    );
    let shutdown = CancellationToken::new();
    let (addr, serve) = Worker::bind(config, common::plugins(), shutdown.clone())
        .await
        .expect("worker starts");
    let handle = tokio::spawn(serve);

    // A client that trusts only the throwaway CA.
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(dir.path().join("ca.pem")).expect("ca");
    for c in rustls_pemfile::certs(&mut ca.as_slice()) {
        roots.add(c.expect("pem")).expect("add");
    }
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));

    // A client that connects and says nothing does not block the next one.
    let _silent = tokio::net::TcpStream::connect(addr).await.expect("tcp");

    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("the certificate verifies against the CA");
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut response = String::new();
    tls.read_to_string(&mut response).await.ok();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#"{"status":"UP"}"#), "{response}");

    // Plain http on the https port gets no API answer.
    let plain = reqwest::get(format!("http://{addr}/health")).await;
    assert!(
        plain.map(|r| !r.status().is_success()).unwrap_or(true),
        "plain http must not be served"
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), handle)
        .await
        .expect("stops")
        .expect("no panic")
        .expect("clean stop");
}
