//! The background task "kafka_produce": takes the handle's commands in order, checks (and
//! creates) topics, turns acknowledgements into the watermark and answers flushes. Appending
//! records to batches and sending them is in [`dispatch`](super::dispatch).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use metrics::{Counter, Gauge, Histogram};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::Instant;

use super::config::ProducerConfig;
use super::dispatch::Produced;
use super::partition::PartitionState;
use super::{Command, DeferredMark, FailureSlot};
use crate::admin::{duration_ms, ensure_topic, topic_partitions};
use crate::client::Client;
use crate::error::KafkaError;
use crate::partitioner::StickyPartitioner;
use crate::watermark::AckTracker;

/// Commands the background task takes from the channel per wakeup.
const RECV_CHUNK: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TopicStatus {
    /// Its metadata is being fetched (or the topic created).
    Checking,
    /// Waiting for `check_at` to check again after a failed check.
    CheckLater,
    /// Partitions may send.
    Ready,
}

/// A record that arrived before its topic's partition count was known.
pub(super) struct Pending {
    pub(super) key: Option<Vec<u8>>,
    pub(super) value: Option<Vec<u8>>,
    pub(super) headers: super::Headers,
    pub(super) timestamp_ms: i64,
    pub(super) token: u64,
    pub(super) charge: usize,
}

pub(super) struct TopicMetrics {
    pub(super) records: Counter,
    pub(super) bytes: Counter,
    pub(super) latency: Histogram,
    pub(super) retries: Counter,
}

pub(super) struct TopicState {
    pub(super) name: Arc<str>,
    pub(super) status: TopicStatus,
    /// Empty until the first check succeeds.
    pub(super) partitions: Vec<PartitionState>,
    pub(super) pending: VecDeque<Pending>,
    pub(super) sticky: StickyPartitioner,
    pub(super) check_backoff: Duration,
    pub(super) metrics: TopicMetrics,
}

/// Wakeups; ordered by time in a min-heap, stale ones are ignored when they fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// An open batch may have reached its linger time.
    Linger { topic: u32, partition: u32 },
    /// A partition's backoff ended.
    Retry { topic: u32, partition: u32 },
    /// Check a topic again.
    Check { topic: u32 },
}

pub(super) struct Checked {
    pub(super) topic: u32,
    pub(super) result: Result<Option<i32>, KafkaError>,
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pub(super) struct Engine {
    pub(super) client: Arc<Client>,
    pub(super) cfg: ProducerConfig,
    pub(super) compression: rskafka::client::partition::Compression,
    pub(super) topics: Vec<TopicState>,
    pub(super) tracker: AckTracker,
    pub(super) inflight: FuturesUnordered<BoxFut<Produced>>,
    pub(super) checks: FuturesUnordered<BoxFut<Checked>>,
    pub(super) timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Partitions that may be able to send now.
    pub(super) dirty: Vec<(u32, u32)>,
    pub(super) budget: Arc<Semaphore>,
    /// Budget bytes held by records the engine has received and not yet returned.
    pub(super) buffered: usize,
    pub(super) buffered_gauge: Gauge,
    pub(super) acked: watch::Sender<u64>,
    pub(super) failure: FailureSlot,
    pub(super) flush_waiters: Vec<oneshot::Sender<Result<u64, KafkaError>>>,
    /// A flush is waiting: open batches go out without lingering.
    pub(super) flushing: bool,
    pub(super) failed: bool,
    /// See [`DeferredMark`].
    pub(super) deferred_mark: DeferredMark,
}

impl Engine {
    pub(super) fn new(
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
            compression: cfg.compression.to_rskafka(),
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
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
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
                headers,
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
                    headers,
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
    pub(super) fn start_check(&mut self, topic: u32) {
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
    pub(super) fn fail(&mut self, e: KafkaError) {
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
