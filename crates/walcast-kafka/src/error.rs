//! Errors of the Kafka layer, each with the topic/partition it concerns and a classification.
//!
//! The connector supervisor retries [`KafkaError::is_transient`] errors with backoff and marks the
//! connector FAILED with the message on the others, so every fatal message says what to do.
//! All rskafka errors go through [`classify`], the one place that decides what is retryable.

use std::sync::Arc;

use rskafka::client::error::{Error as RsError, ProtocolError, RequestError};

/// The Kafka client's own error under a [`KafkaError`]: its message and cause chain, without
/// exposing the client library's types.
#[derive(Debug, Clone)]
pub struct BrokerError(pub(crate) Arc<RsError>);

impl std::fmt::Display for BrokerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BrokerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// How an rskafka error should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Retry after a backoff: connection problems, leader elections, timeouts, too few in-sync
    /// replicas. Retrying cannot lose or reorder records because a partition's batches are only
    /// retried in order.
    Transient,
    /// The topic or partition does not exist (yet, or any more: a broker that lost its data).
    /// Retryable after (re-)creating the topic.
    UnknownTopic,
    /// The broker rejected the batch as too large; retryable only by splitting it.
    TooLarge,
    /// Retrying cannot help: authorization, invalid topic name, unsupported options.
    Fatal,
}

/// Classifies an rskafka error (see [`ErrorClass`]). Mirrors the Java client's
/// `RetriableException` hierarchy for broker error codes.
pub(crate) fn classify(e: &RsError) -> ErrorClass {
    match e {
        RsError::Connection(c) => match c {
            rskafka::ConnectionError::SaslFailed(_) | rskafka::ConnectionError::SyncVersions(_) => {
                ErrorClass::Fatal
            }
            _ => ErrorClass::Transient,
        },
        RsError::Request(RequestError::IO(_) | RequestError::Poisoned(_)) => ErrorClass::Transient,
        // rskafka gave up retrying something it considered retryable, or a response did not
        // match the request (for instance a partition missing from metadata while a topic is
        // being re-created): both clear up by themselves or show up again in the logs.
        RsError::RetryFailed(_) | RsError::Timeout | RsError::InvalidResponse(_) => {
            ErrorClass::Transient
        }
        RsError::ServerError { protocol_error, .. } => classify_protocol(protocol_error),
        _ => ErrorClass::Fatal,
    }
}

/// Classifies a broker error code.
pub(crate) fn classify_protocol(e: &ProtocolError) -> ErrorClass {
    use ProtocolError as P;
    match e {
        P::UnknownTopicOrPartition | P::UnknownTopicId => ErrorClass::UnknownTopic,
        P::MessageTooLarge | P::RecordListTooLarge => ErrorClass::TooLarge,
        P::CorruptMessage
        | P::LeaderNotAvailable
        | P::NotLeaderOrFollower
        | P::RequestTimedOut
        | P::BrokerNotAvailable
        | P::ReplicaNotAvailable
        | P::NetworkException
        | P::CoordinatorLoadInProgress
        | P::CoordinatorNotAvailable
        | P::NotCoordinator
        | P::NotEnoughReplicas
        | P::NotEnoughReplicasAfterAppend
        | P::NotController
        | P::KafkaStorageError
        | P::FencedLeaderEpoch
        | P::UnknownLeaderEpoch
        | P::OffsetNotAvailable
        | P::PreferredLeaderNotAvailable
        | P::EligibleLeadersNotAvailable
        | P::ReassignmentInProgress
        | P::ThrottlingQuotaExceeded
        | P::ConcurrentTransactions => ErrorClass::Transient,
        _ => ErrorClass::Fatal,
    }
}

/// The protocol error code inside an rskafka error, if the broker sent one.
pub(crate) fn protocol_error(e: &RsError) -> Option<&ProtocolError> {
    match e {
        RsError::ServerError { protocol_error, .. } => Some(protocol_error),
        _ => None,
    }
}

