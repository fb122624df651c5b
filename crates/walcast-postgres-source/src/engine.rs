//! The source's hot path: pgoutput messages in, Debezium records out to the producer, and the
//! acknowledged position back to PostgreSQL.
//!
//! ```text
//! ReplicationReader ──XLogData──> Decoder ──Message──> Engine::apply ──records──> Producer
//!        ▲                                                                          │ acks
//!        └──── StandbyStatusUpdate(flush = acked watermark) <── status task <───────┘
//! ```
//!
//! Every record of a transaction is sent with the transaction's commit LSN as its token, and the
//! commit's end LSN is marked when the Commit message arrives; the producer's watermark (the
//! largest token whose records are all acknowledged) is what the status task confirms. So the
//! slot never advances past a change Kafka has not acknowledged, and a restart resumes after the
//! last fully acknowledged transaction. While no transaction is open, a keepalive's WAL position
//! is marked too, so an idle slot (or one whose traffic is all on uncaptured tables) keeps
//! releasing WAL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use metrics::{counter, gauge, Counter, Gauge};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use walcast_debezium::{EncodedRecords, EventConfig, MessageEncoder, SourceInfo};
use walcast_kafka::Producer;
use walcast_pgoutput::{
    ColumnSchema, Lsn, Message, ReplicaIdentity, TableId, TableSchema, TupleValue,
};
use walcast_pgwire::{
    load_table_schema, PgError, ReplicationMessage, ReplicationReader, ReplicationWriter,
    StandbyStatusUpdate, TypeCache,
};

use crate::config::SourceConfig;
use crate::error::SourceError;
use crate::events::{self, Op, RecordBuf, SnapshotMarker, SourcePosition, TableEncoder};
use crate::metric;
use crate::spill::SpillStore;
use crate::transforms::{produce, SourceTransforms};

/// A spill file operation that failed, naming the transaction; retried like other transient
/// failures (the slot is not confirmed past the transaction, so it is streamed again).
fn spill_error(what: &str, xid: u32, file: &std::path::Path, e: &std::io::Error) -> SourceError {
    let dir = file.parent().unwrap_or(file);
    SourceError::Transient(format!(
        "{what} the spill file {} of streamed transaction {xid}: {e} (check free space and permissions in {}, under walcast.state.dir/spill)",
        file.display(),
        dir.display()
    ))
}

/// The token of a transaction's records: its commit LSN. PostgreSQL sends transactions in commit
/// order and keepalives report positions already decoded, so a commit before the last position
/// walcast marked (`last_token`) cannot happen; if it did, that position may already be
/// confirmed and the slot past this transaction. Patching the order up would hide exactly that,
/// so it is a protocol error that fails the task (restarting it resumes from the slot's
/// confirmed position).
fn commit_token(last_token: u64, xid: u32, commit_lsn: Lsn) -> Result<u64, SourceError> {
    if commit_lsn.0 < last_token {
        return Err(SourceError::Protocol(format!(
            "transaction {xid} commits at LSN {commit_lsn}, before LSN {} that walcast already marked as complete; the replication stream is out of order, so walcast stops rather than confirm past this transaction",
            Lsn(last_token)
        )));
    }
    Ok(commit_lsn.0)
}

/// A captured or uncaptured table as the engine knows it.
pub struct TableState {
    pub schema: TableSchema,
    /// `None` when the table is not captured: its changes are skipped.
    pub encoder: Option<TableEncoder>,
    /// Per-op event counters (c, u, d, r, t), resolved once so counting costs nothing per event.
    pub counters: [Counter; 5],
}

impl TableState {
    pub fn new(connector: &str, schema: TableSchema, encoder: Option<TableEncoder>) -> Self {
        let table = schema.id.to_string();
        let mk = |op: &'static str| counter!(metric::EVENTS, "connector" => connector.to_string(), "table" => table.clone(), "op" => op);
        Self {
            counters: [mk("c"), mk("u"), mk("d"), mk("r"), mk("t")],
            schema,
            encoder,
        }
    }

