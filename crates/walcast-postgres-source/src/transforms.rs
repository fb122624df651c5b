//! The connector's transform chain (`transforms=a,b`, Connect's single message transforms), run
//! on every record the source produces: row events, tombstones, heartbeats and logical decoding
//! messages, as Connect runs a source task's chain on every record it polls.
//!
//! ```text
//! encoder bytes ──walcast_json::read──▶ ConnectRecord ──TransformChain──▶ kept / dropped / failed
//!   kept ──walcast_json::write (key/value schemas.enable)──▶ Producer::send(new topic, token)
//! ```
//!
//! The encoder renders Debezium JSON directly, for speed; with transforms configured each
//! record is read back into Connect's data model, run through the same [`TransformChain`] the
//! sink runtime uses, and written again with the converters' `schemas.enable`. Without
//! transforms none of this runs: callers send the encoder's bytes as they are.
//!
//! Positions: a record keeps the token (commit LSN) of its change. A dropped record is simply
//! not sent, so its transaction is confirmed once the records that were sent are acknowledged
//! (a transaction whose records are all dropped completes with its Commit, as one on an
//! uncaptured table does).
//!
//! Failures follow Connect's `errors.tolerance`: `none` (the default) fails the task naming the
//! transform, topic and LSN; `all` skips the record (logged with `errors.log.enable`). A
//! transform that cannot reach what it looks things up in (RedisLookup's Redis) is a transient
//! failure: the task restarts from the slot's confirmed position after a backoff.

use futures::future::BoxFuture;
use metrics::{counter, Counter};
use tracing::warn;
use walcast_connect_api::{convert_to_string, ConfigIssue, ConnectRecord, ConnectorConfig};
use walcast_kafka::{Headers, Producer};
use walcast_pgoutput::Lsn;
use walcast_transforms::{Outcome, TransformChain};

use crate::config::SourceConfig;
use crate::error::SourceError;
use crate::events::OwnedRecord;
use crate::metric;

/// A configured transform chain and what the source needs to run it.
pub struct SourceTransforms {
    chain: TransformChain,
    /// `key.converter.schemas.enable`: how keys are read and written back.
    key_schemas: bool,
    /// `value.converter.schemas.enable`.
    value_schemas: bool,
    /// `errors.tolerance=all`.
    skip_failed: bool,
    /// `errors.log.enable`.
    log_failed: bool,
    dropped: Counter,
    skipped: Counter,
}

impl std::fmt::Debug for SourceTransforms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceTransforms")
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

impl SourceTransforms {
    /// The chain `config` declares, or `None` when it declares no transform (records then go
    /// to the producer untouched). Every problem is reported, each under its full key.
    pub fn from_config(
        connector: &str,
        config: &ConnectorConfig,
        cfg: &SourceConfig,
        key_schemas: bool,
        value_schemas: bool,
    ) -> Result<Option<Self>, Vec<ConfigIssue>> {
        let chain = TransformChain::from_config(config)?.with_connector(connector);
        if chain.is_empty() {
            return Ok(None);
        }
        let label = connector.to_string();
        Ok(Some(Self {
            chain,
            key_schemas,
            value_schemas,
            skip_failed: cfg.skip_failed_records,
            log_failed: cfg.log_failed_records,
            dropped: counter!(metric::TRANSFORM_DROPPED, "connector" => label.clone()),
            skipped: counter!(metric::TRANSFORM_SKIPPED, "connector" => label),
        }))
    }

