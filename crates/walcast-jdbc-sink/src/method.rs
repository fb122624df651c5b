//! The statements of each [`WriteMethod`]: one shape of rows (see [`crate::plan`]) as an
//! insert, upsert, update or delete, by `VALUES`, `unnest` arrays or `COPY` into a staging
//! table. In: the open transaction, the table's catalog description and the shape. Out: the
//! rows written (or a classified error).

use std::collections::HashMap;
use std::fmt::Write as _;

use std::task::Poll;

use bytes::{BufMut, BytesMut};
use futures::SinkExt;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};
use walcast_connect_api::{Schema, SinkError};
use walcast_pgwire::quote_ident;

use crate::binary::{self, encoder, Encoder};
use crate::change::TableName;
use crate::error::classify;
use crate::plan::Shape;
use crate::table::TableInfo;
use crate::types::render;

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

/// Staging table names, unique in the process.
static STAGE_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What a statement does with the rows of one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stmt {
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

pub(crate) async fn prepared(
    tx: &Client,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
    what: &str,
) -> Result<Statement, SinkError> {
    prepare_cached(tx, cache, sql)
        .await
        .map_err(|e| classify(&e, what))
}

/// The statement for `sql`, prepared on the connection the first time and taken from `cache`
/// after that.
async fn prepare_cached(
    tx: &Client,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement, tokio_postgres::Error> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let s = tx.prepare(sql).await?;
    if cache.len() > 1000 {
        cache.clear();
    }
    cache.insert(sql.to_string(), s.clone());
    Ok(s)
}

/// The type a value column is parsed as before the cast to its column type: a Connect
/// Timestamp (an instant, rendered with `+00`) goes through timestamptz so a `timestamp`
/// column gets the wall time of the session zone (`db.timezone`).
fn stage_type(schema: Option<&Schema>, target: &str) -> String {
    let instant =
        schema.and_then(|s| s.name.as_deref()) == Some(walcast_connect_api::logical::TIMESTAMP);
    if instant && target.starts_with("timestamp without") {
        "timestamp with time zone".into()
    } else {
        target.to_string()
    }
}

/// The shape's columns as the statements use them.
struct Columns<'i> {
    /// Quoted names.
    quoted: Vec<String>,
    /// The table's type of each.
    targets: Vec<&'i str>,
    /// The type each value's text is parsed as (see [`stage_type`]).
    stages: Vec<String>,
}

