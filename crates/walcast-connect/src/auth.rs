//! REST authentication and the https listener.
//!
//! Kafka Connect protects its REST API with a REST extension
//! (`rest.extension.classes=org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension`)
//! whose JAAS `PropertyFileLoginModule` reads a properties file of `user: password` lines.
//! walcast has no JAAS, so the same file is named directly:
//!
//! - `rest.basic.auth.credentials.file`: `user: password` (or `user=password`) per line, Java
//!   properties syntax, the same file Connect's `PropertyFileLoginModule file="..."` points at.
//! - `rest.auth.bearer.token` (the token itself, typically a `${file:..}`/`${env:..}` reference)
//!   or `rest.auth.bearer.token.file` (a file holding it): `Authorization: Bearer <token>`.
//!
//! With either set, every request except `GET /health` (container health checks) needs valid
//! credentials; anything else is answered 401 with `WWW-Authenticate`. Passwords and tokens are
//! compared in constant time and never logged.
//!
//! https: `listeners=https://host:port` with `listeners.https.ssl.certificate.location` (PEM
//! chain) and `listeners.https.ssl.key.location` (PEM private key), served with rustls. These
//! play the part of Connect's `listeners.https.ssl.keystore.*` (a JKS/PKCS#12 keystore); convert
//! one with `openssl pkcs12 -in keystore.p12 -nokeys -out cert.pem` and
//! `openssl pkcs12 -in keystore.p12 -nocerts -nodes -out key.pem`.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

use crate::error::{ApiError, ConfigError};
use crate::files::read_properties_file;
use crate::redact;
use walcast_connect_api::properties;

/// Connect's basic-auth REST extension class, accepted as a signal that auth is wanted.
pub const BASIC_AUTH_EXTENSION: &str =
    "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension";

/// Who may call the REST API. Empty (no users, no token) means no authentication.
#[derive(Clone, Default)]
pub struct RestAuth {
    /// user -> password, from `rest.basic.auth.credentials.file`.
    users: BTreeMap<String, String>,
    /// From `rest.auth.bearer.token` or `rest.auth.bearer.token.file`.
    bearer: Option<String>,
}

impl std::fmt::Debug for RestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("bearer", &self.bearer.as_ref().map(|_| redact::HIDDEN))
            .finish()
    }
}

impl RestAuth {
    /// Read the auth settings from (resolved) worker properties, loading the files they name.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            props
                .get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut auth = RestAuth::default();
        if let Some(path) = get("rest.basic.auth.credentials.file") {
            let path = PathBuf::from(path);
            let map = read_properties_file(&path)?;
            for (user, password) in map {
                if password.is_empty() {
                    return Err(ConfigError::InvalidValue {
                        key: "rest.basic.auth.credentials.file".into(),
                        message: format!(
                            "{}: user {user} has an empty password; give every user a password",
                            path.display()
                        ),
                    });
                }
                // Connect's PropertyFileLoginModule compares the whole value (no Jetty-style
                // `,role` suffix), and so does walcast.
                redact::remember_secret(&password);
                auth.users.insert(user, password);
            }
            if auth.users.is_empty() {
                return Err(ConfigError::InvalidValue {
                    key: "rest.basic.auth.credentials.file".into(),
                    message: format!(
                        "{} lists no users; add lines like `admin: <password>`",
                        path.display()
                    ),
                });
            }
            warn_if_readable_by_others(&path);
        }
        let token_file = get("rest.auth.bearer.token.file");
        let token = match (get("rest.auth.bearer.token"), token_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::InvalidValue {
                    key: "rest.auth.bearer.token.file".into(),
                    message: "set rest.auth.bearer.token or rest.auth.bearer.token.file, not both"
                        .into(),
                })
            }
            (Some(t), None) => Some(t),
            (None, Some(path)) => {
                let path = PathBuf::from(path);
                let bytes = std::fs::read(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                warn_if_readable_by_others(&path);
                Some(properties::decode_bytes(&bytes).trim().to_owned())
            }
            (None, None) => None,
        };
        if let Some(t) = token {
            if t.len() < 16 {
                return Err(ConfigError::InvalidValue {
                    key: "rest.auth.bearer.token".into(),
                    message: "the bearer token must be at least 16 characters \
                              (e.g. `openssl rand -hex 32`)"
                        .into(),
                });
            }
            redact::remember_secret(&t);
            auth.bearer = Some(t);
        }
        let extension_wanted = props
            .get("rest.extension.classes")
            .is_some_and(|c| c.contains("BasicAuthSecurityRestExtension"));
        if extension_wanted && auth.users.is_empty() {
            return Err(ConfigError::InvalidValue {
                key: "rest.extension.classes".into(),
                message: format!(
                    "{BASIC_AUTH_EXTENSION} is configured through JAAS in Kafka Connect; walcast \
                     reads the credentials file directly: set rest.basic.auth.credentials.file to \
                     the file= path of your JAAS KafkaConnect section"
                ),
            });
        }
        Ok(auth)
    }

    /// Whether any authentication is configured.
    pub fn is_enabled(&self) -> bool {
        !self.users.is_empty() || self.bearer.is_some()
    }

    /// Whether an `Authorization` header value carries valid credentials.
    fn accepts(&self, value: &HeaderValue) -> bool {
        let Ok(value) = value.to_str() else {
            return false;
        };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") && !self.users.is_empty() {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return false;
            };
            let Ok(decoded) = String::from_utf8(decoded) else {
                return false;
            };
            let Some((user, password)) = decoded.split_once(':') else {
                return false;
            };
            // Compare against every user so timing does not tell which user names exist.
            let mut ok = false;
            for (u, p) in &self.users {
                ok |= constant_time_eq(u.as_bytes(), user.as_bytes())
                    & constant_time_eq(p.as_bytes(), password.as_bytes());
            }
            ok
        } else if scheme.eq_ignore_ascii_case("bearer") {
            self.bearer
                .as_ref()
                .is_some_and(|t| constant_time_eq(t.as_bytes(), rest.as_bytes()))
        } else {
            false
        }
    }

    fn challenge(&self) -> Vec<&'static str> {
        let mut c = Vec::new();
        if !self.users.is_empty() {
            c.push("Basic realm=\"walcast\", charset=\"UTF-8\"");
        }
        if self.bearer.is_some() {
            c.push("Bearer realm=\"walcast\"");
        }
        c
    }
}

