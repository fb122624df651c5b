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

mod batch;
mod config;
mod dispatch;
mod engine;
mod partition;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rskafka::BackoffConfig;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::admin::build_secure_client;
use crate::error::KafkaError;
use batch::{RECORD_MEMORY, RECORD_OVERHEAD};
use engine::Engine;

pub use config::{Compression, ProducerConfig};

/// Commands queued for the background task at most. Records are bounded by the byte budget
/// too; marks are not, so the channel bound is what keeps a busy uncaptured table from queueing
/// a mark per commit for as long as the broker is down (the overflow coalesces in one slot).
const COMMAND_CAPACITY: usize = 4096;

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
        headers: Headers,
        timestamp_ms: i64,
        token: u64,
        /// Budget bytes this record holds until acknowledged.
        charge: usize,
    },
    Mark(u64),
    Flush(oneshot::Sender<Result<u64, KafkaError>>),
}

/// Record headers: name to value bytes. One value per name, sent in name order.
pub type Headers = BTreeMap<String, Vec<u8>>;

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
        self.send_with_headers(topic, key, value, Headers::new(), timestamp_ms, token)
            .await
    }

    /// [`Producer::send`] with record headers.
    pub async fn send_with_headers(
        &mut self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: Headers,
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
        let bytes = key.as_ref().map_or(0, Vec::len)
            + value.as_ref().map_or(0, Vec::len)
            + batch::headers_size(&headers);
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
            headers,
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
