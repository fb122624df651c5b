//! Cluster-level helpers: connecting, listing topics, creating a topic if it is missing.
//!
//! Topics are created explicitly with CreateTopics (Connect's `topic.creation.default.*`)
//! rather than relying on broker auto-creation: real clusters often disable
//! `auto.create.topics.enable`, and where it is enabled it creates topics with the broker's
//! default partition count, which would change the key → partition mapping.

use std::sync::Arc;
use std::time::Duration;

use rskafka::client::error::{Error as RsError, ProtocolError};
use rskafka::client::{Client, ClientBuilder};
use rskafka::BackoffConfig;

use crate::error::KafkaError;

/// A topic and its partition count, as the cluster's metadata reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: i32,
}

/// Connects to the cluster (fetching its metadata once), giving up after `timeout`.
///
/// rskafka retries failed requests internally for up to `timeout` as well; use this for readers
/// and administration. A broker that is down yields a transient [`KafkaError::Connect`] or
/// [`KafkaError::ConnectTimeout`] the caller can retry.
pub async fn connect(
    bootstrap_servers: &[String],
    client_id: &str,
    timeout: Duration,
) -> Result<Arc<Client>, KafkaError> {
    let backoff = BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(timeout),
    };
    build_client(bootstrap_servers, client_id, backoff, timeout).await
}

/// Builds an rskafka client with the given internal retry policy, bounded by `timeout`.
pub(crate) async fn build_client(
    bootstrap_servers: &[String],
    client_id: &str,
    backoff: BackoffConfig,
    timeout: Duration,
) -> Result<Arc<Client>, KafkaError> {
    let servers = bootstrap_servers.join(",");
    if bootstrap_servers.is_empty() {
        return Err(KafkaError::Config {
            name: "bootstrap.servers",
            message: "no broker address given".into(),
        });
    }
    let builder = ClientBuilder::new(bootstrap_servers.to_vec())
        .client_id(client_id)
        .backoff_config(backoff);
    // The deadline in the backoff bounds rskafka's retries; this bounds a connect that hangs
    // (a firewall dropping packets) and the last attempt.
    match tokio::time::timeout(timeout + Duration::from_secs(1), builder.build()).await {
        Ok(Ok(client)) => Ok(Arc::new(client)),
        Ok(Err(e)) => Err(KafkaError::Connect {
            servers,
            source: Arc::new(e),
        }),
        Err(_) => Err(KafkaError::ConnectTimeout {
            servers,
            timeout_ms: duration_ms(timeout),
        }),
    }
}

/// Every non-internal topic with its partition count (a fresh, uncached metadata request).
pub async fn list_topics(client: &Client) -> Result<Vec<TopicInfo>, KafkaError> {
    let topics = client
        .list_topics()
        .await
        .map_err(|e| KafkaError::admin("listing", "*", e))?;
    Ok(topics
        .into_iter()
        .map(|t| TopicInfo {
            partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
            name: t.name,
        })
        .collect())
}

/// The partition count of `topic`, or `None` if it does not exist.
///
/// Uses an all-topics metadata request on purpose: a request naming the topic would make brokers
/// with `auto.create.topics.enable` create it with their default partition count.
pub async fn topic_partitions(client: &Client, topic: &str) -> Result<Option<i32>, KafkaError> {
    let topics = client
        .list_topics()
        .await
        .map_err(|e| KafkaError::admin("describing", topic, e))?;
    Ok(topics
        .into_iter()
        .find(|t| t.name == topic)
        .map(|t| i32::try_from(t.partitions.len()).unwrap_or(i32::MAX))
        .filter(|n| *n > 0))
}

/// Makes sure `topic` exists, creating it with `partitions` partitions and `replication_factor`
/// replicas if it does not; returns the partition count it actually has (an existing topic keeps
/// its own). "Already exists" counts as success: another producer may have won the race.
pub async fn ensure_topic(
    client: &Client,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    timeout: Duration,
) -> Result<i32, KafkaError> {
    if let Some(n) = topic_partitions(client, topic).await? {
        return Ok(n);
    }
    let controller = client
        .controller_client()
        .map_err(|e| KafkaError::admin("creating", topic, e))?;
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    match controller
        .create_topic(topic, partitions, replication_factor, timeout_ms)
        .await
    {
        Ok(()) => {
            tracing::info!(topic, partitions, replication_factor, "created kafka topic");
        }
        Err(RsError::ServerError {
            protocol_error: ProtocolError::TopicAlreadyExists,
            ..
        }) => {}
        Err(e) => return Err(KafkaError::admin("creating", topic, e)),
    }
    // Metadata propagates to all brokers asynchronously after CreateTopics; wait for it (bounded)
    // so that the caller partitions by the real count.
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(n) = topic_partitions(client, topic).await? {
            return Ok(n);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(KafkaError::Timeout {
                what: "waiting for a created topic to appear in metadata",
                topic: topic.to_owned(),
                timeout_ms: duration_ms(timeout),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