    /// Runs the chain on one record bound for `topic` and sends what it keeps with `token`.
    /// `lsn` is the change's position, for error messages (`None` for heartbeats). Boxed, so
    /// the callers' futures (the engine's per-change path) stay as small as without transforms.
    pub fn send<'a>(
        &'a mut self,
        producer: &'a mut Producer,
        topic: &'a str,
        record: OwnedRecord,
        token: u64,
        lsn: Option<Lsn>,
    ) -> BoxFuture<'a, Result<(), SourceError>> {
        Box::pin(self.transform_and_send(producer, topic, record, token, lsn))
    }

    async fn transform_and_send(
        &mut self,
        producer: &mut Producer,
        topic: &str,
        record: OwnedRecord,
        token: u64,
        lsn: Option<Lsn>,
    ) -> Result<(), SourceError> {
        if let Some((topic, r, headers)) = self.transform(topic, record, lsn).await? {
            producer
                .send_with_headers(&topic, r.key, r.value, headers, r.timestamp_ms, token)
                .await?;
        }
        Ok(())
    }

    /// The record after the chain, with the topic it goes to and the headers the chain added;
    /// `None` when a transform dropped it or it failed and `errors.tolerance=all` skips it.
    async fn transform(
        &mut self,
        topic: &str,
        record: OwnedRecord,
        lsn: Option<Lsn>,
    ) -> Result<Option<(String, OwnedRecord, Headers)>, SourceError> {
        let failed = |message: String, transient: bool| SourceError::Transform {
            topic: topic.to_string(),
            lsn,
            message,
            transient,
        };
        let outcome = match self.convert(topic, &record) {
            Ok(r) => match self.chain.apply_batch(vec![r]).await {
                Ok(mut outcomes) => outcomes.pop().unwrap_or(Outcome::Dropped),
                Err(e) => return Err(failed(e.message, e.transient)),
            },
            Err(message) => Outcome::Failed(walcast_connect_api::TransformError::new(message)),
        };
        let kept = match outcome {
            Outcome::Keep(r) => r,
            Outcome::Dropped => {
                self.dropped.increment(1);
                return Ok(None);
            }
            Outcome::Failed(e) if e.transient => return Err(failed(e.message, true)),
            Outcome::Failed(e) => {
                let e = failed(e.message, false);
                if !self.skip_failed {
                    return Err(e);
                }
                if self.log_failed {
                    warn!(error = %e, "skipping the record (errors.tolerance=all)");
                }
                self.skipped.increment(1);
                return Ok(None);
            }
        };
        // Header values as Connect's default header converter (SimpleHeaderConverter) writes
        // them. A null value is sent as an empty one (the producer has no null header value).
        let headers: Headers = kept
            .headers
            .iter()
            .map(|h| {
                let text = convert_to_string(h.schema.as_deref(), &h.value);
                (
                    h.key.clone(),
                    text.map(String::into_bytes).unwrap_or_default(),
                )
            })
            .collect();
        let out = OwnedRecord {
            key: walcast_json::write(kept.key_schema.as_deref(), &kept.key, self.key_schemas),
            value: walcast_json::write(
                kept.value_schema.as_deref(),
                &kept.value,
                self.value_schemas,
            ),
            timestamp_ms: kept.timestamp_ms.unwrap_or(record.timestamp_ms),
        };
        Ok(Some((kept.topic, out, headers)))
    }

    /// The record in Connect's data model, as a JsonConverter with the connector's settings
    /// reads the encoder's bytes.
    fn convert(&self, topic: &str, record: &OwnedRecord) -> Result<ConnectRecord, String> {
        let (key_schema, key) = walcast_json::read(record.key.as_deref(), self.key_schemas)
            .map_err(|e| format!("converting the key: {e}"))?;
        let (value_schema, value) = walcast_json::read(record.value.as_deref(), self.value_schemas)
            .map_err(|e| format!("converting the value: {e}"))?;
        Ok(ConnectRecord {
            topic: topic.to_string(),
            partition: None,
            offset: None,
            timestamp_ms: Some(record.timestamp_ms),
            key_schema,
            key,
            value_schema,
            value,
            headers: Vec::new(),
        })
    }
}

