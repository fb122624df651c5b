//! The initial snapshot: every row of a captured table as of the slot's consistent point, read
//! on a normal connection inside the snapshot the slot exported, in batches of bounded size.
//!
//! Rows are read with `COPY (SELECT <published columns> FROM table) TO STDOUT` in text format:
//! each value is its type's output function result, exactly what pgoutput sends for the same
//! value (given the same session settings, which [`begin_snapshot`] pins), so snapshot rows and
//! streamed rows go through the same encoding path as [`TupleValue::Text`]. `copy_out` streams
//! with backpressure: the next rows are only read from the socket when the next batch is asked
//! for.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio_postgres::{Client, CopyOutStream};

use crate::config::SESSION_SETTINGS;
use crate::error::PgError;
use crate::schema::{quote_ident, quote_literal, quote_table};
use walcast_pgoutput::TupleValue;
use walcast_pgoutput::{TableId, TableSchema};

/// Starts a read-only repeatable-read transaction on `client` that sees the database exactly as
/// the exported snapshot does, with the session settings that make values print like pgoutput
/// prints them. Read tables with [`read_table`], then [`end_snapshot`].
pub async fn begin_snapshot(client: &Client, snapshot_name: &str) -> Result<(), PgError> {
    let mut sql = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {};",
        quote_literal(snapshot_name)
    );
    for (name, value) in SESSION_SETTINGS
        .iter()
        .filter(|(n, _)| *n != "client_encoding")
    {
        sql.push_str(&format!(" SET LOCAL {name} = {};", quote_literal(value)));
    }
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| PgError::query(format!("importing snapshot {snapshot_name:?}"), e))
}

/// Ends the snapshot transaction.
pub async fn end_snapshot(client: &Client) -> Result<(), PgError> {
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| PgError::query("ending the snapshot transaction", e))
}

/// Takes an `ACCESS SHARE` lock on `table` inside the snapshot transaction, waiting at most
/// `timeout` for DDL in progress to finish (SQLSTATE 55P03 after that, which is retried).
///
/// This is Debezium's `snapshot.locking.mode=shared`: once the lock is held nobody can
/// `ALTER`, `DROP` or `TRUNCATE` the table until the snapshot transaction ends, so the column
/// list read next from the catalog is the one the `COPY` runs against. It conflicts only with
/// `ACCESS EXCLUSIVE` (DDL, `VACUUM FULL`); reads and writes go on.
pub async fn lock_table(
    client: &Client,
    table: &TableId,
    timeout: std::time::Duration,
) -> Result<(), PgError> {
    let sql = format!(
        "SET LOCAL lock_timeout = {}; LOCK TABLE {} IN ACCESS SHARE MODE",
        quote_literal(&format!("{}ms", timeout.as_millis().max(1))),
        quote_table(table)
    );
    client.batch_execute(&sql).await.map_err(|e| {
        PgError::query(
            format!(
                "locking {table} for the snapshot (snapshot.lock.timeout.ms={})",
                timeout.as_millis()
            ),
            e,
        )
    })
}

/// PostgreSQL's row estimate for a table (summed over partitions), for progress reporting.
/// `None` when the table was never vacuumed or analyzed.
pub async fn estimate_rows(client: &Client, table: &TableId) -> Result<Option<u64>, PgError> {
    let oid = crate::schema::table_oid(client, table).await?;
    let row = client
        .query_one(
            // pg_partition_tree lists nothing for a plain table, only for partitioned ones.
            "SELECT (sum(c.reltuples) FILTER (WHERE c.reltuples >= 0))::float8 \
             FROM pg_catalog.pg_class c \
             WHERE (c.oid = $1 AND c.relkind <> 'p') \
                OR c.oid IN (SELECT relid FROM pg_catalog.pg_partition_tree($1::oid::regclass) \
                             WHERE isleaf)",
            &[&oid],
        )
        .await
        .map_err(|e| PgError::query(format!("estimating rows of {table}"), e))?;
    let estimate: Option<f64> = row
        .try_get(0)
        .map_err(|e| PgError::query(format!("estimating rows of {table}"), e))?;
    Ok(estimate.map(|e| e.max(0.0) as u64))
}

