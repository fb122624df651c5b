//! The PostgreSQL [`SinkWriter`]: one transaction per batch holding the rows and the
//! `walcast_offsets` row of every partition the batch covers, so a crash at any instant leaves
//! each record applied exactly once.
//!
//! A batch goes: records → [`Change`]s → per table, changes to the same key folded to the last
//! one (an unchanged-TOAST column takes the value an earlier change of the batch wrote) →
//! `CREATE TABLE`/`ALTER TABLE ADD COLUMN` if allowed → `TRUNCATE` → one `DELETE` of every
//! deleted key → one write per column shape (rows whose unchanged-TOAST columns differ get
//! their own statement, so those columns are never written) → the offsets upsert → `COMMIT`.
//!
//! Each write is one statement over the whole batch, by one of three [`WriteMethod`]s; see the
//! crate docs for what each one measured.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use futures::future::BoxFuture;
use futures::SinkExt;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement, Transaction};
use walcast_connect_api::{
    ConnectRecord, Position, Schema, SinkError, SinkWriter, TopicPartition, Value,
};
use walcast_pgwire::quote_ident;

use crate::change::{coords, Change, ChangeBuilder, ChangeKind, Column, TableName};
use crate::config::{Dialect, InsertMode, JdbcSinkConfig, PkMode};
use crate::error::classify;
use crate::types::{pg_type, render};

/// The offsets table, in the connection's default schema.
pub const OFFSETS_TABLE: &str = "walcast_offsets";

/// How rows reach the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMethod {
    /// `INSERT ... VALUES (...), (...) ON CONFLICT ...` with one text parameter per value
    /// (updates and deletes use [`WriteMethod::Unnest`]).
    Values,
    /// `INSERT ... SELECT ... FROM unnest($1::text[], ...) ON CONFLICT ...`: one text array
    /// parameter per column, cast to the column's type.
    Unnest,
    /// `COPY` (text format) into a temporary staging table, then
    /// `INSERT ... SELECT ... ON CONFLICT` / `UPDATE ... FROM` / `DELETE ... USING`.
    Copy,
}

/// A destination table as the catalog describes it.
#[derive(Debug, Clone)]
struct TableInfo {
    /// Quoted, schema-qualified when the name had a schema.
    sql: String,
    /// Column name → `format_type` of its type.
    columns: HashMap<String, String>,
    /// Primary key columns (for messages).
    pk: Vec<String>,
}

/// A connection and what was learnt on it (dropped together when the connection is).
struct Session {
    client: Client,
    tables: HashMap<TableName, TableInfo>,
    /// Staging table per (table, statement kind, columns).
    staging: HashMap<String, String>,
    statements: HashMap<String, Statement>,
    current_db: String,
}

/// The JDBC sink's [`SinkWriter`] for PostgreSQL.
pub struct PgSinkWriter {
    cfg: Arc<JdbcSinkConfig>,
    builder: ChangeBuilder,
    session: Option<Session>,
    method: WriteMethod,
    /// Batches of at least this many rows use [`WriteMethod::Copy`] when the method is
    /// [`WriteMethod::Unnest`] (the default); see the crate docs.
    copy_threshold: usize,
}

impl PgSinkWriter {
    pub fn new(cfg: Arc<JdbcSinkConfig>) -> Self {
        Self {
            builder: ChangeBuilder::new(cfg.clone()),
            cfg,
            session: None,
            method: WriteMethod::Unnest,
            copy_threshold: DEFAULT_COPY_THRESHOLD,
        }
    }

    /// Force one write method for every batch size (benchmarks, tests).
    pub fn with_method(mut self, method: WriteMethod) -> Self {
        self.method = method;
        self.copy_threshold = usize::MAX;
        self
    }

