//! What can be checked of `deploy/` on a machine without a Docker engine: the compose file parses
//! and every file it mounts exists, its service names and ports match the connector configs, the
//! Dockerfile builds the release profile `make release` builds, the Redis preload matches the
//! customers JSON, and the systemd unit passes `systemd-analyze verify`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn compose_file_parses_and_matches_the_connector_configs() {
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&read("deploy/docker-compose.yml")).unwrap();
    let services = compose["services"].as_mapping().unwrap();
    let names: Vec<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    for s in [
        "kafka",
        "kafka-ui",
        "orders-db",
        "results-db",
        "redis",
        "walcast",
    ] {
        assert!(names.contains(&s), "service {s} missing: {names:?}");
    }
    // Every mounted file exists (paths are relative to deploy/).
    for (name, svc) in services {
        for v in svc["volumes"].as_sequence().into_iter().flatten() {
            let v = v.as_str().unwrap();
            let src = v.split(':').next().unwrap();
            if src.starts_with('.') {
                let p = repo().join("deploy").join(src);
                assert!(p.exists(), "{name:?} mounts {src}, which does not exist");
            }
        }
    }
    // walcast starts the connector files the image holds, and they point at the services.
    let walcast = &services[&serde_yaml::Value::from("walcast")];
    let env = walcast["environment"].as_mapping().unwrap();
    assert_eq!(
        env[&serde_yaml::Value::from("WALCAST_BOOTSTRAP_SERVERS")].as_str(),
        Some("kafka:9092")
    );
    let mut passwords = Vec::new();
    for file in walcast["command"].as_sequence().unwrap() {
        let file = file.as_str().unwrap();
        let name = file.strip_prefix("/etc/walcast/connect/").unwrap();
        let doc: Value = serde_json::from_str(&read(&format!("deploy/connect/{name}"))).unwrap();
        let text = doc.to_string();
        for (host, svc) in [
            ("\"orders-db\"", "orders-db"),
            ("results-db:5432", "results-db"),
            ("redis://redis:6379", "redis"),
        ] {
            if text.contains(host) {
                assert!(
                    names.contains(&svc),
                    "{name} points at {host}, not a service"
                );
            }
        }
        for (k, v) in doc["config"].as_object().unwrap() {
            let v = v.as_str().unwrap();
            if let Some(var) = v.strip_prefix("${env:").and_then(|r| r.strip_suffix('}')) {
                passwords.push(var.to_string());
            } else {
                assert!(
                    !k.contains("password"),
                    "{name}: {k} holds a literal password"
                );
            }
        }
    }
    assert!(!passwords.is_empty());
    for var in passwords {
        assert!(
            env.contains_key(serde_yaml::Value::from(var.as_str())),
            "the walcast service does not set {var}, which the connector configs reference"
        );
    }
    // The worker properties the image uses declare the env provider those references need.
    let worker = read("deploy/worker.properties");
    assert!(worker.contains("config.providers") && worker.contains("EnvVarConfigProvider"));
}

#[test]
fn dockerfile_builds_what_make_release_builds() {
    let dockerfile = read("deploy/Dockerfile");
    let makefile = read("Makefile");
    let release = makefile
        .lines()
        .skip_while(|l| !l.starts_with("release:"))
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    assert!(release.contains("build --release"), "{release}");
    assert!(dockerfile.contains("cargo build --release -p walcast"));
    assert!(
        release.contains("-p walcast "),
        "make release builds the walcast package: {release}"
    );
    assert!(
        dockerfile.contains("USER walcast"),
        "the image runs as a non-root user"
    );
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("/health"));
    // Every COPY source exists.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let src = line.split_whitespace().nth(1).unwrap();
        if src != "." {
            assert!(
                repo().join(src).exists(),
                "Dockerfile copies {src}, which does not exist"
            );
        }
    }
}

#[test]
fn redis_preload_matches_the_customers_json() {
    let out = Command::new(repo().join("scripts/load-customers.sh"))
        .arg("--print")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        read("deploy/redis/customers.redis"),
        "deploy/redis/customers.redis is stale: scripts/load-customers.sh --print > deploy/redis/customers.redis"
    );
}

#[test]
fn systemd_unit_verifies() {
    let unit = read("deploy/systemd/walcast.service");
    let bin = walcast_testkit::workspace_bin("walcast").unwrap();
    // verify checks that ExecStart's binary exists: point it at the one just built.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("walcast.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/walcast", &bin.display().to_string()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (apt install systemd) is needed to check the unit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    for key in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=walcast",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.contains(key), "{key}");
    }
    // The unit starts the seed's two connectors, which exist.
    for c in ["source-db1", "sink-db2"] {
        assert!(unit.contains(&format!("/etc/walcast/connectors/{c}.properties")));
        let text = read(&format!("deploy/systemd/connectors/{c}.properties"));
        assert!(text.contains(&format!("name={c}")));
    }
}
