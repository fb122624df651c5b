//! The sink runtime against a real tansu broker, with an in-memory destination that stores
//! records and positions together (the runtime is what is under test, not a database):
//! reading from earliest, resuming from stored positions, bounded batches, topics.regex picking
//! up a new topic, conversion failures to the DLQ (with Connect's context headers) or failing
//! the task, Data errors found record by record, transient errors retried (including a commit
//! whose acknowledgement was lost), and clean shutdown. Every test starts its own broker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use walcast_connect_api::{
    ConnectRecord, ConnectorError, Position, SinkError, SinkWriter, TaskContext, TopicPartition,
    Value, WorkerSettings,
};
use walcast_kafka::{connect, ensure_topic, read_topic_to_end, Client, RecordSender};
use walcast_sink::{run, SinkOptions};
use walcast_testkit::{eventually, Tansu};

const STEP: Duration = Duration::from_secs(60);

/// What the in-memory destination holds, and how it should misbehave.
#[derive(Default)]
struct Store {
    records: Vec<ConnectRecord>,
    positions: BTreeMap<TopicPartition, i64>,
    /// Record count of every successful write.
    writes: Vec<usize>,
    opens: usize,
    /// Fail this many next writes with a transient error (nothing stored).
    transient_failures: u32,
    /// Store this many next writes, then report a transient error anyway (a lost commit ack).
    lost_acks: u32,
    /// Refuse (Data error) any write containing a record whose value `id` is in this set.
    bad_ids: HashSet<i64>,
}

#[derive(Clone, Default)]
struct MemWriter(Arc<Mutex<Store>>);

impl MemWriter {
    fn with<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }
}

fn id_of(r: &ConnectRecord) -> Option<i64> {
    r.value.get("id").and_then(Value::as_i64)
}

impl SinkWriter for MemWriter {
    fn open<'a>(
        &'a mut self,
        _connector: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Position>, SinkError>> {
        Box::pin(async move {
            self.with(|s| {
                s.opens += 1;
                Ok(s.positions
                    .iter()
                    .map(|(tp, &next_offset)| Position {
                        tp: tp.clone(),
                        next_offset,
                    })
                    .collect())
            })
        })
    }

    fn write<'a>(
        &'a mut self,
        _connector: &'a str,
        records: &'a [ConnectRecord],
        positions: &'a [Position],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.with(|s| {
                if s.transient_failures > 0 {
                    s.transient_failures -= 1;
                    return Err(SinkError::transient("destination unavailable (test)"));
                }
                if let Some(bad) = records
                    .iter()
                    .filter_map(id_of)
                    .find(|i| s.bad_ids.contains(i))
                {
                    return Err(SinkError::data(format!(
                        "row with id {bad} violates a constraint (test)"
                    )));
                }
                for p in positions {
                    let prev = s.positions.get(&p.tp).copied().unwrap_or(0);
                    assert!(
                        p.next_offset >= prev,
                        "position of {} went back from {prev} to {}",
                        p.tp,
                        p.next_offset
                    );
                    s.positions.insert(p.tp.clone(), p.next_offset);
                }
                s.records.extend_from_slice(records);
                s.writes.push(records.len());
                if s.lost_acks > 0 {
                    s.lost_acks -= 1;
                    return Err(SinkError::transient("connection lost during commit (test)"));
                }
                Ok(())
            })
        })
    }
}

struct Running {
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), ConnectorError>>,
}

impl Running {
    async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        let r = tokio::time::timeout(STEP, self.handle)
            .await
            .context("shutdown timed out")??;
        r.map_err(|e| anyhow::anyhow!("task failed: {e}"))
    }
}

/// Logs to the test output when RUST_LOG is set (e.g. `RUST_LOG=walcast_sink=debug`).
fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn start(
    tansu: &Tansu,
    config: &[(&str, &str)],
    writer: MemWriter,
    options: SinkOptions,
    value_schemas_enable: bool,
) -> Running {
    init_tracing();
    let shutdown = CancellationToken::new();
    let mut cfg: BTreeMap<String, String> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    cfg.entry("connector.class".into())
        .or_insert_with(|| "test.MemorySink".into());
    let ctx = TaskContext {
        name: "mem-sink".into(),
        config: cfg,
        worker: Arc::new(WorkerSettings {
            bootstrap_servers: tansu.bootstrap(),
            worker_id: "test:0".into(),
            state_dir: PathBuf::from("/nonexistent"),
            properties: BTreeMap::new(),
        }),
        key_schemas_enable: false,
        value_schemas_enable,
        shutdown: shutdown.clone(),
    };
    let handle = tokio::spawn(run(ctx, Box::new(writer), options));
    Running { shutdown, handle }
}