/// An error of the Kafka layer. Cloneable (sources are shared) so that a producer that failed
/// returns the same error from every later call.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// No broker of `bootstrap.servers` answered (or answered in time).
    #[error(
        "cannot reach kafka at {servers} (is the broker up and bootstrap.servers right?): {source}"
    )]
    Connect {
        servers: String,
        #[source]
        source: BrokerError,
    },

    /// Connecting timed out.
    #[error("connecting to kafka at {servers} timed out after {timeout_ms} ms")]
    ConnectTimeout { servers: String, timeout_ms: u64 },

    /// Listing or creating a topic failed.
    #[error("{action} topic {topic:?} failed{hint}: {source}")]
    Admin {
        action: &'static str,
        topic: String,
        /// What the user can do about it, starting with ", " (empty when unknown).
        hint: &'static str,
        class: ErrorClass,
        #[source]
        source: BrokerError,
    },

    /// A topic does not exist and topic creation is disabled.
    #[error(
        "topic {topic:?} does not exist and topic creation is disabled: create it, or enable topic creation"
    )]
    TopicMissing { topic: String },

    /// A topic now has fewer partitions than records were already assigned to.
    #[error(
        "topic {topic:?} has {now} partitions but had {before}: records already assigned to the missing partitions cannot be delivered; re-create the topic with {before} partitions"
    )]
    PartitionsShrank {
        topic: String,
        before: i32,
        now: i32,
    },

    /// The broker rejected a produce request for good.
    #[error("producing to {topic}-{partition} failed{hint}: {source}")]
    Produce {
        topic: String,
        partition: i32,
        hint: &'static str,
        #[source]
        source: BrokerError,
    },

    /// A single record is larger than the broker accepts.
    #[error(
        "a record of {bytes} bytes for {topic}-{partition} was rejected as too large: raise the topic's max.message.bytes (broker message.max.bytes), or exclude the column(s) that make the row so large"
    )]
    RecordTooLarge {
        topic: String,
        partition: i32,
        bytes: usize,
    },

    /// Fetching from a partition failed.
    #[error("fetching {topic}-{partition} at offset {offset} failed: {source}")]
    Fetch {
        topic: String,
        partition: i32,
        offset: i64,
        class: ErrorClass,
        #[source]
        source: BrokerError,
    },

    /// A read position is outside the partition's log (for instance the broker lost its data, or
    /// retention removed the records).
    #[error(
        "offset {offset} is out of range for {topic}-{partition} (log ends at {high_watermark}): the stored position does not match the broker's log; reset the sink's offsets if the topic was re-created"
    )]
    OffsetOutOfRange {
        topic: String,
        partition: i32,
        offset: i64,
        high_watermark: i64,
    },

    /// A request took longer than `request_timeout`.
    #[error("{what} on {topic} timed out after {timeout_ms} ms")]
    Timeout {
        what: &'static str,
        topic: String,
        timeout_ms: u64,
    },

    /// A batch could not be delivered within `delivery.timeout.ms` or `retries` attempts. The
    /// producer stops; the source restarts from the last confirmed position, so nothing is lost.
    #[error(
        "giving up on a batch for {topic} partition {partition} after {attempts} attempts over {elapsed_ms} ms ({limit}); last error: {last_error}"
    )]
    DeliveryTimeout {
        topic: String,
        partition: i32,
        attempts: u32,
        elapsed_ms: u64,
        /// Which setting gave up, e.g. `delivery.timeout.ms=120000`.
        limit: String,
        last_error: String,
    },

    /// The caller passed a token smaller than an earlier one; the acknowledgement watermark would
    /// be meaningless, so this is a bug in the caller.
    #[error(
        "token {token} is smaller than the previous token {previous}: tokens must not decrease"
    )]
    TokenWentBackwards { token: u64, previous: u64 },

    /// A configuration value is invalid.
    #[error("invalid kafka producer setting {name}: {message}")]
    Config { name: &'static str, message: String },

    /// The producer's background task is gone (it failed earlier, or panicked).
    #[error("the kafka producer stopped: {reason}")]
    Closed { reason: String },
}

