//! How fast `walcast_json::read` turns captured Debezium values into Connect values, whole and
//! as a sink behind ExtractNewRecordState reads them (`before`, `after`, `op` built):
//! `cargo run --release -p walcast-json --example read_speed [fixture.jsonl]`.

use std::time::Instant;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/fixtures/crud/expected.jsonl".to_string());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let values: Vec<Vec<u8>> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|j| !j["value"].is_null())
        .map(|j| serde_json::to_vec(&j["value"]).unwrap_or_default())
        .collect();
    let bytes: usize = values.iter().map(Vec::len).sum();
    let rounds = 200_000 / values.len().max(1);
    for (what, keep) in [
        ("whole", None),
        ("projected", Some(&["before", "after", "op"][..])),
    ] {
        let start = Instant::now();
        let mut n = 0usize;
        for _ in 0..rounds {
            for v in &values {
                if walcast_json::read_projected(Some(v), true, keep).is_ok() {
                    n += 1;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{what}: {n} values ({} bytes avg) in {secs:.2}s: {:.0} values/s, {:.1} MB/s",
            bytes / values.len().max(1),
            n as f64 / secs,
            (bytes * rounds) as f64 / secs / 1e6
        );
    }
}
