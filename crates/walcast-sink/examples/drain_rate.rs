//! How fast the sink runtime drains a backlog when the destination costs nothing: fetch,
//! JsonConverter (schemas on), an ExtractNewRecordState unwrap, batching, positions. Produces
//! N Debezium change events (the `crud` fixture's first event with a new id each) to a local
//! tansu, then runs the runtime with a writer that only counts, timing from start to the last
//! write. `cargo run --release -p walcast-sink --example drain_rate -- 200000`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use walcast_connect_api::{
    ConnectRecord, Position, SinkError, SinkWriter, TaskContext, WorkerSettings,
};
use walcast_kafka::{Compression, Producer, ProducerConfig};
use walcast_sink::{run, SinkOptions};
use walcast_testkit::Tansu;

struct Counting(Arc<AtomicUsize>);

impl SinkWriter for Counting {
    fn open<'a>(&'a mut self, _: &'a str) -> BoxFuture<'a, Result<Vec<Position>, SinkError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn write<'a>(
        &'a mut self,
        _: &'a str,
        records: &'a [ConnectRecord],
        _: &'a [Position],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        self.0.fetch_add(records.len(), Ordering::Relaxed);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/crud/expected.jsonl");
    let line = std::fs::read_to_string(&fixture)?
        .lines()
        .next()
        .context("empty fixture")?
        .to_owned();
    let event: serde_json::Value = serde_json::from_str(&line)?;
    let tansu = Tansu::start().await?;
    let mut cfg = ProducerConfig::new(&tansu.bootstrap());
    cfg.compression = Compression::Zstd;
    let mut producer = Producer::connect(cfg).await?;
    let mut bytes = 0;
    for i in 0..n {
        let mut key = event["key"].clone();
        key["payload"]["id"] = i.into();
        let mut value = event["value"].clone();
        value["payload"]["after"]["id"] = i.into();
        let (k, v) = (serde_json::to_vec(&key)?, serde_json::to_vec(&value)?);
        bytes += k.len() + v.len();
        producer
            .send("drain", Some(k), Some(v), 0, i as u64 + 1)
            .await?;
    }
    producer.flush().await?;
    println!(
        "produced {n} events, {} bytes each on average",
        bytes / n.max(1)
    );

    let count = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();
    let mut config: BTreeMap<String, String> = [
        ("topics", "drain"),
        ("transforms", "unwrap"),
        (
            "transforms.unwrap.type",
            "io.debezium.transforms.ExtractNewRecordState",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // Extra connector keys from the command line: `key=value` after the record count.
    for kv in std::env::args().skip(2) {
        if let Some((k, v)) = kv.split_once('=') {
            config.insert(k.to_owned(), v.to_owned());
        }
    }
    let ctx = TaskContext {
        name: "drain".into(),
        config,
        worker: Arc::new(WorkerSettings {
            bootstrap_servers: tansu.bootstrap(),
            worker_id: "bench".into(),
            state_dir: PathBuf::from("/nonexistent"),
            properties: BTreeMap::new(),
        }),
        key_schemas_enable: true,
        value_schemas_enable: true,
        shutdown: shutdown.clone(),
    };
    let started = Instant::now();
    let task = tokio::spawn(run(
        ctx,
        Box::new(Counting(count.clone())),
        SinkOptions::new(3000),
    ));
    while count.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if task.is_finished() {
            break;
        }
    }
    let elapsed = started.elapsed();
    shutdown.cancel();
    task.await?.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "drained {} records in {:.2} s: {:.0} records/s",
        count.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