    async fn connect(&mut self) -> Result<&mut Session, SinkError> {
        if self.session.is_none() {
            let pg = &self.cfg.connect;
            let ctx = format!(
                "connecting to PostgreSQL at {}:{} database {} as {}",
                pg.host, pg.port, pg.dbname, pg.user
            );
            let client = walcast_pgwire::connect_client(pg).await.map_err(|e| {
                if e.is_transient() {
                    SinkError::transient(format!("{ctx}: {e}"))
                } else {
                    SinkError::fatal(format!("{ctx}: {e}"))
                }
            })?;
            let mut setup = format!("SET TimeZone = '{}'", self.cfg.timezone);
            if let Some(s) = &self.cfg.current_schema {
                let schemas: Vec<String> = s.split(',').map(|p| quote_ident(p.trim())).collect();
                let _ = write!(setup, "; SET search_path = {}", schemas.join(", "));
            }
            client
                .batch_execute(&setup)
                .await
                .map_err(|e| classify(&e, "setting db.timezone / currentSchema"))?;
            let current_db: String = client
                .query_one("SELECT current_database()", &[])
                .await
                .map_err(|e| classify(&e, "reading the current database"))?
                .get(0);
            self.session = Some(Session {
                client,
                tables: HashMap::new(),
                staging: HashMap::new(),
                statements: HashMap::new(),
                current_db,
            });
        }
        self.session
            .as_mut()
            .ok_or_else(|| SinkError::transient("no PostgreSQL connection"))
    }

    async fn open_inner(&mut self, connector: &str) -> Result<Vec<Position>, SinkError> {
        self.session = None;
        let s = self.connect().await?;
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (connector text NOT NULL, topic text NOT NULL, \
             partition int NOT NULL, next_offset bigint NOT NULL, PRIMARY KEY (connector, topic, partition))"
        );
        if let Err(e) = s.client.batch_execute(&create).await {
            // Two tasks creating it at once: one wins, the other sees a duplicate.
            let dup = e
                .code()
                .is_some_and(|c| matches!(c.code(), "23505" | "42P07"));
            if !dup {
                return Err(classify(&e, "creating the walcast_offsets table"));
            }
        }
        let rows = s
            .client
            .query(
                &format!(
                    "SELECT topic, partition, next_offset FROM {OFFSETS_TABLE} WHERE connector = $1"
                ),
                &[&connector],
            )
            .await
            .map_err(|e| classify(&e, "reading walcast_offsets"))?;
        Ok(rows
            .iter()
            .map(|r| Position {
                tp: TopicPartition::new(r.get::<_, String>(0), r.get::<_, i32>(1)),
                next_offset: r.get(2),
            })
            .collect())
    }

    /// Records to per-table work, folded by key.
    fn plan<'a>(
        &self,
        records: &'a [ConnectRecord],
    ) -> Result<BTreeMap<TableName, TableBatch<'a>>, SinkError> {
        let mut tables: BTreeMap<TableName, TableBatch<'a>> = BTreeMap::new();
        let fold = !matches!(self.cfg.pk_mode, PkMode::None | PkMode::Kafka);
        let mut scratch = String::new();
        for r in records {
            let Some(ch) = self.builder.change(r)? else {
                continue;
            };
            let batch = tables.entry(ch.table.clone()).or_default();
            if ch.kind == ChangeKind::Truncate {
                batch.truncate = true;
                batch.ops.clear();
                batch.by_key.clear();
                continue;
            }
            if !fold {
                batch.ops.push(ch);
                continue;
            }
            let mut key = Vec::with_capacity(ch.key.len());
            for c in &ch.key {
                scratch.clear();
                let present = c
                    .value
                    .as_deref()
                    .is_some_and(|v| render(c.schema, v, &mut scratch));
                key.push(present.then(|| scratch.clone()));
            }
            match batch.by_key.get(&key) {
                Some(&i) => {
                    let prev = &batch.ops[i];
                    let merged = merge(prev, ch);
                    batch.ops[i] = merged;
                }
                None => {
                    batch.by_key.insert(key, batch.ops.len());
                    batch.ops.push(ch);
                }
            }
        }
        Ok(tables)
    }

    async fn write_inner(
        &mut self,
        connector: &str,
        records: &[ConnectRecord],
        positions: &[Position],
    ) -> Result<(), SinkError> {
        let plan = self.plan(records)?;
        let rows: usize = plan.values().map(|b| b.ops.len()).sum();
        let method = if self.method == WriteMethod::Unnest && rows >= self.copy_threshold {
            WriteMethod::Copy
        } else {
            self.method
        };
        let cfg = self.cfg.clone();
        let session = self.connect().await?;
        let result = session
            .write(&cfg, method, connector, plan, positions)
            .await;
        if let Err(e) = &result {
            // The transaction rolled back: DDL and staging tables of it are gone.
            session.tables.clear();
            session.staging.clear();
            session.statements.clear();
            if e.kind == walcast_connect_api::SinkErrorKind::Transient {
                self.session = None;
            }
        }
        result
    }
}

