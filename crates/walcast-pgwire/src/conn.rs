//! The socket layer of walcast's own connections: TCP (optionally TLS, negotiated with an
//! SSLRequest), the startup packet, authentication (trust, cleartext, MD5, SCRAM-SHA-256), and a
//! reader/writer pair over the split stream.
//!
//! The reader only reads when asked for the next message, so a slow consumer stops reading the
//! socket and TCP pushes back on the server; its buffer is large so a busy stream is drained in
//! few system calls. Both halves are cancel-safe: bytes read stay in the reader's buffer, bytes
//! not yet written stay in the writer's.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;

use crate::config::{PgConnectConfig, SslMode, SESSION_SETTINGS};
use crate::error::{PgError, ServerError};
use crate::tls;
use crate::wire::{self, Backend};

/// Bytes requested from the socket per read when the buffer runs low. Large, because the
/// replication stream is the hot path: a 512 KiB read carries thousands of small changes.
const READ_BUFFER_SIZE: usize = 512 * 1024;
/// Below this much free space the buffer is grown before reading.
const MIN_READ_SPACE: usize = 64 * 1024;

/// A plain or TLS socket.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// The reading half: a buffer of bytes received but not yet parsed.
pub(crate) struct Reader {
    io: ReadHalf<Stream>,
    buf: BytesMut,
    /// [`PgConnectConfig::max_message_size`]: the largest message length believed from the
    /// server. The buffer grows with the bytes received, in [`READ_BUFFER_SIZE`] steps, never by
    /// what a header announces.
    max_message: usize,
}

impl Reader {
    /// The next complete message. Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn next(&mut self) -> Result<Backend, PgError> {
        loop {
            if let Some(msg) = wire::parse(&mut self.buf, self.max_message)
                .map_err(|e| PgError::Protocol(e.to_string()))?
            {
                return Ok(msg);
            }
            if self.buf.capacity() - self.buf.len() < MIN_READ_SPACE {
                self.buf.reserve(READ_BUFFER_SIZE);
            }
            let n = self
                .io
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| PgError::io("reading from the server", e))?;
            if n == 0 {
                return Err(PgError::Closed("the server closed the connection".into()));
            }
        }
    }
}

/// The writing half: messages are encoded into `buf` and written out by [`Writer::flush`].
pub(crate) struct Writer {
    io: WriteHalf<Stream>,
    pub(crate) buf: BytesMut,
}

impl Writer {
    /// Writes everything buffered. Cancel-safe: what was not written yet stays buffered and goes
    /// out (in order) with the next flush.
    pub(crate) async fn flush(&mut self) -> Result<(), PgError> {
        while self.buf.has_remaining() {
            let n = self
                .io
                .write(&self.buf)
                .await
                .map_err(|e| PgError::io("writing to the server", e))?;
            if n == 0 {
                return Err(PgError::Closed("the server stopped accepting data".into()));
            }
            self.buf.advance(n);
        }
        self.io
            .flush()
            .await
            .map_err(|e| PgError::io("writing to the server", e))
    }

    /// Closes the socket after a Terminate message.
    pub(crate) async fn terminate(&mut self) -> Result<(), PgError> {
        frontend::terminate(&mut self.buf);
        self.flush().await?;
        let _ = self.io.shutdown().await;
        Ok(())
    }
}

/// An authenticated connection, ready for queries.
pub(crate) struct Conn {
    pub(crate) reader: Reader,
    pub(crate) writer: Writer,
    /// `server_version` as reported at startup (e.g. `15.4 (Debian 15.4-1)`).
    pub(crate) server_version: Option<String>,
    pub(crate) backend_pid: Option<i32>,
}

/// Connects, negotiates TLS per `sslmode`, and authenticates with the given extra startup
/// parameters (e.g. `replication=database`).
pub(crate) async fn connect(
    config: &PgConnectConfig,
    extra: &[(&str, &str)],
) -> Result<Conn, PgError> {
    connect_reporting(config, extra).await.map(|(conn, _)| conn)
}