async fn client(tansu: &Tansu) -> Result<Arc<Client>> {
    Ok(connect(&[tansu.bootstrap()], "sink-test", Duration::from_secs(10)).await?)
}

/// Produces `{"id": i}` values with key `i` to the given partition.
async fn produce(
    sender: &mut RecordSender,
    topic: &str,
    partition: i32,
    ids: impl IntoIterator<Item = i64>,
) -> Result<()> {
    for i in ids {
        sender
            .send_to(
                topic,
                partition,
                Some(i.to_string().into_bytes()),
                Some(format!("{{\"id\":{i}}}").into_bytes()),
                BTreeMap::new(),
                1_700_000_000_000,
            )
            .await?;
    }
    Ok(())
}

async fn wait_for_position(writer: &MemWriter, tp: &TopicPartition, next: i64) -> Result<()> {
    eventually(STEP, &format!("position {tp} = {next}"), || async {
        writer
            .with(|s| s.positions.get(tp).copied())
            .filter(|&p| p >= next)
            .map(|_| ())
    })
    .await
}

fn ids(writer: &MemWriter, topic: &str, partition: i32) -> Vec<i64> {
    writer.with(|s| {
        s.records
            .iter()
            .filter(|r| r.topic == topic && r.partition == Some(partition))
            .filter_map(id_of)
            .collect()
    })
}

#[tokio::test]
async fn reads_every_partition_from_earliest_in_bounded_batches() -> Result<()> {
    let tansu = Tansu::start().await?;
    let c = client(&tansu).await?;
    ensure_topic(&c, "orders", 2, 1, STEP).await?;
    let mut sender = RecordSender::new(c.clone());
    produce(&mut sender, "orders", 0, 0..13).await?;
    produce(&mut sender, "orders", 1, 100..112).await?;

    let writer = MemWriter::default();
    let run = start(
        &tansu,
        &[("topics", "orders")],
        writer.clone(),
        SinkOptions::new(4),
        false,
    );
    wait_for_position(&writer, &TopicPartition::new("orders", 0), 13).await?;
    wait_for_position(&writer, &TopicPartition::new("orders", 1), 12).await?;
    // Records arriving while running are read too.
    produce(&mut sender, "orders", 0, 13..15).await?;
    wait_for_position(&writer, &TopicPartition::new("orders", 0), 15).await?;
    run.stop().await?;

    assert_eq!(ids(&writer, "orders", 0), (0..15).collect::<Vec<_>>());
    assert_eq!(ids(&writer, "orders", 1), (100..112).collect::<Vec<_>>());
    writer.with(|s| {
        assert!(
            s.writes.iter().all(|&n| n <= 4),
            "a write exceeded batch.size: {:?}",
            s.writes
        );
        assert_eq!(s.writes.iter().sum::<usize>(), 27);
        for r in &s.records {
            // Coordinates and key come through the converter.
            let id = id_of(r).unwrap();
            assert_eq!(r.key, Value::Int64(id));
            assert!(r.offset.is_some() && r.timestamp_ms == Some(1_700_000_000_000));
        }
    });
    Ok(())
}

