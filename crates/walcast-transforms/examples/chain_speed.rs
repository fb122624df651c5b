//! How fast a typical sink chain (unwrap with rewrite + add.fields, ReplaceField, InsertField)
//! runs over captured Debezium events:
//! `cargo run --release -p walcast-transforms --example chain_speed [events.jsonl]`.

use std::time::Instant;

use walcast_connect_api::ConnectRecord;
use walcast_transforms::{Outcome, TransformChain};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/fixtures/crud/expected.jsonl".to_string());
    let text = std::fs::read_to_string(&path)?;
    let mut input = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let j: serde_json::Value = serde_json::from_str(line)?;
        let part = |p: &str| {
            (!j[p].is_null())
                .then(|| serde_json::to_vec(&j[p]))
                .transpose()
        };
        let (key_schema, key) = walcast_json::read(part("key")?.as_deref(), true)?;
        let (value_schema, value) = walcast_json::read(part("value")?.as_deref(), true)?;
        input.push(ConnectRecord {
            topic: j["topic"].as_str().unwrap_or_default().to_string(),
            partition: Some(0),
            offset: Some(i as i64),
            timestamp_ms: Some(1_700_000_000_000),
            key_schema,
            key,
            value_schema,
            value,
            headers: Vec::new(),
        });
    }
    let config = [
        ("transforms", "unwrap,rf,ins"),
        (
            "transforms.unwrap.type",
            "io.debezium.transforms.ExtractNewRecordState",
        ),
        (
            "transforms.unwrap.delete.tombstone.handling.mode",
            "rewrite",
        ),
        ("transforms.unwrap.add.fields", "op,source.ts_ms"),
        (
            "transforms.rf.type",
            "org.apache.kafka.connect.transforms.ReplaceField$Value",
        ),
        ("transforms.rf.renames", "customer_id:cust"),
        (
            "transforms.ins.type",
            "org.apache.kafka.connect.transforms.InsertField$Value",
        ),
        ("transforms.ins.offset.field", "kafka_offset"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut chain = TransformChain::from_config(&config).map_err(|i| format!("{i:?}"))?;
    let batch: Vec<ConnectRecord> = input.iter().cycle().take(500).cloned().collect();
    let rounds = 400;
    let mut kept = 0usize;
    let mut copy_time = 0.0;
    let start = Instant::now();
    for _ in 0..rounds {
        let c = Instant::now();
        let b = batch.clone();
        copy_time += c.elapsed().as_secs_f64();
        for o in chain.apply_batch(b).await? {
            if matches!(o, Outcome::Keep(_)) {
                kept += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64() - copy_time;
    let n = rounds * batch.len();
    println!(
        "{n} records ({kept} kept) in {secs:.2}s (batch copies excluded): {:.0} records/s",
        n as f64 / secs
    );
    Ok(())
}