/// [`connect`], also returning the SASL mechanism used (`SCRAM-SHA-256-PLUS` when the
/// exchange was bound to the TLS session), `None` for non-SASL authentication.
pub(crate) async fn connect_reporting(
    config: &PgConnectConfig,
    extra: &[(&str, &str)],
) -> Result<(Conn, Option<&'static str>), PgError> {
    let attempt = async {
        match config.sslmode {
            SslMode::Disable => connect_once(config, extra, false).await,
            // libpq's `allow`: plain first, TLS only if the server rejects the plain session.
            SslMode::Allow => match connect_once(config, extra, false).await {
                Err(e) if e.code() == Some("28000") => connect_once(config, extra, true).await,
                other => other,
            },
            // `prefer`: TLS when offered; a failed handshake falls back to plain like libpq.
            SslMode::Prefer => match connect_once(config, extra, true).await {
                Err(PgError::Tls(msg)) => {
                    tracing::warn!(error = %msg, "TLS handshake failed, retrying without TLS (sslmode=prefer)");
                    connect_once(config, extra, false).await
                }
                other => other,
            },
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                connect_once(config, extra, true).await
            }
        }
    };
    tokio::time::timeout(config.connect_timeout, attempt)
        .await
        .map_err(|_| PgError::ConnectTimeout {
            host: config.host.clone(),
            port: config.port,
        })?
}

async fn connect_once(
    config: &PgConnectConfig,
    extra: &[(&str, &str)],
    try_tls: bool,
) -> Result<(Conn, Option<&'static str>), PgError> {
    let where_ = || format!("connecting to {}:{}", config.host, config.port);
    let mut tcp = TcpStream::connect((config.host.as_str(), config.port))
        .await
        .map_err(|e| PgError::io(where_(), e))?;
    tcp.set_nodelay(true)
        .map_err(|e| PgError::io(where_(), e))?;
    // `Some(..)` once on TLS: the server certificate's end-point hash, if it has one.
    let mut binding: Option<Option<Vec<u8>>> = None;
    let stream = if try_tls {
        let mut req = BytesMut::new();
        frontend::ssl_request(&mut req);
        tcp.write_all(&req)
            .await
            .map_err(|e| PgError::io(where_(), e))?;
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer)
            .await
            .map_err(|e| PgError::io(where_(), e))?;
        match answer[0] {
            b'S' => {
                let connector = tokio_rustls::TlsConnector::from(tls::client_config(config)?);
                let tls = connector
                    .connect(tls::server_name(&config.host)?, tcp)
                    .await
                    .map_err(|e| {
                        PgError::Tls(format!(
                            "handshake with {}:{}: {e}",
                            config.host, config.port
                        ))
                    })?;
                // SCRAM-SHA-256-PLUS binds the password exchange to this certificate.
                binding = Some(
                    tls.get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| tls::tls_server_end_point(c)),
                );
                Stream::Tls(Box::new(tls))
            }
            b'N' if config.sslmode.allows_plain() => Stream::Plain(tcp),
            b'N' => {
                return Err(PgError::SslModeMismatch(format!(
                    "the server at {}:{} does not support TLS but sslmode={} requires it",
                    config.host, config.port, config.sslmode
                )))
            }
            other => {
                return Err(PgError::Protocol(format!(
                    "unexpected answer {other:#04x} to SSLRequest"
                )))
            }
        }
    } else {
        Stream::Plain(tcp)
    };
    let (r, w) = tokio::io::split(stream);
    let mut conn = Conn {
        reader: Reader {
            io: r,
            buf: BytesMut::with_capacity(READ_BUFFER_SIZE),
            max_message: config.max_message_size,
        },
        writer: Writer {
            io: w,
            buf: BytesMut::with_capacity(4096),
        },
        server_version: None,
        backend_pid: None,
    };
    let mechanism = startup(&mut conn, config, extra, binding).await?;
    Ok((conn, mechanism))
}

