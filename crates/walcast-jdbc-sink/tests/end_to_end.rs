//! The plugin through the sink runtime: Debezium events (the crud fixture, captured from real
//! Debezium) in a real tansu broker, consumed by the Debezium-dialect JDBC sink into a real
//! PostgreSQL; then a restart resumes from `walcast_offsets` without writing anything twice.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;
use walcast_connect_api::{ConnectorPlugin, TaskContext, WorkerSettings};
use walcast_jdbc_sink::JdbcSinkPlugin;
use walcast_kafka::{connect, ensure_topic, RecordSender};
use walcast_testkit::{eventually, Postgres, Tansu};

const STEP: Duration = Duration::from_secs(60);

fn ctx(
    tansu: &Tansu,
    pg: &Postgres,
    plugin: &JdbcSinkPlugin,
    extra: &[(&str, &str)],
) -> TaskContext {
    let mut config: BTreeMap<String, String> = [
        ("connector.class", plugin.class()),
        ("topics.regex", "dbserver1\\..*"),
        ("insert.mode", "upsert"),
        ("delete.enabled", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    config.insert(
        "connection.url".into(),
        format!(
            "postgres://postgres:postgres@127.0.0.1:{}/postgres?sslmode=disable",
            pg.port()
        ),
    );
    for (k, v) in extra {
        config.insert(k.to_string(), v.to_string());
    }
    TaskContext {
        name: "jdbc-e2e".into(),
        config,
        worker: Arc::new(WorkerSettings {
            bootstrap_servers: tansu.bootstrap(),
            worker_id: "test:0".into(),
            state_dir: PathBuf::from("/nonexistent"),
            properties: BTreeMap::new(),
        }),
        key_schemas_enable: true,
        value_schemas_enable: true,
        shutdown: CancellationToken::new(),
    }
}

async fn count(pg: &Postgres, sql: &str) -> Result<i64> {
    let c = pg.connect().await?;
    Ok(c.query_one(sql, &[]).await?.get(0))
}

#[tokio::test]
async fn debezium_events_through_kafka_into_postgres_exactly_once() -> Result<()> {
    let tansu = Tansu::start().await?;
    let pg = Postgres::start().await?;
    let kafka = connect(&[tansu.bootstrap()], "jdbc-e2e", Duration::from_secs(10)).await?;
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/crud/expected.jsonl"),
    )?;
    let mut sender = RecordSender::new(kafka.clone());
    let mut topics = Vec::new();
    let mut produced = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let j: serde_json::Value = serde_json::from_str(line)?;
        let topic = j["topic"].as_str().context("topic")?.to_string();
        // Keyless tables cannot be upserted by key.
        if j["key"].is_null() {
            continue;
        }
        if !topics.contains(&topic) {
            ensure_topic(&kafka, &topic, 1, 1, STEP).await?;
            topics.push(topic.clone());
        }
        let bytes = |v: &serde_json::Value| (!v.is_null()).then(|| serde_json::to_vec(v).unwrap());
        sender
            .send_to(
                &topic,
                0,
                bytes(&j["key"]),
                bytes(&j["value"]),
                BTreeMap::new(),
                1_700_000_000_000,
            )
            .await?;
        produced += 1;
    }
    let plugin = JdbcSinkPlugin::DEBEZIUM;
    let extra = [
        ("primary.key.mode", "record_key"),
        ("schema.evolution", "basic"),
        ("collection.name.format", "${source.table}"),
    ];
    let c = ctx(&tansu, &pg, &plugin, &extra);
    assert!(
        plugin.validate(&c.config).is_empty(),
        "{:?}",
        plugin.validate(&c.config)
    );
    let shutdown = c.shutdown.clone();
    let task = tokio::spawn(plugin.run(c));
    eventually(STEP, "every record's offset stored", || async {
        let n = count(&pg, "SELECT coalesce(sum(next_offset), 0)::bigint FROM walcast_offsets WHERE connector = 'jdbc-e2e'")
            .await
            .ok()?;
        (n == produced).then_some(())
    })
    .await?;
    shutdown.cancel();
    tokio::time::timeout(STEP, task)
        .await??
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let c = pg.connect().await?;
    let rows: Vec<String> = c
        .query(
            "SELECT format('%s|%s|%s|%s', id, name, email, score) FROM customers ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!rows.is_empty());
    // Restart: resumes from the stored offsets, writes nothing again (an insert-mode run over
    // the same topics would fail on the first duplicate key if it re-read anything).
    let c = ctx(
        &tansu,
        &pg,
        &plugin,
        &[extra[0], extra[1], extra[2], ("insert.mode", "insert")],
    );
    let shutdown = c.shutdown.clone();
    let task = tokio::spawn(plugin.run(c));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!task.is_finished(), "restarted task stopped");
    shutdown.cancel();
    tokio::time::timeout(STEP, task)
        .await??
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