/// Starts streaming every row of `table` (its columns in schema order, the order of pgoutput
/// tuples) in batches of at most `batch_rows` rows and about `batch_bytes` bytes (a batch ends
/// after the row that reaches it, so one wide row still makes a batch). Must run inside
/// [`begin_snapshot`].
pub async fn read_table(
    client: &Client,
    table: &TableSchema,
    batch_rows: usize,
    batch_bytes: usize,
) -> Result<SnapshotRows, PgError> {
    let columns: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
    if columns.is_empty() {
        return Err(PgError::Config(format!(
            "table {} has no columns to read",
            table.id
        )));
    }
    let sql = format!(
        "COPY (SELECT {} FROM {}) TO STDOUT",
        columns.join(", "),
        quote_table(&table.id)
    );
    let stream = client
        .copy_out(&sql)
        .await
        .map_err(|e| PgError::query(format!("reading snapshot of {}", table.id), e))?;
    Ok(SnapshotRows {
        stream: Box::pin(stream),
        table: table.id.clone(),
        columns: columns.len(),
        batch_rows: batch_rows.max(1),
        batch_bytes: batch_bytes.max(1),
        pending: BytesMut::new(),
        ready: Vec::new(),
        ready_bytes: 0,
        done: false,
    })
}

/// Rows of one table being read from a snapshot.
pub struct SnapshotRows {
    stream: Pin<Box<CopyOutStream>>,
    /// For error messages.
    table: TableId,
    /// Expected number of fields per row.
    columns: usize,
    batch_rows: usize,
    /// A batch ends once its rows' text reaches this many bytes, whatever the row count: a
    /// table of 1 MB rows must not be read 10,240 rows at a time.
    batch_bytes: usize,
    /// The start of a row whose end has not arrived yet.
    pending: BytesMut,
    /// Parsed rows not yet handed out (at most one chunk's worth beyond a batch).
    ready: Vec<Vec<TupleValue>>,
    /// Bytes of COPY text behind the rows in `ready`.
    ready_bytes: usize,
    done: bool,
}

impl std::fmt::Debug for SnapshotRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotRows")
            .field("table", &self.table)
            .field("columns", &self.columns)
            .field("batch_rows", &self.batch_rows)
            .field("batch_bytes", &self.batch_bytes)
            .field("done", &self.done)
            .finish()
    }
}

impl SnapshotRows {
    /// The next batch of at most `batch_rows` rows (and about `batch_bytes` bytes), or `None`
    /// when the table is exhausted.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Vec<TupleValue>>>, PgError> {
        while self.ready.len() < self.batch_rows
            && self.ready_bytes < self.batch_bytes
            && !self.done
        {
            match self.stream.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| {
                        PgError::query(format!("reading snapshot of {}", self.table), e)
                    })?;
                    self.feed(chunk)?;
                }
                None => {
                    self.done = true;
                    if !self.pending.is_empty() {
                        return Err(PgError::Protocol(format!(
                            "snapshot of {} ended in the middle of a row",
                            self.table
                        )));
                    }
                }
            }
        }
        if self.ready.is_empty() {
            return Ok(None);
        }
        let n = self.ready.len().min(self.batch_rows);
        let rest = self.ready.split_off(n);
        // Chunks are single rows in practice (PostgreSQL sends one CopyData per row), so what
        // stays in `ready` is at most a chunk's rows; recount it rather than track per row.
        self.ready_bytes = rest.iter().map(|r| row_bytes(r)).sum();
        Ok(Some(std::mem::replace(&mut self.ready, rest)))
    }

    /// Splits a chunk of COPY output into rows. Chunks usually hold whole rows, which are then
    /// sliced without copying; a row split across chunks is reassembled in `pending`.
    fn feed(&mut self, chunk: Bytes) -> Result<(), PgError> {
        let data = if self.pending.is_empty() {
            chunk
        } else {
            self.pending.extend_from_slice(&chunk);
            self.pending.split().freeze()
        };
        let mut start = 0;
        while let Some(nl) = data
            .get(start..)
            .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
        {
            let line = data.slice(start..start + nl);
            start += nl + 1;
            if &line[..] == b"\\." {
                continue;
            }
            let row = parse_copy_row(&line)
                .map_err(|e| PgError::Protocol(format!("snapshot of {}: {e}", self.table)))?;
            if row.len() != self.columns {
                return Err(PgError::Protocol(format!(
                    "snapshot of {}: row has {} fields, expected {}",
                    self.table,
                    row.len(),
                    self.columns
                )));
            }
            self.ready_bytes += line.len() + 1;
            self.ready.push(row);
        }
        if let Some(rest) = data.get(start..) {
            self.pending.extend_from_slice(rest);
        }
        Ok(())
    }
}