/// Where a SCRAM exchange stands. `AuthenticationOk` is accepted after a SCRAM start only in
/// `Verified`: a server (or a man in the middle) that skips SASLFinal has not proven it knows
/// the password's verifier.
enum Scram {
    NotStarted,
    Started {
        scram: Box<ScramSha256>,
        mechanism: &'static str,
    },
    Verified {
        mechanism: &'static str,
    },
}

/// Chooses the SCRAM variant and channel binding, as libpq does with `channel_binding=prefer`:
/// SCRAM-SHA-256-PLUS on TLS when the server offers it; plain SCRAM-SHA-256 saying "client
/// supports binding, server did not offer it" (`y`) on TLS otherwise, so a server that does
/// offer it detects a downgrade; `n` without TLS.
fn choose_scram(
    mechanisms: &[String],
    tls_binding: Option<&Option<Vec<u8>>>,
) -> Result<(&'static str, ChannelBinding), PgError> {
    let offers = |m: &str| mechanisms.iter().any(|x| x == m);
    match tls_binding {
        Some(Some(hash)) if offers("SCRAM-SHA-256-PLUS") => Ok((
            "SCRAM-SHA-256-PLUS",
            ChannelBinding::tls_server_end_point(hash.clone()),
        )),
        _ if !offers("SCRAM-SHA-256") => Err(PgError::Auth(format!(
            "the server offers SASL mechanisms {mechanisms:?}; walcast supports SCRAM-SHA-256 \
             and SCRAM-SHA-256-PLUS"
        ))),
        // On TLS with a certificate walcast cannot hash (Ed25519) while the server offers PLUS:
        // `y` would be refused as a downgrade, so say binding is unsupported.
        Some(None) if offers("SCRAM-SHA-256-PLUS") => {
            Ok(("SCRAM-SHA-256", ChannelBinding::unsupported()))
        }
        Some(_) => Ok(("SCRAM-SHA-256", ChannelBinding::unrequested())),
        None => Ok(("SCRAM-SHA-256", ChannelBinding::unsupported())),
    }
}

