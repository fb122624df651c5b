//! What happens to a record that cannot be converted, transformed or written: Connect's
//! `errors.*` behaviour. With `errors.tolerance=none` the task fails with a message naming the
//! record's topic, partition and offset and the cause; with `all` the record is logged (when
//! `errors.log.enable`) and produced, with its ORIGINAL key, value and headers, to the dead letter
//! queue (when one is configured) — acknowledged before the caller moves its position past it.

use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;
use walcast_connect_api::ConnectorError;
use walcast_kafka::{Client, ConsumedRecord, RecordSender};

use crate::config::{Settings, Tolerance};
use crate::retry::{Backoff, Halt};

/// Where in the pipeline a record failed (Connect's `Stage` names, used in the
/// `__connect.errors.stage` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    KeyConverter,
    ValueConverter,
    Transformation,
    TaskPut,
}

impl Stage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stage::KeyConverter => "KEY_CONVERTER",
            Stage::ValueConverter => "VALUE_CONVERTER",
            Stage::Transformation => "TRANSFORMATION",
            Stage::TaskPut => "TASK_PUT",
        }
    }
}

/// One failure of one record.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub stage: Stage,
    /// The class that failed (`__connect.errors.class.name`): the converter, the transform or
    /// the connector.
    pub class_name: String,
    /// Never contains record values (the converters, transforms and writers guarantee it).
    pub message: String,
}

/// The JsonConverter's class, reported for conversion failures like Connect does.
pub(crate) const JSON_CONVERTER_CLASS: &str = "org.apache.kafka.connect.json.JsonConverter";
/// Connect's exception class for records that do not fit (what converters and transforms throw).
const DATA_EXCEPTION_CLASS: &str = "org.apache.kafka.connect.errors.DataException";
/// Partitions of a dead letter queue topic walcast creates (Connect creates one).
const DLQ_PARTITIONS: i32 = 1;

/// Applies `errors.tolerance`, `errors.log.*` and the dead letter queue.
pub(crate) struct ErrorHandler {
    connector: String,
    tolerance: Tolerance,
    log_errors: bool,
    log_messages: bool,
    dlq: Option<Dlq>,
    dead_lettered: Counter,
    skipped: Counter,
    retry_delay_max: Duration,
    retry_timeout: Option<Duration>,
}

struct Dlq {
    topic: String,
    partitions: i32,
    context_headers: bool,
    sender: RecordSender,
}

impl ErrorHandler {
    /// Creates the dead letter queue topic if one is configured (and tolerance is `all`).
    pub(crate) async fn new(
        connector: &str,
        settings: &Settings,
        client: &Arc<Client>,
        metrics: &crate::metrics::TaskMetrics,
    ) -> Result<Self, walcast_kafka::KafkaError> {
        let dlq = match (&settings.dlq_topic, settings.tolerance) {
            (Some(topic), Tolerance::All) => {
                let partitions = walcast_kafka::ensure_topic(
                    client,
                    topic,
                    DLQ_PARTITIONS,
                    settings.dlq_replication_factor,
                    Duration::from_secs(30),
                )
                .await?;
                Some(Dlq {
                    topic: topic.clone(),
                    partitions,
                    context_headers: settings.dlq_context_headers,
                    sender: RecordSender::new(client.clone()),
                })
            }
            (Some(topic), Tolerance::None) => {
                tracing::warn!(
                    topic,
                    "errors.deadletterqueue.topic.name is set but errors.tolerance=none: the first failed record fails the task and nothing is dead-lettered"
                );
                None
            }
            (None, _) => None,
        };
        Ok(Self {
            connector: connector.to_owned(),
            tolerance: settings.tolerance,
            log_errors: settings.log_errors,
            log_messages: settings.log_messages,
            dlq,
            dead_lettered: metrics.dead_lettered.clone(),
            skipped: metrics.skipped.clone(),
            retry_delay_max: settings.retry_delay_max,
            retry_timeout: settings.retry_timeout,
        })
    }

