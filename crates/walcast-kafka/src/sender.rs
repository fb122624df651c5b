//! Producing single records with headers and waiting for their acknowledgement, for low-volume
//! side channels of the sink such as the dead letter queue.
//!
//! The batching [`Producer`](crate::Producer) is built for the source's throughput and carries no
//! headers; a dead letter record needs Connect's `__connect.errors.*` headers and the caller must
//! know it is stored (acks=all) before the sink moves its position past the failed record.
//!
//! In: topic, key, value, headers, timestamp. Out: the offset the broker assigned, or an error
//! naming topic and partition ([`is_send_retryable`] tells whether sending again can help).

use bytes::Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::record::Record;

use crate::client::Client;
use crate::error::{classify, ErrorClass, KafkaError};
use crate::partitioner::partition_for_key;

/// Sends records one at a time to topics whose partition count the caller knows.
pub struct RecordSender {
    client: Arc<Client>,
    /// Partition clients by (topic, partition), created on first use.
    partitions: HashMap<(String, i32), PartitionClient>,
}

impl std::fmt::Debug for RecordSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordSender")
            .field("partitions", &self.partitions.len())
            .finish()
    }
}

impl RecordSender {
    pub fn new(client: Arc<Client>) -> Self {
        Self {
            client,
            partitions: HashMap::new(),
        }
    }

    /// Produces one record to `topic` (which has `partitions` partitions; the key picks the
    /// partition like the Java client's default partitioner, a null key goes to partition 0)
    /// and returns its offset once all in-sync replicas have it.
    pub async fn send(
        &mut self,
        topic: &str,
        partitions: i32,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: BTreeMap<String, Vec<u8>>,
        timestamp_ms: i64,
    ) -> Result<i64, KafkaError> {
        let partition = match &key {
            Some(k) if partitions > 1 => partition_for_key(k, partitions),
            _ => 0,
        };
        self.send_to(topic, partition, key, value, headers, timestamp_ms)
            .await
    }

    /// Produces one record to `topic`-`partition` and returns its offset once all in-sync
    /// replicas have it.
    pub async fn send_to(
        &mut self,
        topic: &str,
        partition: i32,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: BTreeMap<String, Vec<u8>>,
        timestamp_ms: i64,
    ) -> Result<i64, KafkaError> {
        let slot = (topic.to_owned(), partition);
        if !self.partitions.contains_key(&slot) {
            let pc = self
                .client
                .rskafka()
                .partition_client(topic, partition, UnknownTopicHandling::Retry)
                .await
                .map_err(|e| produce_error(topic, partition, e))?;
            self.partitions.insert(slot.clone(), pc);
        }
        let Some(pc) = self.partitions.get(&slot) else {
            return Err(KafkaError::Closed {
                reason: format!("no partition client for {topic}-{partition}"),
            });
        };
        let timestamp = chrono::DateTime::from_timestamp_millis(timestamp_ms)
            .unwrap_or(chrono::DateTime::UNIX_EPOCH);
        let record = Record {
            key: key.map(Bytes::from),
            value: value.map(Bytes::from),
            headers,
            timestamp,
        };
        let result = pc.produce(vec![record], Compression::NoCompression).await;
        match result {
            Ok(offsets) => Ok(offsets.first().copied().unwrap_or(-1)),
            Err(e) => {
                // A broken connection poisons the cached client's broker; start afresh next time.
                self.partitions.remove(&slot);
                Err(produce_error(topic, partition, e))
            }
        }
    }
}

fn produce_error(topic: &str, partition: i32, e: rskafka::client::error::Error) -> KafkaError {
    KafkaError::Produce {
        topic: topic.to_owned(),
        partition,
        hint: "",
        source: crate::error::BrokerError(Arc::new(e)),
    }
}

/// Whether sending again may succeed (broker down, leader election, topic not yet propagated).
pub fn is_send_retryable(e: &KafkaError) -> bool {
    match e {
        KafkaError::Produce { source, .. } => !matches!(classify(&source.0), ErrorClass::Fatal),
        other => other.is_transient(),
    }
}
