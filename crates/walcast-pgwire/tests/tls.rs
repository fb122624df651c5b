//! TLS on both kinds of connections against a real PostgreSQL with `ssl=on`, certificates made
//! by the `openssl` command-line tool (installed with PostgreSQL's Debian packages).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use common::*;
use walcast_pgwire::*;
use walcast_testkit::{Postgres, TempDir};

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn id_of(flag: &str) -> Result<u32> {
    let out = Command::new("id").args([flag, "postgres"]).output()?;
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

/// A CA and a server certificate valid for IP 127.0.0.1 only (not for the name `localhost`).
fn make_certs() -> Result<TempDir> {
    let dir = tempfile_dir()?;
    let p = |f: &str| dir.path().join(f);
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=walcast test CA",
        ])
        .args([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.crt")))?;
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")))?;
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )?;
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("server.crt")))?;
    // A client certificate for user `postgres`, signed by the same CA.
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=postgres",
        ])
        .arg("-keyout")
        .arg(p("client.key"))
        .arg("-out")
        .arg(p("client.csr")))?;
    std::fs::write(
        p("client.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )?;
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("client.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("client.cnf"))
        .arg("-out")
        .arg(p("client.crt")))?;
    // A self-signed client certificate the server's CA did not issue.
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=postgres"])
        .arg("-keyout")
        .arg(p("rogue.key"))
        .arg("-out")
        .arg(p("rogue.crt")))?;
    // An encrypted copy of the client key, for the sslpassword case.
    run(Command::new("openssl")
        .args(["pkey", "-aes256", "-passout", "pass:key-pass"])
        .arg("-in")
        .arg(p("client.key"))
        .arg("-out")
        .arg(p("client-encrypted.key")))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p("server.key"), std::fs::Permissions::from_mode(0o600))?;
    // The server runs as `postgres` when the tests run as root, and insists on owning its key.
    if is_root()? {
        for f in ["server.key", "server.crt"] {
            std::os::unix::fs::chown(p(f), Some(id_of("-u")?), Some(id_of("-g")?))?;
        }
    }
    Ok(dir)
}

fn is_root() -> Result<bool> {
    let out = Command::new("id").arg("-u").output()?;
    Ok(String::from_utf8(out.stdout)?.trim() == "0")
}

fn tempfile_dir() -> Result<TempDir> {
    let dir = TempDir::new()?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}

async fn tls_server(certs: &Path) -> Result<Postgres> {
    Postgres::builder()
        .host_auth("scram-sha-256")
        .setting("ssl", "on")
        .setting("ssl_cert_file", certs.join("server.crt").to_str().unwrap())
        .setting("ssl_key_file", certs.join("server.key").to_str().unwrap())
        .start()
        .await
}

