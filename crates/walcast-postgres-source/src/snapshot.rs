//! The initial snapshot: every captured table read inside the slot's exported snapshot, so that
//! it shows exactly the data before the slot's consistent point and streaming continues with no
//! gap and no duplicate. Rows are read in batches (bounded memory) in PostgreSQL's text format,
//! the same form pgoutput sends, and become `op: "r"` events marked the way Debezium marks them
//! (`source.snapshot`: `first`, `true`, ..., `last`; see [`SnapshotMarker`]).

use metrics::{counter, gauge};
use tokio_util::sync::CancellationToken;
use tracing::info;
use walcast_debezium::EventConfig;
use walcast_kafka::Producer;
use walcast_pgoutput::{Lsn, TableId, TupleValue};
use walcast_pgwire::{connect_client, PgConnectConfig};

use crate::config::SourceConfig;
use crate::engine::{now_ms, TableState};
use crate::error::SourceError;
use crate::events::{self, Op, RecordBuf, SnapshotMarker, SourcePosition, TableEncoder};
use crate::metric;
use crate::transforms::{produce, SourceTransforms};

/// A row held back until the next one is known, so the last row of a table and of the whole
/// snapshot can be marked.
struct Pending {
    table: usize,
    row: Vec<TupleValue>,
    first_of_table: bool,
}

/// Reads every table; returns `Ok(false)` when shutdown interrupted it.
///
/// Concurrent DDL: each table is locked (`ACCESS SHARE`, Debezium's
/// `snapshot.locking.mode=shared`) in the snapshot transaction before its columns are read, and
/// the columns come from `catalog`, a connection outside the snapshot that sees the catalog as
/// it is now — the catalog `COPY` resolves names against. A column dropped or renamed between the
/// slot's creation and the lock is therefore never asked for (reading it would abort the whole
/// snapshot with `column does not exist`), and DDL issued while a table is being read waits
/// for the snapshot instead of breaking it. Rows keep the snapshot's data; their event schema
/// is the table's definition when it was read.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    connector: &str,
    pg: &PgConnectConfig,
    catalog: &tokio_postgres::Client,
    snapshot_name: &str,
    consistent_point: Lsn,
    tables: &[TableId],
    cfg: &SourceConfig,
    ev_cfg: &EventConfig,
    producer: &mut Producer,
    transforms: Option<&mut SourceTransforms>,
    shutdown: &CancellationToken,
) -> Result<bool, SourceError> {
    let client = connect_client(pg).await?;
    walcast_pgwire::begin_snapshot(&client, snapshot_name).await?;
    let xid: Option<u32> = client
        .query_one("SELECT txid_current_if_assigned()::text", &[])
        .await
        .ok()
        .and_then(|r| r.get::<_, Option<String>>(0))
        .and_then(|s| s.parse().ok());

    let started = now_ms();
    let rows_done = counter!(metric::SNAPSHOT_ROWS, "connector" => connector.to_string());
    let estimate = gauge!(metric::SNAPSHOT_ESTIMATE, "connector" => connector.to_string());
    let mut records = RecordBuf::default();
    let mut pending: Option<Pending> = None;
    let mut first_emitted = false;
    let mut states: Vec<TableState> = Vec::with_capacity(tables.len());
    let mut ctx = Emit {
        producer,
        transforms,
        records: &mut records,
        consistent_point,
        xid,
        started,
    };
    for (ti, id) in tables.iter().enumerate() {
        if cfg.snapshot_locking_shared {
            walcast_pgwire::lock_table(&client, id, cfg.snapshot_lock_timeout).await?;
        }
        let schema = walcast_pgwire::load_table_schema_by_name(catalog, id).await?;
        let encoder = TableEncoder::new(&schema, ev_cfg).map_err(|e| {
            SourceError::Fatal(format!("cannot map table {id} to Debezium events: {e}"))
        })?;
        states.push(TableState::new(connector, schema, Some(encoder)));
        let Some(st) = states.last() else { break };
        if let Ok(Some(n)) = walcast_pgwire::estimate_rows(&client, &st.schema.id).await {
            estimate.increment(n as f64);
        }
        info!(table = %st.schema.id, columns = st.schema.columns.len(), "snapshotting table");
        let mut rows = walcast_pgwire::read_table(
            &client,
            &st.schema,
            cfg.snapshot_fetch_size,
            cfg.snapshot_max_batch_bytes,
        )
        .await?;
        let mut first_of_table = true;
        loop {
            let batch = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(false),
                b = rows.next_batch() => b?,
            };
            let Some(batch) = batch else { break };
            rows_done.increment(batch.len() as u64);
            for row in batch {
                if let Some(p) = pending.take() {
                    let marker = marker_for(&p, ti, !first_emitted, false);
                    first_emitted = true;
                    ctx.emit(&states[p.table], p, marker).await?;
                }
                pending = Some(Pending {
                    table: ti,
                    row,
                    first_of_table,
                });
                first_of_table = false;
            }
        }
    }
    if let Some(p) = pending.take() {
        let marker = marker_for(&p, usize::MAX, !first_emitted, true);
        ctx.emit(&states[p.table], p, marker).await?;
    }
    walcast_pgwire::end_snapshot(&client).await.ok();
    Ok(true)
}

