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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::task::Poll;

use futures::future::BoxFuture;
use tokio_postgres::{Client, Statement};
use walcast_connect_api::{ConnectRecord, Position, SinkError, SinkWriter};
use walcast_pgwire::quote_ident;

use crate::change::{Change, ChangeBuilder, ChangeKind, TableName};
use crate::config::{InsertMode, JdbcSinkConfig};
use crate::error::classify;
use crate::method::{copy_direct, run_shape, Stmt, WriteMethod};
use crate::offsets;
use crate::plan::{key_shape, plan, write_shapes};
use crate::table::{ensure_table, TableInfo};

/// A connection and what was learnt on it (dropped together when the connection is).
struct Session {
    client: Client,
    tables: HashMap<TableName, TableInfo>,
    /// Staging table per (table, statement kind, columns).
    staging: HashMap<String, String>,
    statements: HashMap<String, Statement>,
    current_db: String,
    direct: Direct,
    /// A transaction was begun and not yet committed or rolled back. Still set when the next
    /// write starts, it means the last one was abandoned mid-way (its future dropped), so the
    /// connection is not reused.
    in_transaction: bool,
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
    /// Whether upserts may try the direct COPY first (see [`Direct`]).
    direct: bool,
}

/// Upserts of at least this many rows try a direct `COPY` into the table first.
pub const DIRECT_MIN_ROWS: usize = 64;
/// Direct COPYs per transaction at most: each runs in a savepoint, and a transaction with more
/// than 64 subtransactions slows every other session's snapshots (PostgreSQL's subxid cache).
const DIRECT_MAX_PER_TRANSACTION: usize = 16;
/// After the table refused a direct COPY, the next upserts (one per table and column set of a
/// batch) skip the attempt, this many at most (doubling from one after each refusal, back to
/// zero after a success).
const DIRECT_MAX_SKIP: u32 = 64;

/// The upsert's insert fast path: while the keys a stream brings are new (an initial load, a
/// stream of inserts), COPY straight into the table costs about half of COPY into a staging
/// table plus `INSERT ... ON CONFLICT`. The first key already present makes the table refuse
/// the COPY; the batch is then merged as usual, and the attempt is skipped for a while
/// (the next 1, 2, 4 ... 64 upserts) so a stream of updates pays for it rarely.
#[derive(Debug, Default)]
struct Direct {
    skip: u32,
    backoff: u32,
}

impl Direct {
    fn should_try(&mut self, rows: usize) -> bool {
        if rows < DIRECT_MIN_ROWS {
            return false;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        true
    }

    fn outcome(&mut self, stored: bool) {
        if stored {
            self.backoff = 0;
        } else {
            self.backoff = (self.backoff * 2).clamp(1, DIRECT_MAX_SKIP);
            self.skip = self.backoff;
        }
    }
}

impl PgSinkWriter {
    pub fn new(cfg: Arc<JdbcSinkConfig>) -> Self {
        Self {
            builder: ChangeBuilder::new(cfg.clone()),
            cfg,
            session: None,
            method: WriteMethod::Unnest,
            copy_threshold: DEFAULT_COPY_THRESHOLD,
            direct: true,
        }
    }

