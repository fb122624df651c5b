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
}

impl Reader {
    /// The next complete message. Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn next(&mut self) -> Result<Backend, PgError> {
        loop {
            if let Some(msg) =
                wire::parse(&mut self.buf).map_err(|e| PgError::Protocol(e.to_string()))?
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
) -> Result<Conn, PgError> {
    let where_ = || format!("connecting to {}:{}", config.host, config.port);
    let mut tcp = TcpStream::connect((config.host.as_str(), config.port))
        .await
        .map_err(|e| PgError::io(where_(), e))?;
    tcp.set_nodelay(true)
        .map_err(|e| PgError::io(where_(), e))?;
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
        },
        writer: Writer {
            io: w,
            buf: BytesMut::with_capacity(4096),
        },
        server_version: None,
        backend_pid: None,
    };
    startup(&mut conn, config, extra).await?;
    Ok(conn)
}

async fn startup(
    conn: &mut Conn,
    config: &PgConnectConfig,
    extra: &[(&str, &str)],
) -> Result<(), PgError> {
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
    let mut scram: Option<ScramSha256> = None;
    loop {
        match conn.reader.next().await? {
            Backend::AuthOk => break,
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
                if !mechanisms.iter().any(|m| m == "SCRAM-SHA-256") {
                    return Err(PgError::Auth(format!(
                        "the server offers SASL mechanisms {mechanisms:?}; walcast supports SCRAM-SHA-256"
                    )));
                }
                // "n": no channel binding. Claiming support ("y") would be refused as a downgrade
                // when the server offers SCRAM-SHA-256-PLUS over TLS.
                let s = ScramSha256::new(password()?.as_bytes(), ChannelBinding::unsupported());
                frontend::sasl_initial_response("SCRAM-SHA-256", s.message(), &mut conn.writer.buf)
                    .map_err(|e| PgError::Auth(e.to_string()))?;
                conn.writer.flush().await?;
                scram = Some(s);
            }
            Backend::AuthSaslContinue(data) => {
                let s = scram
                    .as_mut()
                    .ok_or_else(|| PgError::Protocol("SASL continue without SASL start".into()))?;
                s.update(&data)
                    .map_err(|e| PgError::Auth(format!("SCRAM exchange: {e}")))?;
                frontend::sasl_response(s.message(), &mut conn.writer.buf)
                    .map_err(|e| PgError::Auth(e.to_string()))?;
                conn.writer.flush().await?;
            }
            Backend::AuthSaslFinal(data) => {
                let s = scram
                    .as_mut()
                    .ok_or_else(|| PgError::Protocol("SASL final without SASL start".into()))?;
                s.finish(&data).map_err(|e| {
                    PgError::Auth(format!("verifying the server's SCRAM signature: {e}"))
                })?;
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
    }
    loop {
        match conn.reader.next().await? {
            Backend::ReadyForQuery => return Ok(()),
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