/// Staging table names, unique in the process.
static STAGE_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Batches this large go through COPY (measured crossover, see the crate docs).
pub const DEFAULT_COPY_THRESHOLD: usize = 1000;

/// The folded changes of one table in one batch.
#[derive(Default)]
struct TableBatch<'a> {
    truncate: bool,
    ops: Vec<Change<'a>>,
    by_key: HashMap<Vec<Option<String>>, usize>,
}

/// The change that has the effect of `prev` followed by `next` on the same key: `next`, with
/// its unchanged-TOAST columns taken from `prev` when `prev` wrote them.
fn merge<'a>(prev: &Change<'a>, mut next: Change<'a>) -> Change<'a> {
    if next.kind == ChangeKind::Write && prev.kind == ChangeKind::Write {
        for c in next.values.iter_mut().filter(|c| c.value.is_none()) {
            if let Some(p) = prev.values.iter().find(|p| p.name == c.name) {
                c.value.clone_from(&p.value);
            }
        }
    }
    next
}

/// What a statement does with the rows of one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stmt {
    Insert,
    Upsert,
    Update,
    Delete,
}

impl Stmt {
    fn tag(self) -> &'static str {
        match self {
            Stmt::Insert => "i",
            Stmt::Upsert => "u",
            Stmt::Update => "p",
            Stmt::Delete => "d",
        }
    }
}

/// The columns of rows of one shape: name, its Connect schema (from the first row), whether it
/// is a key column.
struct Shape<'a> {
    cols: Vec<(String, Option<&'a Schema>, bool)>,
    rows: Vec<Vec<Option<&'a Value>>>,
}

impl Session {
    async fn write(
        &mut self,
        cfg: &JdbcSinkConfig,
        method: WriteMethod,
        connector: &str,
        plan: BTreeMap<TableName, TableBatch<'_>>,
        positions: &[Position],
    ) -> Result<(), SinkError> {
        let tx = self
            .client
            .transaction()
            .await
            .map_err(|e| classify(&e, "beginning a transaction"))?;
        for (name, batch) in &plan {
            let Some(info) = ensure_table(
                &tx,
                &mut self.tables,
                &self.current_db,
                cfg,
                name,
                &batch.ops,
            )
            .await?
            else {
                continue;
            };
            if batch.truncate {
                tx.batch_execute(&format!("TRUNCATE TABLE {}", info.sql))
                    .await
                    .map_err(|e| classify(&e, &format!("truncating table {name}")))?;
            }
            let deletes: Vec<&Change> = batch
                .ops
                .iter()
                .filter(|c| c.kind == ChangeKind::Delete)
                .collect();
            if !deletes.is_empty() {
                let shape = key_shape(&deletes);
                run_shape(
                    &tx,
                    &mut self.staging,
                    &mut self.statements,
                    method,
                    &info,
                    name,
                    Stmt::Delete,
                    &shape,
                )
                .await?;
            }
            let stmt = match cfg.insert_mode {
                InsertMode::Insert => Stmt::Insert,
                InsertMode::Upsert => Stmt::Upsert,
                InsertMode::Update => Stmt::Update,
            };
            for shape in write_shapes(&batch.ops) {
                run_shape(
                    &tx,
                    &mut self.staging,
                    &mut self.statements,
                    method,
                    &info,
                    name,
                    stmt,
                    &shape,
                )
                .await?;
            }
        }
        if !positions.is_empty() {
            let topics: Vec<&str> = positions.iter().map(|p| p.tp.topic.as_str()).collect();
            let parts: Vec<i32> = positions.iter().map(|p| p.tp.partition).collect();
            let offs: Vec<i64> = positions.iter().map(|p| p.next_offset).collect();
            let sql = format!(
                "INSERT INTO {OFFSETS_TABLE} (connector, topic, partition, next_offset) \
                 SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o) \
                 ON CONFLICT (connector, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset"
            );
            let st = prepared(&tx, &mut self.statements, &sql, "storing offsets").await?;
            tx.execute(&st, &[&connector, &topics, &parts, &offs])
                .await
                .map_err(|e| classify(&e, "storing offsets in walcast_offsets"))?;
        }
        tx.commit()
            .await
            .map_err(|e| classify(&e, "committing the batch"))?;
        Ok(())
    }
}