/// The bytes a parsed row holds (its values plus a separator each).
fn row_bytes(row: &[TupleValue]) -> usize {
    row.iter()
        .map(|v| match v {
            TupleValue::Text(b) | TupleValue::Binary(b) => b.len() + 1,
            _ => 1,
        })
        .sum()
}

/// Why a line of COPY text output could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CopyParseError {
    /// A backslash at the very end of a field.
    #[error("dangling backslash at the end of field {field}")]
    DanglingBackslash { field: usize },
}

/// Parses one line (without its newline) of `COPY ... TO STDOUT` text format into values:
/// tab-separated fields, `\N` for NULL, backslash escapes (`\\`, `\t`, `\n`, `\r`, `\b`, `\f`,
/// `\v`, octal `\ddd`, hex `\xhh`, and `\c` for any other `c`). Fields without escapes are
/// zero-copy slices of `line`.
pub fn parse_copy_row(line: &Bytes) -> Result<Vec<TupleValue>, CopyParseError> {
    let mut values = Vec::new();
    let mut start = 0;
    loop {
        let end = line
            .get(start..)
            .and_then(|rest| rest.iter().position(|b| *b == b'\t'))
            .map(|p| start + p);
        let field_end = end.unwrap_or(line.len());
        let field = line.slice(start..field_end);
        values.push(parse_copy_field(field, values.len())?);
        match end {
            Some(e) => start = e + 1,
            None => return Ok(values),
        }
    }
}

fn parse_copy_field(field: Bytes, index: usize) -> Result<TupleValue, CopyParseError> {
    if &field[..] == b"\\N" {
        return Ok(TupleValue::Null);
    }
    if !field.contains(&b'\\') {
        return Ok(TupleValue::Text(field));
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    let at = |i: usize| field.get(i).copied();
    while let Some(b) = at(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let c = at(i).ok_or(CopyParseError::DanglingBackslash { field: index })?;
        i += 1;
        match c {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match at(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' if at(i).is_some_and(|d| d.is_ascii_hexdigit()) => {
                let mut v = 0u8;
                for _ in 0..2 {
                    match at(i).and_then(|d| (d as char).to_digit(16)) {
                        Some(d) => {
                            v = v.wrapping_mul(16).wrapping_add(d as u8);
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(v);
            }
            other => out.push(other),
        }
    }
    Ok(TupleValue::Text(Bytes::from(out)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &[u8]) -> TupleValue {
        TupleValue::Text(Bytes::copy_from_slice(s))
    }

    #[test]
    fn parses_fields_nulls_and_escapes() {
        let line = Bytes::from_static(
            b"1\t\\N\t\ta\\tb\\nc\\\\d\\re\\bf\\fg\\vh\t\\101\\x42\\x4a\\7\\q\t\\\\N",
        );
        let row = parse_copy_row(&line).unwrap();
        assert_eq!(
            row,
            vec![
                t(b"1"),
                TupleValue::Null,
                t(b""),
                t(b"a\tb\nc\\d\re\x08f\x0cg\x0bh"),
                t(b"ABJ\x07q"),
                t(b"\\N"),
            ]
        );
        let TupleValue::Text(first) = &row[0] else {
            panic!()
        };
        assert!(
            line.as_ptr_range().contains(&first.as_ptr()),
            "plain fields are slices of the line"
        );
        assert_eq!(
            parse_copy_row(&Bytes::from_static(b"a\\")).unwrap_err(),
            CopyParseError::DanglingBackslash { field: 0 }
        );
        assert_eq!(
            parse_copy_row(&Bytes::from_static(b"\\xg")).unwrap(),
            vec![t(b"xg")]
        );
    }

    /// COPY's text escaping, as PostgreSQL's CopyAttributeOutText does it.
    fn escape(v: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in v {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                0x0b => out.extend_from_slice(b"\\v"),
                b => out.push(b),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn escape_round_trips(fields in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)), 1..6)) {
            let mut line = Vec::new();
            for (i, f) in fields.iter().enumerate() {
                if i > 0 { line.push(b'\t'); }
                match f {
                    None => line.extend_from_slice(b"\\N"),
                    Some(v) => line.extend(escape(v)),
                }
            }
            let row = parse_copy_row(&Bytes::from(line)).unwrap();
            let expected: Vec<TupleValue> = fields.into_iter().map(|f| match f {
                None => TupleValue::Null,
                Some(v) => TupleValue::Text(Bytes::from(v)),
            }).collect();
            prop_assert_eq!(row, expected);
        }

        #[test]
        fn random_lines_never_panic(line in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_copy_row(&Bytes::from(line));
        }
    }
}
