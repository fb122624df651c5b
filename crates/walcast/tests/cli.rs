//! The real `walcast` binary: exit codes, error messages on bad input, clean SIGTERM shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn walcast() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_walcast"));
    // Keep the environment from leaking overrides into the test.
    for (k, _) in std::env::vars() {
        if k.starts_with("WALCAST_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info");
    cmd
}

fn run(args: &[&str]) -> Output {
    walcast().args(args).output().expect("walcast runs")
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write file");
    path.display().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Minimal HTTP/1.0 GET, so the test needs no HTTP client dependency.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn wait_for_health(child: &mut Child, port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(resp) = http_get(port, "/health") {
            return resp;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("walcast exited early with {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("walcast did not answer /health on port {port}");
}

#[test]
fn version_flag() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("walcast {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn malformed_worker_properties_name_file_and_line_and_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let worker = write(
        dir.path(),
        "worker.properties",
        "bootstrap.servers=localhost:9092\n# comment\nkey.converter=\\u00zz\n",
    );
    let out = run(&["standalone", &worker]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&worker) && err.contains("line 3"), "{err}");
}

#[test]
fn malformed_connector_json_names_file_and_line_and_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let worker = write(
        dir.path(),
        "worker.properties",
        "bootstrap.servers=localhost:9092\n",
    );
    let conn = write(
        dir.path(),
        "pg.json",
        "{\n  \"name\": \"pg\",\n  \"config\": {\n    \"a\": \n  }\n}\n",
    );
    let out = run(&["standalone", &worker, &conn]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&conn) && err.contains("line 5"), "{err}");
}

#[test]
fn missing_bootstrap_servers_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let worker = write(
        dir.path(),
        "worker.properties",
        "listeners=http://127.0.0.1:0\n",
    );
    let out = run(&["standalone", &worker]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("bootstrap.servers"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_connector_class_on_command_line_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let worker = write(
        dir.path(),
        "worker.properties",
        &format!("bootstrap.servers=localhost:9092\nlisteners=http://127.0.0.1:{}\nwalcast.state.dir={}\n", free_port(), dir.path().join("state").display()),
    );
    let conn = write(
        dir.path(),
        "sink.properties",
        "name=sink\nconnector.class=com.example.NoSuchSinkConnector\n",
    );
    let out = run(&["standalone", &worker, &conn]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Failed to find any class") && err.contains("NoSuchSinkConnector"),
        "{err}"
    );
}

#[test]
fn port_in_use_exit_2_and_sigterm_exit_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let worker = write(
        dir.path(),
        "worker.properties",
        &format!(
            "bootstrap.servers=127.0.0.1:1\nlisteners=http://127.0.0.1:{port}\nwalcast.state.dir={}\n",
            dir.path().join("state").display()
        ),
    );
    let mut child = walcast()
        .args(["standalone", &worker])
        .stderr(Stdio::piped())
        .spawn()
        .expect("walcast starts");
    let health = wait_for_health(&mut child, port);
    assert!(
        health.starts_with("HTTP/1.0 200") || health.starts_with("HTTP/1.1 200"),
        "{health}"
    );
    assert!(health.contains(r#"{"status":"UP"}"#), "{health}");

    let second = run(&["standalone", &worker]);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    let err = stderr(&second);
    assert!(
        err.contains(&format!(
            "address 127.0.0.1:{port} already in use; set listeners="
        )),
        "{err}"
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "walcast did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let mut log = String::new();
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines() {
            log.push_str(&line.unwrap_or_default());
            log.push('\n');
        }
    }
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("walcast worker stopped"), "{log}");
}

/// The committed configuration reference is what the binary's own declarations print, so the
/// docs cannot drift from the code. Regenerate with
/// `cargo run -p walcast -- config-docs > docs/configuration.md`.
#[test]
fn configuration_reference_matches_config_docs() {
    let out = run(&["config-docs"]);
    assert_eq!(out.status.code(), Some(0));
    let printed = String::from_utf8_lossy(&out.stdout);
    for class in [
        "io.debezium.connector.postgresql.PostgresConnector",
        "io.confluent.connect.jdbc.JdbcSinkConnector",
        "io.debezium.connector.jdbc.JdbcSinkConnector",
        "com.redis.kafka.connect.RedisSinkConnector",
        "io.debezium.transforms.ExtractNewRecordState",
        "walcast.transforms.RedisLookup",
    ] {
        assert!(printed.contains(class), "{class} missing from config-docs");
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let committed = std::fs::read_to_string(&path).expect("docs/configuration.md");
    assert!(
        committed == printed,
        "docs/configuration.md is out of date: run `cargo run -p walcast -- config-docs > docs/configuration.md`"
    );
}

/// A connector config given where the worker properties belong says so, instead of failing on
/// the first `${env:...}` it references.
#[test]
fn connector_json_given_as_worker_file_says_where_it_belongs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = write(
        dir.path(),
        "postgres-connector.json",
        r#"{"name": "c", "config": {"connector.class": "PostgresConnector", "database.password": "${env:PGPASSWORD_NOT_SET}"}}"#,
    );
    let out = run(&["standalone", &conn]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("looks like a connector config") && err.contains("worker.properties"),
        "{err}"
    );
    assert!(!err.contains("PGPASSWORD_NOT_SET"), "{err}");
}
