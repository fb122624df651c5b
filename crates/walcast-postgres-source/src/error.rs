//! Errors of the source task, each knowing whether a retry can help.

use walcast_pgwire::PgError;

use walcast_pgoutput::{Lsn, TableId};

/// Why a source run stopped.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The connector configuration is invalid (the worker normally rejects it before start).
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error("kafka: {0}")]
    Kafka(#[from] walcast_kafka::KafkaError),
    /// A value could not be turned into an event.
    #[error("cannot encode the change at LSN {lsn} in table {table}: {source}")]
    Encode {
        table: TableId,
        lsn: Lsn,
        #[source]
        source: walcast_debezium::EncodeError,
    },
    /// The replication stream broke a rule walcast relies on.
    #[error("replication protocol: {0}")]
    Protocol(String),
    /// Local state could not be read or written.
    #[error("source state {path}: {source}")]
    State {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Something the user must fix; the message says what.
    #[error("{0}")]
    Fatal(String),
    /// The replication slot is held by another connection (possibly walcast's own previous one,
    /// which PostgreSQL has not noticed is gone yet).
    #[error("{0}")]
    SlotBusy(String),
    /// Something that may succeed if tried again (the message says what failed).
    #[error("{0}")]
    Transient(String),
}

impl SourceError {
    /// Whether the supervisor loop should retry after a backoff.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Pg(e) => e.is_transient(),
            SourceError::Kafka(e) => e.is_transient(),
            SourceError::Transient(_) | SourceError::SlotBusy(_) => true,
            SourceError::Config(_)
            | SourceError::Encode { .. }
            | SourceError::Protocol(_)
            | SourceError::State { .. }
            | SourceError::Fatal(_) => false,
        }
    }
}
