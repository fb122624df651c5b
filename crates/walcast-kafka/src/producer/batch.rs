//! Batches: the records of one partition that go out in one produce request, with the
//! tokens they carry and the budget bytes they hold, and their split when the broker finds
//! one too large.

use bytes::Bytes;
use rskafka::record::Record;
use tokio::time::Instant;

/// Upper bound of a record's framing inside a record batch (length, attributes, timestamp and
/// offset deltas, key and value lengths, header count, all varints), so that a batch's estimated
/// size is never below its encoded size and a full batch stays within the broker's
/// `message.max.bytes` when `batch_max_bytes` is set to it.
pub(super) const RECORD_OVERHEAD: usize = 36;
/// A record batch's fixed header (v2 format).
pub(super) const BATCH_OVERHEAD: usize = 61;
/// Memory of a buffered record besides its key and value (the `Record` struct, headers map), on
/// top of [`RECORD_OVERHEAD`]; counted against `max_buffered_bytes`.
pub(super) const RECORD_MEMORY: usize = 64;
/// Distance between the sequence numbers of consecutive batches of a partition, so that the
/// halves of a batch split after a "too large" error get numbers between their neighbours'.
pub(super) const SEQ_STRIDE: u64 = 1 << 20;

/// Records of one partition sent in one produce request.
#[derive(Debug)]
pub(super) struct Batch {
    /// Position among the partition's batches, so failed batches are retried in order.
    pub(super) seq: u64,
    /// Sequence numbers `seq..seq + span` belong to this batch (room for splitting it).
    pub(super) span: u64,
    pub(super) records: Vec<Record>,
    /// Estimated encoded size (an upper bound, see [`RECORD_OVERHEAD`]).
    pub(super) bytes: usize,
    /// Budget bytes to return when acknowledged.
    pub(super) charged: usize,
    /// Record counts per token, in order (run-length encoded: transactions are contiguous).
    pub(super) tokens: Vec<(u64, u64)>,
    pub(super) opened: Instant,
    pub(super) attempts: u32,
}

impl Batch {
    pub(super) fn new(seq: u64, span: u64, now: Instant) -> Self {
        Self {
            seq,
            span,
            records: Vec::new(),
            bytes: BATCH_OVERHEAD,
            charged: 0,
            tokens: Vec::new(),
            opened: now,
            attempts: 0,
        }
    }

    pub(super) fn push(&mut self, record: Record, size: usize, charge: usize, token: u64) {
        self.records.push(record);
        self.bytes += size;
        self.charged += charge;
        match self.tokens.last_mut() {
            Some((t, n)) if *t == token => *n += 1,
            _ => self.tokens.push((token, 1)),
        }
    }

    /// Whether [`split`](Self::split) can divide this batch.
    pub(super) fn can_split(&self) -> bool {
        self.records.len() > 1 && self.span > 1
    }

    /// Splits a batch the broker found too large into two halves, in order.
    pub(super) fn split(mut self) -> (Batch, Batch) {
        let half = self.records.len() / 2;
        let tail_records = self.records.split_off(half);
        let first_span = self.span / 2;
        let mut first = Batch::new(self.seq, first_span, self.opened);
        let mut second = Batch::new(self.seq + first_span, self.span - first_span, self.opened);
        // Re-derive tokens and charges per half from the run-length list.
        let mut runs = self
            .tokens
            .into_iter()
            .flat_map(|(t, n)| (0..n).map(move |_| t));
        let per_record_charge = |r: &Record| record_size(r) + RECORD_MEMORY;
        for r in self.records {
            let size = record_size(&r);
            let charge = per_record_charge(&r);
            let token = runs.next().unwrap_or_default();
            first.push(r, size, charge, token);
        }
        for r in tail_records {
            let size = record_size(&r);
            let charge = per_record_charge(&r);
            let token = runs.next().unwrap_or_default();
            second.push(r, size, charge, token);
        }
        // Charges may have been clamped at send time: keep exactly the total the senders took.
        first.charged = first.charged.min(self.charged);
        second.charged = self.charged - first.charged;
        first.attempts = self.attempts;
        second.attempts = self.attempts;
        (first, second)
    }
}

fn record_size(r: &Record) -> usize {
    r.key.as_ref().map_or(0, Bytes::len)
        + r.value.as_ref().map_or(0, Bytes::len)
        + headers_size(&r.headers)
        + RECORD_OVERHEAD
}

/// Bytes of record headers on the wire, near enough for batch and budget sizes (names, values
/// and two length prefixes each).
pub(super) fn headers_size(headers: &super::Headers) -> usize {
    headers.iter().map(|(k, v)| k.len() + v.len() + 2).sum()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn rec(v: usize) -> Record {
        Record {
            key: Some(Bytes::from(vec![1; 4])),
            value: Some(Bytes::from(vec![2; v])),
            headers: Default::default(),
            timestamp: DateTime::<Utc>::from_timestamp_millis(0).unwrap(),
        }
    }

    #[test]
    fn split_keeps_order_tokens_and_charges() {
        let now = Instant::now();
        let mut b = Batch::new(7, 4, now);
        for i in 0..5u64 {
            let r = rec(10 + i as usize);
            let size = record_size(&r);
            b.push(r, size, size + RECORD_MEMORY, 100 + i / 2);
        }
        let charged = b.charged;
        let (x, y) = b.split();
        assert_eq!((x.seq, x.span), (7, 2));
        assert_eq!((y.seq, y.span), (9, 2));
        assert_eq!(x.records.len(), 2);
        assert_eq!(y.records.len(), 3);
        assert_eq!(x.records[0].value.as_ref().unwrap().len(), 10);
        assert_eq!(y.records[0].value.as_ref().unwrap().len(), 12);
        assert_eq!(x.tokens, vec![(100, 2)]);
        assert_eq!(y.tokens, vec![(101, 2), (102, 1)]);
        assert_eq!(x.charged + y.charged, charged);
    }
}
