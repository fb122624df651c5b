//! The sink task runtime every walcast sink connector runs on (Connect's `WorkerSinkTask`,
//! reshaped for exactly-once): it reads Kafka partitions, converts records with the
//! JsonConverter, runs the connector's transform chain, and hands batches to the connector's
//! [`SinkWriter`] together with the positions they reach; the writer stores both atomically.
//!
//! ```text
//! Kafka ──fetch (per partition, pipelined, bounded)──▶ ConsumedRecord
//!   ──walcast_json::read──▶ ConnectRecord ──TransformChain──▶ batch (≤ batch.size)
//!   ──write stage: SinkWriter::write(records, positions)──▶ destination {rows + positions, one transaction}
//! ```
//!
//! Fetching, converting, transforming and writing run at once (see `task.rs`): the destination
//! stores one batch while the next is transformed and later ones are fetched and converted.
//! When the chain starts with a plain `ExtractNewRecordState`, Debezium envelopes are converted
//! with only `before`, `after` and `op` built (the other fields are parsed but read as nulls:
//! nothing after the unwrap can see them).
//!
//! - No consumer group and no offset commits: positions come from [`SinkWriter::open`]; a
//!   partition without one starts at the earliest offset (`consumer.override.auto.offset.reset`).
//! - `topics` or `topics.regex`; topics and partitions that appear later are picked up every
//!   `consumer.override.metadata.max.age.ms` (walcast default 5 s).
//! - Errors (`errors.*`, [`SINK_KEYS`]): records that fail conversion, a transform, or the write
//!   (the writer's [`SinkErrorKind::Data`](walcast_connect_api::SinkErrorKind::Data), found by
//!   retrying the batch record by record) go to the dead letter queue or fail the task; transient
//!   failures are retried with exponential backoff, without limit by default
//!   (`errors.retry.timeout=-1`, where Connect defaults to 0), so a destination restart never
//!   fails the connector.
//! - Metrics: see [`metrics::name`]. Tracing: one `sink{connector}` span for the task and one
//!   `sink{connector, topic, partition}` span per partition's fetch task.
//!
//! Connector plugins use it like this: `config_keys()` = [`SINK_KEYS`] + their own keys,
//! `validate()` = [`validate`] + their own checks, `run(ctx)` = build the writer, then
//! [`run`]`(ctx, writer, options)`.

mod batch;
mod config;
mod convert;
mod errors;
mod fetch;
pub mod metrics;
mod retry;
mod task;
mod write;

use std::time::Duration;

use tracing::Instrument;
use walcast_connect_api::{ConnectorError, SinkWriter, TaskContext};

pub use config::{validate, SINK_KEYS};

/// Connector-specific settings of the runtime.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Most records per write (the connector's `batch.size`).
    pub batch_size: usize,
    /// The connector's `max.retries` when it has one: a write failing transiently this many
    /// times in a row fails the task. `None`: only `errors.retry.timeout` limits retries.
    pub max_retries: Option<u32>,
    /// The connector's `retry.backoff.ms`: the first wait before retrying a transient failure
    /// (doubling up to `errors.retry.delay.max.ms`). Zero means the default, 300 ms.
    pub retry_backoff: Duration,
}

impl SinkOptions {
    /// Options with `batch_size` and the default retry behaviour.
    pub fn new(batch_size: usize) -> Self {
        Self {
            batch_size,
            max_retries: None,
            retry_backoff: Duration::ZERO,
        }
    }

    fn retry_backoff_or(&self, default: Duration) -> Duration {
        if self.retry_backoff.is_zero() {
            default
        } else {
            self.retry_backoff
        }
    }
}

/// Runs one sink task until `ctx.shutdown` fires (then `Ok`, after finishing the write in
/// progress) or a fatal error (`Err`, which puts the connector in FAILED with the message).
pub async fn run(
    ctx: TaskContext,
    writer: Box<dyn SinkWriter>,
    options: SinkOptions,
) -> Result<(), ConnectorError> {
    let span = tracing::info_span!("sink", connector = %ctx.name);
    task::run(ctx, writer, options).instrument(span).await
}
