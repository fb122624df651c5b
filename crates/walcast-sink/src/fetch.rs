//! Two tasks per topic-partition: the fetch task reads the partition in offset order from the
//! position the destination stored and hands each response to the convert task, which runs the
//! JsonConverter and hands the records ([`Chunk`]s) to the task loop; both hand over through
//! channels of one, so the next fetch is on the wire while one is converted and another is
//! written, and a partition holds at most three fetches beyond what the task loop took.
//!
//! Memory: every fetch first reserves `max.partition.fetch.bytes` from the task's byte budget
//! (`fetch.max.bytes`) and keeps what the response actually holds until the task loop has taken
//! all its records, so fetched-but-unwritten data stays within the budget (a single record batch
//! larger than a fetch, which the broker returns whole, counts as one fetch's worth). The broker
//! counts compressed bytes, but records are held decompressed (zstd shrinks Debezium JSON ten
//! times and more), so the size asked for adapts: when a response decompresses to more than
//! `max.partition.fetch.bytes`, the next fetch asks for proportionally less, which keeps what a
//! partition holds near its budget whatever the compression; it asks for more again only when a
//! response held less than half of that although the log had more (a response that emptied the
//! log was small for want of records: growing on those let a later backlog come back ten times
//! the budget at once, peaks of 20 MB per fetch in a WAL → results run). A response that is
//! still larger (the broker returns whole batches, and some brokers answer far beyond the size
//! asked for) is converted and handed over in pieces of about `max.partition.fetch.bytes`, and
//! the next fetch waits until its last piece is taken: converted records stay within two pieces,
//! and only the decompressed response itself can exceed the budget.
//!
//! Failures: transient Kafka errors are retried with backoff up to `errors.retry.timeout`; a
//! position outside the log (retention overtook it, or the topic was re-created) moves to the
//! log start or end per `auto.offset.reset`, with a warning; anything else ends the task.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use walcast_connect_api::{ConnectRecord, ConnectorError, TopicPartition};
use walcast_kafka::{Client, ConsumedRecord, KafkaError, PartitionReader};

use crate::convert::convert;
use crate::errors::Failure;
use crate::retry::{ms, Backoff};

/// One fetched record, already through the JsonConverter (conversion runs here, in the
/// partition's fetch task, so it overlaps with the task loop's transforms and writes and uses a
/// second core). The raw record stays for the dead letter queue, which wants the original bytes.
pub(crate) struct Fetched {
    pub raw: ConsumedRecord,
    pub converted: Result<ConnectRecord, Failure>,
}

/// Records of one fetch response, with the bytes they hold reserved in the task's budget until
/// the chunk is dropped.
pub(crate) struct Chunk {
    pub records: VecDeque<Fetched>,
    /// The partition's high watermark when the fetch was answered.
    pub high_watermark: i64,
    _budget: BudgetGuard,
}

/// Returns reserved bytes to the budget when dropped.
struct BudgetGuard {
    budget: Arc<Semaphore>,
    bytes: u32,
}

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        self.budget.add_permits(self.bytes as usize);
    }
}

/// What a fetch task reports.
pub(crate) enum FetchEvent {
    Records(Chunk),
    /// The partition cannot be read any more; the task fails with this.
    Failed(ConnectorError),
}

/// Where a partition without a usable position starts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Start {
    At(i64),
    Earliest,
    Latest,
}

/// Fetch settings shared by a task's partitions.
#[derive(Clone)]
pub(crate) struct FetchSettings {
    pub connector: String,
    pub max_partition_fetch_bytes: usize,
    pub fetch_max_wait: Duration,
    /// `auto.offset.reset=latest`.
    pub reset_latest: bool,
    pub retry_delay_max: Duration,
    pub retry_timeout: Option<Duration>,
    pub budget: Arc<Semaphore>,
    /// The budget's size (`fetch.max.bytes`), so one reservation never exceeds it.
    pub budget_bytes: usize,
    pub retries: metrics::Counter,
    /// JsonConverter `schemas.enable` for keys and values.
    pub key_schemas_enable: bool,
    pub value_schemas_enable: bool,
    /// The only fields of Debezium envelope values the transform chain reads, if it says so
    /// ([`walcast_transforms::TransformChain::envelope_projection`]).
    pub value_fields: Option<&'static [&'static str]>,
}

/// Starts the fetch task of `tp`; it stops when `cancel` fires or the receiver is dropped.
pub(crate) fn spawn(
    client: Arc<Client>,
    tp: TopicPartition,
    start: Start,
    settings: FetchSettings,
    cancel: CancellationToken,
) -> mpsc::Receiver<FetchEvent> {
    let (tx, rx) = mpsc::channel(1);
    // Responses go to a second task that converts them, so the next fetch is on the wire while
    // this one is converted (and each can run on its own core).
    let (raw_tx, raw_rx) = mpsc::channel(1);
    let span = tracing::info_span!("sink", connector = %settings.connector, topic = %tp.topic, partition = tp.partition);
    let fetch_cancel = cancel.clone();
    let fetch_settings = settings.clone();
    let topic = tp.topic.clone();
    tokio::spawn(
        async move {
            tokio::select! {
                _ = fetch_cancel.cancelled() => {}
                failure = fetch_loop(&client, &tp, start, &fetch_settings, &raw_tx) => {
                    if let Err(e) = failure {
                        let _ = raw_tx.send(Err(e)).await;
                    }
                }
            }
        }
        .instrument(span.clone()),
    );
    tokio::spawn(
        async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = convert_loop(&topic, &settings, raw_rx, &tx) => {}
            }
        }
        .instrument(span),
    );
    rx
}

