//! Change events as Debezium models them: the operation, the `source` block, and the 1-3 Kafka
//! records one row change becomes (a delete is followed by a tombstone; an update that changes
//! the key becomes delete + tombstone + create).

use walcast_pgoutput::TupleValue;

/// Debezium's `op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `r`: a row read by the snapshot.
    Read,
    /// `c`
    Create,
    /// `u`
    Update,
    /// `d`
    Delete,
    /// `t`: the table was truncated (no row images).
    Truncate,
}

impl Op {
    /// The `op` code.
    pub fn code(self) -> &'static str {
        match self {
            Op::Read => "r",
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Truncate => "t",
        }
    }
}

/// `source.snapshot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotMarker {
    /// A streamed change.
    #[default]
    False,
    /// A snapshot row that is neither first nor last of anything.
    True,
    /// The first row of the whole snapshot.
    First,
    /// The first row of a table (other than the first table).
    FirstInDataCollection,
    /// The last row of a table (other than the last table).
    LastInDataCollection,
    /// The last row of the whole snapshot.
    Last,
    /// A row read by an incremental snapshot.
    Incremental,
}

impl SnapshotMarker {
    /// The marker text.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMarker::False => "false",
            SnapshotMarker::True => "true",
            SnapshotMarker::First => "first",
            SnapshotMarker::FirstInDataCollection => "first_in_data_collection",
            SnapshotMarker::LastInDataCollection => "last_in_data_collection",
            SnapshotMarker::Last => "last",
            SnapshotMarker::Incremental => "incremental",
        }
    }

    /// The marker Debezium 3.6 gives a snapshot row: "last" marks win over "first" marks (a
    /// table's only row is `last_in_data_collection`), the whole snapshot's first/last rows get
    /// `first`/`last`. Tables are snapshotted in `schema.table` order.
    pub fn for_snapshot_row(
        first_table: bool,
        last_table: bool,
        first_row_of_table: bool,
        last_row_of_table: bool,
    ) -> Self {
        if last_row_of_table {
            if last_table {
                SnapshotMarker::Last
            } else {
                SnapshotMarker::LastInDataCollection
            }
        } else if first_row_of_table {
            if first_table {
                SnapshotMarker::First
            } else {
                SnapshotMarker::FirstInDataCollection
            }
        } else {
            SnapshotMarker::True
        }
    }
}

/// The `source` block of an event (what the caller knows about where the change came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourceInfo<'a> {
    /// Commit time of the transaction (for snapshot rows: when the snapshot read them), in
    /// microseconds since the epoch; `ts_ms`/`ts_us`/`ts_ns` are derived from it.
    pub ts_us: i64,
    pub snapshot: SnapshotMarker,
    /// `sequence`: `[last committed LSN, this event's LSN]` as Debezium writes them (the first is
    /// null for the first change after the snapshot and for snapshot rows).
    pub sequence: [Option<u64>; 2],
    /// Transaction id.
    pub tx_id: Option<i64>,
    /// LSN of the change (for snapshot rows: the snapshot's LSN).
    pub lsn: Option<u64>,
    pub xmin: Option<i64>,
    /// Replication origin of the transaction, if any.
    pub origin: Option<&'a str>,
    pub origin_lsn: Option<u64>,
}

/// One row change as the source hands it over.
#[derive(Debug, Clone, Copy)]
pub struct RowChange<'a> {
    pub op: Op,
    /// The old row: the replica identity columns (others Null) under DEFAULT/INDEX when they
    /// changed or on delete, the whole row under FULL, absent otherwise.
    pub before: Option<&'a [TupleValue]>,
    /// The new row (insert, update, snapshot read).
    pub after: Option<&'a [TupleValue]>,
}

/// One encoded Kafka record, with buffers reused across calls.
#[derive(Debug, Default, Clone)]
pub struct EncodedRecord {
    key: Vec<u8>,
    has_key: bool,
    value: Vec<u8>,
    has_value: bool,
}

impl EncodedRecord {
    /// The key bytes, or `None` for a null key (a table without key).
    pub fn key(&self) -> Option<&[u8]> {
        self.has_key.then_some(self.key.as_slice())
    }

    /// The value bytes, or `None` for a tombstone.
    pub fn value(&self) -> Option<&[u8]> {
        self.has_value.then_some(self.value.as_slice())
    }

    pub(crate) fn reset(&mut self) {
        self.key.clear();
        self.value.clear();
        self.has_key = false;
        self.has_value = false;
    }

    pub(crate) fn key_buf(&mut self) -> &mut Vec<u8> {
        self.has_key = true;
        &mut self.key
    }