async fn startup(
    conn: &mut Conn,
    config: &PgConnectConfig,
    extra: &[(&str, &str)],
    tls_binding: Option<Option<Vec<u8>>>,
) -> Result<Option<&'static str>, PgError> {
    let context = || {
        format!(
            "authenticating to {}:{} as {}",
            config.host, config.port, config.user
        )
    };
    let mut params: Vec<(&str, &str)> = vec![
        ("user", config.user.as_str()),
        ("database", config.dbname.as_str()),
        ("application_name", config.application_name.as_str()),
    ];
    params.extend_from_slice(SESSION_SETTINGS);
    params.extend_from_slice(extra);
    frontend::startup_message(params.iter().copied(), &mut conn.writer.buf)
        .map_err(|e| PgError::Config(format!("startup parameters: {e}")))?;
    conn.writer.flush().await?;

    let password = || {
        config.password.as_deref().ok_or_else(|| {
            PgError::Auth(format!(
                "the server asks user {:?} for a password but none is configured",
                config.user
            ))
        })
    };
    let mut scram = Scram::NotStarted;
    let mechanism = loop {
        match conn.reader.next().await? {
            Backend::AuthOk => match scram {
                Scram::NotStarted => break None,
                Scram::Verified { mechanism } => break Some(mechanism),
                Scram::Started { .. } => {
                    return Err(PgError::Auth(format!(
                        "{}: the server reported success without completing SCRAM (no server \
                         signature), so it has not proven it knows the password; refusing the \
                         connection (is something intercepting the connection?)",
                        context()
                    )))
                }
            },
            Backend::AuthCleartext => {
                frontend::password_message(password()?.as_bytes(), &mut conn.writer.buf)
                    .map_err(|e| PgError::Auth(e.to_string()))?;
                conn.writer.flush().await?;
            }
            Backend::AuthMd5 { salt } => {
                let hash = postgres_protocol::authentication::md5_hash(
                    config.user.as_bytes(),
                    password()?.as_bytes(),
                    salt,
                );
                frontend::password_message(hash.as_bytes(), &mut conn.writer.buf)
                    .map_err(|e| PgError::Auth(e.to_string()))?;
                conn.writer.flush().await?;
            }
            Backend::AuthSasl { mechanisms } => {
                if !matches!(scram, Scram::NotStarted) {
                    return Err(PgError::Protocol("a second SASL start".into()));
                }
                let (mechanism, binding) = choose_scram(&mechanisms, tls_binding.as_ref())?;
                let s = ScramSha256::new(password()?.as_bytes(), binding);
                frontend::sasl_initial_response(mechanism, s.message(), &mut conn.writer.buf)
                    .map_err(|e| PgError::Auth(e.to_string()))?;
                conn.writer.flush().await?;
                scram = Scram::Started {
                    scram: Box::new(s),
                    mechanism,
                };
            }
            Backend::AuthSaslContinue(data) => {
                let Scram::Started { scram: s, .. } = &mut scram else {
                    return Err(PgError::Protocol(
                        "SASL continue outside a SASL exchange".into(),
                    ));
                };
                s.update(&data)
                    .map_err(|e| PgError::Auth(format!("SCRAM exchange: {e}")))?;
                frontend::sasl_response(s.message(), &mut conn.writer.buf)
                    .map_err(|e| PgError::Auth(e.to_string()))?;
                conn.writer.flush().await?;
            }
            Backend::AuthSaslFinal(data) => {
                let Scram::Started {
                    scram: s,
                    mechanism,
                } = &mut scram
                else {
                    return Err(PgError::Protocol(
                        "SASL final outside a SASL exchange".into(),
                    ));
                };
                s.finish(&data).map_err(|e| {
                    PgError::Auth(format!(
                        "{}: the server's SCRAM signature does not verify: {e}",
                        context()
                    ))
                })?;
                scram = Scram::Verified { mechanism };
            }
            Backend::AuthOther(code) => {
                return Err(PgError::Auth(format!(
                    "the server requested authentication method {code} (Kerberos/GSSAPI/SSPI), \
                     which walcast does not support; use scram-sha-256, md5, password or trust \
                     in pg_hba.conf"
                )))
            }
            Backend::Error(error) => return Err(server_error(context(), error)),
            Backend::Notice(n) => log_notice(&n),
            other => {
                return Err(PgError::Protocol(format!(
                    "unexpected message during authentication: {other:?}"
                )))
            }
        }
    };
    if let Some(m) = mechanism {
        tracing::debug!(
            mechanism = m,
            "authenticated with SCRAM; the server's signature verified"
        );
    }
    loop {
        match conn.reader.next().await? {
            Backend::ReadyForQuery => return Ok(mechanism),
            Backend::ParameterStatus { name, value } => {
                if name == "server_version" {
                    conn.server_version = Some(value);
                }
            }
            Backend::KeyData { pid } => conn.backend_pid = Some(pid),
            Backend::Notice(n) => log_notice(&n),
            Backend::Error(error) => return Err(server_error(context(), error)),
            other => {
                return Err(PgError::Protocol(format!(
                    "unexpected message during startup: {other:?}"
                )))
            }
        }
    }
}

pub(crate) fn server_error(context: String, error: ServerError) -> PgError {
    PgError::Server {
        context,
        error: Box::new(error),
    }
}

