//! The producer's settings, named after the Kafka/Connect properties they stand for, and
//! their validation.

use std::str::FromStr;
use std::time::Duration;

use crate::admin::KafkaSecurity;
use crate::error::KafkaError;

/// Record batch compression, named like Kafka's `compression.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl FromStr for Compression {
    type Err = KafkaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Ok(Self::None),
            "gzip" => Ok(Self::Gzip),
            "snappy" => Ok(Self::Snappy),
            "lz4" => Ok(Self::Lz4),
            "zstd" => Ok(Self::Zstd),
            other => Err(KafkaError::Config {
                name: "compression.type",
                message: format!("{other:?} is not one of none, gzip, snappy, lz4, zstd"),
            }),
        }
    }
}

impl Compression {
    /// rskafka's name for it.
    pub(super) fn to_rskafka(self) -> rskafka::client::partition::Compression {
        use rskafka::client::partition::Compression as R;
        match self {
            Compression::None => R::NoCompression,
            Compression::Gzip => R::Gzip,
            Compression::Snappy => R::Snappy,
            Compression::Lz4 => R::Lz4,
            Compression::Zstd => R::Zstd,
        }
    }
}

/// Producer settings; the names in parentheses are the Kafka/Connect properties they stand for.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Brokers to bootstrap from, `host:port` each (`bootstrap.servers`).
    pub bootstrap_servers: Vec<String>,
    /// Sent to the broker with every request, for its logs and quotas (`client.id`).
    pub client_id: String,
    /// Label of the producer's metrics, so several connectors in one worker are told apart.
    pub connector: String,
    /// Compression of record batches (`compression.type`).
    pub compression: Compression,
    /// How long a batch waits for more records before it is sent (`linger.ms`). Batches are also
    /// sent when full, and while a partition's request is in flight the next batch keeps filling.
    pub linger: Duration,
    /// Largest batch, as an upper estimate of its encoded, uncompressed size; a batch is sent as
    /// soon as the next record would not fit (`batch.size`, but the default is the broker's
    /// default `message.max.bytes` rather than 16 KiB, because one request per batch and one
    /// in-flight request per partition need large batches to be fast). A record larger than this
    /// is sent in a batch of its own.
    pub batch_max_bytes: usize,
    /// Bytes of records handed to `send` and not yet acknowledged; `send` waits when a record
    /// would exceed it (`buffer.memory`, but blocking instead of failing after `max.block.ms`).
    /// While a batch is on the wire rskafka holds an encoded copy of it too, so peak memory is up
    /// to about twice this.
    pub max_buffered_bytes: usize,
    /// Produce requests per partition awaiting their response
    /// (`max.in.flight.requests.per.connection`). 1 by default, as Kafka Connect forces for
    /// source tasks: rskafka has no idempotent producer, and with more than one a failed batch
    /// is retried after later ones were written — they are then written again after it, so the
    /// last copy of every record is in order, but a consumer reading meanwhile sees an older
    /// version after a newer one. See the module docs.
    pub max_in_flight_per_partition: usize,
    /// Give up on a batch that has not been delivered this long after it was opened
    /// (`delivery.timeout.ms`); `None` retries until the producer is dropped, like Connect's
    /// source producers (`Integer.MAX_VALUE`). Giving up stops the producer with a transient
    /// error, so the source restarts from its last confirmed position.
    pub delivery_timeout: Option<Duration>,
    /// Give up on a batch after this many failed attempts (`retries`); `None` is unlimited.
    pub retries: Option<u32>,
    /// Longest wait for one request's response before it is retried (`request.timeout.ms`).
    pub request_timeout: Duration,
    /// Create missing topics with the settings below (`topic.creation.enable`).
    pub create_topics: bool,
    /// Partitions of topics this producer creates (`topic.creation.default.partitions`).
    pub topic_partitions: i32,
    /// Replicas of topics this producer creates
    /// (`topic.creation.default.replication.factor`).
    pub topic_replication_factor: i16,
    /// First wait before retrying a failed request (`retry.backoff.ms`); doubles per attempt.
    pub retry_backoff: Duration,
    /// Longest wait between retries (`retry.backoff.max.ms`).
    pub retry_backoff_max: Duration,
    /// TLS and SASL for the broker connections (`security.protocol`, `ssl.*`, `sasl.*`).
    pub security: KafkaSecurity,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: Vec::new(),
            client_id: "walcast".into(),
            connector: String::new(),
            compression: Compression::None,
            linger: Duration::from_millis(5),
            batch_max_bytes: 1024 * 1024,
            max_buffered_bytes: 64 * 1024 * 1024,
            max_in_flight_per_partition: 1,
            delivery_timeout: None,
            retries: None,
            request_timeout: Duration::from_secs(30),
            create_topics: true,
            topic_partitions: 1,
            topic_replication_factor: 1,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            security: KafkaSecurity::default(),
        }
    }
}

impl ProducerConfig {
    /// Defaults with the given `bootstrap.servers` (comma-separated `host:port` list).
    pub fn new(bootstrap_servers: &str) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            ..Self::default()
        }
    }

    pub(super) fn validate(&self) -> Result<(), KafkaError> {
        let bad = |name, message: &str| {
            Err(KafkaError::Config {
                name,
                message: message.to_owned(),
            })
        };
        if self.bootstrap_servers.is_empty() {
            return bad("bootstrap.servers", "no broker address given");
        }
        if self.batch_max_bytes < 1024 {
            return bad("batch.size", "must be at least 1024 bytes");
        }
        if self.max_buffered_bytes < self.batch_max_bytes {
            return bad("buffer.memory", "must be at least batch.size");
        }
        if self.max_in_flight_per_partition == 0 {
            return bad(
                "max.in.flight.requests.per.connection",
                "must be at least 1",
            );
        }
        if self.topic_partitions < 1 {
            return bad("topic.creation.default.partitions", "must be at least 1");
        }
        if self.topic_replication_factor < 1 {
            return bad(
                "topic.creation.default.replication.factor",
                "must be at least 1",
            );
        }
        if self.request_timeout.is_zero() {
            return bad("request.timeout.ms", "must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn compression_names_follow_kafka() {
        assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
        assert_eq!("GZIP".parse::<Compression>().unwrap(), Compression::Gzip);
        assert_eq!(
            "snappy".parse::<Compression>().unwrap(),
            Compression::Snappy
        );
        assert_eq!("lz4".parse::<Compression>().unwrap(), Compression::Lz4);
        assert_eq!("zstd".parse::<Compression>().unwrap(), Compression::Zstd);
        assert!("brotli".parse::<Compression>().is_err());
    }

    #[test]
    fn config_is_validated() {
        assert!(ProducerConfig::default().validate().is_err());
        let cfg = ProducerConfig::new("a:9092, b:9092");
        assert_eq!(cfg.bootstrap_servers, vec!["a:9092", "b:9092"]);
        cfg.validate().unwrap();
        let bad = ProducerConfig {
            max_buffered_bytes: 10,
            ..cfg.clone()
        };
        assert!(bad.validate().is_err());
    }
}
