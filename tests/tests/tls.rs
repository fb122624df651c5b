//! The PostgreSQL connector over TLS with Debezium's keys, end to end: a server that accepts
//! only TLS connections with a client certificate from a private CA (pg_hba.conf `cert`),
//! reached with `database.sslmode=verify-full`, `database.sslrootcert`, `database.sslcert` and
//! `database.sslkey`. The snapshot and the replication stream both need them.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use walcast_testkit::{Postgres, Tansu};
use walcast_tests::{pg_connector_config, Worker};

const T: Duration = Duration::from_secs(60);

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CA, server certificate for 127.0.0.1, client certificate for user `postgres`.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=walcast test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    for (name, cn, ext) in [
        (
            "server",
            "127.0.0.1",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "postgres", "extendedKeyUsage=clientAuth\n"),
    ] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        std::fs::write(dir.join(format!("{name}.cnf")), ext).unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-CAcreateserial",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-extfile",
                &format!("{name}.cnf"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // The server runs as `postgres` when the tests run as root, and must own its key.
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        let id = |flag: &str| {
            let o = Command::new("id")
                .args([flag, "postgres"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u32>()
                .unwrap()
        };
        for f in ["server.key", "server.crt"] {
            std::os::unix::fs::chown(dir.join(f), Some(id("-u")), Some(id("-g"))).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_uses_a_private_ca_and_a_client_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let c = certs.path();
    make_certs(c);
    std::fs::write(
        c.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 cert\nhostssl replication all 127.0.0.1/32 cert\n",
    )
    .unwrap();
    let s = |f: &str| c.join(f).display().to_string();
    let pg = Postgres::builder()
        .setting("ssl", "on")
        .setting("ssl_cert_file", &s("server.crt"))
        .setting("ssl_key_file", &s("server.key"))
        .setting("ssl_ca_file", &s("ca.crt"))
        .setting("hba_file", &s("pg_hba.conf"))
        .start()
        .await
        .unwrap();
    let tansu = Tansu::start().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();

    let mut cfg = pg_connector_config(&pg, "tls", "tls_slot");
    cfg["database.sslmode"] = json!("verify-full");
    cfg["database.sslrootcert"] = json!(s("ca.crt"));
    cfg["database.sslcert"] = json!(s("client.crt"));
    cfg["database.sslkey"] = json!(s("client.key"));
    cfg["errors.retry.timeout"] = json!("0");
    w.create_connector("tls", cfg.clone()).await.unwrap();
    w.wait_streaming("tls", T).await.unwrap();

    // Without the client certificate the same server refuses the connector.
    let mut no_cert = cfg.clone();
    no_cert["slot.name"] = json!("tls_slot2");
    no_cert.as_object_mut().unwrap().remove("database.sslcert");
    no_cert.as_object_mut().unwrap().remove("database.sslkey");
    w.create_connector("tls-nocert", no_cert).await.unwrap();
    let status = w.wait_state("tls-nocert", "FAILED", T).await.unwrap();
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
    assert!(trace.contains("certificate"), "{trace}");
}
