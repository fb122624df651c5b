//! The destination side of a sink connector, Connect's `SinkTask` reshaped for exactly-once:
//! the sink runtime (`walcast-sink`) consumes Kafka partitions, converts and transforms records,
//! and hands each batch to a [`SinkWriter`] *together with the partition positions the batch
//! reaches*. The writer stores both in one atomic unit (one PostgreSQL transaction, one Redis
//! MULTI/EXEC), and reads the positions back at start. That is why a walcast sink needs no
//! consumer group and applies every record exactly once across crashes.

use futures::future::BoxFuture;

use crate::record::ConnectRecord;

/// A topic-partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// The next offset to read for one topic-partition, as stored in the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub tp: TopicPartition,
    pub next_offset: i64,
}

/// What kind of failure a write hit, which decides what the runtime does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkErrorKind {
    /// The destination is unreachable or asked to retry (connection lost, serialization
    /// failure, lock timeout): nothing was stored; retry the same batch with backoff.
    Transient,
    /// One or more records cannot be written (constraint violation, type error, missing key
    /// field): nothing was stored; the runtime retries record by record to find the bad ones
    /// and sends them to the dead letter queue or fails, per `errors.tolerance`.
    Data,
    /// Configuration or destination state that retrying cannot fix: the task fails.
    Fatal,
}

/// A write failure. The message names the table/key/column and what to do; it never contains
/// row values or secrets.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    pub kind: SinkErrorKind,
    pub message: String,
}

impl SinkError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            kind: SinkErrorKind::Transient,
            message: message.into(),
        }
    }

    pub fn data(message: impl Into<String>) -> Self {
        Self {
            kind: SinkErrorKind::Data,
            message: message.into(),
        }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            kind: SinkErrorKind::Fatal,
            message: message.into(),
        }
    }
}

/// A destination that stores records and positions atomically.
pub trait SinkWriter: Send {
    /// Prepare the destination (connect, create the offsets table...) and return every
    /// position stored for `connector`. Called at start and after a transient failure.
    fn open<'a>(
        &'a mut self,
        connector: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Position>, SinkError>>;

    /// Store `records` (in order; several partitions may be mixed) and `positions` (the next
    /// offset of every partition the batch covers, possibly with no record for it, e.g. when
    /// every record of a partition was filtered out) in one atomic unit. Either everything is
    /// stored or nothing is.
    fn write<'a>(
        &'a mut self,
        connector: &'a str,
        records: &'a [ConnectRecord],
        positions: &'a [Position],
    ) -> BoxFuture<'a, Result<(), SinkError>>;
}