async fn prepared(
    tx: &Transaction<'_>,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
    what: &str,
) -> Result<Statement, SinkError> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = tx.prepare(sql).await.map_err(|e| classify(&e, what))?;
    if cache.len() > 1000 {
        cache.clear();
    }
    cache.insert(sql.to_string(), s.clone());
    Ok(s)
}

/// Deleted keys as one shape of key columns.
fn key_shape<'a>(deletes: &[&'a Change<'a>]) -> Shape<'a> {
    let first = deletes[0];
    let cols = first
        .key
        .iter()
        .map(|c| (c.name.to_string(), c.schema, true))
        .collect();
    let rows = deletes
        .iter()
        .map(|c| c.key.iter().map(|k| k.value.as_deref()).collect())
        .collect();
    Shape { cols, rows }
}

/// Written rows grouped by which columns they carry (unchanged-TOAST columns left out).
fn write_shapes<'a>(ops: &'a [Change<'a>]) -> Vec<Shape<'a>> {
    let mut shapes: Vec<Shape<'a>> = Vec::new();
    let mut index: HashMap<Vec<&str>, usize> = HashMap::new();
    for ch in ops.iter().filter(|c| c.kind == ChangeKind::Write) {
        let present = |c: &&Column<'a>| c.value.is_some();
        let names: Vec<&str> = ch
            .key
            .iter()
            .chain(ch.values.iter())
            .filter(present)
            .map(|c| c.name.as_ref())
            .collect();
        let i = match index.get(&names) {
            Some(&i) => i,
            None => {
                let cols = ch
                    .key
                    .iter()
                    .map(|c| (c.name.to_string(), c.schema, true))
                    .chain(
                        ch.values
                            .iter()
                            .filter(present)
                            .map(|c| (c.name.to_string(), c.schema, false)),
                    )
                    .collect();
                shapes.push(Shape {
                    cols,
                    rows: Vec::new(),
                });
                index.insert(names, shapes.len() - 1);
                shapes.len() - 1
            }
        };
        let row = ch
            .key
            .iter()
            .chain(ch.values.iter())
            .filter_map(|c| c.value.as_ref().map(|v| Some(v.as_ref())))
            .collect();
        shapes[i].rows.push(row);
    }
    shapes
}

/// The type a value column is parsed as before the cast to its column type: a Connect
/// Timestamp (an instant, rendered with `+00`) goes through timestamptz so a `timestamp`
/// column gets the wall time of the session zone (`db.timezone`).
fn stage_type(schema: Option<&Schema>, target: &str) -> String {
    let instant = schema.and_then(|s| s.name.as_deref())
        == Some(walcast_connect_api::data::logical::TIMESTAMP);
    if instant && target.starts_with("timestamp without") {
        "timestamp with time zone".into()
    } else {
        target.to_string()
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_shape(
    tx: &Transaction<'_>,
    staging: &mut HashMap<String, String>,
    statements: &mut HashMap<String, Statement>,
    method: WriteMethod,
    info: &TableInfo,
    name: &TableName,
    stmt: Stmt,
    shape: &Shape<'_>,
) -> Result<(), SinkError> {
    if shape.rows.is_empty() {
        return Ok(());
    }
    let ctx = || format!("writing table {name}");
    let mut targets = Vec::with_capacity(shape.cols.len());
    for (c, _, _) in &shape.cols {
        let t = info.columns.get(c).ok_or_else(|| {
            SinkError::fatal(format!(
                "table {name} has no column {c}; add it, or set auto.evolve=true (Confluent) / schema.evolution=basic (Debezium)"
            ))
        })?;
        targets.push(t.as_str());
    }
    let stages: Vec<String> = shape
        .cols
        .iter()
        .zip(&targets)
        .map(|((_, s, _), t)| stage_type(*s, t))
        .collect();
    let qcols: Vec<String> = shape.cols.iter().map(|(c, _, _)| quote_ident(c)).collect();
    let keys: Vec<&String> = shape
        .cols
        .iter()
        .zip(&qcols)
        .filter(|((_, _, k), _)| *k)
        .map(|(_, q)| q)
        .collect();
    let non_keys: Vec<&String> = shape
        .cols
        .iter()
        .zip(&qcols)
        .filter(|((_, _, k), _)| !*k)
        .map(|(_, q)| q)
        .collect();
    if stmt == Stmt::Update && non_keys.is_empty() {
        return Ok(());
    }
    if matches!(stmt, Stmt::Upsert | Stmt::Update | Stmt::Delete) && keys.is_empty() {
        return Err(SinkError::fatal(format!(
            "table {name}: {stmt:?} needs key columns; set pk.mode (primary.key.mode)"
        )));
    }
    let on_conflict = match stmt {
        Stmt::Upsert if non_keys.is_empty() => format!(
            " ON CONFLICT ({}) DO NOTHING",
            keys.iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Stmt::Upsert => format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            keys.iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            non_keys
                .iter()
                .map(|c| format!("{c} = EXCLUDED.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => String::new(),
    };
    let cols_list = qcols.join(", ");
    let key_match = keys
        .iter()
        .map(|k| format!("d.{k} = s2.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    // `source` yields the shape's columns, cast to the table's types, as `s2`.
    let finish = |select: String| -> String {
        match stmt {
            Stmt::Insert | Stmt::Upsert => {
                format!(
                    "INSERT INTO {} ({cols_list}) {select}{on_conflict}",
                    info.sql
                )
            }
            Stmt::Update => format!(
                "UPDATE {} AS d SET {} FROM ({select}) AS s2 WHERE {key_match}",
                info.sql,
                non_keys
                    .iter()
                    .map(|c| format!("{c} = s2.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Stmt::Delete => format!(
                "DELETE FROM {} AS d USING ({select}) AS s2 WHERE {key_match}",
                info.sql
            ),
        }
    };
    let method = if method == WriteMethod::Values && matches!(stmt, Stmt::Update | Stmt::Delete) {
        WriteMethod::Unnest
    } else {
        method
    };
    match method {
        WriteMethod::Unnest => {
            let exprs: Vec<String> = qcols
                .iter()
                .zip(stages.iter().zip(&targets))
                .map(|(c, (st, t))| {
                    if st == t {
                        format!("s.{c}::{t} AS {c}")
                    } else {
                        format!("s.{c}::{st}::{t} AS {c}")
                    }
                })
                .collect();
            let params: Vec<String> = (1..=qcols.len()).map(|i| format!("${i}::text[]")).collect();
            let select = format!(
                "SELECT {} FROM unnest({}) AS s({cols_list})",
                exprs.join(", "),
                params.join(", ")
            );
            let sql = finish(select);
            let st = prepared(tx, statements, &sql, &ctx()).await?;
            let columns = text_columns(shape);
            let refs: Vec<&(dyn ToSql + Sync)> =
                columns.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
            tx.execute(&st, &refs)
                .await
                .map_err(|e| classify(&e, &ctx()))?;
        }
        WriteMethod::Values => {
            let ncols = qcols.len();
            let max_rows = (60_000 / ncols.max(1)).max(1);
            let mut scratch = String::new();
            for chunk in shape.rows.chunks(max_rows) {
                let mut values = String::with_capacity(chunk.len() * ncols * 16);
                let mut params: Vec<Option<String>> = Vec::with_capacity(chunk.len() * ncols);
                for (ri, row) in chunk.iter().enumerate() {
                    values.push_str(if ri == 0 { "(" } else { ", (" });
                    for (ci, v) in row.iter().enumerate() {
                        if ci > 0 {
                            values.push_str(", ");
                        }
                        let _ = write!(values, "${}::text::{}", params.len() + 1, stages[ci]);
                        if stages[ci] != targets[ci] {
                            let _ = write!(values, "::{}", targets[ci]);
                        }
                        scratch.clear();
                        let present = v.is_some_and(|v| render(shape.cols[ci].1, v, &mut scratch));
                        params.push(present.then(|| scratch.clone()));
                    }
                    values.push(')');
                }
                let sql = finish(format!("VALUES {values}"));
                let st = prepared(tx, statements, &sql, &ctx()).await?;
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
                tx.execute(&st, &refs)
                    .await
                    .map_err(|e| classify(&e, &ctx()))?;
            }
        }
        WriteMethod::Copy => {
            let key = format!(
                "{}|{}|{}|{}",
                info.sql,
                stmt.tag(),
                cols_list,
                stages.join(",")
            );
            let stage = match staging.get(&key) {
                Some(s) => s.clone(),
                None => {
                    // Never reused: tables of a rolled-back transaction are gone, earlier
                    // ones are still there.
                    let seq = STAGE_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let s = format!("walcast_stage_{seq}");
                    let defs: Vec<String> = qcols
                        .iter()
                        .zip(&stages)
                        .map(|(c, t)| format!("{c} {t}"))
                        .collect();
                    tx.batch_execute(&format!(
                        "CREATE TEMP TABLE {s} ({}) ON COMMIT DELETE ROWS",
                        defs.join(", ")
                    ))
                    .await
                    .map_err(|e| classify(&e, &format!("creating a staging table for {name}")))?;
                    staging.insert(key, s.clone());
                    s
                }
            };
            let buf = copy_text(shape);
            let sink = tx
                .copy_in::<_, bytes::Bytes>(&format!("COPY {stage} ({cols_list}) FROM STDIN"))
                .await
                .map_err(|e| classify(&e, &ctx()))?;
            futures::pin_mut!(sink);
            sink.send(buf.freeze())
                .await
                .map_err(|e| classify(&e, &ctx()))?;
            sink.as_mut()
                .finish()
                .await
                .map_err(|e| classify(&e, &ctx()))?;
            let exprs: Vec<String> = qcols
                .iter()
                .zip(stages.iter().zip(&targets))
                .map(|(c, (st, t))| {
                    if st == t {
                        format!("s.{c}")
                    } else {
                        format!("s.{c}::{t} AS {c}")
                    }
                })
                .collect();
            let sql = finish(format!("SELECT {} FROM {stage} AS s", exprs.join(", ")));
            let st = prepared(tx, statements, &sql, &ctx()).await?;
            tx.execute(&st, &[])
                .await
                .map_err(|e| classify(&e, &ctx()))?;
        }
    }
    Ok(())
}

/// The shape's values as one text array per column.
fn text_columns(shape: &Shape<'_>) -> Vec<Vec<Option<String>>> {
    let mut cols: Vec<Vec<Option<String>>> = (0..shape.cols.len())
        .map(|_| Vec::with_capacity(shape.rows.len()))
        .collect();
    let mut scratch = String::new();
    for row in &shape.rows {
        for (ci, v) in row.iter().enumerate() {
            scratch.clear();
            let present = v.is_some_and(|v| render(shape.cols[ci].1, v, &mut scratch));
            if let Some(col) = cols.get_mut(ci) {
                col.push(present.then(|| scratch.clone()));
            }
        }
    }
    cols
}

/// The shape's rows in COPY's text format.
fn copy_text(shape: &Shape<'_>) -> BytesMut {
    let mut buf = BytesMut::with_capacity(shape.rows.len() * shape.cols.len() * 12);
    let mut scratch = String::new();
    for row in &shape.rows {
        for (ci, v) in row.iter().enumerate() {
            if ci > 0 {
                buf.put_u8(b'\t');
            }
            scratch.clear();
            if v.is_some_and(|v| render(shape.cols[ci].1, v, &mut scratch)) {
                let b = scratch.as_bytes();
                if b.iter().any(|c| matches!(c, b'\\' | b'\t' | b'\n' | b'\r')) {
                    for &c in b {
                        match c {
                            b'\\' => buf.put_slice(b"\\\\"),
                            b'\t' => buf.put_slice(b"\\t"),
                            b'\n' => buf.put_slice(b"\\n"),
                            b'\r' => buf.put_slice(b"\\r"),
                            c => buf.put_u8(c),
                        }
                    }
                } else {
                    buf.put_slice(b);
                }
            } else {
                buf.put_slice(b"\\N");
            }
        }
        buf.put_u8(b'\n');
    }
    buf
}

fn table_sql(name: &TableName) -> String {
    match &name.schema {
        Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&name.name)),
        None => quote_ident(&name.name),
    }
}

/// The table's catalog description, creating the table or adding columns when allowed.
/// `None` when the table does not exist and nothing in the batch can create it (only
/// truncates).
async fn ensure_table(
    tx: &Transaction<'_>,
    tables: &mut HashMap<TableName, TableInfo>,
    current_db: &str,
    cfg: &JdbcSinkConfig,
    name: &TableName,
    ops: &[Change<'_>],
) -> Result<Option<TableInfo>, SinkError> {
    if let Some(c) = &name.catalog {
        if c != current_db {
            return Err(SinkError::fatal(format!(
                "table {name} names database {c}, but the connection is to database {current_db}: \
                 Confluent's sink reads a.b.c as database.schema.table; route the topic with \
                 RegexRouter or set table.name.format to a name with at most one dot (schema.table), \
                 or to \"${{topic}}\" in double quotes to keep the dots in the table name"
            )));
        }
    }
    let sql = table_sql(name);
    let (evolve_key, create_key) = match cfg.dialect {
        Dialect::Confluent => ("auto.evolve=true", "auto.create=true"),
        Dialect::Debezium => ("schema.evolution=basic", "schema.evolution=basic"),
    };
    let mut info = match tables.get(name) {
        Some(i) => i.clone(),
        None => match load_table(tx, &sql, name).await? {
            Some(i) => i,
            None => {
                let Some(template) = ops
                    .iter()
                    .find(|c| c.kind == ChangeKind::Write)
                    .or(ops.first())
                else {
                    return Ok(None);
                };
                if !cfg.auto_create {
                    return Err(SinkError::fatal(format!(
                        "table {name} does not exist ({}); create it, or set {create_key} to let the sink create it",
                        coords(template.record)
                    )));
                }
                create_table(tx, &sql, name, template).await?;
                load_table(tx, &sql, name).await?.ok_or_else(|| {
                    SinkError::fatal(format!("table {name} is not visible after CREATE TABLE"))
                })?
            }
        },
    };
    // Columns the batch writes that the table lacks.
    let mut missing: Vec<&Column> = Vec::new();
    let mut seen = HashSet::new();
    for ch in ops {
        for c in ch.key.iter().chain(ch.values.iter()) {
            if !info.columns.contains_key(c.name.as_ref()) && seen.insert(c.name.as_ref()) {
                missing.push(c);
            }
        }
    }
    if !missing.is_empty() {
        if !cfg.auto_evolve {
            let names: Vec<&str> = missing.iter().map(|c| c.name.as_ref()).collect();
            return Err(SinkError::fatal(format!(
                "table {name} has no column {}; add it, or set {evolve_key} to let the sink add it",
                names.join(", ")
            )));
        }
        let mut alters = Vec::new();
        for c in &missing {
            let schema = c.schema.ok_or_else(|| {
                SinkError::fatal(format!(
                    "table {name} has no column {} and the records carry no schema to derive its type from; add the column, or enable schemas on the value converter",
                    c.name
                ))
            })?;
            alters.push(format!(
                "ADD COLUMN IF NOT EXISTS {} {}",
                quote_ident(&c.name),
                pg_type(schema)
            ));
        }
        tx.batch_execute(&format!("ALTER TABLE {sql} {}", alters.join(", ")))
            .await
            .map_err(|e| classify(&e, &format!("adding columns to table {name}")))?;
        tracing::info!(table = %name, columns = missing.len(), "added columns");
        info = load_table(tx, &sql, name)
            .await?
            .ok_or_else(|| SinkError::fatal(format!("table {name} disappeared")))?;
    }
    if !info.pk.is_empty() {
        tracing::trace!(table = %name, pk = ?info.pk, "table key");
    }
    tables.insert(name.clone(), info.clone());
    Ok(Some(info))
}

async fn load_table(
    tx: &Transaction<'_>,
    sql: &str,
    name: &TableName,
) -> Result<Option<TableInfo>, SinkError> {
    let ctx = format!("reading the definition of table {name}");
    let row = tx
        .query_one("SELECT to_regclass($1)::oid", &[&sql])
        .await
        .map_err(|e| classify(&e, &ctx))?;
    let Some(oid) = row.get::<_, Option<u32>>(0) else {
        return Ok(None);
    };
    let cols = tx
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
             coalesce(a.attnum = ANY(i.indkey::int2[]), false) \
             FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(|e| classify(&e, &ctx))?;
    let mut columns = HashMap::new();
    let mut pk = Vec::new();
    for r in &cols {
        let n: String = r.get(0);
        if r.get::<_, bool>(2) {
            pk.push(n.clone());
        }
        columns.insert(n, r.get(1));
    }
    Ok(Some(TableInfo {
        sql: sql.to_string(),
        columns,
        pk,
    }))
}

async fn create_table(
    tx: &Transaction<'_>,
    sql: &str,
    name: &TableName,
    template: &Change<'_>,
) -> Result<(), SinkError> {
    let mut defs = Vec::new();
    let mut keys = Vec::new();
    for c in &template.key {
        let schema = c.schema.ok_or_else(|| schemaless(name, template))?;
        defs.push(format!(
            "{} {} NOT NULL",
            quote_ident(&c.name),
            pg_type(schema)
        ));
        keys.push(quote_ident(&c.name));
    }
    for c in &template.values {
        let schema = c.schema.ok_or_else(|| schemaless(name, template))?;
        let not_null = if schema.optional { "" } else { " NOT NULL" };
        defs.push(format!(
            "{} {}{not_null}",
            quote_ident(&c.name),
            pg_type(schema)
        ));
    }
    if defs.is_empty() {
        return Err(SinkError::fatal(format!(
            "cannot create table {name}: the record ({}) has no fields",
            coords(template.record)
        )));
    }
    if !keys.is_empty() {
        defs.push(format!("PRIMARY KEY ({})", keys.join(", ")));
    }
    let ddl = format!("CREATE TABLE {sql} ({})", defs.join(", "));
    tracing::info!(table = %name, "creating table");
    tx.batch_execute(&ddl)
        .await
        .map_err(|e| classify(&e, &format!("creating table {name}")))
}

fn schemaless(name: &TableName, ch: &Change<'_>) -> SinkError {
    SinkError::fatal(format!(
        "cannot create table {name}: the records ({}) carry no schema to derive column types from; create the table yourself, or enable schemas on the converter (value.converter.schemas.enable=true)",
        coords(ch.record)
    ))
}

impl SinkWriter for PgSinkWriter {
    fn open<'a>(
        &'a mut self,
        connector: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Position>, SinkError>> {
        Box::pin(self.open_inner(connector))
    }

    fn write<'a>(
        &'a mut self,
        connector: &'a str,
        records: &'a [ConnectRecord],
        positions: &'a [Position],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.write_inner(connector, records, positions))
    }
}
