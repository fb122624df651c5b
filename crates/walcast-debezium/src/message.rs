//! Logical decoding messages (`pg_logical_emit_message`), emitted the way Debezium does: op `m`
//! records on `<topic.prefix>.message`, keyed by the message prefix, with the content as bytes
//! (base64 in JSON). Transactional messages carry their transaction's `txId`; non-transactional
//! ones have none.

use crate::config::EventConfig;
use crate::envelope::SourceWriter;
use crate::event::{EncodedRecords, SourceInfo};
use crate::json;
use crate::schema::{self, ConnectSchema};

/// Encodes logical decoding messages of one connector. Built once; schemas pre-rendered.
#[derive(Debug, Clone)]
pub struct MessageEncoder {
    topic: String,
    key_prefix: Vec<u8>,
    value_prefix: Vec<u8>,
    key_schemas: bool,
    value_schemas: bool,
    source: SourceWriter,
}

impl MessageEncoder {
    pub fn new(config: &EventConfig) -> Self {
        let mut key_prefix = Vec::new();
        if config.key_schemas_enable {
            let mut ks = ConnectSchema::structure(
                vec![("prefix".into(), ConnectSchema::primitive("string", true))],
                false,
            );
            ks.name = Some("io.debezium.connector.postgresql.MessageKey".into());
            ks.version = Some(1);
            key_prefix.extend_from_slice(b"{\"schema\":");
            ks.render(None, &mut key_prefix);
            key_prefix.extend_from_slice(b",\"payload\":");
        }
        let mut value_prefix = Vec::new();
        if config.value_schemas_enable {
            let mut message = ConnectSchema::structure(
                vec![
                    ("prefix".into(), ConnectSchema::primitive("string", true)),
                    ("content".into(), ConnectSchema::primitive("bytes", true)),
                ],
                false,
            );
            message.name = Some("io.debezium.connector.postgresql.Message".into());
            message.version = Some(1);
            let mut env = ConnectSchema::structure(
                vec![
                    ("op".into(), ConnectSchema::primitive("string", false)),
                    ("ts_ms".into(), ConnectSchema::primitive("int64", true)),
                    ("source".into(), schema::source_schema()),
                    ("transaction".into(), schema::transaction_schema()),
                    ("message".into(), message),
                ],
                false,
            );
            env.name = Some("io.debezium.connector.postgresql.MessageValue".into());
            env.version = Some(1);
            value_prefix.extend_from_slice(b"{\"schema\":");
            env.render(None, &mut value_prefix);
            value_prefix.extend_from_slice(b",\"payload\":");
        }
        Self {
            topic: format!("{}{}message", config.topic_prefix, config.topic_delimiter),
            key_prefix,
            value_prefix,
            key_schemas: config.key_schemas_enable,
            value_schemas: config.value_schemas_enable,
            source: SourceWriter::new(config, "", ""),
        }
    }

    /// `<topic.prefix>.message`.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Writes the one record a message becomes into `out` (cleared first).
    pub fn encode(
        &self,
        prefix: &str,
        content: &[u8],
        source: &SourceInfo<'_>,
        emitted_at_ns: i64,
        out: &mut EncodedRecords,
    ) {
        out.clear();
        let r = out.push();
        let key = r.key_buf();
        key.extend_from_slice(&self.key_prefix);
        key.extend_from_slice(b"{\"prefix\":");
        json::write_str(key, prefix);
        key.push(b'}');
        if self.key_schemas {
            key.push(b'}');
        }
        let value = r.value_buf();
        value.extend_from_slice(&self.value_prefix);
        value.extend_from_slice(b"{\"op\":\"m\",\"ts_ms\":");
        json::write_i64(value, emitted_at_ns.div_euclid(1_000_000));
        self.source.write(source, value);
        value.extend_from_slice(b",\"transaction\":null,\"message\":{\"prefix\":");
        json::write_str(value, prefix);
        value.extend_from_slice(b",\"content\":");
        json::write_base64(value, content);
        value.extend_from_slice(b"}}");
        if self.value_schemas {
            value.push(b'}');
        }
    }
}