/// Equal bytes, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o004 != 0 {
            tracing::warn!(file = %path.display(), "credentials file is readable by every user on this machine; chmod 600 it");
        }
    }
}

/// The middleware: `/health` is always open; everything else needs credentials when auth is
/// enabled.
pub(crate) async fn require_auth(
    State(auth): State<Arc<RestAuth>>,
    request: Request,
    next: Next,
) -> Response {
    if !auth.is_enabled() || request.uri().path() == "/health" {
        return next.run(request).await;
    }
    if request
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| auth.accepts(v))
    {
        return next.run(request).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "User cannot access the resource: missing or invalid credentials",
    )
    .into_response();
    for c in auth.challenge() {
        response
            .headers_mut()
            .append(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
    }
    response
}

/// `listeners.https.ssl.*`: the PEM certificate chain and key of an https listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestTls {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

impl RestTls {
    /// Read the https settings; `Ok(None)` for an http listener.
    pub fn from_properties(
        props: &BTreeMap<String, String>,
        https: bool,
    ) -> Result<Option<Self>, ConfigError> {
        let get = |k: &str| {
            props
                .get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if !https {
            return Ok(None);
        }
        let missing = |key: &str| ConfigError::InvalidValue {
            key: key.to_owned(),
            message: "an https listener needs listeners.https.ssl.certificate.location (PEM \
                      certificate chain) and listeners.https.ssl.key.location (PEM private key)"
                .into(),
        };
        if get("listeners.https.ssl.keystore.location").is_some()
            && get("listeners.https.ssl.certificate.location").is_none()
        {
            return Err(ConfigError::InvalidValue {
                key: "listeners.https.ssl.keystore.location".into(),
                message: "walcast reads PEM files, not keystores: convert with `openssl pkcs12 \
                          -in keystore.p12 -nokeys -out cert.pem` and `openssl pkcs12 -in \
                          keystore.p12 -nocerts -nodes -out key.pem` (for JKS, first `keytool \
                          -importkeystore -srckeystore keystore.jks -destkeystore keystore.p12 \
                          -deststoretype PKCS12`), then set listeners.https.ssl.certificate.location \
                          and listeners.https.ssl.key.location"
                    .into(),
            });
        }
        let certificate = get("listeners.https.ssl.certificate.location")
            .ok_or_else(|| missing("listeners.https.ssl.certificate.location"))?;
        let key = get("listeners.https.ssl.key.location")
            .ok_or_else(|| missing("listeners.https.ssl.key.location"))?;
        let tls = RestTls {
            certificate: PathBuf::from(certificate),
            key: PathBuf::from(key),
        };
        // Fail at start, not at the first connection.
        tls.server_config()?;
        Ok(Some(tls))
    }

    /// The rustls server configuration from the PEM files.
    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::InvalidValue {
            key: key.to_owned(),
            message,
        };
        let open = |path: &Path| {
            std::fs::File::open(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let certs = rustls_pemfile::certs(&mut BufReader::new(open(&self.certificate)?))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                invalid(
                    "listeners.https.ssl.certificate.location",
                    format!("{}: {e}", self.certificate.display()),
                )
            })?;
        if certs.is_empty() {
            return Err(invalid(
                "listeners.https.ssl.certificate.location",
                format!("{} holds no PEM certificate", self.certificate.display()),
            ));
        }
        let key = rustls_pemfile::private_key(&mut BufReader::new(open(&self.key)?))
            .map_err(|e| {
                invalid(
                    "listeners.https.ssl.key.location",
                    format!("{}: {e}", self.key.display()),
                )
            })?
            .ok_or_else(|| {
                invalid(
                    "listeners.https.ssl.key.location",
                    format!(
                        "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                        self.key.display()
                    ),
                )
            })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("listeners", e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                invalid(
                    "listeners.https.ssl.key.location",
                    format!("the key does not fit the certificate: {e}"),
                )
            })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An axum listener that serves TLS. Handshakes run in their own tasks, so a slow or silent
/// client never holds up the others; finished ones arrive through a bounded channel.
pub(crate) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub(crate) fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let acceptor_task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(error = %e, "accepting a REST connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake with a REST client failed")
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake with a REST client timed out")
                        }
                    }
                });
            }
        });
        Ok(Self {
            local,
            ready,
            acceptor_task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The acceptor task only ends when aborted, i.e. when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderValue {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {token}")).expect("header")
    }

    #[test]
    fn basic_and_bearer_checks() {
        let auth = RestAuth {
            users: [("admin".to_owned(), "pa:ss word".to_owned())].into(),
            bearer: Some("0123456789abcdef0123".to_owned()),
        };
        assert!(auth.accepts(&basic("admin", "pa:ss word")));
        assert!(!auth.accepts(&basic("admin", "pa:ss")));
        assert!(!auth.accepts(&basic("root", "pa:ss word")));
        assert!(auth.accepts(&HeaderValue::from_static("Bearer 0123456789abcdef0123")));
        assert!(auth.accepts(&HeaderValue::from_static("bearer 0123456789abcdef0123")));
        assert!(!auth.accepts(&HeaderValue::from_static("Bearer 0123456789abcdef012")));
        assert!(!auth.accepts(&HeaderValue::from_static("Basic !!!")));
        assert!(!auth.accepts(&HeaderValue::from_static("Digest x")));
        assert_eq!(auth.challenge().len(), 2);
        let shown = format!("{auth:?}");
        assert!(
            !shown.contains("pa:ss") && !shown.contains("0123456789"),
            "{shown}"
        );
    }

    #[test]
    fn settings_are_checked() {
        let props = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(!RestAuth::from_properties(&props(&[]))
            .expect("none")
            .is_enabled());
        let err = RestAuth::from_properties(&props(&[("rest.auth.bearer.token", "short")]))
            .expect_err("short token");
        assert!(err.to_string().contains("16 characters"), "{err}");
        let err =
            RestAuth::from_properties(&props(&[("rest.extension.classes", BASIC_AUTH_EXTENSION)]))
                .expect_err("extension without file");
        assert!(
            err.to_string().contains("rest.basic.auth.credentials.file"),
            "{err}"
        );
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("credentials.properties");
        std::fs::write(&file, "# Connect's format\nadmin: s3cret\nops=other-pw\n").expect("write");
        let auth = RestAuth::from_properties(&props(&[(
            "rest.basic.auth.credentials.file",
            &file.display().to_string(),
        )]))
        .expect("valid");
        assert!(auth.accepts(&basic("admin", "s3cret")));
        assert!(auth.accepts(&basic("ops", "other-pw")));
        let err = RestTls::from_properties(&props(&[]), true).expect_err("https needs files");
        assert!(err.to_string().contains("certificate.location"), "{err}");
        let err = RestTls::from_properties(
            &props(&[("listeners.https.ssl.keystore.location", "/x.jks")]),
            true,
        )
        .expect_err("keystore");
        assert!(err.to_string().contains("openssl pkcs12"), "{err}");
    }
}