/// Sends one encoded record with `token`: as it is when the connector has no transforms (the
/// hot path: just the producer call), else through the chain. `lsn` is the change's position,
/// for error messages (`None` for heartbeats).
pub async fn produce(
    producer: &mut Producer,
    transforms: Option<&mut SourceTransforms>,
    topic: &str,
    record: OwnedRecord,
    token: u64,
    lsn: Option<Lsn>,
) -> Result<(), SourceError> {
    match transforms {
        None => {
            producer
                .send(topic, record.key, record.value, record.timestamp_ms, token)
                .await?
        }
        Some(t) => t.send(producer, topic, record, token, lsn).await?,
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(kv: &[(&str, &str)]) -> ConnectorConfig {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const BASE: &[(&str, &str)] = &[
        ("database.hostname", "h"),
        ("database.user", "u"),
        ("database.dbname", "d"),
        ("topic.prefix", "p"),
    ];

    fn build(kv: &[(&str, &str)]) -> Result<Option<SourceTransforms>, Vec<ConfigIssue>> {
        let mut all = BASE.to_vec();
        all.extend_from_slice(kv);
        let c = config(&all);
        let cfg = SourceConfig::parse(&c).unwrap();
        SourceTransforms::from_config("c", &c, &cfg, true, true)
    }

    #[test]
    fn no_transforms_means_no_chain() {
        assert!(build(&[]).unwrap().is_none());
        assert!(build(&[("transforms", " ")]).unwrap().is_none());
    }

    #[test]
    fn chain_problems_are_reported_by_key() {
        let issues = build(&[
            ("transforms", "unwrap"),
            ("transforms.unwrap.type", "ExtractNewRecordStat"),
        ])
        .unwrap_err();
        assert_eq!(issues[0].key, "transforms.unwrap.type");
        assert!(issues[0].message.contains("Did you mean"), "{issues:?}");
    }

    const ROW: &str = r#"{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"item"}],"optional":true,"name":"p.public.t.Value""#;

    /// A Debezium create event as the encoder renders it (trimmed to what the chain reads).
    fn create_event() -> OwnedRecord {
        let value = format!(
            r#"{{"schema":{{"type":"struct","fields":[{ROW},"field":"before"}},{ROW},"field":"after"}},{{"type":"string","optional":false,"field":"op"}}],"optional":false,"name":"p.public.t.Envelope"}},"payload":{{"before":null,"after":{{"id":7,"item":"x"}},"op":"c"}}}}"#
        );
        OwnedRecord {
            key: Some(br#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"p.public.t.Key"},"payload":{"id":7}}"#.to_vec()),
            value: Some(value.into_bytes()),
            timestamp_ms: 5,
        }
    }

    const UNWRAP_ROUTE: &[(&str, &str)] = &[
        (
            "transforms.unwrap.type",
            "io.debezium.transforms.ExtractNewRecordState",
        ),
        ("transforms.route.type", "RegexRouter"),
        ("transforms.route.regex", "p\\.public\\.(.*)"),
        ("transforms.route.replacement", "flat.$1"),
    ];

    #[tokio::test]
    async fn unwrap_and_route_flatten_the_event_and_drop_its_tombstone() {
        let mut kv = UNWRAP_ROUTE.to_vec();
        kv.push(("transforms", "unwrap,route"));
        let mut t = build(&kv).unwrap().unwrap();
        let (topic, r, headers) = t
            .transform("p.public.t", create_event(), Some(Lsn(42)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(topic, "flat.t");
        assert!(headers.is_empty(), "{headers:?}");
        assert_eq!(r.timestamp_ms, 5);
        let value: serde_json::Value = serde_json::from_slice(&r.value.unwrap()).unwrap();
        assert_eq!(value["payload"], serde_json::json!({"id": 7, "item": "x"}));
        assert_eq!(value["schema"]["name"], "p.public.t.Value");
        let key: serde_json::Value = serde_json::from_slice(&r.key.unwrap()).unwrap();
        assert_eq!(key["payload"], serde_json::json!({"id": 7}));
        let tombstone = OwnedRecord {
            key: create_event().key,
            value: None,
            timestamp_ms: 5,
        };
        assert!(t
            .transform("p.public.t", tombstone, Some(Lsn(42)))
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn added_headers_are_sent_in_their_string_form() {
        let mut kv = UNWRAP_ROUTE.to_vec();
        kv.extend([
            ("transforms", "unwrap"),
            ("transforms.unwrap.add.headers", "op,after.id:row_id"),
        ]);
        let mut t = build(&kv).unwrap().unwrap();
        let (topic, _, headers) = t
            .transform("p.public.t", create_event(), Some(Lsn(42)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(topic, "p.public.t");
        let text: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), std::str::from_utf8(v).unwrap()))
            .collect();
        assert_eq!(text, [("__op", "c"), ("__row_id", "7")]);
    }

    #[tokio::test]
    async fn a_failing_transform_fails_the_task_or_is_skipped_per_errors_tolerance() {
        let mut kv = UNWRAP_ROUTE.to_vec();
        kv.extend([
            ("transforms", "unwrap,ts"),
            ("transforms.ts.type", "TimestampConverter$Value"),
            ("transforms.ts.field", "item"),
            ("transforms.ts.target.type", "Timestamp"),
        ]);
        let mut t = build(&kv).unwrap().unwrap();
        let e = t
            .transform("p.public.t", create_event(), Some(Lsn(0x1_0000_0010)))
            .await
            .err()
            .unwrap();
        assert!(!e.is_transient());
        let text = e.to_string();
        assert!(
            text.contains("transform ts:")
                && text.contains("topic p.public.t at LSN 1/10")
                && text.contains("errors.tolerance=all"),
            "{text}"
        );
        kv.push(("errors.tolerance", "all"));
        let mut t = build(&kv).unwrap().unwrap();
        assert!(t
            .transform("p.public.t", create_event(), Some(Lsn(16)))
            .await
            .unwrap()
            .is_none());
    }

    #[test]
    fn records_convert_into_the_data_model() {
        let t = build(&[
            ("transforms", "route"),
            ("transforms.route.type", "RegexRouter"),
            ("transforms.route.regex", "p\\.(.*)"),
            ("transforms.route.replacement", "x.$1"),
        ])
        .unwrap()
        .unwrap();
        let r = OwnedRecord {
            key: Some(br#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"p.public.t.Key"},"payload":{"id":7}}"#.to_vec()),
            value: None,
            timestamp_ms: 5,
        };
        let c = t.convert("p.public.t", &r).unwrap();
        assert!(c.is_tombstone());
        assert_eq!(c.timestamp_ms, Some(5));
        assert_eq!(
            c.key.member("id").map(|(_, v)| v),
            Some(&walcast_connect_api::Value::Int32(7))
        );
        let bad = OwnedRecord {
            key: Some(b"{not json".to_vec()),
            value: None,
            timestamp_ms: 0,
        };
        assert!(t.convert("p.public.t", &bad).unwrap_err().contains("key"));
    }
}
