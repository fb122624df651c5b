//! A record as transforms and sinks see it: Connect's `ConnectRecord`/`SinkRecord`.

use crate::data::{SchemaRef, Value};

/// One header of a record. Values read from Kafka are bytes (no header converter schema);
/// transforms may add typed headers (Debezium's `add.headers`, the DLQ context headers).
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub key: String,
    pub schema: Option<SchemaRef>,
    pub value: Value,
}

/// A record with its Kafka coordinates (when it was read from Kafka) and its key and value in
/// Connect's data model. A tombstone has `value == Value::Null` and no value schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRecord {
    pub topic: String,
    /// Partition the record was read from (sinks), or `None` for a source record not yet
    /// produced.
    pub partition: Option<i32>,
    /// Offset the record was read from (sinks).
    pub offset: Option<i64>,
    /// Record timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: Option<i64>,
    pub key_schema: Option<SchemaRef>,
    pub key: Value,
    pub value_schema: Option<SchemaRef>,
    pub value: Value,
    pub headers: Vec<Header>,
}

impl ConnectRecord {
    /// Whether the record is a tombstone (a null value).
    pub fn is_tombstone(&self) -> bool {
        self.value.is_null()
    }

    /// The header called `key`, last one wins like Connect's `lastWithName`.
    pub fn header(&self, key: &str) -> Option<&Header> {
        self.headers.iter().rev().find(|h| h.key == key)
    }
}
