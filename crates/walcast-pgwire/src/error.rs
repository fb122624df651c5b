//! The one error type of the PostgreSQL side. Every variant carries the context a person needs to
//! act on it (which table, which slot, which SQLSTATE) and [`PgError::is_transient`] decides, in
//! one place, whether the supervisor should retry or give up.

use walcast_pgoutput::DecodeError;
use walcast_pgoutput::Lsn;

/// An error reported by the server in an `ErrorResponse`, kept whole so callers can match on the
/// SQLSTATE and show the server's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// `ERROR`, `FATAL` or `PANIC`.
    pub severity: String,
    /// The five-character SQLSTATE, e.g. `28P01` (wrong password).
    pub code: String,
    /// The primary message.
    pub message: String,
    /// Optional detail line.
    pub detail: Option<String>,
    /// Optional hint line.
    pub hint: Option<String>,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " (detail: {d})")?;
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        if let Some(advice) = advice_for(&self.code, &self.message) {
            write!(f, "; {advice}")?;
        }
        Ok(())
    }
}

/// What to do about the server errors people commonly hit while setting up CDC.
fn advice_for(code: &str, message: &str) -> Option<&'static str> {
    match code {
        "28000" if message.contains("pg_hba") => Some(
            "add a `host replication <user> <address> <method>` line (and one for the database) \
             to pg_hba.conf and reload PostgreSQL",
        ),
        "28P01" => Some("check the configured user and password"),
        "42501" => Some(
            "grant the role the REPLICATION attribute (ALTER ROLE <user> REPLICATION) or use a \
             superuser",
        ),
        "55000" if message.contains("wal_level") => {
            Some("set wal_level = logical in postgresql.conf and restart PostgreSQL")
        }
        "53400" if message.contains("replication slot") => {
            Some("raise max_replication_slots or drop unused slots")
        }
        "53300" => Some("raise max_connections or max_wal_senders"),
        "0A000" if message.contains("proto_version") => Some(
            "lower proto_version to one this server supports (PostgreSQL 14: 2, PostgreSQL 15: 3, \
             PostgreSQL 16 and later: 4)",
        ),
        _ => None,
    }
}

/// Everything that can go wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// A query over a normal `tokio-postgres` connection failed. The message carries the
    /// server's own words (SQLSTATE, message, detail, hint, the table and column it names) or
    /// the I/O cause, so the inner error is deliberately not a `source()`: the chain is printed
    /// once, whole, by `Display`.
    #[error("{context}: {}", describe_query_error(error))]
    Query {
        /// What walcast was doing (e.g. "loading columns of public.orders").
        context: String,
        /// Kept for its SQLSTATE and `is_closed()`, which decide whether to retry.
        error: tokio_postgres::Error,
    },
    /// The server answered with an `ErrorResponse` on a connection walcast drives itself.
    #[error("{context}: {error}")]
    Server {
        /// What walcast was doing (e.g. "START_REPLICATION on slot walcast").
        context: String,
        /// Boxed so `Result<_, PgError>` stays small on the hot path.
        error: Box<ServerError>,
    },
    /// The socket failed (refused, reset, closed).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// TLS could not be set up (bad root certificate file, handshake failure...).
    #[error("TLS: {0}")]
    Tls(String),
    /// The server wants TLS (or no TLS) and the configured `sslmode` does not allow it.
    #[error("{0}")]
    SslModeMismatch(String),
    /// Authentication could not be carried out (unsupported method, missing password).
    #[error("authentication: {0}")]
    Auth(String),
    /// The server sent something the protocol does not allow at this point.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A pgoutput message could not be decoded.
    #[error("decoding pgoutput message at {lsn}: {source}")]
    Decode {
        lsn: Lsn,
        #[source]
        source: DecodeError,
    },
    /// The server's `wal_level` is not `logical`.
    #[error(
        "logical decoding needs wal_level = logical but the server has wal_level = {actual}: set \
         wal_level = logical in postgresql.conf and restart PostgreSQL"
    )]
    WalLevelNotLogical { actual: String },
    /// The connecting role may not use replication.
    #[error(
        "role {role:?} has neither the REPLICATION attribute nor superuser: run ALTER ROLE \
         \"{role}\" REPLICATION (as a superuser)"
    )]
    MissingReplicationPrivilege { role: String },
    /// A table named in configuration does not exist.
    #[error("table {table} does not exist (or is not visible to this user)")]
    TableNotFound { table: String },
    /// A relation oid (from pgoutput or a caller) is unknown to the catalog.
    #[error("relation with oid {oid} does not exist")]
    RelationNotFound { oid: u32 },
    /// A type oid is unknown to the catalog.
    #[error("type with oid {oid} does not exist")]
    TypeNotFound { oid: u32 },
    /// A replication slot walcast expected does not exist.
    #[error("replication slot {slot:?} does not exist")]
    SlotNotFound { slot: String },
    /// A publication walcast expected does not exist.
    #[error("publication {publication:?} does not exist")]
    PublicationNotFound { publication: String },
    /// Invalid configuration (detected before talking to the server).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Connecting took longer than `connect_timeout`.
    #[error("timed out connecting to {host}:{port}")]
    ConnectTimeout { host: String, port: u16 },
    /// The connection ended before the operation finished.
    #[error("connection closed: {0}")]
    Closed(String),
}

