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
    /// The connector's transform chain failed on a record (with `errors.tolerance=none`), or
    /// could not reach what a transform looks things up in (`transient`).
    #[error(
        "{message} (record for topic {topic}{}){}",
        lsn.map(|l| format!(" at LSN {l}")).unwrap_or_default(),
        if *transient { "" } else { "; errors.tolerance=all skips the records a transform fails on" }
    )]
    Transform {
        topic: String,
        /// The change's position; `None` for heartbeats.
        lsn: Option<Lsn>,
        /// The chain's message, naming the transform's alias.
        message: String,
        transient: bool,
    },
}

impl SourceError {
    /// Whether the supervisor loop should retry after a backoff.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Pg(e) => e.is_transient(),
            SourceError::Kafka(e) => e.is_transient(),
            SourceError::Transient(_) | SourceError::SlotBusy(_) => true,
            SourceError::Transform { transient, .. } => *transient,
            SourceError::Config(_)
            | SourceError::Encode { .. }
            | SourceError::Protocol(_)
            | SourceError::State { .. }
            | SourceError::Fatal(_) => false,
        }
    }
}

/// The task's error as the worker shows it: the message is the whole chain as `Display` prints
/// it, and the trace adds only causes whose words the message does not already contain, so the
/// chain reads once, whole, in the log and in the status `trace` (errors here print their cause
/// inline, and a `source()` repeating it would say everything twice).
pub fn connector_error(
    e: &(dyn std::error::Error + 'static),
) -> walcast_connect_api::ConnectorError {
    let message = e.to_string();
    let mut trace = message.clone();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !trace.contains(&text) {
            trace.push_str("\nCaused by: ");
            trace.push_str(&text);
        }
        cause = c.source();
    }
    walcast_connect_api::ConnectorError { message, trace }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = SourceError::Pg(PgError::io("reading the replication stream", io));
        let c = connector_error(&e);
        assert_eq!(c.message, "reading the replication stream: reset by peer");
        assert_eq!(c.trace, c.message, "{}", c.trace);
        assert_eq!(c.trace.matches("reset by peer").count(), 1);
    }
}
