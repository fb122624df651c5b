//! One run of the source task, from connecting to a clean stop:
//!
//! 1. check the server (`wal_level=logical`, REPLICATION privilege) and resolve captured tables;
//! 2. make sure the publication exists and covers them (`publication.autocreate.mode`);
//! 3. decide whether to snapshot (`snapshot.mode`, the stored state and the slot);
//! 4. snapshot inside the slot's exported snapshot, if needed, and record its completion only
//!    after Kafka acknowledged every snapshot record;
//! 5. stream from the slot until shutdown, confirming what Kafka acknowledged;
//! 6. on shutdown: stop reading, flush the producer, send the final confirmed LSN, end the
//!    stream cleanly, and drop the slot when `slot.drop.on.stop` is set.
//!
//! Transient failures (connection lost, broker down, slot briefly held by our own previous
//! connection) restart the run after a backoff; fatal ones end the task as FAILED with a message
//! that says what to fix.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::gauge;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn, Instrument};
use walcast_connect_api::{ConnectorError, TaskContext};
use walcast_debezium::EventConfig;
use walcast_kafka::{Compression, KafkaSecurity, Producer, ProducerConfig};
use walcast_pgoutput::{Lsn, ReplicaIdentity, TableId};
use walcast_pgwire::{
    connect_client, PgConnectConfig, ReplicationConnection, ReplicationStream, SnapshotAction,
    SslMode,
};

use crate::config::{PublicationMode, SnapshotMode, SourceConfig};
use crate::engine::{status_loop, Engine};
use crate::error::SourceError;
use crate::metric;
use crate::snapshot;
use crate::spill::SpillStore;
use crate::state::{SourceState, StateStore};
use crate::transforms::SourceTransforms;

/// The connector's config with the worker's producer defaults applied, like Connect: a worker
/// `producer.X` applies unless the connector sets `producer.override.X`. Kafka security settings
/// (`security.protocol`, `ssl.*`, `sasl.*`) are read in [`producer_config`].
fn effective_config(ctx: &TaskContext) -> Result<BTreeMap<String, String>, ConnectorError> {
    let mut config = ctx.config.clone();
    for key in PRODUCER_KEYS {
        if let Some(v) = ctx.worker.properties.get(&format!("producer.{key}")) {
            config
                .entry(format!("producer.override.{key}"))
                .or_insert_with(|| v.clone());
        }
    }
    for key in config
        .keys()
        .filter(|k| k.starts_with("producer.override."))
    {
        let name = &key["producer.override.".len()..];
        if !PRODUCER_KEYS.contains(&name) && !is_security_key(name) {
            warn!(key = %key, "walcast's Kafka producer does not act on this setting; it is ignored (supported: {})", PRODUCER_KEYS.join(", "));
        }
    }
    Ok(config)
}

/// Kafka client security keys, read by `KafkaSecurity::from_properties`.
fn is_security_key(name: &str) -> bool {
    name == "security.protocol" || name.starts_with("ssl.") || name.starts_with("sasl.")
}

/// The `producer.override.*` settings walcast's producer acts on (see `SourceConfig`).
const PRODUCER_KEYS: &[&str] = &[
    "compression.type",
    "linger.ms",
    "batch.size",
    "acks",
    "max.in.flight.requests.per.connection",
    "request.timeout.ms",
    "delivery.timeout.ms",
    "retries",
    "retry.backoff.ms",
];

/// How long a slot held by another connection is waited for before the task fails: after a
/// crash, PostgreSQL needs a moment to notice walcast's old connection is gone.
const SLOT_BUSY_GRACE: Duration = Duration::from_secs(30);

/// The first wait after a transient failure; it doubles up to `errors.retry.delay.max.ms`.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);