/// One fetch response, with the budget it holds.
struct Response {
    records: Vec<ConsumedRecord>,
    high_watermark: i64,
    guard: BudgetGuard,
}

/// Converts responses and hands them to the task loop. A response can decompress to far more
/// than was asked for (a broker returns whole record batches): it is converted and handed over
/// in pieces of about `max.partition.fetch.bytes`, each waiting for the task loop to take the
/// one before, so converted records never pile up beyond two pieces.
async fn convert_loop(
    topic: &str,
    s: &FetchSettings,
    mut raw: mpsc::Receiver<Result<Response, ConnectorError>>,
    tx: &mpsc::Sender<FetchEvent>,
) {
    let bytes = s.max_partition_fetch_bytes.clamp(1024, i32::MAX as usize);
    while let Some(response) = raw.recv().await {
        let Response {
            records,
            high_watermark,
            guard,
        } = match response {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(FetchEvent::Failed(e)).await;
                return;
            }
        };
        let mut records = records.into_iter();
        let mut guard = Some(guard);
        while !records.as_slice().is_empty() {
            // The records of this piece, counted first so its buffer is allocated once.
            let mut n = 0;
            let mut piece_bytes = 0;
            for raw in records.as_slice() {
                if piece_bytes >= bytes {
                    break;
                }
                piece_bytes += raw.size();
                n += 1;
            }
            let mut piece = VecDeque::with_capacity(n);
            for raw in records.by_ref().take(n) {
                piece.push_back(Fetched {
                    converted: convert(
                        topic,
                        &raw,
                        s.key_schemas_enable,
                        s.value_schemas_enable,
                        s.value_fields,
                    ),
                    raw,
                });
            }
            let chunk = Chunk {
                records: piece,
                high_watermark,
                _budget: guard.take().unwrap_or_else(|| BudgetGuard {
                    budget: s.budget.clone(),
                    bytes: 0,
                }),
            };
            if tx.send(FetchEvent::Records(chunk)).await.is_err() {
                return;
            }
        }
    }
}

/// Reads the partition until the receiver goes away (`Ok`) or a fatal error (`Err`).
async fn fetch_loop(
    client: &Client,
    tp: &TopicPartition,
    start: Start,
    s: &FetchSettings,
    tx: &mpsc::Sender<Result<Response, ConnectorError>>,
) -> Result<(), ConnectorError> {
    let mut backoff = new_backoff(s);
    let mut reader = loop {
        match PartitionReader::new(client, &tp.topic, tp.partition, 0).await {
            Ok(r) => break r,
            Err(e) => {
                wait_or_fail(&mut backoff, s, tp, "connecting to the partition leader", e).await?
            }
        }
    };
    let bytes = s.max_partition_fetch_bytes.clamp(1024, i32::MAX as usize);
    // What the next fetch asks the broker for, in its (compressed) bytes. It starts small: until
    // a response has been seen nothing is known about the compression ratio, and one compressed
    // megabyte of Debezium JSON can hold over a hundred megabytes of records.
    let mut request = MIN_REQUEST.min(bytes);
    reader = reader.with_max_bytes(i32::try_from(request).unwrap_or(i32::MAX));
    let mut backoff = new_backoff(s);
    // Earliest starts at 0: a log whose start moved on answers OffsetOutOfRange, handled below
    // by moving to the log start, which saves a ListOffsets round trip on every fresh start.
    let first = loop {
        match start {
            Start::At(o) => break o,
            Start::Earliest => break 0,
            // The log end is the high watermark of a fetch (tansu's ListOffsets `latest` is
            // not); a zero wait makes tansu answer without the partition, so use the usual one.
            Start::Latest => match reader.next_batch(s.fetch_max_wait).await {
                Ok((_, hw)) => break hw,
                Err(KafkaError::OffsetOutOfRange { high_watermark, .. }) if high_watermark >= 0 => {
                    break high_watermark
                }
                Err(e) => {
                    wait_or_fail(&mut backoff, s, tp, "looking up the latest offset", e).await?
                }
            },
        }
    };
    reader.seek(first);
    tracing::debug!(offset = reader.position(), "reading partition");
    let reserve = u32::try_from(bytes.min(s.budget_bytes).max(1)).unwrap_or(u32::MAX);
    loop {
        let permit = match s.budget.acquire_many(reserve).await {
            Ok(p) => p,
            Err(_) => return Ok(()),
        };
        permit.forget();
        let mut guard = BudgetGuard {
            budget: s.budget.clone(),
            bytes: reserve,
        };
        match reader.next_batch(s.fetch_max_wait).await {
            Ok((records, high_watermark)) => {
                backoff = new_backoff(s);
                if records.is_empty() {
                    continue;
                }
                let held: usize = records.iter().map(ConsumedRecord::size).sum();
                tracing::trace!(records = records.len(), held, asked = request, "fetched");
                // A response that reached the end of the log says nothing about how much the
                // size asked for would bring when there is a backlog.
                let at_end = records
                    .last()
                    .is_some_and(|r| r.offset.saturating_add(1) >= high_watermark);
                let next = next_request(request, bytes, held, at_end);
                if next != request {
                    request = next;
                    reader = reader.with_max_bytes(i32::try_from(request).unwrap_or(i32::MAX));
                }
                let held = u32::try_from(held).unwrap_or(u32::MAX).min(reserve);
                s.budget.add_permits((reserve - held) as usize);
                guard.bytes = held;
                let response = Response {
                    records,
                    high_watermark,
                    guard,
                };
                if tx.send(Ok(response)).await.is_err() {
                    return Ok(());
                }
            }
            Err(KafkaError::OffsetOutOfRange {
                offset,
                high_watermark,
                ..
            }) => {
                drop(guard);
                let target = if s.reset_latest {
                    (high_watermark >= 0).then_some(high_watermark)
                } else {
                    reader.earliest_offset().await.ok()
                };
                match target {
                    Some(t) if t != offset => {
                        tracing::warn!(
                            offset,
                            reset_to = t,
                            policy = if s.reset_latest { "latest" } else { "earliest" },
                            "position is outside the partition's log (retention removed it, or the topic was re-created); resetting per auto.offset.reset"
                        );
                        reader.seek(t);
                    }
                    _ => {
                        let e = KafkaError::OffsetOutOfRange {
                            topic: tp.topic.clone(),
                            partition: tp.partition,
                            offset,
                            high_watermark,
                        };
                        wait_or_fail(&mut backoff, s, tp, "fetching", e).await?;
                    }
                }
            }
            Err(e) => {
                drop(guard);
                wait_or_fail(&mut backoff, s, tp, "fetching", e).await?;
            }
        }
    }
}

