//! Partition readers: the in-process sink's input and the tests' window into a topic.
//!
//! A [`PartitionReader`] fetches one partition from a position the caller owns (the sink stores
//! it in the destination database, in the same transaction as the rows), so there is no consumer
//! group and no offset commit. "End of log" decisions use the high watermark from the Fetch
//! response, which every broker reports correctly (tansu's ListOffsets `latest` does not).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use rskafka::client::error::{Error as RsError, ProtocolError, ServerErrorResponse};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};

use crate::admin::{connect, duration_ms, topic_partitions};
use crate::client::Client;
use crate::error::{classify, ErrorClass, KafkaError};

/// One record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub partition: i32,
    pub offset: i64,
    /// The record's key and value share the buffer of the batch they were read from (no copy
    /// per record; the buffer is freed, or reused, with the batch's last record).
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// Milliseconds since the Unix epoch (the producer's create time).
    pub timestamp_ms: i64,
    pub headers: BTreeMap<String, Vec<u8>>,
}

/// Default upper bound of one fetch response (a broker returns at least one whole batch even if
/// it is larger).
const DEFAULT_MAX_BYTES: i32 = 8 * 1024 * 1024;

/// Reads one partition in offset order from a caller-chosen position.
#[derive(Debug)]
pub struct PartitionReader {
    client: PartitionClient,
    topic: String,
    partition: i32,
    /// The next offset to fetch.
    offset: i64,
    max_bytes: i32,
    request_timeout: Duration,
}

impl PartitionReader {
    /// Connects to the partition's leader; reading starts at `start_offset` (0 for the beginning
    /// of a topic that never had records deleted).
    pub async fn new(
        client: &Client,
        topic: &str,
        partition: i32,
        start_offset: i64,
    ) -> Result<Self, KafkaError> {
        let pc = client
            .rskafka()
            .partition_client(topic, partition, UnknownTopicHandling::Error)
            .await
            .map_err(|e| fetch_error(topic, partition, start_offset, e))?;
        Ok(Self {
            client: pc,
            topic: topic.to_owned(),
            partition,
            offset: start_offset,
            max_bytes: DEFAULT_MAX_BYTES,
            request_timeout: Duration::from_secs(30),
        })
    }

    /// Sets the largest fetch response to ask for.
    pub fn with_max_bytes(mut self, max_bytes: i32) -> Self {
        self.max_bytes = max_bytes.max(1024);
        self
    }

    /// Sets how long a fetch may take beyond its `max_wait` before it counts as timed out.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The offset the next fetch starts at (one past the last record returned).
    pub fn position(&self) -> i64 {
        self.offset
    }

    /// Moves the read position.
    pub fn seek(&mut self, offset: i64) {
        self.offset = offset;
    }

    /// The partition's log start offset (the earliest offset still kept), for a position that
    /// retention or record deletion has overtaken and for `auto.offset.reset=earliest`.
    pub async fn earliest_offset(&self) -> Result<i64, KafkaError> {
        self.client
            .get_offset(OffsetAt::Earliest)
            .await
            .map_err(|e| fetch_error(&self.topic, self.partition, self.offset, e))
    }

    /// Fetches the next records, waiting up to `max_wait` for at least one, and advances the
    /// position past them. Returns them with the partition's high watermark (the offset after
    /// the last acknowledged record); an empty vector means nothing new arrived in time.
    pub async fn next_batch(
        &mut self,
        max_wait: Duration,
    ) -> Result<(Vec<ConsumedRecord>, i64), KafkaError> {
        let max_wait_ms = i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX);
        let fetch = self
            .client
            .fetch_records(self.offset, 1..self.max_bytes, max_wait_ms);
        let (records, high_watermark) =
            match tokio::time::timeout(max_wait + self.request_timeout, fetch).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return Err(self.error(e)),
                Err(_) => {
                    return Err(KafkaError::Timeout {
                        what: "fetch",
                        topic: self.topic.clone(),
                        timeout_ms: duration_ms(max_wait + self.request_timeout),
                    })
                }
            };
        let partition = self.partition;
        let out: Vec<ConsumedRecord> = records
            .into_iter()
            .filter(|r| r.offset >= self.offset)
            .map(|r| ConsumedRecord {
                partition,
                offset: r.offset,
                key: r.record.key,
                value: r.record.value,
                timestamp_ms: r.record.timestamp.timestamp_millis(),
                headers: r.record.headers,
            })
            .collect();
        if let Some(last) = out.last() {
            self.offset = last.offset + 1;
        }
        Ok((out, high_watermark))
    }

    fn error(&self, e: RsError) -> KafkaError {
        if let RsError::ServerError {
            protocol_error: ProtocolError::OffsetOutOfRange,
            response,
            ..
        } = &e
        {
            let high_watermark = match response {
                Some(ServerErrorResponse::PartitionFetchState { high_watermark, .. }) => {
                    *high_watermark
                }
                _ => -1,
            };
            return KafkaError::OffsetOutOfRange {
                topic: self.topic.clone(),
                partition: self.partition,
                offset: self.offset,
                high_watermark,
            };
        }
        fetch_error(&self.topic, self.partition, self.offset, e)
    }
}

fn fetch_error(topic: &str, partition: i32, offset: i64, e: RsError) -> KafkaError {
    KafkaError::Fetch {
        topic: topic.to_owned(),
        partition,
        offset,
        class: classify(&e),
        source: crate::error::BrokerError(std::sync::Arc::new(e)),
    }
}

/// Reads every partition of `topic` from offset 0 up to the high watermark seen by its first
/// fetch, returning records ordered by partition, then offset. A topic that does not exist
/// yields no records. For tests and tools, not for production reading.
pub async fn read_topic_to_end(
    bootstrap: &str,
    topic: &str,
) -> Result<Vec<ConsumedRecord>, KafkaError> {
    let servers: Vec<String> = bootstrap
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let client = connect(&servers, "walcast-read-to-end", Duration::from_secs(10)).await?;
    let Some(partitions) = topic_partitions(&client, topic).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for partition in 0..partitions {
        let mut reader = PartitionReader::new(&client, topic, partition, 0).await?;
        let mut end: Option<i64> = None;
        let mut idle_fetches = 0;
        loop {
            let (records, high_watermark) = reader.next_batch(Duration::from_millis(100)).await?;
            let target = *end.get_or_insert(high_watermark);
            if records.is_empty() {
                idle_fetches += 1;
            } else {
                idle_fetches = 0;
            }
            out.extend(records);
            if reader.position() >= target {
                break;
            }
            // Records below the high watermark must be readable; if they do not come, the
            // broker is misbehaving and a test should fail rather than hang.
            if idle_fetches > 50 {
                return Err(KafkaError::Timeout {
                    what: "reading to the high watermark",
                    topic: format!(
                        "{topic}-{partition} (at {}, hw {target})",
                        reader.position()
                    ),
                    timeout_ms: 5000,
                });
            }
        }
    }
    Ok(out)
}

impl ConsumedRecord {
    /// Bytes of key, value and headers: what the record holds in memory, for read-ahead budgets.
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Bytes::len)
            + self.value.as_ref().map_or(0, Bytes::len)
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// Whether fetching can be retried (re-exported classification for the sink).
pub fn is_retryable(e: &KafkaError) -> bool {
    e.is_transient()
        || matches!(
            e,
            KafkaError::Fetch {
                class: ErrorClass::UnknownTopic,
                ..
            }
        )
}