    /// Force one write method for every batch size (benchmarks, tests).
    pub fn with_method(mut self, method: WriteMethod) -> Self {
        self.method = method;
        self.copy_threshold = usize::MAX;
        self.direct = false;
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
                direct: Direct::default(),
                in_transaction: false,
            });
        }
        self.session
            .as_mut()
            .ok_or_else(|| SinkError::transient("no PostgreSQL connection"))
    }

    async fn open_inner(&mut self, connector: &str) -> Result<Vec<Position>, SinkError> {
        self.session = None;
        let s = self.connect().await?;
        offsets::read(&s.client, connector).await
    }

    async fn write_inner(
        &mut self,
        connector: &str,
        records: &[ConnectRecord],
        positions: &[Position],
    ) -> Result<(), SinkError> {
        if self.session.as_ref().is_some_and(|s| s.in_transaction) {
            self.session = None;
        }
        self.connect().await?;
        let cfg = self.cfg.clone();
        let direct = self.direct;
        let Some(session) = self.session.as_mut() else {
            return Err(SinkError::transient("no PostgreSQL connection"));
        };
        let mode = (self.method, self.copy_threshold, direct);
        let result = session
            .write(&cfg, &self.builder, mode, connector, records, positions)
            .await;
        if let Err(e) = &result {
            // The transaction rolled back (or is rolled back here): DDL and staging tables of
            // it are gone.
            session.tables.clear();
            session.staging.clear();
            session.statements.clear();
            if e.kind == walcast_connect_api::SinkErrorKind::Transient
                || session.client.batch_execute("ROLLBACK").await.is_err()
            {
                self.session = None;
            } else {
                session.in_transaction = false;
            }
        }
        result
    }
}

/// Batches this large go through COPY (measured crossover, see the crate docs).
pub const DEFAULT_COPY_THRESHOLD: usize = 1000;

impl Session {
    /// Writes one batch in one transaction; on an error the caller rolls it back.
    async fn write(
        &mut self,
        cfg: &JdbcSinkConfig,
        builder: &ChangeBuilder,
        (method, copy_threshold, direct): (WriteMethod, usize, bool),
        connector: &str,
        records: &[ConnectRecord],
        positions: &[Position],
    ) -> Result<(), SinkError> {
        // BEGIN goes out now and the batch is planned while the server answers it: a request
        // is sent when its future is first polled, and the connection keeps requests in order.
        self.in_transaction = true;
        let begin = self.client.batch_execute("BEGIN");
        futures::pin_mut!(begin);
        let begin_early = futures::poll!(begin.as_mut());
        let plan = plan(builder, cfg.pk_mode, records)?;
        let rows: usize = plan.values().map(|b| b.ops.len()).sum();
        let method = if method == WriteMethod::Unnest && rows >= copy_threshold {
            WriteMethod::Copy
        } else {
            method
        };
        match begin_early {
            Poll::Ready(r) => r,
            Poll::Pending => begin.await,
        }
        .map_err(|e| classify(&e, "beginning a transaction"))?;
        let tx = &self.client;
        let mut savepoints = 0;
        for (name, batch) in &plan {
            let Some(info) = ensure_table(
                tx,
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
            // Deletes first, then the writes of each column shape.
            let mut shapes = Vec::new();
            if !deletes.is_empty() {
                shapes.push((Stmt::Delete, key_shape(&deletes)));
            }
            let stmt = match cfg.insert_mode {
                InsertMode::Insert => Stmt::Insert,
                InsertMode::Upsert => Stmt::Upsert,
                InsertMode::Update => Stmt::Update,
            };
            shapes.extend(write_shapes(&batch.ops).into_iter().map(|s| (stmt, s)));
            for (stmt, shape) in &shapes {
                if *stmt == Stmt::Upsert
                    && direct
                    && savepoints < DIRECT_MAX_PER_TRANSACTION
                    && self.direct.should_try(shape.rows.len())
                {
                    savepoints += 1;
                    let stored = copy_direct(tx, &mut self.statements, &info, name, shape).await?;
                    self.direct.outcome(stored);
                    if stored {
                        continue;
                    }
                }
                run_shape(
                    tx,
                    &mut self.staging,
                    &mut self.statements,
                    method,
                    &info,
                    name,
                    *stmt,
                    shape,
                )
                .await?;
            }
        }
        // The positions and the COMMIT in one message: one round trip. If the upsert fails,
        // the server skips the COMMIT and the caller rolls the transaction back.
        let mut finish = offsets::store_sql(connector, positions);
        if !finish.is_empty() {
            finish.push_str("; ");
        }
        finish.push_str("COMMIT");
        tx.batch_execute(&finish).await.map_err(|e| {
            classify(
                &e,
                "storing the batch's positions in walcast_offsets and committing it",
            )
        })?;
        self.in_transaction = false;
        Ok(())
    }
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