/// The shape's [`Columns`], or the name of a column the table lacks.
fn columns<'i>(info: &'i TableInfo, shape: &Shape<'_>) -> Result<Columns<'i>, String> {
    let mut out = Columns {
        quoted: Vec::with_capacity(shape.cols.len()),
        targets: Vec::with_capacity(shape.cols.len()),
        stages: Vec::with_capacity(shape.cols.len()),
    };
    for (c, schema, _) in &shape.cols {
        let target = info.columns.get(c).ok_or_else(|| c.clone())?;
        out.quoted.push(quote_ident(c));
        out.stages.push(stage_type(*schema, target));
        out.targets.push(target.as_str());
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_shape(
    tx: &Client,
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
    let Columns {
        quoted: qcols,
        targets,
        stages,
    } = columns(info, shape).map_err(|c| {
        SinkError::fatal(format!(
            "table {name} has no column {c}; add it, or set auto.evolve=true (Confluent) / schema.evolution=basic (Debezium)"
        ))
    })?;
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
            let sink = tx
                .copy_in::<_, bytes::Bytes>(&format!("COPY {stage} ({cols_list}) FROM STDIN"))
                .await
                .map_err(|e| classify(&e, &ctx()))?;
            futures::pin_mut!(sink);
            let mut rows = CopyRows::new(shape);
            let first = rows.chunk();
            rows.send(sink, first)
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

/// The name of the savepoint around a direct COPY.
const DIRECT_SAVEPOINT: &str = "walcast_direct";

/// The upsert's fast path: `COPY` the shape's rows straight into the table, inside a savepoint.
/// Returns `Ok(true)` when the table took them all (every key was new, so the upsert would
/// have inserted them exactly like this), `Ok(false)` when it refused them (a key already
/// there, or anything else) and was rolled back to the savepoint, so the caller runs the merge
/// instead, which also reports any real problem with the data. Only for shapes whose every
/// column parses as its own type (see [`stage_type`]): a Connect Timestamp into a `timestamp`
/// column must go through `timestamptz` first, which a direct COPY cannot do. The rows go in
/// binary form when every column has one; a value without one abandons that COPY and the rows
/// go again as text.
pub(crate) async fn copy_direct(
    tx: &Client,
    statements: &mut HashMap<String, Statement>,
    info: &TableInfo,
    name: &TableName,
    shape: &Shape<'_>,
) -> Result<bool, SinkError> {
    match copy_direct_as(tx, statements, info, name, shape, true).await? {
        Direct::Stored => Ok(true),
        Direct::Refused => Ok(false),
        // Rolled back to the savepoint: the same rows in text form.
        Direct::NoBinaryForm => Ok(matches!(
            copy_direct_as(tx, statements, info, name, shape, false).await?,
            Direct::Stored
        )),
    }
}

/// How a direct COPY ended.
enum Direct {
    Stored,
    /// The table refused the rows (rolled back to the savepoint).
    Refused,
    /// A value had no binary form (rolled back to the savepoint).
    NoBinaryForm,
}

async fn copy_direct_as(
    tx: &Client,
    statements: &mut HashMap<String, Statement>,
    info: &TableInfo,
    name: &TableName,
    shape: &Shape<'_>,
    allow_binary: bool,
) -> Result<Direct, SinkError> {
    let Ok(Columns {
        quoted: qcols,
        targets,
        stages,
    }) = columns(info, shape)
    else {
        return Ok(Direct::Refused);
    };
    if stages.iter().zip(&targets).any(|(s, t)| s != t) {
        return Ok(Direct::Refused);
    }
    let ctx = || format!("writing table {name}");
    // The savepoint and the start of the COPY go out together (a request is sent when its
    // future is first polled; the connection keeps requests in order), and the rows are rendered
    // while the server answers them.
    let savepoint_sql = format!("SAVEPOINT {DIRECT_SAVEPOINT}");
    let savepoint = tx.batch_execute(&savepoint_sql);
    futures::pin_mut!(savepoint);
    let savepoint_early = futures::poll!(savepoint.as_mut());
    // The COPY statement is prepared once per table and column set, inside the savepoint: a
    // table that cannot take it refuses it like any other refusal.
    let binary = if allow_binary {
        CopyRows::binary(shape, &targets)
    } else {
        None
    };
    let format = if binary.is_some() {
        " (FORMAT binary)"
    } else {
        ""
    };
    let copy_sql = format!(
        "COPY {} ({}) FROM STDIN{format}",
        info.sql,
        qcols.join(", ")
    );
    let (copy, refused) = match prepare_cached(tx, statements, &copy_sql).await {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e)),
    };
    let start = async {
        match &copy {
            Some(st) => tx.copy_in::<_, bytes::Bytes>(st).await,
            None => futures::future::pending().await,
        }
    };
    futures::pin_mut!(start);
    let start_early = futures::poll!(start.as_mut());
    let mut rows = binary.unwrap_or_else(|| CopyRows::new(shape));
    let first = copy.as_ref().and_then(|_| rows.chunk());
    let savepoint = match savepoint_early {
        Poll::Ready(r) => r,
        Poll::Pending => savepoint.await,
    };
    savepoint.map_err(|e| classify(&e, &ctx()))?;
    let copied = async {
        if let Some(e) = refused {
            return Err(e);
        }
        let sink = match start_early {
            Poll::Ready(r) => r,
            Poll::Pending => start.await,
        }?;
        futures::pin_mut!(sink);
        rows.send(sink, first).await
    }
    .await;
    match copied {
        Ok(Some(_)) => Ok(Direct::Stored),
        Ok(None) => {
            tracing::debug!(table = %name, "a value has no binary COPY form; copying as text");
            tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT {DIRECT_SAVEPOINT}"))
                .await
                .map_err(|e| classify(&e, &ctx()))?;
            Ok(Direct::NoBinaryForm)
        }
        // The connection broke: nothing to roll back to.
        Err(e) if e.as_db_error().is_none() => Err(classify(&e, &ctx())),
        Err(e) => {
            tracing::debug!(table = %name, error = %classify(&e, &ctx()), "direct COPY refused; merging instead");
            tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT {DIRECT_SAVEPOINT}"))
                .await
                .map_err(|e| classify(&e, &ctx()))?;
            Ok(Direct::Refused)
        }
    }
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

/// The size of one `CopyData` chunk: the server parses a chunk while the next is rendered.
const COPY_CHUNK: usize = 64 * 1024;

/// A shape's rows in COPY's text format, rendered a chunk at a time.
struct CopyRows<'s, 'a> {
    shape: &'s Shape<'a>,
    next: usize,
    scratch: String,
    /// The encoder of each column when the rows go in binary form.
    binary: Option<Vec<Encoder>>,
    /// A value had no binary form: the COPY must be abandoned.
    no_binary_form: bool,
}

impl<'s, 'a> CopyRows<'s, 'a> {
    fn new(shape: &'s Shape<'a>) -> Self {
        Self {
            shape,
            next: 0,
            scratch: String::new(),
            binary: None,
            no_binary_form: false,
        }
    }

    /// Rows in PostgreSQL's binary COPY form, when every column has an [`encoder`] for its
    /// type in the table (`targets`) and there are rows.
    fn binary(shape: &'s Shape<'a>, targets: &[&str]) -> Option<Self> {
        if shape.rows.is_empty() {
            return None;
        }
        let encoders = shape
            .cols
            .iter()
            .zip(targets)
            .map(|((_, schema, _), target)| encoder(target, *schema))
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            binary: Some(encoders),
            ..Self::new(shape)
        })
    }

    /// The next rows, about [`COPY_CHUNK`] bytes of them; `None` after the last row (or, in
    /// binary form, at a value without one: `no_binary_form` is then set).
    fn chunk(&mut self) -> Option<bytes::Bytes> {
        if self.binary.is_some() {
            return self.binary_chunk();
        }
        let shape = self.shape;
        if self.next >= shape.rows.len() {
            return None;
        }
        let mut buf = BytesMut::with_capacity(COPY_CHUNK + COPY_CHUNK / 4);
        for row in &shape.rows[self.next..] {
            self.next += 1;
            for (ci, v) in row.iter().enumerate() {
                if ci > 0 {
                    buf.put_u8(b'\t');
                }
                let scratch = &mut self.scratch;
                scratch.clear();
                if v.is_some_and(|v| render(shape.cols[ci].1, v, scratch)) {
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
            if buf.len() >= COPY_CHUNK {
                break;
            }
        }
        Some(buf.freeze())
    }

    fn binary_chunk(&mut self) -> Option<bytes::Bytes> {
        let shape = self.shape;
        let encoders = self.binary.as_deref()?;
        if self.next >= shape.rows.len() || self.no_binary_form {
            return None;
        }
        let mut buf = BytesMut::with_capacity(COPY_CHUNK + COPY_CHUNK / 4);
        if self.next == 0 {
            buf.put_slice(binary::HEADER);
        }
        let fields = i16::try_from(shape.cols.len()).ok()?;
        for row in &shape.rows[self.next..] {
            self.next += 1;
            buf.put_i16(fields);
            for ((v, enc), (_, schema, _)) in row.iter().zip(encoders).zip(&shape.cols) {
                let written = match (v, schema) {
                    (Some(v), Some(schema)) if !v.is_null() => enc.encode(v, schema, &mut buf),
                    _ => {
                        buf.put_i32(-1);
                        Ok(())
                    }
                };
                if written.is_err() {
                    self.no_binary_form = true;
                    return None;
                }
            }
            if buf.len() >= COPY_CHUNK {
                break;
            }
        }
        if self.next >= shape.rows.len() {
            buf.put_slice(binary::TRAILER);
        }
        Some(buf.freeze())
    }

    /// Sends `first` (the chunk rendered while the COPY was starting) and the remaining rows
    /// and ends the COPY. Each chunk goes to the connection as soon as it is rendered, so the
    /// server parses rows while the next ones are rendered; the rows are never all in memory
    /// at once as text.
    async fn send(
        mut self,
        sink: std::pin::Pin<&mut tokio_postgres::CopyInSink<bytes::Bytes>>,
        first: Option<bytes::Bytes>,
    ) -> Result<Option<u64>, tokio_postgres::Error> {
        let mut sink = sink;
        let mut chunk = first;
        while let Some(c) = chunk {
            sink.send(c).await?;
            // Let the connection (on this thread's runtime) write it to the socket now.
            tokio::task::yield_now().await;
            chunk = self.chunk();
        }
        if self.no_binary_form {
            // Not finished: dropping the sink abandons the COPY (CopyFail).
            return Ok(None);
        }
        sink.as_mut().finish().await.map(Some)
    }
}