    pub(crate) fn value_buf(&mut self) -> &mut Vec<u8> {
        self.has_value = true;
        &mut self.value
    }

    pub(crate) fn clear_key(&mut self) {
        self.has_key = false;
        self.key.clear();
    }

    pub(crate) fn raw_key(&self) -> &[u8] {
        &self.key
    }
}

/// The 0-3 records one change produced, all for the encoder's topic. Keep one and pass it to
/// every [`crate::TableEncoder::encode_change`] call: its buffers are reused.
#[derive(Debug, Default, Clone)]
pub struct EncodedRecords {
    records: [EncodedRecord; 3],
    len: usize,
}

impl EncodedRecords {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The records in the order they must be produced.
    pub fn iter(&self) -> impl Iterator<Item = &EncodedRecord> {
        self.records[..self.len].iter()
    }

    /// The `i`-th record.
    pub fn get(&self, i: usize) -> Option<&EncodedRecord> {
        self.records[..self.len].get(i)
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Moves the records out as owned `(key, value)` buffers (what a Kafka producer takes),
    /// without copying them. Each buffer is replaced by an empty one sized for a record like
    /// the one just taken, so the next change is usually encoded without growing it.
    #[allow(clippy::type_complexity)]
    pub fn drain_owned(&mut self) -> impl Iterator<Item = (Option<Vec<u8>>, Option<Vec<u8>>)> + '_ {
        let len = std::mem::take(&mut self.len);
        self.records[..len].iter_mut().map(|r| {
            let take = |buf: &mut Vec<u8>, present: bool| {
                // The next record of this slot is likely the size of this one: allocate that
                // much (plus a little), so it is written without growing and leaves the
                // encoder holding what it uses. Queued records should hold what they use too
                // (the producer's memory budget counts bytes), so a buffer that did grow is
                // trimmed before it is handed out.
                let len = buf.len();
                let mut owned = std::mem::replace(buf, Vec::with_capacity(len + len / 8 + 64));
                if owned.capacity() > owned.len() + owned.len() / 4 + 64 {
                    owned.shrink_to_fit();
                }
                present.then_some(owned)
            };
            let key = take(&mut r.key, r.has_key);
            let value = take(&mut r.value, r.has_value);
            r.has_key = false;
            r.has_value = false;
            (key, value)
        })
    }

    /// Starts the next record and returns it, cleared.
    pub(crate) fn push(&mut self) -> &mut EncodedRecord {
        let i = self.len.min(2);
        self.len = i + 1;
        let r = &mut self.records[i];
        r.reset();
        r
    }

    pub(crate) fn keys_differ(&self, a: usize, b: usize) -> bool {
        self.records[a.min(2)].raw_key() != self.records[b.min(2)].raw_key()
    }

    pub(crate) fn slot(&mut self, i: usize) -> &mut EncodedRecord {
        &mut self.records[i.min(2)]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn drain_owned_moves_records_out_and_keeps_capacity() {
        let mut recs = EncodedRecords::new();
        let r = recs.push();
        r.key_buf().extend_from_slice(b"{\"id\":1}");
        r.value_buf().extend_from_slice(b"{\"op\":\"d\"}");
        let t = recs.push();
        t.key_buf().extend_from_slice(b"{\"id\":1}");
        let out: Vec<_> = recs.drain_owned().collect();
        assert_eq!(
            out,
            vec![
                (
                    Some(b"{\"id\":1}".to_vec()),
                    Some(b"{\"op\":\"d\"}".to_vec())
                ),
                (Some(b"{\"id\":1}".to_vec()), None),
            ]
        );
        assert!(recs.is_empty());
        assert!(recs.records[0].value.capacity() >= 11);
        assert!(recs.drain_owned().next().is_none());
    }

    #[test]
    fn snapshot_markers_match_crud_fixture() {
        use SnapshotMarker as M;
        // inventory.orders (first table, 2 rows)
        assert_eq!(M::for_snapshot_row(true, false, true, false), M::First);
        assert_eq!(
            M::for_snapshot_row(true, false, false, true),
            M::LastInDataCollection
        );
        // a middle table with one row
        assert_eq!(
            M::for_snapshot_row(false, false, true, true),
            M::LastInDataCollection
        );
        // the last table
        assert_eq!(
            M::for_snapshot_row(false, true, true, false),
            M::FirstInDataCollection
        );
        assert_eq!(M::for_snapshot_row(false, true, false, true), M::Last);
        assert_eq!(M::for_snapshot_row(true, true, false, false), M::True);
    }
}