/// A run that streamed this long without failing counts as progress even if Kafka acknowledged
/// nothing new (an idle database): its failure starts a new run of retries.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Runs the task until shutdown or a fatal error, retrying transient failures with backoff.
pub async fn run(ctx: TaskContext) -> Result<(), ConnectorError> {
    let config = effective_config(&ctx)?;
    let issues_error = |issues: Vec<walcast_connect_api::ConfigIssue>| {
        ConnectorError::new(
            issues
                .iter()
                .map(|i| format!("{}: {}", i.key, i.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    };
    let cfg = SourceConfig::parse(&config).map_err(issues_error)?;
    // Connector-level converter settings win over the worker's (including the embedded
    // engine's shared `converter.schemas.enable`).
    let (key_schemas, value_schemas) = if [
        "converter.schemas.enable",
        "key.converter.schemas.enable",
        "value.converter.schemas.enable",
    ]
    .iter()
    .any(|k| config.contains_key(*k))
    {
        walcast_debezium::schemas_enable_from_properties(&config)
            .map_err(|e| crate::error::connector_error(&e))?
    } else {
        (ctx.key_schemas_enable, ctx.value_schemas_enable)
    };
    let ev_cfg = EventConfig::from_properties(&config, key_schemas, value_schemas)
        .map_err(|e| crate::error::connector_error(&e))?;
    // Built once per task: a transform's state (RedisLookup's cache and connection) outlives
    // the retries below.
    let mut transforms =
        SourceTransforms::from_config(&ctx.name, &config, &cfg, key_schemas, value_schemas)
            .map_err(issues_error)?;
    let span = tracing::info_span!("pg_source", connector = %ctx.name, slot = %cfg.slot_name);
    async move {
        let mut backoff = FIRST_RETRY_DELAY;
        let mut busy_since: Option<Instant> = None;
        // When the current run of failures began; reset once a run makes progress.
        let mut failing_since: Option<Instant> = None;
        loop {
            let mut made_progress = false;
            match run_once(
                &ctx,
                &cfg,
                &ev_cfg,
                transforms.as_mut(),
                &mut made_progress,
            )
            .await
            {
                Ok(()) => return Ok(()),
                Err(e) if ctx.shutdown.is_cancelled() => {
                    warn!(error = %e, "error while stopping");
                    return Ok(());
                }
                Err(e) => {
                    if made_progress {
                        failing_since = None;
                        backoff = FIRST_RETRY_DELAY;
                    }
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    let slot_busy = matches!(&e, SourceError::SlotBusy(_))
                        || matches!(&e, SourceError::Pg(p) if p.code() == Some("55006"));
                    if slot_busy {
                        let since = *busy_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > SLOT_BUSY_GRACE {
                            return Err(crate::error::connector_error(&SourceError::Fatal(format!(
                                "replication slot {} is in use by another connection for over {}s: stop the other client (see pg_stat_replication) or set slot.name to a slot of this connector's own; {e}",
                                cfg.slot_name,
                                SLOT_BUSY_GRACE.as_secs()
                            ))));
                        }
                    } else if !e.is_transient() {
                        return Err(crate::error::connector_error(&e));
                    } else {
                        busy_since = None;
                        if let Some(limit) = cfg.errors_retry_timeout {
                            if since.elapsed() >= limit {
                                return Err(crate::error::connector_error(&SourceError::Fatal(format!(
                                    "still failing after retrying for {} ms (errors.retry.timeout={}; -1 retries until stopped): {e}",
                                    since.elapsed().as_millis(),
                                    limit.as_millis()
                                ))));
                            }
                        }
                    }
                    warn!(
                        error = %e,
                        retry_in_ms = backoff.as_millis() as u64,
                        failing_for_ms = since.elapsed().as_millis() as u64,
                        "source failed on a transient error; retrying: reconnecting and resuming from the slot's confirmed position"
                    );
                    tokio::select! {
                        _ = ctx.shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(cfg.errors_retry_delay_max);
                }
            }
        }
    }
    .instrument(span)
    .await
}

fn pg_config(cfg: &SourceConfig) -> Result<PgConnectConfig, SourceError> {
    let sslmode: SslMode = cfg
        .sslmode
        .parse()
        .map_err(|_| SourceError::Config(format!("database.sslmode={}", cfg.sslmode)))?;
    let mut c =
        PgConnectConfig::new(&cfg.hostname, cfg.port, &cfg.user, &cfg.dbname).with_sslmode(sslmode);
    if let Some(p) = &cfg.password {
        c = c.with_password(p);
    }
    c.sslrootcert = cfg.sslrootcert.as_ref().map(Into::into);
    c.sslcert = cfg.sslcert.as_ref().map(Into::into);
    c.sslkey = cfg.sslkey.as_ref().map(Into::into);
    c.sslpassword = cfg.sslpassword.clone();
    c.application_name = "walcast".into();
    Ok(c)
}

fn producer_config(ctx: &TaskContext, cfg: &SourceConfig) -> Result<ProducerConfig, SourceError> {
    let mut p = ProducerConfig::new(&ctx.worker.bootstrap_servers);
    p.client_id = format!("walcast-{}", ctx.name);
    p.compression = cfg
        .compression
        .parse::<Compression>()
        .map_err(|e| SourceError::Config(e.to_string()))?;
    p.linger = cfg.linger;
    p.batch_max_bytes = cfg.batch_size.max(1024);
    p.max_buffered_bytes = cfg.max_buffered_bytes.max(p.batch_max_bytes);
    p.topic_partitions = cfg.topic_partitions;
    p.topic_replication_factor = cfg.topic_replication_factor;
    p.connector = ctx.name.clone();
    p.max_in_flight_per_partition = cfg.max_in_flight;
    p.request_timeout = cfg.request_timeout;
    p.delivery_timeout = cfg.delivery_timeout;
    p.retries = cfg.retries;
    // Worker `security.protocol`/`producer.security.protocol` etc., with the connector's
    // `producer.override.*` winning, as in Connect.
    let mut props = ctx.worker.properties.clone();
    for (k, v) in &ctx.config {
        if let Some(rest) = k.strip_prefix("producer.override.") {
            props.insert(format!("producer.{rest}"), v.clone());
        }
    }
    p.security = KafkaSecurity::from_properties(&props, "producer")
        .map_err(|e| SourceError::Config(e.to_string()))?;
    p.retry_backoff = cfg.retry_backoff;
    p.retry_backoff_max = p.retry_backoff_max.max(cfg.retry_backoff);
    Ok(p)
}

/// The tables this connector captures, sorted by schema and name (the snapshot order).
async fn captured_tables(
    client: &tokio_postgres::Client,
    cfg: &SourceConfig,
) -> Result<Vec<TableId>, SourceError> {
    // Changes of a partitioned table arrive under its partitions (the publication does not set
    // publish_via_partition_root), so the partitions are captured and the parent is not: reading
    // both would snapshot every row twice.
    let parents: Vec<u32> = client
        .query("SELECT partrelid FROM pg_catalog.pg_partitioned_table", &[])
        .await
        .map_err(|e| walcast_pgwire::PgError::query("listing partitioned tables", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut tables: Vec<TableId> = walcast_pgwire::list_tables(client)
        .await?
        .into_iter()
        .filter(|(oid, id)| !parents.contains(oid) && cfg.captures(id))
        .map(|(_, id)| id)
        .collect();
    tables.sort();
    if tables.is_empty() && (cfg.tables.has_include_list() || cfg.schemas.has_include_list()) {
        return Err(SourceError::Fatal(format!(
            "table.include.list/schema.include.list match no table in database {}: check the names (they are regular expressions matched against schema.table) and that the tables exist",
            cfg.dbname
        )));
    }
    Ok(tables)
}

async fn ensure_publication(
    client: &tokio_postgres::Client,
    cfg: &SourceConfig,
    tables: &[TableId],
) -> Result<(), SourceError> {
    let exists = walcast_pgwire::publication_exists(client, &cfg.publication_name).await?;
    match cfg.publication_mode {
        PublicationMode::Disabled => {
            if !exists {
                return Err(SourceError::Fatal(format!(
                    "publication {} does not exist and publication.autocreate.mode=disabled: create it (CREATE PUBLICATION {} FOR ALL TABLES) or set publication.autocreate.mode=all_tables",
                    cfg.publication_name, cfg.publication_name
                )));
            }
        }
        PublicationMode::AllTables => {
            if !exists {
                info!(publication = %cfg.publication_name, "creating publication for all tables");
                let created =
                    walcast_pgwire::create_publication_all_tables(client, &cfg.publication_name)
                        .await;
                // Another connector created it meanwhile: it is there either way.
                created_by_another(client, cfg, created).await?;
            }
        }
        PublicationMode::Filtered => {
            if tables.is_empty() {
                return Err(SourceError::Fatal(
                    "publication.autocreate.mode=filtered needs at least one captured table".into(),
                ));
            }
            let mut exists = exists;
            if !exists {
                info!(publication = %cfg.publication_name, tables = tables.len(), "creating publication for the captured tables");
                let created = walcast_pgwire::create_publication_for_tables(
                    client,
                    &cfg.publication_name,
                    tables,
                )
                .await;
                // Another connector created it meanwhile: make it hold this one's tables.
                exists = created_by_another(client, cfg, created).await?;
            }
            if exists {
                walcast_pgwire::set_publication_tables(client, &cfg.publication_name, tables)
                    .await?;
            }
        }
    }
    Ok(())
}

/// The outcome of this task's `CREATE PUBLICATION`: `false` when it created the publication,
/// `true` when it failed because another session created the same one at the same moment (a
/// duplicate, and the publication exists now), the error otherwise.
async fn created_by_another(
    client: &tokio_postgres::Client,
    cfg: &SourceConfig,
    created: Result<(), walcast_pgwire::PgError>,
) -> Result<bool, SourceError> {
    let Err(e) = created else {
        return Ok(false);
    };
    if e.code().is_some_and(walcast_pgwire::lost_create_race)
        && walcast_pgwire::publication_exists(client, &cfg.publication_name).await?
    {
        info!(publication = %cfg.publication_name, "another connector created the publication at the same moment");
        return Ok(true);
    }
    Err(e.into())
}

/// Warns about captured tables whose updates and deletes PostgreSQL will refuse.
async fn warn_about_replica_identity(client: &tokio_postgres::Client, tables: &[TableId]) {
    for id in tables {
        if let Ok(s) = walcast_pgwire::load_table_schema_by_name(client, id).await {
            if s.primary_key().is_empty()
                && matches!(
                    s.replica_identity,
                    ReplicaIdentity::Default | ReplicaIdentity::Nothing
                )
            {
                warn!(table = %id, "table has no primary key and REPLICA IDENTITY DEFAULT/NOTHING: PostgreSQL rejects its UPDATEs and DELETEs while it is published; run ALTER TABLE {id} REPLICA IDENTITY FULL (or add a primary key)");
            }
        }
    }
}

/// One connection's worth of work. `made_progress` is set when the run streamed and Kafka
/// acknowledged something past the slot's confirmed position, or it streamed for [`HEALTHY_RUN`],
/// so the caller knows a later failure starts a new run of retries. Merely reaching streaming is
/// not progress: a failure that recurs right after every reconnect (a full spill disk, a record
/// the broker refuses) must run into `errors.retry.timeout` instead of retrying forever at the
/// first delay.
async fn run_once(
    ctx: &TaskContext,
    cfg: &SourceConfig,
    ev_cfg: &EventConfig,
    transforms: Option<&mut SourceTransforms>,
    made_progress: &mut bool,
) -> Result<(), SourceError> {
    let streaming = gauge!(metric::STREAMING, "connector" => ctx.name.clone());
    streaming.set(0.0);
    let r = run_connected(ctx, cfg, ev_cfg, transforms, made_progress, &streaming).await;
    streaming.set(0.0);
    r
}

async fn run_connected(
    ctx: &TaskContext,
    cfg: &SourceConfig,
    ev_cfg: &EventConfig,
    mut transforms: Option<&mut SourceTransforms>,
    made_progress: &mut bool,
    streaming: &metrics::Gauge,
) -> Result<(), SourceError> {
    let pg = pg_config(cfg)?;
    let query = connect_client(&pg).await?;
    walcast_pgwire::check_logical_replication(&query).await?;
    walcast_pgwire::check_replication_role(&query).await?;
    let tables = captured_tables(&query, cfg).await?;
    ensure_publication(&query, cfg, &tables).await?;
    warn_about_replica_identity(&query, &tables).await;

    let mut producer = Producer::connect(producer_config(ctx, cfg)?).await?;
    let store = StateStore::new(&ctx.worker.state_dir, &ctx.name);
    let state = store.load().map_err(|e| SourceError::State {
        path: store.path().display().to_string(),
        source: e,
    })?;
    let slot = walcast_pgwire::slot_info(&query, &cfg.slot_name).await?;
    let resume_from = slot
        .as_ref()
        .and_then(|s| s.confirmed_flush_lsn)
        .map_or(0, |l| l.0);
    if let Some(s) = &slot {
        if s.database.as_deref().is_some_and(|d| d != cfg.dbname) {
            return Err(SourceError::Fatal(format!(
                "replication slot {} belongs to database {} but database.dbname={}: use another slot.name",
                cfg.slot_name,
                s.database.as_deref().unwrap_or("?"),
                cfg.dbname
            )));
        }
        if s.plugin.as_deref().is_some_and(|p| p != "pgoutput") {
            return Err(SourceError::Fatal(format!(
                "replication slot {} uses plugin {} but walcast needs pgoutput: drop it (SELECT pg_drop_replication_slot('{}')) or use another slot.name",
                cfg.slot_name,
                s.plugin.as_deref().unwrap_or("?"),
                cfg.slot_name
            )));
        }
    }
    let snapshot_done = state.as_ref().is_some_and(|s| {
        s.snapshot_completed && s.slot_name == cfg.slot_name && s.dbname == cfg.dbname
    });
    let need_snapshot = match cfg.snapshot_mode {
        SnapshotMode::NoData => false,
        SnapshotMode::Always => true,
        SnapshotMode::Initial | SnapshotMode::InitialOnly => !snapshot_done,
        SnapshotMode::WhenNeeded => !snapshot_done || slot.is_none(),
    };
    if !need_snapshot && snapshot_done && slot.is_none() {
        warn!(slot = %cfg.slot_name, "the replication slot is gone: creating a new one; changes made while it was missing are not captured (snapshot.mode=when_needed snapshots again in this case)");
    }

    let mut repl = ReplicationConnection::connect(&pg).await?;
    if need_snapshot {
        if let Some(s) = &slot {
            if s.active {
                return Err(SourceError::SlotBusy(format!(
                    "replication slot {} is active for PID {}",
                    cfg.slot_name,
                    s.active_pid.map_or_else(|| "?".into(), |p| p.to_string())
                )));
            }
            info!(slot = %cfg.slot_name, "dropping the existing slot to take a consistent snapshot");
            repl.drop_slot(&cfg.slot_name, false).await?;
        }
        let created = repl
            .create_slot(&cfg.slot_name, false, SnapshotAction::Export)
            .await?;
        let Some(snapshot_name) = created.snapshot_name.clone() else {
            return Err(SourceError::Protocol(
                "CREATE_REPLICATION_SLOT returned no snapshot name".into(),
            ));
        };
        // A partial snapshot must not count as done if walcast dies now.
        store
            .save(&SourceState {
                slot_name: cfg.slot_name.clone(),
                dbname: cfg.dbname.clone(),
                snapshot_completed: false,
                snapshot_lsn: Some(created.consistent_point.to_string()),
            })
            .map_err(|e| state_err(&store, e))?;
        let running = gauge!(metric::SNAPSHOT_RUNNING, "connector" => ctx.name.clone());
        running.set(1.0);
        let r = snapshot::run(
            &ctx.name,
            &pg,
            &query,
            &snapshot_name,
            created.consistent_point,
            &tables,
            cfg,
            ev_cfg,
            &mut producer,
            transforms.as_deref_mut(),
            &ctx.shutdown,
        )
        .await;
        running.set(0.0);
        let completed = r?;
        if !completed {
            // Shutdown during the snapshot: it starts over next time.
            return Ok(());
        }
        producer.flush().await?;
        store
            .save(&SourceState {
                slot_name: cfg.slot_name.clone(),
                dbname: cfg.dbname.clone(),
                snapshot_completed: true,
                snapshot_lsn: Some(created.consistent_point.to_string()),
            })
            .map_err(|e| state_err(&store, e))?;
        info!(lsn = %created.consistent_point, "snapshot completed");
    } else if slot.is_none() {
        let created = repl
            .create_slot(&cfg.slot_name, false, SnapshotAction::NoExport)
            .await?;
        info!(slot = %cfg.slot_name, lsn = %created.consistent_point, "created replication slot");
        store
            .save(&SourceState {
                slot_name: cfg.slot_name.clone(),
                dbname: cfg.dbname.clone(),
                snapshot_completed: cfg.snapshot_mode == SnapshotMode::NoData || snapshot_done,
                snapshot_lsn: None,
            })
            .map_err(|e| state_err(&store, e))?;
    }

    if cfg.snapshot_mode == SnapshotMode::InitialOnly {
        info!("snapshot.mode=initial_only: not streaming");
        repl.close().await.ok();
        ctx.shutdown.cancelled().await;
        return Ok(());
    }

    // Streaming.
    let major = repl.server_major_version().unwrap_or(10);
    let mut options: Vec<(&str, String)> = vec![(
        "publication_names",
        format!("\"{}\"", cfg.publication_name.replace('"', "\"\"")),
    )];
    if major >= 14 {
        // Logical decoding messages (pg_logical_emit_message), emitted like Debezium does.
        options.push(("messages", "true".into()));
    }
    if cfg.stream_in_progress && major >= 14 {
        options.push(("proto_version", "2".into()));
        options.push(("streaming", "on".into()));
    } else {
        options.push(("proto_version", "1".into()));
    }
    let stream = repl
        .start_replication(&cfg.slot_name, Lsn::INVALID, &options)
        .await?;
    info!(publication = %cfg.publication_name, "streaming changes");
    let streaming_since = Instant::now();
    streaming.set(1.0);
    let (mut reader, writer) = stream.split();
    let keepalive = Arc::new(Notify::new());
    let stop_status = CancellationToken::new();
    let status = tokio::spawn(status_loop(
        writer,
        producer.acked_receiver(),
        keepalive.clone(),
        cfg.status_update_interval,
        gauge!(metric::CONFIRMED_LSN, "connector" => ctx.name.clone()),
        stop_status.clone(),
    ));
    let spill = SpillStore::new(
        &ctx.worker
            .state_dir
            .join("spill")
            .join(store.path().file_stem().unwrap_or_default()),
    )
    .await
    .map_err(|e| state_err(&store, e))?;
    let mut engine = Engine::new(
        &ctx.name,
        cfg,
        ev_cfg,
        &query,
        &mut producer,
        transforms,
        spill,
    );
    let result = engine.run(&mut reader, &keepalive, &ctx.shutdown).await;
    drop(engine);
    *made_progress = producer.acked() > resume_from || streaming_since.elapsed() >= HEALTHY_RUN;

    // Stop in order: no more reading; flush what is in flight; final status; end the stream.
    let flushed = match &result {
        Ok(()) => tokio::time::timeout(Duration::from_secs(30), producer.flush())
            .await
            .map_err(|_| SourceError::Transient("flushing to Kafka timed out".into()))
            .and_then(|r| r.map_err(SourceError::from)),
        Err(_) => Ok(producer.acked()),
    };
    stop_status.cancel();
    let writer = status
        .await
        .map_err(|e| SourceError::Transient(format!("status task failed: {e}")))?;
    if let Ok(writer) = writer {
        if result.is_ok() {
            let stream = ReplicationStream::unsplit(reader, writer);
            match tokio::time::timeout(Duration::from_secs(10), stream.stop()).await {
                Ok(Ok(mut conn)) => {
                    if cfg.slot_drop_on_stop {
                        info!(slot = %cfg.slot_name, "dropping slot (slot.drop.on.stop)");
                        conn.drop_slot(&cfg.slot_name, false).await?;
                        store.remove().map_err(|e| state_err(&store, e))?;
                    }
                    conn.close().await.ok();
                }
                Ok(Err(e)) => warn!(error = %e, "ending the replication stream"),
                Err(_) => warn!("ending the replication stream timed out"),
            }
        }
    }
    match flushed {
        Ok(lsn) if lsn > 0 => info!(acknowledged = %Lsn(lsn), "stopped"),
        _ => info!("stopped"),
    }
    result
}

fn state_err(store: &StateStore, e: std::io::Error) -> SourceError {
    SourceError::State {
        path: store.path().display().to_string(),
        source: e,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use walcast_connect_api::WorkerSettings;

    fn ctx(connector: &[(&str, &str)], worker: &[(&str, &str)]) -> TaskContext {
        let map = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        TaskContext {
            name: "c".into(),
            config: map(connector),
            worker: Arc::new(WorkerSettings {
                bootstrap_servers: "localhost:9092".into(),
                worker_id: "w".into(),
                state_dir: std::path::PathBuf::from("/tmp"),
                properties: map(worker),
            }),
            key_schemas_enable: true,
            value_schemas_enable: true,
            shutdown: CancellationToken::new(),
        }
    }

    #[test]
    fn worker_producer_settings_are_defaults_the_connector_can_override() {
        let c = effective_config(&ctx(
            &[("producer.override.linger.ms", "1")],
            &[
                ("producer.linger.ms", "50"),
                ("producer.compression.type", "lz4"),
                ("producer.max.in.flight.requests.per.connection", "3"),
            ],
        ))
        .unwrap();
        assert_eq!(
            c["producer.override.max.in.flight.requests.per.connection"],
            "3"
        );
        assert_eq!(c["producer.override.linger.ms"], "1");
        assert_eq!(c["producer.override.compression.type"], "lz4");
    }

    #[test]
    fn kafka_security_settings_reach_the_producer() {
        assert!(effective_config(&ctx(&[], &[("security.protocol", "SASL_SSL")])).is_ok());
        const BASE: &[(&str, &str)] = &[
            ("database.hostname", "h"),
            ("database.user", "u"),
            ("database.dbname", "d"),
            ("topic.prefix", "p"),
        ];
        let mut kv = BASE.to_vec();
        kv.push(("producer.override.security.protocol", "SASL_PLAINTEXT"));
        let c = ctx(&kv, &[]);
        let cfg = SourceConfig::parse(&c.config).unwrap();
        // SASL without credentials is refused with a message naming what is missing.
        let e = producer_config(&c, &cfg).unwrap_err();
        assert!(e.to_string().contains("sasl"), "{e}");
        let c = ctx(BASE, &[("security.protocol", "PLAINTEXT")]);
        let cfg = SourceConfig::parse(&c.config).unwrap();
        assert!(producer_config(&c, &cfg).is_ok());
    }

    /// Source connectors of one database starting at once all find or create the shared
    /// publication: the ones whose `CREATE PUBLICATION` loses the race carry on with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connectors_creating_one_publication_at_once_all_start() {
        let pg = walcast_testkit::Postgres::start().await.unwrap();
        pg.execute("CREATE TABLE t1 (id int PRIMARY KEY); CREATE TABLE t2 (id int PRIMARY KEY)")
            .await
            .unwrap();
        let mut clients = Vec::new();
        for _ in 0..6 {
            clients.push(pg.connect().await.unwrap());
        }
        for (mode, tables) in [("all_tables", "t1"), ("filtered", "t1"), ("filtered", "t2")] {
            for round in 0..10 {
                pg.execute("DROP PUBLICATION IF EXISTS dbz_publication")
                    .await
                    .unwrap();
                let cfg = SourceConfig::parse(
                    &[
                        ("database.hostname", "h"),
                        ("database.user", "u"),
                        ("database.dbname", "d"),
                        ("topic.prefix", "p"),
                        ("publication.autocreate.mode", mode),
                    ]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                )
                .unwrap();
                let ids = [TableId::new("public", tables)];
                let runs = clients.iter().map(|c| ensure_publication(c, &cfg, &ids));
                for r in futures::future::join_all(runs).await {
                    r.unwrap_or_else(|e| panic!("{mode} round {round}: {e}"));
                }
                let published = walcast_pgwire::publication_tables(&clients[0], "dbz_publication")
                    .await
                    .unwrap();
                if mode == "filtered" {
                    assert_eq!(published, ids, "{mode} round {round}");
                }
            }
        }
    }
}
