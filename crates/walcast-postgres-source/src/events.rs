//! The seam between the source and the Debezium encoder: where a change's position becomes
//! Debezium's `source` block, and encoded records become owned Kafka payloads. Also the
//! heartbeat records Debezium emits on `heartbeat.interval.ms`.

use walcast_debezium::{EncodedRecords, EventConfig, RowChange, SourceInfo};
use walcast_pgoutput::{Lsn, TupleValue};

pub use walcast_debezium::{EncodeError, Op, SnapshotMarker, TableEncoder};

/// Where a change comes from, as the source knows it.
#[derive(Debug, Clone, Copy)]
pub struct SourcePosition {
    /// Commit time (snapshot rows: snapshot start), µs since the Unix epoch.
    pub commit_time_us: i64,
    pub snapshot: SnapshotMarker,
    pub xid: Option<u32>,
    /// LSN of the change (snapshot rows: the slot's consistent point).
    pub lsn: Option<Lsn>,
    /// Commit LSN of the previous transaction (`source.sequence[0]`).
    pub last_commit_lsn: Option<Lsn>,
}

/// An encoded record, owned, ready for the producer.
pub struct OwnedRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp_ms: i64,
}

/// Reused encoder output for one change (up to three records); the encoder clears it on each
/// call and keeps its buffers' capacity.
#[derive(Default)]
pub struct RecordBuf {
    encoded: EncodedRecords,
    timestamp_ms: i64,
}

impl RecordBuf {
    /// The records of the last change, moved out for the producer (no copy).
    pub fn drain(&mut self) -> impl Iterator<Item = OwnedRecord> + '_ {
        let ts = self.timestamp_ms;
        self.encoded
            .drain_owned()
            .map(move |(key, value)| OwnedRecord {
                key,
                value,
                timestamp_ms: ts,
            })
    }
}

/// Encodes one row change into `out` (0–3 records, Debezium's delete/tombstone/key-change rules).
pub fn encode(
    encoder: &TableEncoder,
    op: Op,
    before: Option<&[TupleValue]>,
    after: Option<&[TupleValue]>,
    pos: &SourcePosition,
    now_ms: i64,
    out: &mut RecordBuf,
) -> Result<(), EncodeError> {
    let source = SourceInfo {
        ts_us: pos.commit_time_us,
        snapshot: pos.snapshot,
        sequence: [pos.last_commit_lsn.map(|l| l.0), pos.lsn.map(|l| l.0)],
        tx_id: pos.xid.map(i64::from),
        lsn: pos.lsn.map(|l| l.0),
        xmin: None,
        origin: None,
        origin_lsn: None,
    };
    out.timestamp_ms = now_ms;
    encoder.encode_change(
        &RowChange { op, before, after },
        &source,
        now_ms.saturating_mul(1_000_000),
        &mut out.encoded,
    )
}

/// Debezium's heartbeat record: key `{"serverName": <topic.prefix>}`
/// (`io.debezium.connector.common.ServerNameKey`), value `{"ts_ms": now}`
/// (`io.debezium.connector.common.Heartbeat`), with or without schemas as configured.
pub fn heartbeat_record(server: &str, now_ms: i64, cfg: &EventConfig) -> (Vec<u8>, Vec<u8>) {
    let key_payload = serde_json::json!({ "serverName": server });
    let value_payload = serde_json::json!({ "ts_ms": now_ms });
    let key = if cfg.key_schemas_enable {
        serde_json::json!({
            "schema": {
                "type": "struct",
                "fields": [{"type": "string", "optional": false, "field": "serverName"}],
                "optional": false,
                "name": "io.debezium.connector.common.ServerNameKey"
            },
            "payload": key_payload
        })
    } else {
        key_payload
    };
    let value = if cfg.value_schemas_enable {
        serde_json::json!({
            "schema": {
                "type": "struct",
                "fields": [{"type": "int64", "optional": false, "field": "ts_ms"}],
                "optional": false,
                "name": "io.debezium.connector.common.Heartbeat"
            },
            "payload": value_payload
        })
    } else {
        value_payload
    };
    (key.to_string().into_bytes(), value.to_string().into_bytes())
}
