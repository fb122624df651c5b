//! The batching producer and its ordered acknowledgement watermark.
//!
//! ```text
//!  caller (source task)                      background task "kafka_produce"
//!  ───────────────────                       ───────────────────────────────
//!  send(topic,key,value,ts,token) ─┐
//!    1. take bytes from the budget │  bounded channel (COMMAND_CAPACITY commands); every
//!       (waits when full)          │  record also holds budget bytes, so buffered records
//!    2. enqueue ───────────────────┴─────▶  are bounded by max_buffered_bytes
//!  mark(token) ── channel full? ─────────▶  marks take no budget: when the channel is full the
//!                 coalesce in one slot ──▶  newest mark waits in one shared slot instead
//!                                           topic check / creation (once, and after failures)
//!  flush() ──────────────────────────────▶  partition by key (murmur2) → open batch per partition
//!                                            batch full or linger expired → produce request
//!                                            (≤ max_in_flight_per_partition per partition,
//!                                             all partitions concurrently in one FuturesUnordered)
//!  acked() / wait_acked_change() ◀── watch ── ack → AckTracker → watermark; budget bytes returned
//! ```
//!
//! Ordering: requests of one partition share one connection, which the broker serves in order.
//! A partition's batches are acknowledged to the watermark only in order (a written batch waits
//! for every earlier one). When a batch fails, it is retried alone, before anything newer, and
//! every later batch that the broker wrote meanwhile is written again after it: the log may then
//! hold duplicates, but the last copy of every record is in send order, so consumers that apply
//! changes by key end in the right state. With `max_in_flight_per_partition > 1` (and no idempotent
//! producer, which rskafka does not implement) a consumer reading meanwhile can still see an
//! older version after a newer one, so the default is 1, as Connect forces for source tasks.
//! Cost measured with `drain-bench` (200,000 rows, tansu, 2 cores): 1 in flight drains about
//! 6,100 rows/s, 5 in flight about 109,000 rows/s; CPU stays mostly idle at 1, so each
//! request's round trip (about 80 ms here) is what limits it, and larger batches help
//! (`batch.size` 4 MiB: about 23,000 rows/s).
//!
//! Delivery is at-least-once: a request that timed out may still have been written, and its retry
//! writes the records again. Debezium consumers are expected to tolerate duplicates.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use metrics::{Counter, Gauge, Histogram};
use rskafka::client::error::Error as RsError;
use rskafka::client::partition::{PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use rskafka::record::Record;
use rskafka::BackoffConfig;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::admin::{
    build_secure_client, duration_ms, ensure_topic, topic_partitions, KafkaSecurity,
};
use crate::error::{classify, ErrorClass, KafkaError};
use crate::partitioner::{partition_for_key, StickyPartitioner};
use crate::watermark::AckTracker;

/// Upper bound of a record's framing inside a record batch (length, attributes, timestamp and
/// offset deltas, key and value lengths, header count, all varints), so that a batch's estimated
/// size is never below its encoded size and a full batch stays within the broker's
/// `message.max.bytes` when `batch_max_bytes` is set to it.
const RECORD_OVERHEAD: usize = 36;
/// A record batch's fixed header (v2 format).
const BATCH_OVERHEAD: usize = 61;
/// Memory of a buffered record besides its key and value (the `Record` struct, headers map), on
/// top of [`RECORD_OVERHEAD`]; counted against `max_buffered_bytes`.
const RECORD_MEMORY: usize = 64;
/// Commands the background task takes from the channel per wakeup.
const RECV_CHUNK: usize = 512;
/// Commands queued for the background task at most. Records are bounded by the byte budget
/// too; marks are not, so the channel bound is what keeps a busy uncaptured table from queueing
/// a mark per commit for as long as the broker is down (the overflow coalesces in one slot).
const COMMAND_CAPACITY: usize = 4096;
/// Distance between the sequence numbers of consecutive batches of a partition, so that the
/// halves of a batch split after a "too large" error get numbers between their neighbours'.
const SEQ_STRIDE: u64 = 1 << 20;

/// Record batch compression, named like Kafka's `compression.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

impl From<Compression> for rskafka::client::partition::Compression {
    fn from(c: Compression) -> Self {
        use rskafka::client::partition::Compression as R;
        match c {
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

    fn validate(&self) -> Result<(), KafkaError> {
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

/// What the caller hands to the background task, in order.
enum Command {
    /// First use of a topic name; later records refer to it by `id`.
    Topic {
        id: u32,
        name: Arc<str>,
    },
    Record {
        topic: u32,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp_ms: i64,
        token: u64,
        /// Budget bytes this record holds until acknowledged.
        charge: usize,
    },
    Mark(u64),
    Flush(oneshot::Sender<Result<u64, KafkaError>>),
}

/// The first fatal error, shared so that every later call returns it.
type FailureSlot = Arc<Mutex<Option<KafkaError>>>;

/// The newest mark that did not fit in the full channel. The producer puts it in the channel
/// before its next record or flush; the background task takes it itself once it has emptied
/// the channel (then no record sent after the mark can be waiting behind it).
type DeferredMark = Arc<Mutex<Option<u64>>>;

/// A batching Kafka producer whose acknowledgements advance an ordered watermark of caller
/// tokens (see the crate docs). Not `Clone`: one producer per source task.
pub struct Producer {
    commands: mpsc::Sender<Command>,
    deferred_mark: DeferredMark,
    budget: Arc<Semaphore>,
    /// Largest charge of one record, so a huge record can still take the whole budget.
    max_charge: usize,
    acked: watch::Receiver<u64>,
    failure: FailureSlot,
    topic_ids: HashMap<String, u32>,
    /// The last token passed to `send` or `mark`, to reject decreasing ones early.
    last_token: u64,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("acked", &*self.acked.borrow())
            .field("last_token", &self.last_token)
            .field("topics", &self.topic_ids.len())
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Connects to the cluster and starts the background task.
    ///
    /// A broker that is down yields a transient error after at most `request_timeout` instead of
    /// waiting for it; the caller retries with its own backoff.
    pub async fn connect(cfg: ProducerConfig) -> Result<Self, KafkaError> {
        cfg.validate()?;
        // rskafka's own retries are switched off (deadline zero): they would retry the same
        // request for as long as the connection is down, and in the meantime re-discover the
        // partition leader with a metadata request that makes the broker auto-create a missing
        // topic with its default partition count. Here failures come back at once and are retried
        // by partition, in order, after the topic has been checked.
        let backoff = BackoffConfig {
            init_backoff: cfg.retry_backoff,
            max_backoff: cfg.retry_backoff_max.max(cfg.retry_backoff),
            base: 2.0,
            deadline: Some(Duration::ZERO),
        };
        let client = build_secure_client(
            &cfg.bootstrap_servers,
            &cfg.client_id,
            backoff,
            cfg.request_timeout,
            &cfg.security,
        )
        .await?;

        let max_charge = cfg
            .max_buffered_bytes
            .min(Semaphore::MAX_PERMITS)
            .min(u32::MAX as usize);
        let budget = Arc::new(Semaphore::new(max_charge));
        let (commands, rx) = mpsc::channel(COMMAND_CAPACITY);
        let deferred_mark = DeferredMark::default();
        let (acked_tx, acked) = watch::channel(0);
        let failure: FailureSlot = Arc::default();
        let span = tracing::info_span!("kafka_produce", connector = %cfg.connector);
        let engine = Engine::new(
            client,
            cfg,
            Arc::clone(&budget),
            acked_tx,
            Arc::clone(&failure),
            Arc::clone(&deferred_mark),
        );
        let task = tokio::spawn(engine.run(rx).instrument(span));
        Ok(Self {
            commands,
            deferred_mark,
            budget,
            max_charge,
            acked,
            failure,
            topic_ids: HashMap::new(),
            last_token: 0,
            task,
        })
    }

    /// Queues a record for `topic` (created on first use if missing). The partition is chosen by
    /// key like the Java client; keyless records use a sticky partition.
    ///
    /// `token` must not be smaller than any token sent or marked before (the caller uses the
    /// commit LSN of the record's transaction). A record with the token just marked is accepted
    /// (a heartbeat at the confirmed position) but the watermark, which may already have
    /// reported that token, does not wait for it. Waits while `max_buffered_bytes` are
    /// unacknowledged. Returns the first fatal error the background task met, if any.
    ///
    /// Cancel-safe: if the future is dropped, the record was either queued or not, and no budget
    /// is lost.
    pub async fn send(
        &mut self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp_ms: i64,
        token: u64,
    ) -> Result<(), KafkaError> {
        self.check_failed()?;
        if token < self.last_token {
            return Err(KafkaError::TokenWentBackwards {
                token,
                previous: self.last_token,
            });
        }
        let bytes = key.as_ref().map_or(0, Vec::len) + value.as_ref().map_or(0, Vec::len);
        let charge = (bytes + RECORD_OVERHEAD + RECORD_MEMORY).min(self.max_charge);
        // `charge <= max_charge <= u32::MAX`, so the conversion cannot fail.
        let permits = u32::try_from(charge).unwrap_or(u32::MAX);
        let permit = match Arc::clone(&self.budget).acquire_many_owned(permits).await {
            Ok(permit) => permit,
            Err(_) => return Err(self.stopped()),
        };
        self.push_deferred_mark().await?;
        let topic = self.topic_id(topic).await?;
        let slot = self.commands.reserve().await.map_err(|_| self.stopped())?;
        // Queued now: the background task returns the bytes with `add_permits` when the
        // batch is acked. (Dropped before this point, the permit returns them itself.)
        permit.forget();
        slot.send(Command::Record {
            topic,
            key,
            value,
            timestamp_ms,
            token,
            charge,
        });
        self.last_token = token;
        Ok(())
    }

    /// Declares that every record with a token `<= token` has been sent: the end of a
    /// transaction, or a transaction without captured records. Only closed tokens are reported
    /// by [`acked`](Self::acked) (a larger token in `send` closes the smaller ones too), so call
    /// this at each commit to have it confirmed without waiting for the next transaction.
    /// A token smaller than the last one is ignored.
    pub fn mark(&mut self, token: u64) {
        if token < self.last_token {
            return;
        }
        self.last_token = token;
        let Ok(mut deferred) = self.deferred_mark.lock() else {
            return;
        };
        if let Some(d) = deferred.as_mut() {
            // One is waiting already: no record was sent since, so the newer mark replaces it.
            *d = token;
            return;
        }
        match self.commands.try_send(Command::Mark(token)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => *deferred = Some(token),
            // The task stopped; the next send/flush reports why.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Queues the mark that waited for room, ahead of the record or flush about to follow.
    async fn push_deferred_mark(&mut self) -> Result<(), KafkaError> {
        let deferred = self.deferred_mark.lock().ok().and_then(|mut d| d.take());
        if let Some(token) = deferred {
            self.commands
                .send(Command::Mark(token))
                .await
                .map_err(|_| self.stopped())?;
        }
        Ok(())
    }

    /// The acknowledgement watermark: the largest closed token T such that every record sent or
    /// marked with a token `<= T` has been acknowledged by all in-sync replicas (acks=all).
    /// 0 until something is acknowledged.
    pub fn acked(&self) -> u64 {
        *self.acked.borrow()
    }

    /// Waits until the watermark moves, returning the new value. Cancel-safe, for
    /// `tokio::select!`. Returns the fatal error if the producer failed.
    pub async fn wait_acked_change(&mut self) -> Result<u64, KafkaError> {
        match self.acked.changed().await {
            Ok(()) => Ok(*self.acked.borrow_and_update()),
            Err(_) => Err(self.stopped()),
        }
    }

    /// A receiver of the watermark, for callers that want to wait on it from elsewhere.
    pub fn acked_receiver(&self) -> watch::Receiver<u64> {
        self.acked.clone()
    }

    /// Sends every buffered record now and waits until all are acknowledged; closes every token
    /// sent so far and returns the watermark, which is then the last token sent or marked.
    /// Retries transient failures for as long as it takes; wrap it in a timeout to bound it.
    pub async fn flush(&mut self) -> Result<u64, KafkaError> {
        self.check_failed()?;
        self.push_deferred_mark().await?;
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Flush(tx))
            .await
            .map_err(|_| self.stopped())?;
        match rx.await {
            Ok(result) => result,
            Err(_) => Err(self.stopped()),
        }
    }

    /// Flushes, then stops the background task.
    pub async fn close(mut self) -> Result<u64, KafkaError> {
        let acked = self.flush().await?;
        self.task.abort();
        Ok(acked)
    }

    /// The fatal error that stopped the producer, if any.
    pub fn failure(&self) -> Option<KafkaError> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    fn check_failed(&self) -> Result<(), KafkaError> {
        match self.failure() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn stopped(&self) -> KafkaError {
        self.failure().unwrap_or_else(|| KafkaError::Closed {
            reason: "its background task ended unexpectedly".into(),
        })
    }

    async fn topic_id(&mut self, topic: &str) -> Result<u32, KafkaError> {
        if let Some(id) = self.topic_ids.get(topic) {
            return Ok(*id);
        }
        let id = u32::try_from(self.topic_ids.len()).map_err(|_| KafkaError::Config {
            name: "topics",
            message: "more than 2^32 topics".into(),
        })?;
        self.commands
            .send(Command::Topic {
                id,
                name: Arc::from(topic),
            })
            .await
            .map_err(|_| self.stopped())?;
        // Only once queued: a cancelled send must not leave a name the task never heard of.
        self.topic_ids.insert(topic.to_owned(), id);
        Ok(id)
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // Unflushed records are dropped with the producer; their tokens were never reported as
        // acknowledged, so the source re-reads them after a restart.
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Background task.

/// Records of one partition sent in one produce request.
#[derive(Debug)]
struct Batch {
    /// Position among the partition's batches, so failed batches are retried in order.
    seq: u64,
    /// Sequence numbers `seq..seq + span` belong to this batch (room for splitting it).
    span: u64,
    records: Vec<Record>,
    /// Estimated encoded size (an upper bound, see [`RECORD_OVERHEAD`]).
    bytes: usize,
    /// Budget bytes to return when acknowledged.
    charged: usize,
    /// Record counts per token, in order (run-length encoded: transactions are contiguous).
    tokens: Vec<(u64, u64)>,
    opened: Instant,
    attempts: u32,
}

impl Batch {
    fn new(seq: u64, span: u64, now: Instant) -> Self {
        Self {
            seq,
            span,
            records: Vec::new(),
            bytes: BATCH_OVERHEAD,
            charged: 0,
            tokens: Vec::new(),
            opened: now,
            attempts: 0,
        }
    }

    fn push(&mut self, record: Record, size: usize, charge: usize, token: u64) {
        self.records.push(record);
        self.bytes += size;
        self.charged += charge;
        match self.tokens.last_mut() {
            Some((t, n)) if *t == token => *n += 1,
            _ => self.tokens.push((token, 1)),
        }
    }

    /// Whether [`split`](Self::split) can divide this batch.
    fn can_split(&self) -> bool {
        self.records.len() > 1 && self.span > 1
    }

    /// Splits a batch the broker found too large into two halves, in order.
    fn split(mut self) -> (Batch, Batch) {
        let half = self.records.len() / 2;
        let tail_records = self.records.split_off(half);
        let first_span = self.span / 2;
        let mut first = Batch::new(self.seq, first_span, self.opened);
        let mut second = Batch::new(self.seq + first_span, self.span - first_span, self.opened);
        // Re-derive tokens and charges per half from the run-length list.
        let mut runs = self
            .tokens
            .into_iter()
            .flat_map(|(t, n)| (0..n).map(move |_| t));
        let per_record_charge = |r: &Record| record_size(r) + RECORD_MEMORY;
        for r in self.records {
            let size = record_size(&r);
            let charge = per_record_charge(&r);
            let token = runs.next().unwrap_or_default();
            first.push(r, size, charge, token);
        }
        for r in tail_records {
            let size = record_size(&r);
            let charge = per_record_charge(&r);
            let token = runs.next().unwrap_or_default();
            second.push(r, size, charge, token);
        }
        // Charges may have been clamped at send time: keep exactly the total the senders took.
        first.charged = first.charged.min(self.charged);
        second.charged = self.charged - first.charged;
        first.attempts = self.attempts;
        second.attempts = self.attempts;
        (first, second)
    }
}

fn record_size(r: &Record) -> usize {
    r.key.as_ref().map_or(0, Vec::len) + r.value.as_ref().map_or(0, Vec::len) + RECORD_OVERHEAD
}

#[derive(Debug)]
struct PartitionState {
    /// Connection to the partition's leader, created by the first produce attempt.
    client: Option<Arc<PartitionClient>>,
    /// The batch records are appended to.
    open: Option<Batch>,
    /// Full batches waiting for an in-flight slot.
    ready: VecDeque<Batch>,
    /// Failed batches, in `seq` order; they go before anything else, one at a time.
    retry: VecDeque<Batch>,
    /// Batches with a request on the wire (the engine keeps the records for a retry), and
    /// written batches whose acknowledgement waits for an earlier batch (see
    /// [`Engine::release`]).
    inflight: Vec<Flight>,
    /// No attempt before this instant (backoff after a failure).
    retry_at: Option<Instant>,
    backoff: Duration,
    next_seq: u64,
}

impl PartitionState {
    fn new(backoff: Duration) -> Self {
        Self {
            client: None,
            open: None,
            ready: VecDeque::new(),
            retry: VecDeque::new(),
            inflight: Vec::new(),
            retry_at: None,
            backoff,
            next_seq: 0,
        }
    }

    fn insert_retry(&mut self, batch: Batch) {
        let at = self.retry.partition_point(|b| b.seq <= batch.seq);
        self.retry.insert(at, batch);
    }

    /// Requests on the wire.
    fn on_the_wire(&self) -> usize {
        self.inflight.iter().filter(|f| !f.written).count()
    }

    /// After the batch `failed_seq` failed: batches after it that were already written would
    /// end up before its retry in the log, so they are written again after it (duplicates, but
    /// the last copy of every record is in order). Returns how many were re-queued.
    fn requeue_written_after(&mut self, failed_seq: u64) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.inflight.len() {
            if self.inflight[i].written && self.inflight[i].batch.seq > failed_seq {
                let mut f = self.inflight.swap_remove(i);
                f.batch.attempts += 1;
                self.insert_retry(f.batch);
                n += 1;
            } else {
                i += 1;
            }
        }
        n
    }

    /// The broker acknowledged the batch at `idx` of `inflight`. If an earlier batch failed and
    /// has not been written again yet, this batch may sit before that retry in the log, so it is
    /// queued to be written again after it; returns whether that happened.
    fn on_written(&mut self, idx: usize) -> bool {
        let seq = self.inflight[idx].batch.seq;
        let behind_a_retry = self.retry.front().is_some_and(|r| r.seq < seq)
            || self
                .inflight
                .iter()
                .any(|f| !f.written && f.batch.attempts > 0 && f.batch.seq < seq);
        if behind_a_retry {
            let mut batch = self.inflight.swap_remove(idx).batch;
            batch.attempts += 1;
            self.insert_retry(batch);
        } else {
            self.inflight[idx].written = true;
        }
        behind_a_retry
    }

    /// Removes and returns the written batches that no earlier batch is waiting for.
    fn take_releasable(&mut self) -> Vec<Batch> {
        let first_unwritten = self
            .inflight
            .iter()
            .filter(|f| !f.written)
            .map(|f| f.batch.seq)
            .chain(self.retry.front().map(|b| b.seq))
            .min()
            .unwrap_or(u64::MAX);
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.inflight.len() {
            if self.inflight[i].written && self.inflight[i].batch.seq < first_unwritten {
                out.push(self.inflight.swap_remove(i).batch);
            } else {
                i += 1;
            }
        }
        out
    }
}

/// A dispatched batch.
#[derive(Debug)]
struct Flight {
    batch: Batch,
    /// The broker acknowledged it; its tokens count as acknowledged once every earlier batch of
    /// the partition is written too.
    written: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopicStatus {
    /// Its metadata is being fetched (or the topic created).
    Checking,
    /// Waiting for `check_at` to check again after a failed check.
    CheckLater,
    /// Partitions may send.
    Ready,
}

/// A record that arrived before its topic's partition count was known.
struct Pending {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp_ms: i64,
    token: u64,
    charge: usize,
}

struct TopicMetrics {
    records: Counter,
    bytes: Counter,
    latency: Histogram,
    retries: Counter,
}

struct TopicState {
    name: Arc<str>,
    status: TopicStatus,
    /// Empty until the first check succeeds.
    partitions: Vec<PartitionState>,
    pending: VecDeque<Pending>,
    sticky: StickyPartitioner,
    check_backoff: Duration,
    metrics: TopicMetrics,
}

/// Wakeups; ordered by time in a min-heap, stale ones are ignored when they fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// An open batch may have reached its linger time.
    Linger { topic: u32, partition: u32 },
    /// A partition's backoff ended.
    Retry { topic: u32, partition: u32 },
    /// Check a topic again.
    Check { topic: u32 },
}

struct Produced {
    topic: u32,
    partition: u32,
    seq: u64,
    result: Result<(), AttemptError>,
    client: Option<Arc<PartitionClient>>,
    elapsed: Duration,
}

enum AttemptError {
    Kafka(RsError),
    Timeout,
}

struct Checked {
    topic: u32,
    result: Result<Option<i32>, KafkaError>,
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

struct Engine {
    client: Arc<Client>,
    cfg: ProducerConfig,
    compression: rskafka::client::partition::Compression,
    topics: Vec<TopicState>,
    tracker: AckTracker,
    inflight: FuturesUnordered<BoxFut<Produced>>,
    checks: FuturesUnordered<BoxFut<Checked>>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Partitions that may be able to send now.
    dirty: Vec<(u32, u32)>,
    budget: Arc<Semaphore>,
    /// Budget bytes held by records the engine has received and not yet returned.
    buffered: usize,
    buffered_gauge: Gauge,
    acked: watch::Sender<u64>,
    failure: FailureSlot,
    flush_waiters: Vec<oneshot::Sender<Result<u64, KafkaError>>>,
    /// A flush is waiting: open batches go out without lingering.
    flushing: bool,
    failed: bool,
    /// See [`DeferredMark`].
    deferred_mark: DeferredMark,
}

impl Engine {
    fn new(
        client: Arc<Client>,
        cfg: ProducerConfig,
        budget: Arc<Semaphore>,
        acked: watch::Sender<u64>,
        failure: FailureSlot,
        deferred_mark: DeferredMark,
    ) -> Self {
        let buffered_gauge =
            metrics::gauge!("walcast_kafka_buffered_bytes", "connector" => cfg.connector.clone());
        Self {
            client,
            compression: cfg.compression.into(),
            cfg,
            topics: Vec::new(),
            tracker: AckTracker::new(),
            inflight: FuturesUnordered::new(),
            checks: FuturesUnordered::new(),
            timers: BinaryHeap::new(),
            dirty: Vec::new(),
            budget,
            buffered: 0,
            buffered_gauge,
            acked,
            failure,
            flush_waiters: Vec::new(),
            flushing: false,
            failed: false,
            deferred_mark,
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut commands = Vec::with_capacity(RECV_CHUNK);
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        let mut sleep_armed_for: Option<Instant> = None;
        loop {
            self.dispatch_dirty();
            self.publish();
            if self.failed {
                break;
            }
            let next_timer = self.timers.peek().map(|Reverse((at, _))| *at);
            if next_timer != sleep_armed_for {
                if let Some(at) = next_timer {
                    sleep.as_mut().reset(at);
                }
                sleep_armed_for = next_timer;
            }
            tokio::select! {
                // Acknowledgements first: they return budget and move the watermark.
                biased;
                Some(done) = self.inflight.next(), if !self.inflight.is_empty() => {
                    self.on_produced(done);
                }
                Some(done) = self.checks.next(), if !self.checks.is_empty() => {
                    self.on_checked(done);
                }
                () = &mut sleep, if sleep_armed_for.is_some() => {
                    sleep_armed_for = None;
                    self.on_timers();
                }
                n = rx.recv_many(&mut commands, RECV_CHUNK) => {
                    if n == 0 {
                        // The producer was dropped.
                        break;
                    }
                    for cmd in commands.drain(..) {
                        self.on_command(cmd);
                    }
                    if rx.is_empty() {
                        // Every command sent before the deferred mark is processed, and a
                        // record sent after it would have queued it first: safe to apply.
                        let deferred = self.deferred_mark.lock().ok().and_then(|mut d| d.take());
                        if let Some(token) = deferred {
                            self.tracker.mark(token);
                        }
                    }
                }
            }
        }
        tracing::debug!(failed = self.failed, "kafka producer task ends");
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Topic { id, name } => self.add_topic(id, name),
            Command::Record {
                topic,
                key,
                value,
                timestamp_ms,
                token,
                charge,
            } => {
                self.buffered += charge;
                if let Err(e) = self.tracker.sent(token, 1) {
                    self.fail(KafkaError::TokenWentBackwards {
                        token: e.token,
                        previous: e.previous,
                    });
                    return;
                }
                let pending = Pending {
                    key,
                    value,
                    timestamp_ms,
                    token,
                    charge,
                };
                match self.topics.get_mut(topic as usize) {
                    Some(t) if t.partitions.is_empty() => t.pending.push_back(pending),
                    Some(_) => self.append(topic, pending),
                    None => self.fail(KafkaError::Closed {
                        reason: format!("record for unknown topic id {topic}"),
                    }),
                }
            }
            Command::Mark(token) => {
                self.tracker.mark(token);
            }
            Command::Flush(reply) => {
                self.tracker.close_all();
                self.flush_waiters.push(reply);
                self.flushing = true;
                for t in 0..self.topics.len() {
                    for p in 0..self.topics[t].partitions.len() {
                        self.dirty.push((t as u32, p as u32));
                    }
                }
            }
        }
    }

    fn add_topic(&mut self, id: u32, name: Arc<str>) {
        debug_assert_eq!(id as usize, self.topics.len());
        let labels = [
            ("connector", self.cfg.connector.clone()),
            ("topic", name.to_string()),
        ];
        let metrics = TopicMetrics {
            records: metrics::counter!("walcast_kafka_produced_records_total", &labels),
            bytes: metrics::counter!("walcast_kafka_produced_bytes_total", &labels),
            latency: metrics::histogram!("walcast_kafka_produce_latency_seconds", &labels),
            retries: metrics::counter!("walcast_kafka_produce_retries_total", &labels),
        };
        self.topics.push(TopicState {
            name,
            status: TopicStatus::Checking,
            partitions: Vec::new(),
            pending: VecDeque::new(),
            sticky: StickyPartitioner::default(),
            check_backoff: self.cfg.retry_backoff,
            metrics,
        });
        self.start_check(id);
    }

    /// Fetches the topic's partition count, creating the topic if it is missing and allowed.
    fn start_check(&mut self, topic: u32) {
        let Some(t) = self.topics.get_mut(topic as usize) else {
            return;
        };
        t.status = TopicStatus::Checking;
        let client = Arc::clone(&self.client);
        let name = Arc::clone(&t.name);
        let create = self.cfg.create_topics;
        let partitions = self.cfg.topic_partitions;
        let replication = self.cfg.topic_replication_factor;
        let timeout = self.cfg.request_timeout;
        self.checks.push(Box::pin(async move {
            let work = async {
                if create {
                    ensure_topic(&client, &name, partitions, replication, timeout)
                        .await
                        .map(Some)
                } else {
                    topic_partitions(&client, &name).await
                }
            };
            let result = match tokio::time::timeout(timeout * 2, work).await {
                Ok(r) => r,
                Err(_) => Err(KafkaError::Timeout {
                    what: "checking topic metadata",
                    topic: name.to_string(),
                    timeout_ms: duration_ms(timeout * 2),
                }),
            };
            Checked { topic, result }
        }));
    }

    fn on_checked(&mut self, done: Checked) {
        let topic = done.topic;
        let Some(t) = self.topics.get_mut(topic as usize) else {
            return;
        };
        match done.result {
            Ok(Some(n)) => {
                let before = t.partitions.len() as i32;
                if n < before {
                    let e = KafkaError::PartitionsShrank {
                        topic: t.name.to_string(),
                        before,
                        now: n,
                    };
                    self.fail(e);
                    return;
                }
                if n > before && before > 0 {
                    tracing::warn!(topic = %t.name, before, now = n, "topic gained partitions; new keys map to the new count");
                }
                for _ in before..n {
                    t.partitions
                        .push(PartitionState::new(self.cfg.retry_backoff));
                }
                t.status = TopicStatus::Ready;
                t.check_backoff = self.cfg.retry_backoff;
                let pending = std::mem::take(&mut t.pending);
                for p in 0..t.partitions.len() {
                    self.dirty.push((topic, p as u32));
                }
                for rec in pending {
                    self.append(topic, rec);
                }
            }
            Ok(None) => {
                let e = KafkaError::TopicMissing {
                    topic: t.name.to_string(),
                };
                self.fail(e);
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(topic = %t.name, error = %e, "topic check failed; retrying");
                t.status = TopicStatus::CheckLater;
                let at = Instant::now() + t.check_backoff;
                t.check_backoff = (t.check_backoff * 2).min(self.cfg.retry_backoff_max);
                self.timers.push(Reverse((at, Timer::Check { topic })));
            }
            Err(e) => self.fail(e),
        }
    }

    /// Appends a record to its partition's open batch (the topic's partition count is known).
    fn append(&mut self, topic: u32, rec: Pending) {
        let now = Instant::now();
        let linger = self.cfg.linger;
        let batch_max = self.cfg.batch_max_bytes;
        let Some(t) = self.topics.get_mut(topic as usize) else {
            return;
        };
        let n = t.partitions.len() as i32;
        let p = match &rec.key {
            Some(k) => partition_for_key(k, n),
            None => t.sticky.partition(n),
        };
        let size = rec.key.as_ref().map_or(0, Vec::len)
            + rec.value.as_ref().map_or(0, Vec::len)
            + RECORD_OVERHEAD;
        let Some(part) = t.partitions.get_mut(p as usize) else {
            return;
        };
        if let Some(open) = &part.open {
            if open.bytes + size > batch_max && !open.records.is_empty() {
                if let Some(full) = part.open.take() {
                    part.ready.push_back(full);
                }
                t.sticky.on_batch_closed(p, n);
                self.dirty.push((topic, p as u32));
            }
        }
        let batch = part.open.get_or_insert_with(|| {
            let seq = part.next_seq;
            part.next_seq += SEQ_STRIDE;
            self.timers.push(Reverse((
                now + linger,
                Timer::Linger {
                    topic,
                    partition: p as u32,
                },
            )));
            Batch::new(seq, SEQ_STRIDE, now)
        });
        let record = Record {
            key: rec.key,
            value: rec.value,
            headers: Default::default(),
            timestamp: DateTime::<Utc>::from_timestamp_millis(rec.timestamp_ms).unwrap_or_default(),
        };
        batch.push(record, size, rec.charge, rec.token);
        if batch.bytes >= batch_max {
            if let Some(full) = part.open.take() {
                part.ready.push_back(full);
            }
            t.sticky.on_batch_closed(p, n);
            self.dirty.push((topic, p as u32));
        } else if linger.is_zero() {
            self.dirty.push((topic, p as u32));
        }
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Linger { topic, partition } | Timer::Retry { topic, partition } => {
                    self.dirty.push((topic, partition));
                }
                Timer::Check { topic } => {
                    if self
                        .topics
                        .get(topic as usize)
                        .is_some_and(|t| t.status == TopicStatus::CheckLater)
                    {
                        self.start_check(topic);
                    }
                }
            }
        }
    }

    fn dispatch_dirty(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for (t, p) in dirty.drain(..) {
            self.dispatch(t, p, now);
        }
        // Keep the allocation.
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    /// Starts as many produce requests for the partition as its state allows.
    fn dispatch(&mut self, topic: u32, partition: u32, now: Instant) {
        let Some(t) = self.topics.get_mut(topic as usize) else {
            return;
        };
        if t.status != TopicStatus::Ready {
            // Made dirty again when the check completes.
            return;
        }
        let n = t.partitions.len() as i32;
        let Some(part) = t.partitions.get_mut(partition as usize) else {
            return;
        };
        if let Some(at) = part.retry_at {
            if at > now {
                return;
            }
            part.retry_at = None;
        }
        loop {
            // One request at a time while a batch is being retried (order) or while the
            // partition's connection does not exist yet (one connection, not several).
            let limit = if part.client.is_none() || !part.retry.is_empty() {
                1
            } else {
                self.cfg.max_in_flight_per_partition
            };
            if part.on_the_wire() >= limit {
                return;
            }
            let batch = if let Some(b) = part.retry.pop_front() {
                b
            } else if let Some(b) = part.ready.pop_front() {
                b
            } else if part
                .open
                .as_ref()
                .is_some_and(|b| self.flushing || b.opened + self.cfg.linger <= now)
            {
                t.sticky.on_batch_closed(partition as i32, n);
                match part.open.take() {
                    Some(b) => b,
                    None => return,
                }
            } else {
                return;
            };
            let fut = produce_attempt(
                Arc::clone(&self.client),
                part.client.clone(),
                Arc::clone(&t.name),
                topic,
                partition,
                batch.seq,
                batch.records.clone(),
                self.compression,
                self.cfg.request_timeout,
            );
            part.inflight.push(Flight {
                batch,
                written: false,
            });
            self.inflight.push(Box::pin(fut));
        }
    }

    fn on_produced(&mut self, done: Produced) {
        let Some(t) = self.topics.get_mut(done.topic as usize) else {
            return;
        };
        let Some(part) = t.partitions.get_mut(done.partition as usize) else {
            return;
        };
        if part.client.is_none() {
            part.client = done.client;
        }
        let Some(idx) = part
            .inflight
            .iter()
            .position(|f| f.batch.seq == done.seq && !f.written)
        else {
            return;
        };
        let key = (done.topic, done.partition);
        match done.result {
            Ok(()) => {
                part.backoff = self.cfg.retry_backoff;
                if part.on_written(idx) {
                    tracing::warn!(
                        topic = %t.name,
                        partition = done.partition,
                        "re-sending a batch that was written while an earlier one awaited its retry, to keep the order"
                    );
                }
                t.metrics.latency.record(done.elapsed.as_secs_f64());
                self.release(done.topic, done.partition);
                self.dirty.push(key);
            }
            Err(err) => {
                let mut batch = part.inflight.swap_remove(idx).batch;
                batch.attempts += 1;
                t.metrics.retries.increment(1);
                let class = match &err {
                    AttemptError::Kafka(e) => classify(e),
                    AttemptError::Timeout => ErrorClass::Transient,
                };
                let describe = || match &err {
                    AttemptError::Kafka(e) => e.to_string(),
                    AttemptError::Timeout => format!(
                        "no response within {} ms",
                        duration_ms(self.cfg.request_timeout)
                    ),
                };
                let gave_up = match (self.cfg.delivery_timeout, self.cfg.retries) {
                    (Some(d), _) if batch.opened.elapsed() >= d => {
                        Some(format!("delivery.timeout.ms={}", duration_ms(d)))
                    }
                    (_, Some(r)) if batch.attempts > r => Some(format!("retries={r}")),
                    _ => None,
                };
                if let (Some(limit), ErrorClass::Transient | ErrorClass::UnknownTopic) =
                    (gave_up, class)
                {
                    let e = KafkaError::DeliveryTimeout {
                        topic: t.name.to_string(),
                        partition: done.partition as i32,
                        attempts: batch.attempts,
                        elapsed_ms: duration_ms(batch.opened.elapsed()),
                        limit,
                        last_error: describe(),
                    };
                    self.fail(e);
                    return;
                }
                match class {
                    ErrorClass::Transient | ErrorClass::UnknownTopic => {
                        let delay = part.backoff;
                        part.backoff = (part.backoff * 2).min(self.cfg.retry_backoff_max);
                        tracing::warn!(
                            topic = %t.name,
                            partition = done.partition,
                            attempt = batch.attempts,
                            records = batch.records.len(),
                            retry_in_ms = duration_ms(delay),
                            error = %describe(),
                            "produce failed; retrying in order"
                        );
                        let seq = batch.seq;
                        part.insert_retry(batch);
                        let again = part.requeue_written_after(seq);
                        if again > 0 {
                            tracing::warn!(
                                topic = %t.name,
                                partition = done.partition,
                                batches = again,
                                "re-sending later batches that were written before the failed one, to keep the order"
                            );
                        }
                        let at = Instant::now() + delay;
                        part.retry_at = Some(part.retry_at.map_or(at, |r| r.max(at)));
                        self.timers.push(Reverse((
                            at,
                            Timer::Retry {
                                topic: done.topic,
                                partition: done.partition,
                            },
                        )));
                        // The topic may be gone (a broker that lost its data) or have changed;
                        // check it before the partition tries again.
                        if t.status == TopicStatus::Ready {
                            self.start_check(done.topic);
                        }
                    }
                    ErrorClass::TooLarge if batch.can_split() => {
                        tracing::warn!(
                            topic = %t.name,
                            partition = done.partition,
                            records = batch.records.len(),
                            bytes = batch.bytes,
                            "broker rejected a batch as too large; splitting it (lower batch.size to avoid this)"
                        );
                        let seq = batch.seq;
                        let (a, b) = batch.split();
                        part.insert_retry(a);
                        part.insert_retry(b);
                        part.requeue_written_after(seq);
                        self.dirty.push(key);
                    }
                    ErrorClass::TooLarge => {
                        let e = KafkaError::RecordTooLarge {
                            topic: t.name.to_string(),
                            partition: done.partition as i32,
                            bytes: batch.bytes - BATCH_OVERHEAD,
                        };
                        self.fail(e);
                    }
                    ErrorClass::Fatal => {
                        let e = match err {
                            AttemptError::Kafka(e) => {
                                KafkaError::produce(&t.name, done.partition as i32, e)
                            }
                            AttemptError::Timeout => KafkaError::Timeout {
                                what: "produce",
                                topic: t.name.to_string(),
                                timeout_ms: duration_ms(self.cfg.request_timeout),
                            },
                        };
                        self.fail(e);
                    }
                }
            }
        }
    }

    /// Acknowledges a partition's written batches in order: a batch counts only once every
    /// earlier batch of its partition is written, because if an earlier one failed, the retry
    /// would land after it and the later batch has to be written again.
    fn release(&mut self, topic: u32, partition: u32) {
        let Some(t) = self.topics.get_mut(topic as usize) else {
            return;
        };
        let Some(part) = t.partitions.get_mut(partition as usize) else {
            return;
        };
        for batch in part.take_releasable() {
            t.metrics.records.increment(batch.records.len() as u64);
            t.metrics.bytes.increment(batch.bytes as u64);
            for (token, count) in &batch.tokens {
                self.tracker.acked(*token, *count);
            }
            self.buffered = self.buffered.saturating_sub(batch.charged);
            self.budget.add_permits(batch.charged);
        }
    }

    /// Publishes the watermark, answers finished flushes and updates the buffer gauge.
    fn publish(&mut self) {
        let w = self.tracker.watermark();
        if *self.acked.borrow() != w {
            self.acked.send_replace(w);
        }
        if self.flushing && self.tracker.outstanding() == 0 {
            self.flushing = false;
            for waiter in self.flush_waiters.drain(..) {
                let _ = waiter.send(Ok(w));
            }
        }
        self.buffered_gauge.set(self.buffered as f64);
    }

    fn fail(&mut self, e: KafkaError) {
        tracing::error!(error = %e, "kafka producer failed");
        if let Ok(mut slot) = self.failure.lock() {
            slot.get_or_insert_with(|| e.clone());
        }
        for waiter in self.flush_waiters.drain(..) {
            let _ = waiter.send(Err(e.clone()));
        }
        // Wakes senders blocked on the budget; they report the failure.
        self.budget.close();
        self.failed = true;
    }
}

/// One produce attempt for one batch: creates the partition's client if needed, bounded by the
/// request timeout. Retries are the engine's business.
#[allow(clippy::too_many_arguments)]
async fn produce_attempt(
    client: Arc<Client>,
    partition_client: Option<Arc<PartitionClient>>,
    topic_name: Arc<str>,
    topic: u32,
    partition: u32,
    seq: u64,
    records: Vec<Record>,
    compression: rskafka::client::partition::Compression,
    timeout: Duration,
) -> Produced {
    let started = Instant::now();
    let work = async {
        let pc = match partition_client {
            Some(pc) => pc,
            None => Arc::new(
                client
                    .partition_client(
                        topic_name.to_string(),
                        partition as i32,
                        UnknownTopicHandling::Error,
                    )
                    .await
                    .map_err(|e| (AttemptError::Kafka(e), None))?,
            ),
        };
        match pc.produce(records, compression).await {
            Ok(_offsets) => Ok(pc),
            Err(e) => Err((AttemptError::Kafka(e), Some(pc))),
        }
    };
    let (result, client) = match tokio::time::timeout(timeout, work).await {
        Ok(Ok(pc)) => (Ok(()), Some(pc)),
        Ok(Err((e, pc))) => (Err(e), pc),
        Err(_) => (Err(AttemptError::Timeout), None),
    };
    Produced {
        topic,
        partition,
        seq,
        result,
        client,
        elapsed: started.elapsed(),
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

    fn rec(v: usize) -> Record {
        Record {
            key: Some(vec![1; 4]),
            value: Some(vec![2; v]),
            headers: Default::default(),
            timestamp: DateTime::<Utc>::from_timestamp_millis(0).unwrap(),
        }
    }

    #[test]
    fn split_keeps_order_tokens_and_charges() {
        let now = Instant::now();
        let mut b = Batch::new(7, 4, now);
        for i in 0..5u64 {
            let r = rec(10 + i as usize);
            let size = record_size(&r);
            b.push(r, size, size + RECORD_MEMORY, 100 + i / 2);
        }
        let charged = b.charged;
        let (x, y) = b.split();
        assert_eq!((x.seq, x.span), (7, 2));
        assert_eq!((y.seq, y.span), (9, 2));
        assert_eq!(x.records.len(), 2);
        assert_eq!(y.records.len(), 3);
        assert_eq!(x.records[0].value.as_ref().unwrap().len(), 10);
        assert_eq!(y.records[0].value.as_ref().unwrap().len(), 12);
        assert_eq!(x.tokens, vec![(100, 2)]);
        assert_eq!(y.tokens, vec![(101, 2), (102, 1)]);
        assert_eq!(x.charged + y.charged, charged);
    }

    #[test]
    fn retries_are_kept_in_sequence_order() {
        let now = Instant::now();
        let mut p = PartitionState::new(Duration::from_millis(1));
        p.insert_retry(Batch::new(5, 1, now));
        p.insert_retry(Batch::new(2, 1, now));
        p.insert_retry(Batch::new(9, 1, now));
        let mut again = Batch::new(2, 1, now);
        again.attempts = 42;
        p.insert_retry(again);
        let order: Vec<(u64, u32)> = p.retry.iter().map(|b| (b.seq, b.attempts)).collect();
        assert_eq!(order, vec![(2, 0), (2, 42), (5, 0), (9, 0)]);
    }

    fn flight(seq: u64, written: bool) -> Flight {
        Flight {
            batch: Batch::new(seq, 1, Instant::now()),
            written,
        }
    }

    #[test]
    fn written_batches_are_released_in_order_only() {
        let mut p = PartitionState::new(Duration::from_millis(1));
        p.inflight = vec![flight(1, false), flight(2, true), flight(3, true)];
        // Batch 1 is still on the wire: 2 and 3 wait.
        assert!(p.take_releasable().is_empty());
        assert_eq!(p.on_the_wire(), 1);
        p.inflight[0].written = true;
        let mut released: Vec<u64> = p.take_releasable().iter().map(|b| b.seq).collect();
        released.sort_unstable();
        assert_eq!(released, vec![1, 2, 3]);
        assert!(p.inflight.is_empty());
    }

    #[test]
    fn a_failure_re_sends_the_later_written_batches_after_it() {
        let mut p = PartitionState::new(Duration::from_millis(1));
        p.inflight = vec![flight(2, true), flight(3, false), flight(4, true)];
        // Batch 1 failed while 2 and 4 were written and 3 is on the wire.
        p.insert_retry(Batch::new(1, 1, Instant::now()));
        assert_eq!(p.requeue_written_after(1), 2);
        let retry: Vec<u64> = p.retry.iter().map(|b| b.seq).collect();
        assert_eq!(retry, vec![1, 2, 4]);
        // 3 is still on the wire; nothing is releasable before 1 is written.
        assert!(p.take_releasable().is_empty());
        assert_eq!(p.on_the_wire(), 1);
        // 3 is written before 1's retry: it must be written again after it.
        assert!(p.on_written(0));
        let retry: Vec<u64> = p.retry.iter().map(|b| b.seq).collect();
        assert_eq!(retry, vec![1, 2, 3, 4]);
        // The retry of 1 goes out alone; 1 written with nothing earlier pending is released.
        let one = p.retry.pop_front().unwrap();
        p.inflight.push(Flight {
            batch: one,
            written: false,
        });
        assert!(!p.on_written(0));
        assert_eq!(p.take_releasable().len(), 1);
    }
}