    pub fn count(&self, op: Op) {
        let i = match op {
            Op::Create => 0,
            Op::Update => 1,
            Op::Delete => 2,
            Op::Read => 3,
            Op::Truncate => 4,
        };
        self.counters[i].increment(1);
    }
}

/// The transaction being received.
#[derive(Debug, Clone, Copy)]
struct Tx {
    xid: u32,
    /// Commit time, µs since 2000-01-01.
    commit_time: i64,
    /// The commit LSN: every record of the transaction carries it as its producer token.
    token: u64,
}

/// Builds the table schema for a Relation message: the column list and types from the message
/// (they describe the tuples that follow), nullability, defaults and the primary key from the
/// catalog, matched by column name.
pub async fn schema_for_relation(
    client: &tokio_postgres::Client,
    types: &mut TypeCache,
    rel: &walcast_pgoutput::Relation,
) -> Result<TableSchema, SourceError> {
    let id = rel.table_id();
    let catalog = match load_table_schema(client, rel.oid).await {
        Ok(s) => Some(s),
        Err(e) if e.is_transient() => return Err(e.into()),
        Err(e) => {
            // Dropped or renamed since the change was written: describe it from the message.
            warn!(table = %id, error = %e, "table not found in the catalog; using the replication stream's description");
            None
        }
    };
    let mut columns = Vec::with_capacity(rel.columns.len());
    for (i, rc) in rel.columns.iter().enumerate() {
        let known = catalog
            .as_ref()
            .and_then(|c| c.columns.iter().find(|c| c.name == rc.name));
        let col = match known {
            Some(c) if c.pg_type.oid == rc.type_oid => ColumnSchema {
                type_modifier: rc.type_modifier,
                ..c.clone()
            },
            _ => ColumnSchema {
                name: rc.name.clone(),
                attnum: i16::try_from(i + 1).unwrap_or(i16::MAX),
                pg_type: types.resolve(client, rc.type_oid).await?,
                type_modifier: rc.type_modifier,
                nullable: true,
                default_expr: None,
                primary_key_position: None,
            },
        };
        columns.push(col);
    }
    if catalog.is_none() && rel.replica_identity != ReplicaIdentity::Full {
        // Without the catalog, the replica identity key is the best guess at the primary key.
        let mut pos = 0u16;
        for (c, rc) in columns.iter_mut().zip(&rel.columns) {
            if rc.is_key() {
                pos += 1;
                c.primary_key_position = Some(pos);
            }
        }
    }
    Ok(TableSchema {
        relation_oid: rel.oid,
        id,
        columns,
        replica_identity: rel.replica_identity,
    })
}

/// Streams changes from an open replication stream until shutdown or an error.
pub struct Engine<'a> {
    pub connector: &'a str,
    pub cfg: &'a SourceConfig,
    pub ev_cfg: &'a EventConfig,
    pub query: &'a tokio_postgres::Client,
    pub producer: &'a mut Producer,
    /// The connector's transform chain; `None` when it has none (records are sent as encoded).
    pub transforms: Option<&'a mut SourceTransforms>,
    pub tables: HashMap<u32, TableState>,
    pub types: TypeCache,
    pub spill: SpillStore,
    decoder: walcast_pgoutput::Decoder,
    tx: Option<Tx>,
    /// The xid of the streamed block being received (between Stream Start and Stop).
    stream_xid: Option<u32>,
    /// The last token sent or marked; tokens handed to the producer never go backwards.
    last_token: u64,
    /// The commit LSN of the last transaction, for `source.sequence`.
    last_commit_lsn: Option<Lsn>,
    records: RecordBuf,
    /// Logical decoding messages (`pg_logical_emit_message`) → `<topic.prefix>.message`.
    messages: MessageEncoder,
    message_records: EncodedRecords,
    message_events: Counter,
    received_lsn: Gauge,
    bytes: Counter,
    transactions: Counter,
}