#[tokio::test]
async fn resumes_from_stored_positions_and_latest_skips_history() -> Result<()> {
    let tansu = Tansu::start().await?;
    let c = client(&tansu).await?;
    ensure_topic(&c, "resume", 1, 1, STEP).await?;
    let mut sender = RecordSender::new(c.clone());
    produce(&mut sender, "resume", 0, 0..10).await?;
    let tp = TopicPartition::new("resume", 0);

    let writer = MemWriter::default();
    writer.with(|s| s.positions.insert(tp.clone(), 6));
    let run = start(
        &tansu,
        &[("topics", "resume")],
        writer.clone(),
        SinkOptions::new(100),
        false,
    );
    wait_for_position(&writer, &tp, 10).await?;
    run.stop().await?;
    assert_eq!(ids(&writer, "resume", 0), [6, 7, 8, 9]);

    // A fresh destination with auto.offset.reset=latest starts at the log end.
    let fresh = MemWriter::default();
    let run = start(
        &tansu,
        &[
            ("topics", "resume"),
            ("consumer.override.auto.offset.reset", "latest"),
        ],
        fresh.clone(),
        SinkOptions::new(100),
        false,
    );
    // Give the fetch task time to find the log end before producing more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    produce(&mut sender, "resume", 0, 10..12).await?;
    wait_for_position(&fresh, &tp, 12).await?;
    run.stop().await?;
    assert_eq!(ids(&fresh, "resume", 0), [10, 11]);
    Ok(())
}

#[tokio::test]
async fn topics_regex_picks_up_a_topic_created_while_running() -> Result<()> {
    let tansu = Tansu::start().await?;
    let c = client(&tansu).await?;
    ensure_topic(&c, "rx.a", 1, 1, STEP).await?;
    ensure_topic(&c, "other", 1, 1, STEP).await?;
    let mut sender = RecordSender::new(c.clone());
    produce(&mut sender, "rx.a", 0, 0..3).await?;
    produce(&mut sender, "other", 0, 0..3).await?;

    let writer = MemWriter::default();
    let run = start(
        &tansu,
        &[
            ("topics.regex", "rx\\..*"),
            ("consumer.override.metadata.max.age.ms", "300"),
        ],
        writer.clone(),
        SinkOptions::new(10),
        false,
    );
    wait_for_position(&writer, &TopicPartition::new("rx.a", 0), 3).await?;
    ensure_topic(&c, "rx.b", 1, 1, STEP).await?;
    produce(&mut sender, "rx.b", 0, 50..55).await?;
    wait_for_position(&writer, &TopicPartition::new("rx.b", 0), 5).await?;
    run.stop().await?;
    assert_eq!(ids(&writer, "rx.b", 0), (50..55).collect::<Vec<_>>());
    assert!(
        ids(&writer, "other", 0).is_empty(),
        "a topic the regex does not match was read"
    );
    Ok(())
}

#[tokio::test]
async fn unconvertible_record_goes_to_the_dlq_with_context_headers() -> Result<()> {
    let tansu = Tansu::start().await?;
    let c = client(&tansu).await?;
    ensure_topic(&c, "in", 1, 1, STEP).await?;
    let mut sender = RecordSender::new(c.clone());
    produce(&mut sender, "in", 0, [1]).await?;
    let original_headers = BTreeMap::from([("trace-id".to_owned(), b"abc".to_vec())]);
    sender
        .send_to(
            "in",
            0,
            Some(b"2".to_vec()),
            Some(b"not json".to_vec()),
            original_headers,
            1_700_000_000_000,
        )
        .await?;
    produce(&mut sender, "in", 0, [3]).await?;

    let writer = MemWriter::default();
    let run = start(
        &tansu,
        &[
            ("topics", "in"),
            ("errors.tolerance", "all"),
            ("errors.log.enable", "true"),
            ("errors.deadletterqueue.topic.name", "in-dlq"),
            ("errors.deadletterqueue.topic.replication.factor", "1"),
            ("errors.deadletterqueue.context.headers.enable", "true"),
        ],
        writer.clone(),
        SinkOptions::new(10),
        false,
    );
    wait_for_position(&writer, &TopicPartition::new("in", 0), 3).await?;
    run.stop().await?;
    assert_eq!(ids(&writer, "in", 0), [1, 3]);

    let dlq = read_topic_to_end(&tansu.bootstrap(), "in-dlq").await?;
    ensure!(dlq.len() == 1, "expected one DLQ record, got {}", dlq.len());
    let d = &dlq[0];
    assert_eq!(d.key.as_deref(), Some(&b"2"[..]));
    assert_eq!(d.value.as_deref(), Some(&b"not json"[..]));
    let h = |k: &str| String::from_utf8(d.headers.get(k).cloned().unwrap_or_default()).unwrap();
    assert_eq!(h("trace-id"), "abc");
    assert_eq!(h("__connect.errors.topic"), "in");
    assert_eq!(h("__connect.errors.partition"), "0");
    assert_eq!(h("__connect.errors.offset"), "1");
    assert_eq!(h("__connect.errors.connector.name"), "mem-sink");
    assert_eq!(h("__connect.errors.task.id"), "0");
    assert_eq!(h("__connect.errors.stage"), "VALUE_CONVERTER");
    assert_eq!(
        h("__connect.errors.class.name"),
        "org.apache.kafka.connect.json.JsonConverter"
    );
    assert_eq!(
        h("__connect.errors.exception.class.name"),
        "org.apache.kafka.connect.errors.DataException"
    );
    assert!(h("__connect.errors.exception.message").contains("serialization error"));
    assert!(!h("__connect.errors.exception.stacktrace").is_empty());
    Ok(())
}

