//! TLS for both kinds of connections, with rustls (ring) and libpq's `sslmode` semantics:
//! `prefer`/`require`/`allow` encrypt without verifying the certificate, `verify-ca` checks the
//! chain, `verify-full` the chain and the host name. Also the `tokio-postgres` TLS connector so
//! normal clients share the policy.
//!
//! Client certificates (`sslcert`/`sslkey`) are presented when configured, and the server
//! certificate's `tls-server-end-point` hash (RFC 5929) is exposed for SCRAM-SHA-256-PLUS
//! channel binding, which ties the password exchange to this TLS session so a man in the
//! middle that terminates TLS cannot relay it.

use std::future::Future;
use std::io::BufReader;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

use crate::config::{PgConnectConfig, SslMode};
use crate::error::PgError;

/// Builds the rustls client configuration for a connection's `sslmode` and `sslrootcert`.
pub fn client_config(config: &PgConnectConfig) -> Result<Arc<ClientConfig>, PgError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match config.sslmode {
        SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => {
            Arc::new(NoCertificateVerification {
                provider: provider.clone(),
            })
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(root_store(config)?);
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| PgError::Tls(format!("building certificate verifier: {e}")))?;
            Arc::new(ChainVerifier {
                inner,
                check_name: config.sslmode == SslMode::VerifyFull,
            })
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let tls =
        match (&config.sslcert, &config.sslkey) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = read_certs(cert, "sslcert")?;
                let key = read_key(key)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| PgError::Tls(format!("sslcert/sslkey: {e}")))?
            }
            (Some(_), None) => return Err(PgError::Config(
                "sslcert is set without sslkey: set both (database.sslcert and database.sslkey)"
                    .into(),
            )),
            (None, Some(_)) => return Err(PgError::Config(
                "sslkey is set without sslcert: set both (database.sslcert and database.sslkey)"
                    .into(),
            )),
        };
    Ok(Arc::new(tls))
}

/// The certificates of a PEM file (`what` names the setting in errors).
fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, PgError> {
    let file = std::fs::File::open(path)
        .map_err(|e| PgError::Tls(format!("opening {what} {}: {e}", path.display())))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PgError::Tls(format!("reading {what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(PgError::Tls(format!(
            "{what} {} contains no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The client's private key. Encrypted keys are refused with the way out: walcast has no
/// PKCS#8 decryption, and a key decrypted once and protected by file permissions is what
/// libpq users with `sslpassword` end up with in containers anyway.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, PgError> {
    let bytes = std::fs::read(path)
        .map_err(|e| PgError::Tls(format!("opening sslkey {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(PgError::Config(format!(
            "sslkey {} is encrypted, which walcast cannot read (database.sslpassword is not \
             used); decrypt it once with `openssl pkey -in {} -out key.pem`, chmod 600 the \
             result and point database.sslkey at it",
            path.display(),
            path.display()
        )));
    }
    rustls_pemfile::private_key(&mut bytes.as_slice())
        .map_err(|e| PgError::Tls(format!("reading sslkey {}: {e}", path.display())))?
        .ok_or_else(|| {
            PgError::Tls(format!(
                "sslkey {} contains no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                path.display()
            ))
        })
}

/// RFC 5929 `tls-server-end-point`: the server certificate hashed with its signature's hash
/// function (SHA-256 for MD5/SHA-1/SHA-256 signatures), which is what PostgreSQL binds
/// SCRAM-SHA-256-PLUS to. `None` when the signature algorithm has no single hash (Ed25519),
/// where PostgreSQL cannot bind either.
pub(crate) fn tls_server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    // OIDs (DER contents) of signature algorithms whose hash is not SHA-256.
    const SHA384: &[&[u8]] = &[
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c], // sha384WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],       // ecdsa-with-SHA384
    ];
    const SHA512: &[&[u8]] = &[
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d], // sha512WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],       // ecdsa-with-SHA512
    ];
    const NO_HASH: &[&[u8]] = &[
        &[0x2b, 0x65, 0x70], // Ed25519
        &[0x2b, 0x65, 0x71], // Ed448
    ];
    let oid = signature_algorithm_oid(cert)?;
    if NO_HASH.contains(&oid) {
        None
    } else if SHA384.contains(&oid) {
        Some(sha2::Sha384::digest(cert).to_vec())
    } else if SHA512.contains(&oid) {
        Some(sha2::Sha512::digest(cert).to_vec())
    } else {
        Some(sha2::Sha256::digest(cert).to_vec())
    }
}

/// The OID of `Certificate.signatureAlgorithm` (the second element of the outer SEQUENCE).
fn signature_algorithm_oid(cert: &[u8]) -> Option<&[u8]> {
    /// One DER TLV: (tag, contents, rest).
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &d| (acc << 8) | usize::from(d));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }
    let (0x30, certificate, _) = tlv(cert)? else {
        return None;
    };
    let (0x30, _tbs, after_tbs) = tlv(certificate)? else {
        return None;
    };
    let (0x30, algorithm, _) = tlv(after_tbs)? else {
        return None;
    };
    match tlv(algorithm)? {
        (0x06, oid, _) => Some(oid),
        _ => None,
    }
}

fn root_store(config: &PgConnectConfig) -> Result<RootCertStore, PgError> {
    let mut roots = RootCertStore::empty();
    // libpq 16's `sslrootcert=system` means the system's trusted roots.
    match config
        .sslrootcert
        .as_ref()
        .filter(|p| p.as_os_str() != "system")
    {
        Some(path) => {
            let certs = read_certs(path, "sslrootcert")?;
            let (added, _ignored) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(PgError::Tls(format!(
                    "sslrootcert {} contains no usable certificate",
                    path.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

/// The server name rustls sends and (for `verify-full`) checks.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, PgError> {
    ServerName::try_from(host.to_string())
        .map_err(|e| PgError::Config(format!("host {host:?} is not a valid TLS server name: {e}")))
}

/// `require`/`prefer`: encryption without authentication of the server, as libpq does. The
/// handshake signatures are still checked, so the session key belongs to whoever holds the
/// certificate's private key.
#[derive(Debug)]
struct NoCertificateVerification {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `verify-ca` / `verify-full`: WebPKI chain verification, with the name check waived for
/// `verify-ca`.
#[derive(Debug)]
struct ChainVerifier {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `tokio-postgres` TLS connector backed by rustls, so normal clients follow the same `sslmode`
/// policy as the replication connection.
#[derive(Clone)]
pub struct MakeRustlsConnect {
    config: Arc<ClientConfig>,
}

impl MakeRustlsConnect {
    /// Wraps a rustls client configuration (see [`client_config`]).
    pub fn new(config: Arc<ClientConfig>) -> Self {
        Self { config }
    }
}

impl<S> tokio_postgres::tls::MakeTlsConnect<S> for MakeRustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = PgError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, PgError> {
        Ok(RustlsConnect {
            connector: TlsConnector::from(self.config.clone()),
            name: server_name(domain)?,
        })
    }
}

/// One pending TLS handshake for `tokio-postgres`.
pub struct RustlsConnect {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl<S> tokio_postgres::tls::TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let s = self.connector.connect(self.name, stream).await?;
            Ok(RustlsStream(Box::new(s)))
        })
    }
}

/// A TLS stream as `tokio-postgres` wants it, offering `tls-server-end-point` channel binding
/// so tokio-postgres uses SCRAM-SHA-256-PLUS when the server offers it.
pub struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| tls_server_end_point(cert))
            .map_or_else(
                tokio_postgres::tls::ChannelBinding::none,
                tokio_postgres::tls::ChannelBinding::tls_server_end_point,
            )
    }
}
