//! Dispatch: records into their partition's open batch, batches onto the wire (as many per
//! partition as its state allows), and produce results back into the partition's state.

use bytes::Bytes;
use std::cmp::Reverse;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rskafka::client::error::Error as RsError;
use rskafka::client::partition::{PartitionClient, UnknownTopicHandling};
use rskafka::record::Record;
use tokio::time::Instant;

use super::batch::{Batch, BATCH_OVERHEAD, RECORD_OVERHEAD, SEQ_STRIDE};
use super::engine::{Engine, Pending, Timer, TopicStatus};
use super::partition::Flight;
use crate::admin::duration_ms;
use crate::client::Client;
use crate::error::{classify, ErrorClass, KafkaError};
use crate::partitioner::partition_for_key;

pub(super) struct Produced {
    pub(super) topic: u32,
    pub(super) partition: u32,
    pub(super) seq: u64,
    pub(super) result: Result<(), AttemptError>,
    pub(super) client: Option<Arc<PartitionClient>>,
    pub(super) elapsed: Duration,
}

pub(super) enum AttemptError {
    Kafka(RsError),
    Timeout,
}

impl Engine {
    /// Appends a record to its partition's open batch (the topic's partition count is known).
    pub(super) fn append(&mut self, topic: u32, rec: Pending) {
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
            + super::batch::headers_size(&rec.headers)
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
            key: rec.key.map(Bytes::from),
            value: rec.value.map(Bytes::from),
            headers: rec.headers,
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
    pub(super) fn dispatch_dirty(&mut self) {
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
    pub(super) fn on_produced(&mut self, done: Produced) {
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
    pub(super) fn release(&mut self, topic: u32, partition: u32) {
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
                    .rskafka()
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