/// A `tokio-postgres` error in PostgreSQL's own words. Its `Display` alone says `db error`; the
/// server's SQLSTATE, message, detail and hint live in the `DbError` behind it, and an I/O
/// failure's reason in its source.
fn describe_query_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // An integrity violation's detail quotes the row's key values ("Key (id)=(42) ...");
        // errors never carry row values, so that detail is withheld (the constraint, table and
        // column below still say what to look at).
        let detail = if code.starts_with("23") {
            db.detail()
                .map(|_| "withheld, it quotes row values; see the server log".to_string())
        } else {
            db.detail().map(str::to_string)
        };
        let mut s = ServerError {
            severity: db.severity().to_string(),
            code: code.to_string(),
            message: db.message().to_string(),
            detail,
            hint: db.hint().map(str::to_string),
        }
        .to_string();
        // The object the server names (a constraint violation, a dropped column...): schema,
        // table, column and constraint names are identifiers, never row values.
        let mut object = Vec::new();
        match (db.schema(), db.table()) {
            (Some(schema), Some(table)) => object.push(format!("table {schema}.{table}")),
            (None, Some(table)) => object.push(format!("table {table}")),
            _ => {}
        }
        if let Some(c) = db.column() {
            object.push(format!("column {c}"));
        }
        if let Some(c) = db.constraint() {
            object.push(format!("constraint {c}"));
        }
        if !object.is_empty() {
            s.push_str(&format!(" [{}]", object.join(", ")));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// Whether a `CREATE` failed because another session created the same object at the same
/// moment: a duplicate key in the catalog (23505), a duplicate table (42P07) or a duplicate
/// object such as a table's row type or a publication (42710). `IF NOT EXISTS` does not prevent
/// these when the sessions race; the object exists once the other session commits.
pub fn lost_create_race(sqlstate: &str) -> bool {
    matches!(sqlstate, "23505" | "42P07" | "42710")
}

/// SQLSTATEs worth retrying: the server is restarting, overloaded or the object is briefly busy.
fn sqlstate_is_transient(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (too many connections, out of memory)
        || matches!(
            code,
            "57P01" // admin_shutdown
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now (starting up / recovery)
                | "57P05" // idle_session_timeout
                | "55006" // object_in_use (slot active for another pid)
                | "40001" // serialization_failure
                | "40P01" // deadlock_detected
                | "55P03" // lock_not_available (lock_timeout)
                | "58030" // io_error
        )
}

impl PgError {
    /// Wraps a `tokio-postgres` error with what walcast was doing.
    pub fn query(context: impl Into<String>, source: tokio_postgres::Error) -> Self {
        PgError::Query {
            context: context.into(),
            error: source,
        }
    }

    /// Wraps an I/O error with what walcast was doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        PgError::Io {
            context: context.into(),
            source,
        }
    }

    /// The SQLSTATE of a server-reported error, if this is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            PgError::Query { error, .. } => error.code().map(|c| c.code()),
            PgError::Server { error, .. } => Some(&error.code),
            _ => None,
        }
    }

    /// Whether retrying later (with backoff) can succeed without anybody changing anything:
    /// lost connections, server restarts and a slot still held by a previous walsender are
    /// transient; authentication, permissions, `wal_level`, missing tables and bad input are not.
    pub fn is_transient(&self) -> bool {
        match self {
            PgError::Query { error, .. } => {
                if let Some(code) = error.code() {
                    return sqlstate_is_transient(code.code());
                }
                // No SQLSTATE: the connection broke or closed underneath the query.
                error.is_closed()
                    || std::error::Error::source(error)
                        .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
            }
            PgError::Server { error, .. } => sqlstate_is_transient(&error.code),
            PgError::Io { .. } | PgError::Closed(_) | PgError::ConnectTimeout { .. } => true,
            PgError::Tls(_)
            | PgError::SslModeMismatch(_)
            | PgError::Auth(_)
            | PgError::Protocol(_)
            | PgError::Decode { .. }
            | PgError::WalLevelNotLogical { .. }
            | PgError::MissingReplicationPrivilege { .. }
            | PgError::TableNotFound { .. }
            | PgError::RelationNotFound { .. }
            | PgError::TypeNotFound { .. }
            | PgError::SlotNotFound { .. }
            | PgError::PublicationNotFound { .. }
            | PgError::Config(_) => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn server(code: &str, message: &str) -> PgError {
        PgError::Server {
            context: "test".into(),
            error: Box::new(ServerError {
                severity: "FATAL".into(),
                code: code.into(),
                message: message.into(),
                detail: None,
                hint: None,
            }),
        }
    }

    #[test]
    fn classifies_sqlstates() {
        assert!(server(
            "57P01",
            "terminating connection due to administrator command"
        )
        .is_transient());
        assert!(server("55006", "replication slot \"s\" is active for PID 42").is_transient());
        assert!(server("08006", "connection failure").is_transient());
        assert!(!server("28P01", "password authentication failed").is_transient());
        assert!(!server("42501", "must be superuser or replication role").is_transient());
        assert!(!server("42P01", "relation does not exist").is_transient());
        assert!(PgError::io("x", std::io::ErrorKind::ConnectionRefused.into()).is_transient());
        assert!(!PgError::WalLevelNotLogical {
            actual: "replica".into()
        }
        .is_transient());
        assert!(!PgError::TableNotFound {
            table: "public.t".into()
        }
        .is_transient());
    }

    #[test]
    fn messages_say_what_to_fix() {
        let e = server(
            "42501",
            "must be superuser or replication role to start walsender",
        );
        assert!(e.to_string().contains("ALTER ROLE"), "{e}");
        let e = server("28000", "no pg_hba.conf entry for replication connection");
        assert!(e.to_string().contains("pg_hba.conf"), "{e}");
        let e = PgError::WalLevelNotLogical {
            actual: "replica".into(),
        };
        assert!(e
            .to_string()
            .contains("set wal_level = logical in postgresql.conf and restart PostgreSQL"));
    }
}