impl<'a> Engine<'a> {
    pub fn new(
        connector: &'a str,
        cfg: &'a SourceConfig,
        ev_cfg: &'a EventConfig,
        query: &'a tokio_postgres::Client,
        producer: &'a mut Producer,
        transforms: Option<&'a mut SourceTransforms>,
        spill: SpillStore,
    ) -> Self {
        let label = connector.to_string();
        Self {
            connector,
            cfg,
            ev_cfg,
            query,
            producer,
            transforms,
            tables: HashMap::new(),
            types: TypeCache::new(),
            spill,
            decoder: walcast_pgoutput::Decoder::new(),
            tx: None,
            stream_xid: None,
            last_token: 0,
            last_commit_lsn: None,
            records: RecordBuf::default(),
            messages: MessageEncoder::new(ev_cfg),
            message_records: EncodedRecords::new(),
            message_events: counter!(metric::EVENTS, "connector" => label.clone(), "table" => "", "op" => "m"),
            received_lsn: gauge!(metric::RECEIVED_LSN, "connector" => label.clone()),
            bytes: counter!(metric::BYTES, "connector" => label.clone()),
            transactions: counter!(metric::TRANSACTIONS, "connector" => label),
        }
    }

    /// Reads the stream until `shutdown` fires (returns `Ok`) or something fails.
    pub async fn run(
        &mut self,
        reader: &mut ReplicationReader,
        keepalive: &Notify,
        shutdown: &CancellationToken,
    ) -> Result<(), SourceError> {
        let mut heartbeat = (!self.cfg.heartbeat_interval.is_zero())
            .then(|| tokio::time::interval(self.cfg.heartbeat_interval));
        if let Some(h) = heartbeat.as_mut() {
            h.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            h.reset();
        }
        let mut lag_tick = tokio::time::interval(Duration::from_secs(10));
        lag_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lag_gauge = gauge!(metric::SLOT_LAG, "connector" => self.connector.to_string());
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                _ = tick(&mut heartbeat) => {
                    // The heartbeat may wait for room in the producer; shutdown must not.
                    tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => return Ok(()),
                        r = self.heartbeat() => r?,
                    }
                }
                _ = lag_tick.tick() => {
                    match walcast_pgwire::slot_lag_bytes(self.query, &self.cfg.slot_name).await {
                        Ok(Some(lag)) => lag_gauge.set(lag as f64),
                        Ok(None) => {}
                        Err(e) => debug!(error = %e, "reading slot lag failed"),
                    }
                }
                msg = reader.next() => match msg? {
                    None => {
                        return Err(SourceError::Transient(
                            "PostgreSQL ended the replication stream".into(),
                        ))
                    }
                    Some(ReplicationMessage::XLogData { wal_start, data, .. }) => {
                        self.bytes.increment(data.len() as u64);
                        self.received_lsn.set(wal_start.0 as f64);
                        // Applying may wait for Kafka (backpressure); shutdown must not.
                        tokio::select! {
                            biased;
                            _ = shutdown.cancelled() => return Ok(()),
                            r = self.on_wal(wal_start, data) => r?,
                        }
                    }
                    Some(ReplicationMessage::PrimaryKeepalive { wal_end, reply_requested, .. }) => {
                        if self.tx.is_none() && self.stream_xid.is_none() && wal_end.0 > self.last_token {
                            self.last_token = wal_end.0;
                            self.producer.mark(wal_end.0);
                        }
                        if reply_requested {
                            keepalive.notify_one();
                        }
                    }
                }
            }
        }
    }

    async fn heartbeat(&mut self) -> Result<(), SourceError> {
        if let Some(q) = &self.cfg.heartbeat_action_query {
            if let Err(e) = self.query.batch_execute(q).await {
                warn!(error = %e, "heartbeat.action.query failed");
            }
        }
        if self.tx.is_some() {
            return Ok(());
        }
        let now = now_ms();
        let (key, value) = events::heartbeat_record(&self.cfg.topic_prefix, now, self.ev_cfg);
        let record = events::OwnedRecord {
            key: Some(key),
            value: Some(value),
            timestamp_ms: now,
        };
        produce(
            self.producer,
            self.transforms.as_deref_mut(),
            &self.cfg.heartbeat_topic(),
            record,
            self.last_token,
            None,
        )
        .await
    }

    /// One XLogData message.
    async fn on_wal(&mut self, lsn: Lsn, data: Bytes) -> Result<(), SourceError> {
        let msg = self.decoder.decode(&data).map_err(|e| {
            SourceError::Protocol(format!(
                "cannot decode the pgoutput message at LSN {lsn}: {e}"
            ))
        })?;
        tracing::trace!(kind = msg.kind(), %lsn, "pgoutput message");
        match msg {
            Message::StreamStart(s) => {
                self.stream_xid = Some(s.xid);
                return Ok(());
            }
            Message::StreamStop => {
                self.stream_xid = None;
                return Ok(());
            }
            Message::StreamCommit(c) => {
                self.stream_xid = None;
                let tx = Tx {
                    xid: c.xid,
                    commit_time: c.commit_time,
                    token: self.token_for(c.xid, c.commit_lsn)?,
                };
                let file = self.spill.file_of(c.xid);
                if let Some(mut reader) = self
                    .spill
                    .commit(c.xid)
                    .await
                    .map_err(|e| spill_error("reading", c.xid, &file, &e))?
                {
                    self.tx = Some(tx);
                    while let Some((msg_lsn, raw)) = reader
                        .next_message()
                        .await
                        .map_err(|e| spill_error("reading", c.xid, &file, &e))?
                    {
                        let m = walcast_pgoutput::decode(&raw, true).map_err(|e| {
                            SourceError::Protocol(format!(
                                "cannot decode a spilled message of transaction {}: {e}",
                                c.xid
                            ))
                        })?;
                        // Each change keeps the WAL position it was streamed at, as `source.lsn`.
                        self.apply(m, msg_lsn).await?;
                    }
                }
                self.finish_tx(c.commit_lsn, c.end_lsn);
                gauge!(metric::SPILLED, "connector" => self.connector.to_string())
                    .set(self.spill.len() as f64);
                return Ok(());
            }
            Message::StreamAbort(a) => {
                let file = self.spill.file_of(a.xid);
                self.spill
                    .abort(a.xid, a.subxid)
                    .await
                    .map_err(|e| spill_error("truncating", a.xid, &file, &e))?;
                return Ok(());
            }
            _ => {}
        }
        let transactional_change = !matches!(&msg, Message::Message(m) if !m.transactional());
        if let (Some(xid), true) = (self.stream_xid, transactional_change) {
            // Part of a transaction still in progress: to disk until its Stream Commit. Relation
            // and Type messages are applied now too, since later non-streamed messages use them.
            let subxid = streamed_xid(&msg).unwrap_or(xid);
            if matches!(msg, Message::Relation(_) | Message::Type(_)) {
                self.apply(msg, lsn).await?;
            }
            let file = self.spill.file_of(xid);
            self.spill
                .append(xid, subxid, lsn, &data)
                .await
                .map_err(|e| spill_error("writing", xid, &file, &e))?;
            gauge!(metric::SPILLED, "connector" => self.connector.to_string())
                .set(self.spill.len() as f64);
            return Ok(());
        }
        match msg {
            Message::Begin(b) => {
                self.tx = Some(Tx {
                    xid: b.xid,
                    commit_time: b.commit_time,
                    token: self.token_for(b.xid, b.final_lsn)?,
                });
            }
            Message::Commit(c) => self.finish_tx(c.commit_lsn, c.end_lsn),
            other => self.apply(other, lsn).await?,
        }
        Ok(())
    }

    fn token_for(&self, xid: u32, commit_lsn: Lsn) -> Result<u64, SourceError> {
        commit_token(self.last_token, xid, commit_lsn)
    }

    fn finish_tx(&mut self, commit_lsn: Lsn, end_lsn: Lsn) {
        self.tx = None;
        self.last_commit_lsn = Some(commit_lsn);
        self.transactions.increment(1);
        if end_lsn.0 > self.last_token {
            self.last_token = end_lsn.0;
            self.producer.mark(end_lsn.0);
        }
    }

    /// A data or layout message, inside a transaction (live or replayed from a spill file).
    async fn apply(&mut self, msg: Message, lsn: Lsn) -> Result<(), SourceError> {
        match msg {
            Message::Relation(rel) => self.on_relation(rel).await,
            Message::Type(t) => {
                self.types.invalidate(t.oid);
                Ok(())
            }
            Message::Insert(i) => {
                self.emit(i.relation_oid, Op::Create, None, Some(&i.new), lsn)
                    .await
            }
            Message::Update(u) => {
                let old = u.old.as_ref().map(|o| o.values());
                self.emit(u.relation_oid, Op::Update, old, Some(&u.new), lsn)
                    .await
            }
            Message::Delete(d) => {
                self.emit(d.relation_oid, Op::Delete, Some(d.old.values()), None, lsn)
                    .await
            }
            Message::Truncate(t) => {
                for oid in &t.relation_oids {
                    self.emit(*oid, Op::Truncate, None, None, lsn).await?;
                }
                Ok(())
            }
            Message::Message(m) => {
                self.emit_message(&m.prefix, &m.content, m.transactional(), m.lsn)
                    .await
            }
            // Replication origins are not reported (source.origin stays null).
            Message::Origin(_) => Ok(()),
            other => Err(SourceError::Protocol(format!(
                "unexpected {} message at LSN {lsn}; walcast does not enable two-phase decoding",
                other.kind()
            ))),
        }
    }

    async fn on_relation(&mut self, rel: walcast_pgoutput::Relation) -> Result<(), SourceError> {
        let id: TableId = rel.table_id();
        let captured = self.cfg.captures(&id);
        let schema = if captured {
            schema_for_relation(self.query, &mut self.types, &rel).await?
        } else {
            TableSchema {
                relation_oid: rel.oid,
                id: id.clone(),
                columns: Vec::new(),
                replica_identity: rel.replica_identity,
            }
        };
        if let Some(prev) = self.tables.get(&rel.oid) {
            if prev.schema == schema {
                return Ok(());
            }
            if captured {
                info!(table = %id, "table layout changed; new events use the new schema");
            }
        }
        let encoder = if captured {
            Some(TableEncoder::new(&schema, self.ev_cfg).map_err(|e| {
                SourceError::Fatal(format!("cannot map table {id} to Debezium events: {e}"))
            })?)
        } else {
            None
        };
        self.tables
            .insert(rel.oid, TableState::new(self.connector, schema, encoder));
        Ok(())
    }

    async fn emit(
        &mut self,
        oid: u32,
        op: Op,
        before: Option<&[TupleValue]>,
        after: Option<&[TupleValue]>,
        lsn: Lsn,
    ) -> Result<(), SourceError> {
        let Some(table) = self.tables.get(&oid) else {
            return Err(SourceError::Protocol(format!(
                "change for relation {oid} at LSN {lsn} arrived before its Relation message"
            )));
        };
        let Some(encoder) = table.encoder.as_ref() else {
            return Ok(());
        };
        let Some(tx) = self.tx else {
            return Err(SourceError::Protocol(format!(
                "change at LSN {lsn} outside a transaction"
            )));
        };
        let pos = SourcePosition {
            commit_time_us: tx.commit_time + walcast_pgoutput::PG_EPOCH_UNIX_MICROS,
            snapshot: SnapshotMarker::False,
            xid: Some(tx.xid),
            lsn: Some(lsn),
            last_commit_lsn: self.last_commit_lsn,
        };
        events::encode(
            encoder,
            op,
            before,
            after,
            &pos,
            now_ms(),
            &mut self.records,
        )
        .map_err(|e| SourceError::Encode {
            table: table.schema.id.clone(),
            lsn,
            source: e,
        })?;
        table.count(op);
        let topic = encoder.topic();
        for r in self.records.drain() {
            let transforms = self.transforms.as_deref_mut();
            produce(self.producer, transforms, topic, r, tx.token, Some(lsn)).await?;
        }
        Ok(())
    }

    /// A logical decoding message, as Debezium emits it: transactional ones with their
    /// transaction (and its token), non-transactional ones at once.
    async fn emit_message(
        &mut self,
        prefix: &str,
        content: &[u8],
        transactional: bool,
        lsn: Lsn,
    ) -> Result<(), SourceError> {
        if !self.cfg.message_prefixes.matches(prefix) {
            return Ok(());
        }
        let tx = if transactional { self.tx } else { None };
        let now = now_ms();
        let commit_us = match tx {
            Some(t) => t.commit_time + walcast_pgoutput::PG_EPOCH_UNIX_MICROS,
            None => now * 1000,
        };
        let source = SourceInfo {
            ts_us: commit_us,
            sequence: [self.last_commit_lsn.map(|l| l.0), Some(lsn.0)],
            tx_id: tx.map(|t| i64::from(t.xid)),
            lsn: Some(lsn.0),
            ..SourceInfo::default()
        };
        self.messages.encode(
            prefix,
            content,
            &source,
            now.saturating_mul(1_000_000),
            &mut self.message_records,
        );
        self.message_events.increment(1);
        // A non-transactional message is its own unit: its LSN is its token, so the slot is not
        // confirmed past it before Kafka has it (a token already marked would not be waited for).
        let token = match tx {
            Some(t) => t.token,
            None => {
                self.last_token = self.last_token.max(lsn.0);
                self.last_token
            }
        };
        let topic = self.messages.topic().to_string();
        for (key, value) in self.message_records.drain_owned() {
            let record = events::OwnedRecord {
                key,
                value,
                timestamp_ms: now,
            };
            let transforms = self.transforms.as_deref_mut();
            produce(self.producer, transforms, &topic, record, token, Some(lsn)).await?;
        }
        Ok(())
    }
}

