//! Produce-rate check: pushes N records of ~2.5 KB (a Debezium change event's size) through
//! [`Producer`] and prints records/s and MB/s, the way the source would (one token per
//! transaction of 10 records, marked at commit, flushed at the end).
//!
//! `cargo run --release -p walcast-kafka --example produce_rate -- 127.0.0.1:9092 \
//!     [records=200000] [partitions=3] [max_in_flight=5] [compression=none] [value_bytes=2500]`
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use walcast_kafka::{Producer, ProducerConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bootstrap = args
        .first()
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9092".into());
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.into());
    let records: u64 = arg(1, "200000").parse()?;
    let partitions: i32 = arg(2, "3").parse()?;
    let in_flight: usize = arg(3, "5").parse()?;
    let compression = arg(4, "none").parse()?;
    let value_bytes: usize = arg(5, "2500").parse()?;

    let topic = format!("produce-rate-{}", std::process::id());
    let cfg = ProducerConfig {
        topic_partitions: partitions,
        max_in_flight_per_partition: in_flight,
        compression,
        ..ProducerConfig::new(&bootstrap)
    };
    let mut producer = Producer::connect(cfg).await?;

    // A JSON-ish value; the tail varies per record so compression sees realistic data.
    let template: Vec<u8> = {
        let mut v = br#"{"schema":{"type":"struct","fields":[{"type":"int64","field":"id"}]},"payload":{"before":null,"after":{"id":"#.to_vec();
        while v.len() < value_bytes {
            v.extend_from_slice(b"\"col\":\"lorem ipsum dolor sit amet\",");
        }
        v.truncate(value_bytes);
        v
    };

    let started = Instant::now();
    let mut bytes = 0u64;
    for i in 0..records {
        let key = format!("{{\"id\":{i}}}").into_bytes();
        let mut value = template.clone();
        let tail = i.to_string();
        let at = value.len() - tail.len();
        value[at..].copy_from_slice(tail.as_bytes());
        bytes += (key.len() + value.len()) as u64;
        let token = 1 + i / 10;
        producer
            .send(&topic, Some(key), Some(value), 1_700_000_000_000, token)
            .await?;
        if i % 10 == 9 {
            producer.mark(token);
        }
    }
    let sent = started.elapsed();
    let acked = tokio::time::timeout(Duration::from_secs(120), producer.flush()).await??;
    let elapsed = started.elapsed();
    let secs = elapsed.as_secs_f64();
    println!(
        "{records} records, {:.1} MB in {:.2}s (all handed over after {:.2}s): {:.0} records/s, {:.1} MB/s; watermark {acked}",
        bytes as f64 / 1e6,
        secs,
        sent.as_secs_f64(),
        records as f64 / secs,
        bytes as f64 / 1e6 / secs,
    );
    assert_eq!(
        acked,
        1 + (records - 1) / 10,
        "flush must return the last token"
    );
    Ok(())
}
