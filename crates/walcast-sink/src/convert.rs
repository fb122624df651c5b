//! Kafka records into Connect records, and the facts about a converted record the task's
//! metrics need. In: a fetched [`ConsumedRecord`] and the converter's `schemas.enable`
//! settings. Out: a [`ConnectRecord`], or a [`Failure`] naming the converter stage.

use walcast_connect_api::{ConnectRecord, Header, Value};
use walcast_kafka::ConsumedRecord;

use crate::errors::{Failure, Stage, JSON_CONVERTER_CLASS};

/// A Kafka record through the JsonConverter into a Connect record (headers as bytes).
pub(crate) fn convert(
    topic: &str,
    raw: &ConsumedRecord,
    key_schemas_enable: bool,
    value_schemas_enable: bool,
    value_fields: Option<&[&str]>,
) -> Result<ConnectRecord, Failure> {
    let (key_schema, key) =
        walcast_json::read(raw.key.as_deref(), key_schemas_enable).map_err(|e| Failure {
            stage: Stage::KeyConverter,
            class_name: JSON_CONVERTER_CLASS.to_owned(),
            message: e.to_string(),
        })?;
    let (value_schema, value) =
        walcast_json::read_projected(raw.value.as_deref(), value_schemas_enable, value_fields)
            .map_err(|e| Failure {
                stage: Stage::ValueConverter,
                class_name: JSON_CONVERTER_CLASS.to_owned(),
                message: e.to_string(),
            })?;
    Ok(ConnectRecord {
        topic: topic.to_owned(),
        partition: Some(raw.partition),
        offset: Some(raw.offset),
        timestamp_ms: Some(raw.timestamp_ms),
        key_schema,
        key,
        value_schema,
        value,
        headers: raw
            .headers
            .iter()
            .map(|(k, v)| Header {
                key: k.clone(),
                schema: None,
                value: Value::Bytes(v.clone()),
            })
            .collect(),
    })
}

/// A tombstone, a Debezium delete envelope, or an unwrapped delete (`__deleted=true`).
pub(crate) fn is_delete(r: &ConnectRecord) -> bool {
    if r.is_tombstone() {
        return true;
    }
    if r.value.get("op").and_then(Value::as_str) == Some("d") {
        return true;
    }
    match r.value.get("__deleted") {
        Some(Value::String(s)) => s == "true",
        Some(Value::Boolean(b)) => *b,
        _ => false,
    }
}

/// The source commit time of a record: a Debezium envelope's `source.ts_ms`, or the
/// `__source_ts_ms` field ExtractNewRecordState adds with `add.fields=source.ts_ms`.
pub(crate) fn source_ts_ms(r: &ConnectRecord) -> Option<i64> {
    r.value
        .get("source")
        .and_then(|s| s.get("ts_ms"))
        .or_else(|| r.value.get("__source_ts_ms"))
        .and_then(Value::as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn raw(key: &[u8], value: &[u8]) -> ConsumedRecord {
        ConsumedRecord {
            partition: 2,
            offset: 41,
            key: Some(key.to_vec().into()),
            value: Some(value.to_vec().into()),
            timestamp_ms: 1_700_000_000_000,
            headers: BTreeMap::from([("h".to_owned(), b"v".to_vec())]),
        }
    }

    #[test]
    fn converts_with_coordinates_and_byte_headers() {
        let r = convert("t", &raw(b"1", br#"{"a":1}"#), false, false, None).expect("converts");
        assert_eq!(r.topic, "t");
        assert_eq!((r.partition, r.offset), (Some(2), Some(41)));
        assert_eq!(r.timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(r.key, Value::Int64(1));
        assert_eq!(r.value.get("a"), Some(&Value::Int64(1)));
        assert_eq!(r.headers[0].value, Value::Bytes(b"v".to_vec()));
    }

    #[test]
    fn conversion_failures_name_the_stage() {
        let f = convert("t", &raw(b"{", b"{}"), false, false, None).expect_err("bad key");
        assert_eq!(f.stage, Stage::KeyConverter);
        let f = convert("t", &raw(b"1", b"not json"), false, false, None).expect_err("bad value");
        assert_eq!(f.stage, Stage::ValueConverter);
        let f =
            convert("t", &raw(b"1", br#"{"a":1}"#), false, true, None).expect_err("no envelope");
        assert_eq!(f.stage, Stage::ValueConverter);
    }

    #[test]
    fn deletes_and_source_times() {
        let r = convert(
            "t",
            &raw(b"1", br#"{"op":"d","source":{"ts_ms":123}}"#),
            false,
            false,
            None,
        )
        .expect("converts");
        assert!(is_delete(&r));
        assert_eq!(source_ts_ms(&r), Some(123));
        let r = convert(
            "t",
            &raw(b"1", br#"{"id":1,"__deleted":"false","__source_ts_ms":9}"#),
            false,
            false,
            None,
        )
        .expect("converts");
        assert!(!is_delete(&r));
        assert_eq!(source_ts_ms(&r), Some(9));
        let mut tomb = raw(b"1", b"");
        tomb.value = None;
        let r = convert("t", &tomb, false, false, None).expect("converts");
        assert!(is_delete(&r));
    }
}