/// The xid a streamed data message carries (its subtransaction's, for changes made in one).
fn streamed_xid(msg: &Message) -> Option<u32> {
    match msg {
        Message::Relation(m) => m.xid,
        Message::Type(m) => m.xid,
        Message::Insert(m) => m.xid,
        Message::Update(m) => m.xid,
        Message::Delete(m) => m.xid,
        Message::Truncate(m) => m.xid,
        Message::Message(m) => m.xid,
        _ => None,
    }
}

async fn tick(t: &mut Option<tokio::time::Interval>) {
    match t {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Reports the acknowledged position to PostgreSQL: on every change of the producer's
/// watermark (batched to `interval`), when the server asks for a reply, and at least every
/// 10 s. Runs beside the reading loop, so status keeps flowing while the reader waits for Kafka
/// (the walsender would otherwise disconnect after `wal_sender_timeout`). Returns the writer
/// when `stop` fires, after sending a last update.
pub async fn status_loop(
    mut writer: ReplicationWriter,
    mut acked: watch::Receiver<u64>,
    keepalive: Arc<Notify>,
    interval: Duration,
    confirmed_gauge: Gauge,
    stop: CancellationToken,
) -> Result<ReplicationWriter, PgError> {
    let mut sent = 0u64;
    let mut last_send = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = keepalive.notified() => true,
            _ = tick.tick() => false,
        };
        let lsn = (*acked.borrow_and_update()).max(sent);
        if forced || lsn > sent || last_send.elapsed() >= Duration::from_secs(10) {
            writer
                .send_status_update(StandbyStatusUpdate::confirmed(Lsn(lsn)))
                .await?;
            sent = lsn;
            last_send = tokio::time::Instant::now();
            confirmed_gauge.set(lsn as f64);
        }
    }
    let lsn = (*acked.borrow()).max(sent);
    writer
        .send_status_update(StandbyStatusUpdate::confirmed(Lsn(lsn)))
        .await?;
    confirmed_gauge.set(lsn as f64);
    Ok(writer)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_before_a_marked_position_fails_instead_of_being_patched() {
        assert_eq!(commit_token(100, 7, Lsn(100)).unwrap(), 100);
        assert_eq!(commit_token(100, 7, Lsn(250)).unwrap(), 250);
        let e = commit_token(300, 7, Lsn(250)).unwrap_err();
        assert!(matches!(e, SourceError::Protocol(_)), "{e:?}");
        assert!(!e.is_transient());
        let text = e.to_string();
        assert!(
            text.contains("transaction 7") && text.contains(&Lsn(300).to_string()),
            "{text}"
        );
    }
}