pub(crate) fn log_notice(n: &ServerError) {
    tracing::info!(severity = %n.severity, code = %n.code, "postgres notice: {}", n.message);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::time::Duration;
    use tokio::net::TcpListener;

    /// Read one frontend message (after the startup packet): (tag, body).
    async fn read_msg(s: &mut TcpStream) -> (u8, Vec<u8>) {
        let tag = s.read_u8().await.unwrap();
        let len = s.read_i32().await.unwrap();
        let mut body = vec![0; usize::try_from(len).unwrap() - 4];
        s.read_exact(&mut body).await.unwrap();
        (tag, body)
    }

    /// AuthenticationRequest `code` with `data`.
    fn auth(code: i32, data: &[u8]) -> Vec<u8> {
        let mut m = vec![b'R'];
        m.extend_from_slice(&(8 + i32::try_from(data.len()).unwrap()).to_be_bytes());
        m.extend_from_slice(&code.to_be_bytes());
        m.extend_from_slice(data);
        m
    }

    /// A server that runs SCRAM up to SASLContinue, then either skips SASLFinal or sends a
    /// forged one, then says AuthenticationOk: what a man in the middle without the password
    /// verifier would do.
    async fn lying_server(forge_final: bool) -> PgError {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let len = s.read_i32().await.unwrap();
            let mut startup = vec![0; usize::try_from(len).unwrap() - 4];
            s.read_exact(&mut startup).await.unwrap();
            s.write_all(&auth(10, b"SCRAM-SHA-256\0\0")).await.unwrap();
            let (tag, body) = read_msg(&mut s).await;
            assert_eq!(tag, b'p');
            let text = String::from_utf8_lossy(&body).into_owned();
            // Everything after the first `r=`: the random nonce may itself contain "r=".
            let nonce = text.split_once("r=").unwrap().1.trim_end_matches('\0');
            let salt = base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef");
            let first = format!("r={nonce}srv,s={salt},i=4096");
            s.write_all(&auth(11, first.as_bytes())).await.unwrap();
            let _final = read_msg(&mut s).await;
            if forge_final {
                let forged = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
                s.write_all(&auth(12, format!("v={forged}").as_bytes()))
                    .await
                    .unwrap();
            }
            s.write_all(&auth(0, b"")).await.unwrap();
            // Keep the socket open until the client gives up.
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        });
        let mut config = PgConnectConfig::new("127.0.0.1", port, "postgres", "postgres")
            .with_password("the-real-password")
            .with_sslmode(SslMode::Disable);
        config.connect_timeout = Duration::from_secs(5);
        let err = connect(&config, &[])
            .await
            .err()
            .expect("the connection must be refused");
        server.abort();
        err
    }

    #[tokio::test]
    async fn authentication_ok_without_scram_final_is_refused() {
        let err = lying_server(false).await;
        assert!(matches!(err, PgError::Auth(_)), "{err:?}");
        assert!(
            err.to_string().contains("without completing SCRAM"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_forged_server_signature_is_refused() {
        let err = lying_server(true).await;
        assert!(matches!(err, PgError::Auth(_)), "{err:?}");
        assert!(
            err.to_string().contains("signature does not verify"),
            "{err}"
        );
    }

    /// A server that answers the startup packet with one message header announcing `len`
    /// bytes, and nothing else: the client must refuse it, not allocate for it or wait for it.
    async fn oversized_header(tag: u8, len: u32, max_message_size: usize) -> PgError {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let startup_len = s.read_i32().await.unwrap();
            let mut startup = vec![0; usize::try_from(startup_len).unwrap() - 4];
            s.read_exact(&mut startup).await.unwrap();
            let mut header = vec![tag];
            header.extend_from_slice(&len.to_be_bytes());
            s.write_all(&header).await.unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        });
        let mut config = PgConnectConfig::new("127.0.0.1", port, "postgres", "postgres")
            .with_sslmode(SslMode::Disable)
            .with_max_message_size(max_message_size);
        config.connect_timeout = Duration::from_secs(5);
        let err = connect(&config, &[])
            .await
            .err()
            .expect("the connection must be refused");
        server.abort();
        err
    }

    #[tokio::test]
    async fn an_announced_length_over_the_cap_is_refused_naming_the_message() {
        let err = oversized_header(b'R', 0x7fff_ffff, crate::DEFAULT_MAX_MESSAGE_SIZE).await;
        assert!(matches!(err, PgError::Protocol(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("Authentication message of 2147483647 bytes")
                && text.contains("1073741824"),
            "{text}"
        );
        // A smaller configured cap applies to every message, here an ErrorResponse.
        let err = oversized_header(b'E', 4096, 1024).await;
        assert!(
            err.to_string()
                .contains("ErrorResponse message of 4096 bytes, more than the 1024 bytes"),
            "{err}"
        );
    }

    #[test]
    fn scram_variant_follows_tls_and_server_offer() {
        let both = vec!["SCRAM-SHA-256-PLUS".to_owned(), "SCRAM-SHA-256".to_owned()];
        let plain = vec!["SCRAM-SHA-256".to_owned()];
        let hash = Some(Some(vec![1u8; 32]));
        assert_eq!(
            choose_scram(&both, hash.as_ref()).unwrap().0,
            "SCRAM-SHA-256-PLUS"
        );
        assert_eq!(
            choose_scram(&plain, hash.as_ref()).unwrap().0,
            "SCRAM-SHA-256"
        );
        assert_eq!(choose_scram(&both, None).unwrap().0, "SCRAM-SHA-256");
        assert_eq!(choose_scram(&both, Some(&None)).unwrap().0, "SCRAM-SHA-256");
        assert!(choose_scram(&["OAUTHBEARER".to_owned()], None).is_err());
    }

    /// A self-signed certificate made with the openssl CLI: (dir, cert, key).
    fn self_signed(key_alg: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix("walcast-tls-")
            .tempdir()
            .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey"])
            .args(key_alg)
            .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(dir.path().join("server.key"))
            .arg("-out")
            .arg(dir.path().join("server.crt"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = dir.path().join("server.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let root = std::process::Command::new("id").arg("-u").output().unwrap();
        if String::from_utf8_lossy(&root.stdout).trim() == "0" {
            let id = |flag: &str| {
                let o = std::process::Command::new("id")
                    .args([flag, "postgres"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u32>()
                    .unwrap()
            };
            for f in ["server.key", "server.crt"] {
                std::os::unix::fs::chown(dir.path().join(f), Some(id("-u")), Some(id("-g")))
                    .unwrap();
            }
        }
        let dir_path = dir.path().to_owned();
        (dir, dir_path)
    }

    #[tokio::test]
    async fn scram_over_tls_uses_channel_binding() {
        // SHA-256 (RSA) and SHA-384 (P-384 signed with SHA-384) certificates: the binding hash
        // must follow the certificate's signature hash or the server refuses the login.
        for alg in [
            &["rsa:2048"][..],
            &["ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-sha384"][..],
        ] {
            let (_keep, dir) = self_signed(alg);
            let pg = walcast_testkit::Postgres::builder()
                .host_auth("scram-sha-256")
                .setting("ssl", "on")
                .setting("ssl_cert_file", dir.join("server.crt").to_str().unwrap())
                .setting("ssl_key_file", dir.join("server.key").to_str().unwrap())
                .start()
                .await
                .unwrap();
            let config = PgConnectConfig::new(pg.host(), pg.port(), pg.user(), pg.dbname())
                .with_password(pg.password())
                .with_sslmode(SslMode::Require);
            let (_conn, mechanism) = connect_reporting(&config, &[]).await.unwrap();
            assert_eq!(mechanism, Some("SCRAM-SHA-256-PLUS"), "{alg:?}");
            // tokio-postgres connections bind too (they fail if the hash is wrong).
            let client = crate::connect_client(&config).await.unwrap();
            client.simple_query("SELECT 1").await.unwrap();
            // Without TLS there is nothing to bind to.
            let (_conn, mechanism) =
                connect_reporting(&config.clone().with_sslmode(SslMode::Disable), &[])
                    .await
                    .unwrap();
            assert_eq!(mechanism, Some("SCRAM-SHA-256"));
        }
    }
}
