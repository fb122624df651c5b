//! `walcast-topic BOOTSTRAP TOPIC`: prints every record of a topic as one line, `key -> op
//! before after` for Debezium change events (and the raw JSON otherwise). Used by `make demo`;
//! reads up to the high watermark of every partition and exits.

use anyhow::{Context, Result};
use serde_json::Value;

fn compact(bytes: &Option<Vec<u8>>) -> Option<Value> {
    bytes.as_ref().map(|b| {
        let v: Value = serde_json::from_slice(b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()));
        // With schemas enabled the data is under "payload".
        match v.get("payload") {
            Some(p) if v.get("schema").is_some() => p.clone(),
            _ => v,
        }
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(bootstrap), Some(topic)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: walcast-topic BOOTSTRAP_SERVERS TOPIC");
    };
    let records = walcast_kafka::read_topic_to_end(&bootstrap, &topic)
        .await
        .with_context(|| format!("reading {topic}"))?;
    for r in records {
        let key = compact(&r.key)
            .map(|k| k.to_string())
            .unwrap_or_else(|| "null".into());
        match compact(&r.value) {
            None => println!("{key} -> tombstone"),
            Some(v) if v.get("op").is_some() => println!(
                "{key} -> op={} before={} after={}",
                v["op"].as_str().unwrap_or("?"),
                v["before"],
                v["after"]
            ),
            Some(v) => println!("{key} -> {v}"),
        }
    }
    Ok(())
}