impl KafkaError {
    /// Whether retrying the operation (or re-creating the producer/reader) can succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::ConnectTimeout { .. }
            | Self::Timeout { .. }
            | Self::DeliveryTimeout { .. } => true,
            Self::Admin { class, .. } | Self::Fetch { class, .. } => {
                matches!(class, ErrorClass::Transient | ErrorClass::UnknownTopic)
            }
            _ => false,
        }
    }

    pub(crate) fn admin(action: &'static str, topic: &str, e: RsError) -> Self {
        let class = classify(&e);
        let hint = match protocol_error(&e) {
            Some(ProtocolError::InvalidReplicationFactor) => {
                ", the replication factor is larger than the number of brokers: lower topic.creation.default.replication.factor"
            }
            Some(ProtocolError::InvalidPartitions) => {
                ", lower topic.creation.default.partitions to a positive value the broker accepts"
            }
            Some(ProtocolError::InvalidTopicException) => {
                ", the topic name is not valid for kafka: change topic.prefix or the table name mapping"
            }
            Some(
                ProtocolError::TopicAuthorizationFailed | ProtocolError::ClusterAuthorizationFailed,
            ) => ", the client is not authorized: grant CREATE/DESCRIBE on the topic, or create it beforehand",
            Some(ProtocolError::PolicyViolation) => {
                ", the broker's create-topic policy refused it: create the topic by hand"
            }
            _ => "",
        };
        Self::Admin {
            action,
            topic: topic.to_owned(),
            hint,
            class,
            source: BrokerError(Arc::new(e)),
        }
    }

    pub(crate) fn produce(topic: &str, partition: i32, e: RsError) -> Self {
        let hint = match protocol_error(&e) {
            Some(
                ProtocolError::TopicAuthorizationFailed | ProtocolError::ClusterAuthorizationFailed,
            ) => ", the client is not authorized to write: grant WRITE on the topic",
            Some(ProtocolError::InvalidTopicException) => {
                ", the topic name is not valid for kafka: change topic.prefix or the table name mapping"
            }
            Some(ProtocolError::UnsupportedCompressionType) => {
                ", the broker does not support this compression.type: choose another"
            }
            Some(ProtocolError::InvalidRecord | ProtocolError::InvalidTimestamp) => {
                ", the broker rejected the record (check the topic's message.timestamp.* settings)"
            }
            Some(ProtocolError::UnknownTopicOrPartition) => {
                ", the topic does not exist: create it, or enable topic creation"
            }
            _ => "",
        };
        Self::Produce {
            topic: topic.to_owned(),
            partition,
            hint,
            source: BrokerError(Arc::new(e)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn broker_codes_are_classified_like_the_java_client() {
        assert_eq!(
            classify_protocol(&ProtocolError::NotEnoughReplicas),
            ErrorClass::Transient
        );
        assert_eq!(
            classify_protocol(&ProtocolError::LeaderNotAvailable),
            ErrorClass::Transient
        );
        assert_eq!(
            classify_protocol(&ProtocolError::RequestTimedOut),
            ErrorClass::Transient
        );
        assert_eq!(
            classify_protocol(&ProtocolError::UnknownTopicOrPartition),
            ErrorClass::UnknownTopic
        );
        assert_eq!(
            classify_protocol(&ProtocolError::MessageTooLarge),
            ErrorClass::TooLarge
        );
        assert_eq!(
            classify_protocol(&ProtocolError::TopicAuthorizationFailed),
            ErrorClass::Fatal
        );
        assert_eq!(
            classify_protocol(&ProtocolError::InvalidTopicException),
            ErrorClass::Fatal
        );
    }

    #[test]
    fn connection_loss_is_transient() {
        let e = RsError::Request(RequestError::IO(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(classify(&e), ErrorClass::Transient);
        assert_eq!(classify(&RsError::Timeout), ErrorClass::Transient);
    }
}