    /// Handles one failed record: `Ok` when the task may move past it (logged, dead-lettered
    /// and acknowledged, or skipped), `Err` when the task must fail.
    pub(crate) async fn report(
        &mut self,
        topic: &str,
        raw: &ConsumedRecord,
        failure: &Failure,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> Result<(), Halt> {
        let (partition, offset) = (raw.partition, raw.offset);
        if self.log_errors || self.tolerance == Tolerance::None {
            if self.log_messages {
                tracing::warn!(
                    topic, partition, offset,
                    stage = failure.stage.as_str(),
                    class = %failure.class_name,
                    key = %String::from_utf8_lossy(raw.key.as_deref().unwrap_or_default()),
                    value = %String::from_utf8_lossy(raw.value.as_deref().unwrap_or_default()),
                    headers = ?raw.headers.keys().collect::<Vec<_>>(),
                    "error encountered in stage {}: {}", failure.stage.as_str(), failure.message
                );
            } else {
                tracing::warn!(
                    topic, partition, offset,
                    stage = failure.stage.as_str(),
                    class = %failure.class_name,
                    "error encountered in stage {}: {}", failure.stage.as_str(), failure.message
                );
            }
        }
        if self.tolerance == Tolerance::None {
            return Err(Halt::Fail(ConnectorError {
                message: format!(
                    "record {topic}-{partition} at offset {offset} failed in stage {} ({}): {}; fix the record's producer or the connector config, or set errors.tolerance=all (with errors.deadletterqueue.topic.name) to skip such records",
                    failure.stage.as_str(),
                    failure.class_name,
                    failure.message
                ),
                trace: format!(
                    "Tolerance exceeded in error handler\nCaused by: {DATA_EXCEPTION_CLASS}: {}\n  stage: {}\n  class: {}\n  record: topic={topic} partition={partition} offset={offset}",
                    failure.message,
                    failure.stage.as_str(),
                    failure.class_name
                ),
            }));
        }
        let Some(dlq) = self.dlq.as_mut() else {
            self.skipped.increment(1);
            return Ok(());
        };
        let mut headers = raw.headers.clone();
        if dlq.context_headers {
            let stack = format!(
                "{DATA_EXCEPTION_CLASS}: {}\n\tat {} ({})",
                failure.message,
                failure.class_name,
                failure.stage.as_str()
            );
            let ctx: [(&str, String); 10] = [
                ("__connect.errors.topic", topic.to_owned()),
                ("__connect.errors.partition", partition.to_string()),
                ("__connect.errors.offset", offset.to_string()),
                ("__connect.errors.connector.name", self.connector.clone()),
                ("__connect.errors.task.id", "0".to_owned()),
                ("__connect.errors.stage", failure.stage.as_str().to_owned()),
                ("__connect.errors.class.name", failure.class_name.clone()),
                (
                    "__connect.errors.exception.class.name",
                    DATA_EXCEPTION_CLASS.to_owned(),
                ),
                (
                    "__connect.errors.exception.message",
                    failure.message.clone(),
                ),
                ("__connect.errors.exception.stacktrace", stack),
            ];
            for (k, v) in ctx {
                headers.insert(k.to_owned(), v.into_bytes());
            }
        }
        let mut backoff = Backoff::new(
            Duration::from_millis(300),
            self.retry_delay_max,
            self.retry_timeout,
            None,
        );
        loop {
            let sent = dlq
                .sender
                .send(
                    &dlq.topic,
                    dlq.partitions,
                    raw.key.as_deref().map(<[u8]>::to_vec),
                    raw.value.as_deref().map(<[u8]>::to_vec),
                    headers.clone(),
                    raw.timestamp_ms,
                )
                .await;
            match sent {
                Ok(_) => {
                    self.dead_lettered.increment(1);
                    return Ok(());
                }
                Err(e) if walcast_kafka::is_send_retryable(&e) => {
                    let Some(wait) = backoff.next_delay() else {
                        return Err(Halt::Fail(ConnectorError::new(format!(
                            "producing record {topic}-{partition} at offset {offset} to the dead letter queue {} kept failing for errors.retry.timeout: {e}",
                            dlq.topic
                        ))));
                    };
                    tracing::warn!(topic, partition, offset, dlq = %dlq.topic, error = %e, retry_in_ms = wait.as_millis() as u64, "dead letter queue produce failed, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Err(Halt::Shutdown),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Err(e) => {
                    return Err(Halt::Fail(ConnectorError::new(format!(
                        "producing record {topic}-{partition} at offset {offset} to the dead letter queue {} failed: {e}",
                        dlq.topic
                    ))))
                }
            }
        }
    }
}

/// The class reported for transformation failures: the transform's `type` when the chain has
/// one transform (which then must be the one that failed), else the chain.
pub(crate) fn transform_class(config: &walcast_connect_api::ConnectorConfig) -> String {
    let aliases = config
        .get("transforms")
        .map(|v| walcast_connect_api::split_list(v))
        .unwrap_or_default();
    match aliases.as_slice() {
        [one] => config
            .get(&format!("transforms.{one}.type"))
            .cloned()
            .unwrap_or_else(|| one.clone()),
        _ => "org.apache.kafka.connect.runtime.TransformationChain".to_owned(),
    }
}

/// The `type` of the transform a chain error names (`transform <alias>: ...`).
pub(crate) fn failed_transform_class(
    config: &walcast_connect_api::ConnectorConfig,
    message: &str,
) -> Option<String> {
    let alias = message.strip_prefix("transform ")?.split(':').next()?;
    config.get(&format!("transforms.{alias}.type")).cloned()
}