async fn uses_tls(conn: &mut ReplicationConnection) -> Result<bool> {
    let rows = conn
        .simple_query("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .await?;
    Ok(rows == vec![vec![Some("true".to_string())]])
}

#[tokio::test]
async fn replication_and_normal_connections_follow_sslmode() -> Result<()> {
    let certs = make_certs()?;
    let pg = tls_server(certs.path()).await?;
    let ca = certs.path().join("ca.crt");

    for mode in [
        SslMode::Prefer,
        SslMode::Require,
        SslMode::Allow,
        SslMode::Disable,
    ] {
        let mut conn = ReplicationConnection::connect(&config(&pg).with_sslmode(mode)).await?;
        let expected = !matches!(mode, SslMode::Allow | SslMode::Disable);
        assert_eq!(uses_tls(&mut conn).await?, expected, "sslmode={mode}");
        conn.identify_system().await?;
    }

    let mut full = config(&pg).with_sslmode(SslMode::VerifyFull);
    full.sslrootcert = Some(ca.clone());
    let mut conn = ReplicationConnection::connect(&full).await?;
    assert!(uses_tls(&mut conn).await?);

    // The certificate names 127.0.0.1, not localhost: verify-ca accepts, verify-full refuses.
    let mut ca_only = full.clone();
    ca_only.host = "localhost".into();
    ca_only.sslmode = SslMode::VerifyCa;
    let mut conn = ReplicationConnection::connect(&ca_only).await?;
    assert!(uses_tls(&mut conn).await?);
    let mut wrong_name = ca_only.clone();
    wrong_name.sslmode = SslMode::VerifyFull;
    let err = ReplicationConnection::connect(&wrong_name)
        .await
        .unwrap_err();
    assert!(matches!(err, PgError::Tls(_)), "{err:?}");
    assert!(!err.is_transient());

    // Without the CA, the chain is not trusted.
    let mut no_ca = full.clone();
    no_ca.sslrootcert = None;
    let err = ReplicationConnection::connect(&no_ca).await.unwrap_err();
    assert!(matches!(err, PgError::Tls(_)), "{err:?}");

    let mut missing = full.clone();
    missing.sslrootcert = Some(certs.path().join("nope.crt"));
    let err = ReplicationConnection::connect(&missing).await.unwrap_err();
    assert!(err.to_string().contains("nope.crt"), "{err}");

    // Normal clients share the policy.
    let client = connect_client(&full).await?;
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?
        .get(0);
    assert!(ssl);
    let settings = client
        .query_one(
            "SELECT current_setting('TimeZone'), current_setting('DateStyle')",
            &[],
        )
        .await?;
    assert_eq!(settings.get::<_, String>(0), "UTC");
    assert_eq!(settings.get::<_, String>(1), "ISO, MDY");
    assert!(connect_client(&wrong_name).await.is_err());
    Ok(())
}

#[tokio::test]
async fn require_against_a_server_without_tls_is_refused() -> Result<()> {
    let pg = Postgres::start().await?;
    let err = ReplicationConnection::connect(&config(&pg).with_sslmode(SslMode::Require))
        .await
        .unwrap_err();
    assert!(matches!(err, PgError::SslModeMismatch(_)), "{err:?}");
    assert!(err.to_string().contains("sslmode=require"), "{err}");
    // prefer falls back to plain.
    let mut conn =
        ReplicationConnection::connect(&config(&pg).with_sslmode(SslMode::Prefer)).await?;
    assert!(!uses_tls(&mut conn).await?);
    Ok(())
}

/// A server that accepts only TLS connections with a client certificate its CA issued, for the
/// user the certificate names (pg_hba.conf method `cert`), like a managed database set up for
/// certificate authentication.
async fn client_cert_server(certs: &Path) -> Result<Postgres> {
    let hba = certs.join("pg_hba.conf");
    std::fs::write(
        &hba,
        "local all all trust\n\
         hostssl all all 127.0.0.1/32 cert\n\
         hostssl replication all 127.0.0.1/32 cert\n",
    )?;
    Postgres::builder()
        .setting("ssl", "on")
        .setting("ssl_cert_file", certs.join("server.crt").to_str().unwrap())
        .setting("ssl_key_file", certs.join("server.key").to_str().unwrap())
        .setting("ssl_ca_file", certs.join("ca.crt").to_str().unwrap())
        .setting("hba_file", hba.to_str().unwrap())
        .start()
        .await
}

#[tokio::test]
async fn client_certificate_authentication_with_a_private_ca() -> Result<()> {
    let certs = make_certs()?;
    let pg = client_cert_server(certs.path()).await?;
    let p = |f: &str| certs.path().join(f);
    let mut base = config(&pg).with_sslmode(SslMode::VerifyFull);
    base.password = None;
    let base = base.with_sslrootcert(p("ca.crt"));

    let with_cert = base
        .clone()
        .with_client_cert(p("client.crt"), p("client.key"));
    let mut conn = ReplicationConnection::connect(&with_cert).await?;
    assert!(uses_tls(&mut conn).await?);
    conn.identify_system().await?;
    let client = connect_client(&with_cert).await?;
    let dn: String = client
        .query_one(
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(dn, "/CN=postgres");

    // No certificate, or one the CA did not issue: the server refuses.
    let err = ReplicationConnection::connect(&base).await.unwrap_err();
    assert!(!err.to_string().is_empty());
    assert!(connect_client(&base).await.is_err());
    let rogue = base
        .clone()
        .with_client_cert(p("rogue.crt"), p("rogue.key"));
    assert!(ReplicationConnection::connect(&rogue).await.is_err());

    // Half a pair and an encrypted key are configuration errors that say what to do.
    let mut half = base.clone();
    half.sslcert = Some(p("client.crt"));
    let err = ReplicationConnection::connect(&half).await.unwrap_err();
    assert!(err.to_string().contains("sslkey"), "{err}");
    let mut encrypted = base
        .clone()
        .with_client_cert(p("client.crt"), p("client-encrypted.key"));
    encrypted.sslpassword = Some("key-pass".into());
    let err = ReplicationConnection::connect(&encrypted)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("openssl pkey"), "{err}");
    assert!(!err.to_string().contains("key-pass"), "{err}");
    Ok(())
}