/// The smallest fetch size asked for (a broker returns at least one whole record batch anyway).
const MIN_REQUEST: usize = 1024;

/// The next fetch size: shrunk in proportion when the last response decompressed to more than
/// `target` bytes, grown back (doubling) when it held less than half of it although the log
/// had more (`at_end` false). A response that emptied the log was small for want of records:
/// growing then would let the next fetch of a backlog bring the compressed `target`, ten
/// times and more the budget once decompressed.
fn next_request(request: usize, target: usize, held: usize, at_end: bool) -> usize {
    if held > target {
        let scaled = (request as u128 * target as u128 / held as u128) as usize;
        scaled.clamp(MIN_REQUEST.min(target), target)
    } else if held < target / 2 && !at_end {
        request.saturating_mul(2).min(target)
    } else {
        request
    }
}

fn new_backoff(s: &FetchSettings) -> Backoff {
    Backoff::new(
        Duration::from_millis(300),
        s.retry_delay_max,
        s.retry_timeout,
        None,
    )
}

/// Sleeps before retrying a transient error, or returns the error that ends the task.
async fn wait_or_fail(
    backoff: &mut Backoff,
    s: &FetchSettings,
    tp: &TopicPartition,
    what: &str,
    e: KafkaError,
) -> Result<(), ConnectorError> {
    let transient =
        walcast_kafka::is_fetch_retryable(&e) || matches!(e, KafkaError::OffsetOutOfRange { .. });
    if !transient {
        return Err(ConnectorError::new(format!("{what} {tp} failed: {e}")));
    }
    let Some(wait) = backoff.next_delay() else {
        return Err(ConnectorError::new(format!(
            "{what} {tp} kept failing for errors.retry.timeout: {e}"
        )));
    };
    s.retries.increment(1);
    tracing::warn!(error = %e, retry = backoff.attempts, retry_in_ms = ms(wait), "{what} failed, retrying");
    tokio::time::sleep(wait).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::next_request;

    #[test]
    fn fetch_size_follows_decompressed_size() {
        let mb = 1024 * 1024;
        // A 1 MiB response that decompressed to 10 MiB: ask for a tenth next time.
        assert_eq!(next_request(mb, mb, 10 * mb, false), mb / 10);
        assert_eq!(next_request(mb, mb, 10 * mb, true), mb / 10);
        // Never below the floor, never above the target.
        assert_eq!(next_request(mb, mb, 10_000 * mb, false), 1024);
        assert_eq!(next_request(100_000, mb, mb / 8, false), 200_000);
        assert_eq!(next_request(mb, mb, 10, false), mb);
        // Near the target: unchanged.
        assert_eq!(next_request(mb / 10, mb, 3 * mb / 4, false), mb / 10);
        // Small because the log ended (a consumer caught up): unchanged, so the next fetch of
        // a backlog still brings about the target once decompressed.
        assert_eq!(next_request(100_000, mb, 10, true), 100_000);
    }
}
