//! `walcast-topic [--decode|--raw] [--last N] BOOTSTRAP TOPIC`: prints the records of a topic, up
//! to the high watermark of every partition, and exits. Used by `make demo` and handy by hand.
//!
//! Default: one line per record, `key -> op before after` for Debezium change events (the JSON
//! of the payload, as on the wire). `--decode` renders logical types by their schema as a person
//! reads them (a Decimal's base64 as `19.99`, dates and timestamps ISO-8601). `--raw` prints the
//! whole value (schema and payload) pretty-printed.

use anyhow::{Context, Result};
use base64::Engine;
use clap::Parser;
use serde_json::Value;
use walcast_connect_api::logical;

#[derive(Parser)]
#[command(
    name = "walcast-topic",
    about = "Print the records of a Kafka topic (Debezium change events one per line)"
)]
struct Args {
    /// Kafka bootstrap servers, host:port[,host:port...].
    bootstrap_servers: String,
    topic: String,
    /// Render logical types (Decimal, dates, timestamps) by their schema.
    #[arg(long)]
    decode: bool,
    /// Print each value whole (schema and payload), pretty-printed.
    #[arg(long)]
    raw: bool,
    /// Only the last N records.
    #[arg(long)]
    last: Option<usize>,
}

/// Split a JsonConverter message into (schema, payload).
fn parse(bytes: &Option<bytes::Bytes>) -> Option<(Option<Value>, Value)> {
    bytes.as_ref().map(|b| {
        let v: Value = serde_json::from_slice(b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()));
        match (v.get("schema"), v.get("payload")) {
            (Some(s), Some(p)) => (Some(s.clone()), p.clone()),
            _ => (None, v),
        }
    })
}

/// The payload with logical types rendered as text, walking the schema beside it.
fn decode(schema: &Value, payload: &Value) -> Value {
    let name = schema.get("name").and_then(Value::as_str).unwrap_or("");
    let scale = schema
        .get("parameters")
        .and_then(|p| p.get("scale"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match (name, payload) {
        (logical::DECIMAL, Value::String(b64)) => logical::decimal_text_base64(b64, scale)
            .map(Value::String)
            .unwrap_or_else(|| payload.clone()),
        (logical::DBZ_VARIABLE_SCALE_DECIMAL, Value::Object(o)) => {
            let scale = o.get("scale").and_then(Value::as_i64).unwrap_or(0);
            let bytes = o
                .get("value")
                .and_then(Value::as_str)
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
            match (bytes, i32::try_from(scale)) {
                (Some(b), Ok(s)) => Value::String(logical::decimal_text(&b, s)),
                _ => payload.clone(),
            }
        }
        (logical::DBZ_DATE | logical::DATE, Value::Number(n)) => n
            .as_i64()
            .and_then(|d| chrono::DateTime::from_timestamp(d * 86_400, 0))
            .map(|t| Value::String(t.format("%Y-%m-%d").to_string()))
            .unwrap_or_else(|| payload.clone()),
        (logical::DBZ_MICRO_TIMESTAMP, Value::Number(n)) => n
            .as_i64()
            .and_then(chrono::DateTime::from_timestamp_micros)
            .map(|t| Value::String(t.naive_utc().to_string()))
            .unwrap_or_else(|| payload.clone()),
        (logical::DBZ_TIMESTAMP | logical::TIMESTAMP, Value::Number(n)) => n
            .as_i64()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| Value::String(t.naive_utc().to_string()))
            .unwrap_or_else(|| payload.clone()),
        (_, Value::Object(o)) => {
            let fields = schema.get("fields").and_then(Value::as_array);
            let mut out = serde_json::Map::new();
            for (k, v) in o {
                let fs = fields.and_then(|fs| {
                    fs.iter()
                        .find(|f| f.get("field").and_then(Value::as_str) == Some(k))
                });
                out.insert(
                    k.clone(),
                    match fs {
                        Some(fs) => decode(fs, v),
                        None => v.clone(),
                    },
                );
            }
            Value::Object(out)
        }
        (_, Value::Array(items)) => match schema.get("items") {
            Some(is) => Value::Array(items.iter().map(|v| decode(is, v)).collect()),
            None => payload.clone(),
        },
        _ => payload.clone(),
    }
}

fn shown(part: Option<(Option<Value>, Value)>, decode_types: bool) -> Option<Value> {
    part.map(|(schema, payload)| match schema {
        Some(s) if decode_types => decode(&s, &payload),
        _ => payload,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let records = walcast_kafka::read_topic_to_end(&args.bootstrap_servers, &args.topic)
        .await
        .with_context(|| format!("reading {}", args.topic))?;
    let skip = args.last.map_or(0, |n| records.len().saturating_sub(n));
    for r in records.into_iter().skip(skip) {
        if args.raw {
            let v: Value = r
                .value
                .as_ref()
                .map(|b| serde_json::from_slice(b).unwrap_or(Value::Null))
                .unwrap_or(Value::Null);
            println!("{}", serde_json::to_string_pretty(&v)?);
            continue;
        }
        let key = shown(parse(&r.key), args.decode)
            .map(|k| k.to_string())
            .unwrap_or_else(|| "null".into());
        match shown(parse(&r.value), args.decode) {
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
