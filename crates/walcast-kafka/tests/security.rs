//! `security.protocol=SSL` against a real broker: tansu behind a TLS-terminating proxy written
//! here with rustls (tansu's own `--cert` did not answer a TLS handshake when tried, and no
//! stunnel/haproxy is installed). tansu advertises the proxy's address, so every connection
//! rskafka makes — bootstrap and the brokers from metadata — goes through TLS.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use walcast_kafka::{connect_secure, ensure_topic, list_topics, KafkaSecurity};
use walcast_testkit::{free_port, tansu_bin};

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A CA (`ca.pem`), a broker certificate for 127.0.0.1 it signed, and an unrelated CA.
fn make_certs(dir: &Path) -> Result<()> {
    for ca in ["ca", "other-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-days",
                "2",
                "-subj",
                "/CN=walcast test CA",
            ],
        )?;
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "broker.key",
            "-out",
            "broker.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    )?;
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n")?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "broker.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "broker.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    )
}

/// A tansu broker that advertises `advertised` (the proxy) and listens on `port`.
struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_tansu(dir: &Path, port: u16, advertised: u16) -> Result<Broker> {
    let log = std::fs::File::create(dir.join("tansu.log"))?;
    let child = Command::new(tansu_bin()?)
        .arg("broker")
        .args(["--listener-url", &format!("tcp://127.0.0.1:{port}")])
        .args([
            "--advertised-listener-url",
            &format!("tcp://127.0.0.1:{advertised}"),
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .env("RUST_LOG", "warn")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting tansu")?;
    Ok(Broker(child))
}

/// Terminates TLS on `listener` and forwards each connection to 127.0.0.1:`upstream`.
fn start_tls_proxy(dir: &Path, listener: tokio::net::TcpListener, upstream: u16) -> Result<()> {
    let certs = rustls_pemfile::certs(&mut std::fs::read(dir.join("broker.pem"))?.as_slice())
        .collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut std::fs::read(dir.join("broker.key"))?.as_slice())?
        .context("broker key")?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    Ok(())
}

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_connections_verify_the_broker_against_a_private_ca() -> Result<()> {
    let dir = tempfile::tempdir()?;
    make_certs(dir.path())?;
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let proxy_port = proxy.local_addr()?.port();
    let broker_port = free_port();
    let _broker = start_tansu(dir.path(), broker_port, proxy_port)?;
    start_tls_proxy(dir.path(), proxy, broker_port)?;
    // Wait for tansu's plain port.
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", broker_port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let bootstrap = vec![format!("127.0.0.1:{proxy_port}")];
    let ca = dir.path().join("ca.pem").display().to_string();
    let security = KafkaSecurity::from_properties(
        &props(&[
            ("admin.security.protocol", "SSL"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &ca),
        ]),
        "admin",
    )?;
    let client = connect_secure(
        &bootstrap,
        "walcast-tls-test",
        Duration::from_secs(20),
        &security,
    )
    .await?;
    let partitions = ensure_topic(&client, "tls-topic", 3, 1, Duration::from_secs(20)).await?;
    assert_eq!(partitions, 3);
    let topics = list_topics(&client).await?;
    assert!(topics.iter().any(|t| t.name == "tls-topic"), "{topics:?}");

    // A truststore without the broker's CA: the handshake is refused, no silent fallback.
    let other = dir.path().join("other-ca.pem").display().to_string();
    let untrusted = KafkaSecurity::from_properties(
        &props(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.location", &other),
        ]),
        "admin",
    )?;
    assert!(connect_secure(
        &bootstrap,
        "walcast-tls-test",
        Duration::from_secs(3),
        &untrusted
    )
    .await
    .is_err());
    // Plaintext to the TLS port fails as well.
    assert!(connect_secure(
        &bootstrap,
        "walcast-tls-test",
        Duration::from_secs(3),
        &KafkaSecurity::default()
    )
    .await
    .is_err());
    Ok(())
}