/// Debezium's marker for a row, knowing the table of the row after it (`next_table`) and
/// whether it is the first/last row of the whole snapshot.
fn marker_for(p: &Pending, next_table: usize, first: bool, last: bool) -> SnapshotMarker {
    if first {
        SnapshotMarker::First
    } else if last {
        SnapshotMarker::Last
    } else if next_table != p.table {
        SnapshotMarker::LastInDataCollection
    } else if p.first_of_table {
        SnapshotMarker::FirstInDataCollection
    } else {
        SnapshotMarker::True
    }
}

struct Emit<'a> {
    producer: &'a mut Producer,
    /// The connector's transform chain, when it has one.
    transforms: Option<&'a mut SourceTransforms>,
    records: &'a mut RecordBuf,
    consistent_point: Lsn,
    xid: Option<u32>,
    started: i64,
}

impl Emit<'_> {
    async fn emit(
        &mut self,
        st: &TableState,
        p: Pending,
        marker: SnapshotMarker,
    ) -> Result<(), SourceError> {
        let Some(encoder) = st.encoder.as_ref() else {
            return Ok(());
        };
        let pos = SourcePosition {
            commit_time_us: self.started * 1000,
            snapshot: marker,
            xid: self.xid,
            lsn: Some(self.consistent_point),
            last_commit_lsn: None,
        };
        events::encode(
            encoder,
            Op::Read,
            None,
            Some(&p.row),
            &pos,
            now_ms(),
            self.records,
        )
        .map_err(|e| SourceError::Encode {
            table: st.schema.id.clone(),
            lsn: self.consistent_point,
            source: e,
        })?;
        st.count(Op::Read);
        let topic = encoder.topic();
        for r in self.records.drain() {
            // Token 0: snapshot records confirm no slot position; the snapshot's completion is
            // recorded after a full flush instead.
            let transforms = self.transforms.as_deref_mut();
            let lsn = Some(self.consistent_point);
            produce(self.producer, transforms, topic, r, 0, lsn).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(table: usize, first_of_table: bool) -> Pending {
        Pending {
            table,
            row: Vec::new(),
            first_of_table,
        }
    }

    #[test]
    fn markers_follow_debezium() {
        assert_eq!(
            marker_for(&p(0, true), 0, true, false),
            SnapshotMarker::First
        );
        assert_eq!(
            marker_for(&p(0, false), 0, false, false),
            SnapshotMarker::True
        );
        assert_eq!(
            marker_for(&p(0, false), 1, false, false),
            SnapshotMarker::LastInDataCollection
        );
        assert_eq!(
            marker_for(&p(1, true), 1, false, false),
            SnapshotMarker::FirstInDataCollection
        );
        assert_eq!(
            marker_for(&p(1, false), usize::MAX, false, true),
            SnapshotMarker::Last
        );
    }
}
