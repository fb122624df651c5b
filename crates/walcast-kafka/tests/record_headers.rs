//! Record batches read back through the vendored rskafka: every compression, corrupt records
//! refused without a panic, and (as Kafka's own clients write them) a
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

/// A batch of `n` records with every shape of key, value and headers, compressed as asked.
fn batch_of(n: usize, compression: RecordBatchCompression) -> RecordBatch {
    let records = (0..n)
        .map(|i| Record {
            timestamp_delta: i as i64,
            offset_delta: i as i32,
            key: (i % 3 != 0).then(|| bytes::Bytes::from(format!("key-{i}"))),
            value: match i % 4 {
                0 => None,
                1 => Some(bytes::Bytes::new()),
                _ => Some(bytes::Bytes::from(format!(
                    "{{\"id\":{i},\"pad\":\"{}\"}}",
                    "x".repeat(i % 50)
                ))),
            },
            headers: (0..i % 3)
                .map(|h| RecordHeader {
                    key: format!("h{h}"),
                    value: format!("v{i}").into_bytes(),
                })
                .collect(),
        })
        .collect();
    RecordBatch {
        base_offset: 7,
        partition_leader_epoch: 0,
        last_offset_delta: n as i32 - 1,
        first_timestamp: 1_700_000_000_000,
        max_timestamp: 1_700_000_000_000,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records: ControlBatchOrRecords::Records(records),
        compression,
        is_transactional: false,
        timestamp_type: RecordBatchTimestampType::CreateTime,
    }
}

#[test]
fn batches_read_back_whole_with_every_compression() {
    for compression in [
        RecordBatchCompression::NoCompression,
        RecordBatchCompression::Zstd,
        RecordBatchCompression::Gzip,
        RecordBatchCompression::Lz4,
        RecordBatchCompression::Snappy,
    ] {
        for n in [1, 2, 500] {
            let batch = batch_of(n, compression);
            let mut buf = Vec::new();
            batch.write(&mut buf).unwrap();
            let back = RecordBatch::read(&mut Cursor::new(buf)).unwrap();
            assert_eq!(back, batch, "{compression:?}, {n} records");
        }
    }
}

#[test]
fn corrupt_uncompressed_records_are_errors_not_panics() {
    let mut buf = Vec::new();
    batch_of(3, RecordBatchCompression::NoCompression)
        .write(&mut buf)
        .unwrap();
    const CRC_AT: usize = 8 + 4 + 4 + 1;
    // Every single-byte change in the records (after the 49-byte batch header) either reads
    // back as some batch or is refused; none may panic or read past the buffer.
    let mut refused = 0;
    for at in 61..buf.len() {
        for delta in [1u8, 0x40, 0x7f, 0xff] {
            let mut bytes = buf.clone();
            bytes[at] = bytes[at].wrapping_add(delta);
            let crc = crc32c::crc32c(&bytes[CRC_AT + 4..]);
            bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
            if read(&bytes).is_err() {
                refused += 1;
            }
        }
    }
    assert!(refused > 0);
    // Trailing bytes after the last record are refused.
    let mut bytes = buf.clone();
    bytes.push(0);
    let len = i32::from_be_bytes(bytes[8..12].try_into().unwrap()) + 1;
    bytes[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[CRC_AT + 4..]);
    bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    assert!(
        read(&bytes).unwrap_err().contains("trailing"),
        "{:?}",
        read(&bytes)
    );
}

#[test]
fn corrupt_zstd_batches_are_errors_not_panics() {
    let batch = batch_of(40, RecordBatchCompression::Zstd);
    let mut buf = Vec::new();
    batch.write(&mut buf).unwrap();
    const CRC_AT: usize = 8 + 4 + 4 + 1;
    let reseal = |bytes: &mut Vec<u8>| {
        let crc = crc32c::crc32c(&bytes[CRC_AT + 4..]);
        bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    };
    // Every single-byte change of the compressed records reads back as some batch or is
    // refused; and the same batch still reads back whole afterwards (pooled buffers reused).
    let mut refused = 0;
    for at in 61..buf.len() {
        let mut bytes = buf.clone();
        bytes[at] ^= 0x5a;
        reseal(&mut bytes);
        if read(&bytes).is_err() {
            refused += 1;
        }
    }
    assert!(refused > 0);
    // Cut short: the frame is incomplete.
    let mut bytes = buf.clone();
    bytes.truncate(buf.len() - 10);
    let len = i32::from_be_bytes(bytes[8..12].try_into().unwrap()) - 10;
    bytes[8..12].copy_from_slice(&len.to_be_bytes());
    reseal(&mut bytes);
    assert!(read(&bytes).is_err());
    let back = RecordBatch::read(&mut Cursor::new(buf)).unwrap();
    assert_eq!(back, batch);
}

/// The batch `batch` (written uncompressed) with its records compressed by `compress`, marked
/// zstd and resealed.
fn as_zstd(batch: &RecordBatch, compress: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut plain = Vec::new();
    batch.write(&mut plain).unwrap();
    const CRC_AT: usize = 8 + 4 + 4 + 1;
    const HEADER: usize = 61;
    let mut bytes = plain[..HEADER].to_vec();
    bytes.extend(compress(&plain[HEADER..]));
    let len = i32::try_from(bytes.len() - 12).unwrap();
    bytes[8..12].copy_from_slice(&len.to_be_bytes());
    bytes[CRC_AT + 5] |= 4; // attributes' compression bits: zstd
    let crc = crc32c::crc32c(&bytes[CRC_AT + 4..]);
    bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    bytes
}

#[test]
fn zstd_frames_of_other_producers_read_back_whole() {
    let plain = batch_of(300, RecordBatchCompression::NoCompression);
    let want = batch_of(300, RecordBatchCompression::Zstd);
    // walcast's own frames state their size.
    let mut own = Vec::new();
    want.write(&mut own).unwrap();
    assert_eq!(
        zstd::zstd_safe::get_frame_content_size(&own[61..]).ok(),
        Some(Some(own_plain_len(&plain)))
    );
    // A streaming encoder (Kafka's Java client) states no size.
    let streamed = as_zstd(&plain, |b| {
        let mut e = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        std::io::Write::write_all(&mut e, b).unwrap();
        e.finish().unwrap()
    });
    assert_eq!(
        zstd::zstd_safe::get_frame_content_size(&streamed[61..]).ok(),
        Some(None)
    );
    // Two frames, each stating its own size: the first one's is too small for both.
    let two = as_zstd(&plain, |b| {
        let (a, c) = b.split_at(b.len() / 3);
        let mut out = zstd::bulk::compress(a, 3).unwrap();
        out.extend(zstd::bulk::compress(c, 3).unwrap());
        out
    });
    for (what, bytes) in [("own", own), ("streamed", streamed), ("two frames", two)] {
        let back = RecordBatch::read(&mut Cursor::new(bytes)).unwrap();
        assert_eq!(back, want, "{what}");
    }
}

fn own_plain_len(plain: &RecordBatch) -> u64 {
    let mut bytes = Vec::new();
    plain.write(&mut bytes).unwrap();
    bytes.len() as u64 - 61
}
