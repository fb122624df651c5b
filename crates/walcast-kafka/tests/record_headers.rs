//! Record batches as Kafka's own clients write them, read back through the vendored rskafka: a
//! header with a null value (length -1, which the Java client and librdkafka write) reads as an
//! empty value instead of failing the whole fetch as malformed.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;

use rskafka::protocol::record::{
    ControlBatchOrRecords, Record, RecordBatch, RecordBatchCompression, RecordBatchTimestampType,
    RecordHeader,
};
use rskafka::protocol::traits::{ReadType, WriteType};

/// Bytes of a one-record batch whose only header is `h` with an empty value.
fn batch_with_header() -> Vec<u8> {
    let batch = RecordBatch {
        base_offset: 0,
        partition_leader_epoch: 0,
        last_offset_delta: 0,
        first_timestamp: 1_700_000_000_000,
        max_timestamp: 1_700_000_000_000,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records: ControlBatchOrRecords::Records(vec![Record {
            timestamp_delta: 0,
            offset_delta: 0,
            key: None,
            value: Some(bytes::Bytes::from_static(b"v")),
            headers: vec![RecordHeader {
                key: "h".into(),
                value: Vec::new(),
            }],
        }]),
        compression: RecordBatchCompression::NoCompression,
        is_transactional: false,
        timestamp_type: RecordBatchTimestampType::CreateTime,
    };
    let mut buf = Vec::new();
    batch.write(&mut buf).unwrap();
    buf
}

/// The batch's records, or the read error.
fn read(bytes: &[u8]) -> Result<Vec<Record>, String> {
    match RecordBatch::read(&mut Cursor::new(bytes.to_vec())) {
        Ok(b) => match b.records {
            ControlBatchOrRecords::Records(r) => Ok(r),
            ControlBatchOrRecords::ControlBatch(_) => Err("a control batch".into()),
        },
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn a_null_header_value_reads_as_an_empty_one() {
    let mut bytes = batch_with_header();
    // The record ends with its header: key length 1 (zigzag 0x02), "h", value length 0 (0x00).
    let n = bytes.len();
    assert_eq!(&bytes[n - 3..], &[0x02, b'h', 0x00]);
    // A null value instead: length -1 (zigzag 0x01), as the Java client writes it. The sizes
    // stay the same; the batch's CRC-32C (over everything after the crc field) is recomputed.
    bytes[n - 1] = 0x01;
    const CRC_AT: usize = 8 + 4 + 4 + 1; // baseOffset, batchLength, partitionLeaderEpoch, magic
    let crc = crc32c::crc32c(&bytes[CRC_AT + 4..]);
    bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());

    let records = read(&bytes).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value.as_deref(), Some(&b"v"[..]));
    assert_eq!(records[0].headers.len(), 1);
    assert_eq!(records[0].headers[0].key, "h");
    assert!(records[0].headers[0].value.is_empty());

    // A corrupted length is still refused: -2 is no length at all.
    bytes[n - 1] = 0x03;
    let crc = crc32c::crc32c(&bytes[CRC_AT + 4..]);
    bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    assert!(read(&bytes).is_err());
}
