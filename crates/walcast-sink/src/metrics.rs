//! The sink runtime's metrics, named once. All carry a `connector` label; partition gauges also
//! `topic` and `partition`. Exported by the worker's `/metrics` endpoint.

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use walcast_connect_api::TopicPartition;

pub mod name {
    /// Records fetched from Kafka.
    pub const RECORDS_READ: &str = "walcast_sink_records_read_total";
    /// Records stored in the destination (deletes included).
    pub const RECORDS_WRITTEN: &str = "walcast_sink_records_written_total";
    /// Stored records that were deletes (tombstones or Debezium `op=d` envelopes).
    pub const RECORDS_DELETED: &str = "walcast_sink_records_deleted_total";
    /// Records dropped by a transform or predicate, or failed and tolerated without a dead
    /// letter queue.
    pub const RECORDS_SKIPPED: &str = "walcast_sink_records_skipped_total";
    /// Records produced to the dead letter queue.
    pub const RECORDS_DEAD_LETTERED: &str = "walcast_sink_records_dead_lettered_total";
    /// Retries of writes, lookups and fetches after transient failures.
    pub const RETRIES: &str = "walcast_sink_retries_total";
    /// Next offset stored in the destination, per partition.
    pub const POSITION: &str = "walcast_sink_partition_position";
    /// High watermark minus stored position, per partition.
    pub const LAG: &str = "walcast_sink_partition_lag";
    /// Records per write (batch size after transforms).
    pub const BATCH_SIZE: &str = "walcast_sink_batch_records";
    /// Seconds one write (one destination transaction) took, retries excluded.
    pub const WRITE_SECONDS: &str = "walcast_sink_write_seconds";
    /// Seconds from the source commit (`source.ts_ms` or `__source_ts_ms`) to the destination
    /// commit, per record that carries it.
    pub const END_TO_END_SECONDS: &str = "walcast_sink_end_to_end_seconds";
}

/// Handles for one task, registered once.
#[derive(Clone)]
pub(crate) struct TaskMetrics {
    connector: String,
    pub read: Counter,
    pub written: Counter,
    pub deleted: Counter,
    pub skipped: Counter,
    pub dead_lettered: Counter,
    pub retries: Counter,
    pub batch_size: Histogram,
    pub write_seconds: Histogram,
    pub end_to_end: Histogram,
}

impl TaskMetrics {
    pub(crate) fn new(connector: &str) -> Self {
        let c = connector.to_owned();
        Self {
            read: counter!(name::RECORDS_READ, "connector" => c.clone()),
            written: counter!(name::RECORDS_WRITTEN, "connector" => c.clone()),
            deleted: counter!(name::RECORDS_DELETED, "connector" => c.clone()),
            skipped: counter!(name::RECORDS_SKIPPED, "connector" => c.clone()),
            dead_lettered: counter!(name::RECORDS_DEAD_LETTERED, "connector" => c.clone()),
            retries: counter!(name::RETRIES, "connector" => c.clone()),
            batch_size: histogram!(name::BATCH_SIZE, "connector" => c.clone()),
            write_seconds: histogram!(name::WRITE_SECONDS, "connector" => c.clone()),
            end_to_end: histogram!(name::END_TO_END_SECONDS, "connector" => c.clone()),
            connector: c,
        }
    }

    pub(crate) fn partition(&self, tp: &TopicPartition) -> PartitionMetrics {
        let labels = [
            ("connector", self.connector.clone()),
            ("topic", tp.topic.clone()),
            ("partition", tp.partition.to_string()),
        ];
        PartitionMetrics {
            position: gauge!(name::POSITION, &labels),
            lag: gauge!(name::LAG, &labels),
        }
    }
}

/// Gauges of one partition.
#[derive(Clone)]
pub(crate) struct PartitionMetrics {
    pub position: Gauge,
    pub lag: Gauge,
}
