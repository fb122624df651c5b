//! How to reach PostgreSQL: one [`PgConnectConfig`] serves both the replication connection and
//! the normal `tokio-postgres` connections (catalog, snapshot), so both see the same server with
//! the same TLS policy and the same session settings.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::PgError;

/// libpq's `sslmode`, with libpq's (and Debezium's) meaning for each value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Never use TLS.
    Disable,
    /// Try without TLS first; use TLS only if the server refuses the plain connection.
    Allow,
    /// Use TLS if the server offers it, plain otherwise (libpq's default). The certificate is
    /// not verified.
    #[default]
    Prefer,
    /// Always use TLS; the certificate is not verified (like libpq without a root certificate).
    Require,
    /// Always use TLS and verify the certificate chain against the root certificates.
    VerifyCa,
    /// Like `VerifyCa`, and the certificate must also name the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Whether a plain (unencrypted) session is acceptable.
    pub fn allows_plain(self) -> bool {
        matches!(self, SslMode::Disable | SslMode::Allow | SslMode::Prefer)
    }

    /// The libpq spelling (`verify-full`...).
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl std::str::FromStr for SslMode {
    type Err = PgError;

    /// Accepts libpq's spellings, case-insensitively, plus Debezium's `verify_ca`/`verify_full`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" => Ok(SslMode::Disable),
            "allow" => Ok(SslMode::Allow),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            _ => Err(PgError::Config(format!(
                "unknown sslmode {s:?}: expected disable, allow, prefer, require, verify-ca or \
                 verify-full"
            ))),
        }
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Session settings sent at startup on every connection walcast opens. The text form of values
/// depends on them (dates, intervals, floats, time zones), and pgoutput formats values with the
/// walsender's settings, so the snapshot connection must use the same ones for a row read in the
/// snapshot to look exactly like the same row streamed later.
pub const SESSION_SETTINGS: &[(&str, &str)] = &[
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO"),
    ("IntervalStyle", "postgres"),
    ("TimeZone", "UTC"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
];

/// Where and how to connect to PostgreSQL.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConnectConfig {
    /// Host name or IP address (TCP only).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Role to log in as (needs REPLICATION or superuser for the replication connection).
    pub user: String,
    /// Needed for password, MD5 and SCRAM authentication; never printed.
    pub password: Option<String>,
    /// The database whose changes are decoded (logical slots belong to one database).
    pub dbname: String,
    /// TLS policy.
    pub sslmode: SslMode,
    /// PEM file of root certificates to verify the server against (a private CA, or the
    /// cloud provider's bundle such as RDS's `global-bundle.pem`); the public WebPKI roots
    /// when absent.
    pub sslrootcert: Option<PathBuf>,
    /// PEM client certificate (chain), for `cert` authentication or `clientcert=verify-*` in
    /// pg_hba.conf. Needs [`Self::sslkey`].
    pub sslcert: Option<PathBuf>,
    /// PEM private key of [`Self::sslcert`] (PKCS#8, PKCS#1 or SEC1, unencrypted).
    pub sslkey: Option<PathBuf>,
    /// libpq's `sslpassword`, for an encrypted `sslkey`. Kept so the setting is accepted and
    /// never printed; encrypted keys are refused with the command that decrypts them when the
    /// TLS configuration is built.
    pub sslpassword: Option<String>,
    /// Shown in `pg_stat_activity` / `pg_stat_replication`, so operators can tell walcast's
    /// sessions apart.
    pub application_name: String,
    /// Upper bound for TCP connect, TLS handshake and authentication together.
    pub connect_timeout: Duration,
    /// The largest backend message the replication connection accepts, in bytes as the
    /// protocol's length field counts them. A larger announced length is refused with an error
    /// instead of being allocated: the length comes from the other end of a socket, and a
    /// corrupt stream or something that is not PostgreSQL may claim up to 2 GiB. Defaults to
    /// [`DEFAULT_MAX_MESSAGE_SIZE`].
    pub max_message_size: usize,
}

/// The default of [`PgConnectConfig::max_message_size`]: 1 GiB, PostgreSQL's own limit on one
/// allocation (`MaxAllocSize`), so no message a real server builds is larger.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 30;

impl std::fmt::Debug for PgConnectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConnectConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbname", &self.dbname)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("sslcert", &self.sslcert)
            .field("sslkey", &self.sslkey)
            .field(
                "sslpassword",
                &self.sslpassword.as_ref().map(|_| "<redacted>"),
            )
            .field("application_name", &self.application_name)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_message_size", &self.max_message_size)
            .finish()
    }
}

impl PgConnectConfig {
    /// A configuration with libpq's defaults for everything but the given essentials
    /// (`sslmode=prefer`, a 30 s connect timeout, application name `walcast`).
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        dbname: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            user: user.into(),
            password: None,
            dbname: dbname.into(),
            sslmode: SslMode::default(),
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            sslpassword: None,
            application_name: "walcast".into(),
            connect_timeout: Duration::from_secs(30),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }

    /// Sets the password.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Sets the largest backend message accepted (see [`Self::max_message_size`]).
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets the TLS policy.
    pub fn with_sslmode(mut self, sslmode: SslMode) -> Self {
        self.sslmode = sslmode;
        self
    }

    /// Sets the root certificates (PEM) the server certificate must chain to.
    pub fn with_sslrootcert(mut self, path: impl Into<PathBuf>) -> Self {
        self.sslrootcert = Some(path.into());
        self
    }

    /// Sets a client certificate and its key (PEM files).
    pub fn with_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.sslcert = Some(cert.into());
        self.sslkey = Some(key.into());
        self
    }

    /// The equivalent `tokio-postgres` configuration (same settings as the replication
    /// connection, see [`SESSION_SETTINGS`]).
    pub fn tokio_postgres_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .connect_timeout(self.connect_timeout)
            .ssl_mode(match self.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                    tokio_postgres::config::SslMode::Require
                }
            });
        // tokio-postgres sends client_encoding itself; the others go through `options`.
        let options: Vec<String> = SESSION_SETTINGS
            .iter()
            .filter(|(k, _)| *k != "client_encoding")
            .map(|(k, v)| format!("-c {k}={}", v.replace(' ', "\\ ")))
            .collect();
        c.options(options.join(" "));
        if let Some(p) = &self.password {
            c.password(p.as_bytes());
        }
        c
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_password() {
        let mut c = PgConnectConfig::new("h", 5432, "u", "d").with_password("s3cret-pw");
        c.sslpassword = Some("key-pw-123".into());
        let s = format!("{c:?}");
        assert!(!s.contains("s3cret-pw") && !s.contains("key-pw-123"), "{s}");
        assert!(s.contains("<redacted>"), "{s}");
    }

    #[test]
    fn parses_sslmodes() {
        assert_eq!(
            "verify-full".parse::<SslMode>().unwrap(),
            SslMode::VerifyFull
        );
        assert_eq!("VERIFY_CA".parse::<SslMode>().unwrap(), SslMode::VerifyCa);
        assert_eq!("disable".parse::<SslMode>().unwrap(), SslMode::Disable);
        assert!("bogus".parse::<SslMode>().is_err());
        assert_eq!(SslMode::default(), SslMode::Prefer);
        for m in [
            SslMode::Disable,
            SslMode::Allow,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            assert_eq!(m.as_str().parse::<SslMode>().unwrap(), m);
        }
    }
}