#[tokio::test]
async fn tolerance_none_fails_naming_topic_partition_offset() -> Result<()> {
    let tansu = Tansu::start().await?;
    let c = client(&tansu).await?;
    ensure_topic(&c, "strict", 1, 1, STEP).await?;
    let mut sender = RecordSender::new(c.clone());
    produce(&mut sender, "strict", 0, [1]).await?;
    // Schemas are enabled: a bare JSON value lacks the envelope.
    produce(&mut sender, "strict", 0, [2]).await?;

    let writer = MemWriter::default();
    let run = start(
        &tansu,
        &[("topics", "strict")],
        writer.clone(),
        SinkOptions::new(10),
        true,
    );
    let err = tokio::time::timeout(STEP, run.handle)
        .await
        .context("the task did not fail")??
        .expect_err("tolerance none must fail the task");
    assert!(
        err.message.contains("strict-0 at offset 0"),
        "{}",
        err.message
    );
    assert!(err.message.contains("VALUE_CONVERTER"), "{}", err.message);
    assert!(err.message.contains("schemas.enable"), "{}", err.message);
    assert!(writer.with(|s| s.records.is_empty() && s.positions.is_empty()));
    Ok(())
}

#[tokio::test]
async fn data_error_is_found_record_by_record_and_dead_lettered() -> Result<()> {
    let tansu = Tansu::start().await?;
    let c = client(&tansu).await?;
    ensure_topic(&c, "rows", 1, 1, STEP).await?;
    let mut sender = RecordSender::new(c.clone());
    produce(&mut sender, "rows", 0, 0..8).await?;

    let writer = MemWriter::default();
    writer.with(|s| s.bad_ids.insert(5));
    let run = start(
        &tansu,
        &[
            ("topics", "rows"),
            ("errors.tolerance", "all"),
            ("errors.deadletterqueue.topic.name", "rows-dlq"),
            ("errors.deadletterqueue.topic.replication.factor", "1"),
            ("errors.deadletterqueue.context.headers.enable", "true"),
        ],
        writer.clone(),
        SinkOptions::new(100),
        false,
    );
    wait_for_position(&writer, &TopicPartition::new("rows", 0), 8).await?;
    run.stop().await?;
    assert_eq!(ids(&writer, "rows", 0), [0, 1, 2, 3, 4, 6, 7]);
    let dlq = read_topic_to_end(&tansu.bootstrap(), "rows-dlq").await?;
    ensure!(dlq.len() == 1, "expected one DLQ record, got {}", dlq.len());
    assert_eq!(dlq[0].value.as_deref(), Some(&br#"{"id":5}"#[..]));
    assert_eq!(
        dlq[0]
            .headers
            .get("__connect.errors.stage")
            .map(Vec::as_slice),
        Some(&b"TASK_PUT"[..])
    );
    assert_eq!(
        dlq[0]
            .headers
            .get("__connect.errors.offset")
            .map(Vec::as_slice),
        Some(&b"5"[..])
    );
    assert_eq!(
        dlq[0]
            .headers
            .get("__connect.errors.class.name")
            .map(Vec::as_slice),
        Some(&b"test.MemorySink"[..])
    );
    Ok(())
}

#[tokio::test]
async fn data_error_with_tolerance_none_fails_and_keeps_earlier_records() -> Result<()> {
    let tansu = Tansu::start().await?;
    let c = client(&tansu).await?;
    ensure_topic(&c, "rows", 1, 1, STEP).await?;
    let mut sender = RecordSender::new(c.clone());
    produce(&mut sender, "rows", 0, 0..4).await?;

    let writer = MemWriter::default();
    writer.with(|s| s.bad_ids.insert(2));
    let run = start(
        &tansu,
        &[("topics", "rows")],
        writer.clone(),
        SinkOptions::new(100),
        false,
    );
    let err = tokio::time::timeout(STEP, run.handle)
        .await
        .context("the task did not fail")??
        .expect_err("must fail");
    assert!(
        err.message.contains("rows-0 at offset 2"),
        "{}",
        err.message
    );
    assert!(err.message.contains("TASK_PUT"), "{}", err.message);
    // Records before the bad one are stored with their position; nothing after it.
    assert_eq!(ids(&writer, "rows", 0), [0, 1]);
    assert_eq!(
        writer.with(|s| s.positions.get(&TopicPartition::new("rows", 0)).copied()),
        Some(2)
    );
    Ok(())
}

#[tokio::test]
async fn transient_errors_are_retried_without_loss_or_duplicates() -> Result<()> {
    let tansu = Tansu::start().await?;
    let c = client(&tansu).await?;
    ensure_topic(&c, "flaky", 1, 1, STEP).await?;
    let mut sender = RecordSender::new(c.clone());
    produce(&mut sender, "flaky", 0, 0..6).await?;

    let writer = MemWriter::default();
    writer.with(|s| {
        s.transient_failures = 3;
        s.lost_acks = 1;
    });
    let options = SinkOptions {
        batch_size: 3,
        max_retries: None,
        retry_backoff: Duration::from_millis(20),
    };
    let run = start(
        &tansu,
        &[("topics", "flaky")],
        writer.clone(),
        options,
        false,
    );
    wait_for_position(&writer, &TopicPartition::new("flaky", 0), 6).await?;
    run.stop().await?;
    assert_eq!(ids(&writer, "flaky", 0), (0..6).collect::<Vec<_>>());
    // One open at start, one after each of the 4 transient failures.
    assert_eq!(writer.with(|s| s.opens), 5);
    Ok(())
}

#[tokio::test]
async fn retries_stop_at_max_retries() -> Result<()> {
    let tansu = Tansu::start().await?;
    let c = client(&tansu).await?;
    ensure_topic(&c, "down", 1, 1, STEP).await?;
    let mut sender = RecordSender::new(c.clone());
    produce(&mut sender, "down", 0, [1]).await?;
    let writer = MemWriter::default();
    writer.with(|s| s.transient_failures = 100);
    let options = SinkOptions {
        batch_size: 10,
        max_retries: Some(2),
        retry_backoff: Duration::from_millis(10),
    };
    let run = start(
        &tansu,
        &[("topics", "down")],
        writer.clone(),
        options,
        false,
    );
    let err = tokio::time::timeout(STEP, run.handle)
        .await
        .context("the task did not fail")??
        .expect_err("must fail after max.retries");
    assert!(err.message.contains("after 2 retries"), "{}", err.message);
    assert!(writer.with(|s| s.records.is_empty()));
    Ok(())
}

#[tokio::test]
async fn shutdown_while_waiting_and_while_retrying_returns_ok() -> Result<()> {
    let tansu = Tansu::start().await?;
    let c = client(&tansu).await?;
    ensure_topic(&c, "idle", 1, 1, STEP).await?;
    let writer = MemWriter::default();
    let run = start(
        &tansu,
        &[("topics", "idle")],
        writer.clone(),
        SinkOptions::new(10),
        false,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    run.stop().await?;

    let mut sender = RecordSender::new(c.clone());
    produce(&mut sender, "idle", 0, [1]).await?;
    writer.with(|s| s.transient_failures = u32::MAX);
    let run = start(
        &tansu,
        &[("topics", "idle")],
        writer.clone(),
        SinkOptions::new(10),
        false,
    );
    eventually(STEP, "a failed write", || async {
        writer
            .with(|s| s.transient_failures < u32::MAX)
            .then_some(())
    })
    .await?;
    run.stop().await?;
    assert!(writer.with(|s| s.records.is_empty() && s.positions.is_empty()));
    Ok(())
}
