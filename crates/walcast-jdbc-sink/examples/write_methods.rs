//! Measures the writer's three write methods on the seed's `results` table: 200,000 enriched
//! order rows (as the results sink receives them after ExtractNewRecordState and RedisLookup),
//! upserted by key into an empty table in batches, each batch one transaction with its offsets
//! row; and, as the ceiling, one plain `COPY` of the same rows into the empty table.
//!
//! `cargo run --release -p walcast-jdbc-sink --example write_methods [rows] [batch sizes...]`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::SinkExt;
use walcast_connect_api::logical;
use walcast_connect_api::{
    ConnectRecord, Field, Position, Schema, SchemaType, SinkWriter, Struct, TopicPartition, Value,
};
use walcast_jdbc_sink::{Dialect, JdbcSinkConfig, PgSinkWriter, WriteMethod};
use walcast_testkit::Postgres;

const TABLE: &str = "CREATE TABLE results (order_id int PRIMARY KEY, customer_id varchar(20), \
    product_id varchar(20), quantity int, price numeric(10,2), status varchar(20), \
    created_at timestamptz, customer_name text, customer_email text, customer_tier text)";

fn records(n: usize) -> Vec<ConnectRecord> {
    let key_s = Arc::new(Schema::structure(
        None,
        vec![Field::new("order_id", Schema::primitive(SchemaType::Int32))],
    ));
    let s = |t| Schema::optional(t);
    let val_s = Arc::new(Schema::structure(
        Some("results.Value".into()),
        vec![
            Field::new("order_id", Schema::primitive(SchemaType::Int32)),
            Field::new("customer_id", s(SchemaType::String)),
            Field::new("product_id", s(SchemaType::String)),
            Field::new("quantity", s(SchemaType::Int32)),
            Field::new(
                "price",
                s(SchemaType::Bytes)
                    .named(logical::DECIMAL)
                    .with_parameter("scale", "2")
                    .with_parameter("connect.decimal.precision", "10"),
            ),
            Field::new("status", s(SchemaType::String)),
            Field::new(
                "created_at",
                s(SchemaType::String).named(logical::DBZ_ZONED_TIMESTAMP),
            ),
            Field::new("customer_name", s(SchemaType::String)),
            Field::new("customer_email", s(SchemaType::String)),
            Field::new("customer_tier", s(SchemaType::String)),
        ],
    ));
    (0..n)
        .map(|i| {
            let id = i32::try_from(i + 1).unwrap_or(i32::MAX);
            let mut k = Struct::new(key_s.clone());
            k.put("order_id", Value::Int32(id));
            let mut v = Struct::new(val_s.clone());
            let c = i % 50 + 1;
            v.put("order_id", Value::Int32(id));
            v.put("customer_id", Value::String(format!("CUST{c:03}")));
            v.put("product_id", Value::String(format!("PROD{:03}", i % 700)));
            v.put("quantity", Value::Int32(id % 10 + 1));
            let cents = 100 + (i as i64 * 37) % 99_900;
            v.put("price", Value::Bytes(cents.to_be_bytes()[5..].to_vec()));
            v.put("status", Value::String("PENDING".into()));
            v.put(
                "created_at",
                Value::String(format!(
                    "2024-01-{:02}T10:{:02}:00.123456Z",
                    i % 28 + 1,
                    i % 60
                )),
            );
            v.put("customer_name", Value::String(format!("Customer {c}")));
            v.put(
                "customer_email",
                Value::String(format!("customer{c}@example.com")),
            );
            v.put(
                "customer_tier",
                Value::String(["gold", "silver", "bronze"][c % 3].into()),
            );
            ConnectRecord {
                topic: "results".into(),
                partition: Some(0),
                offset: Some(i as i64),
                timestamp_ms: None,
                key_schema: Some(key_s.clone()),
                key: Value::Struct(k),
                value_schema: Some(val_s.clone()),
                value: Value::Struct(v),
                headers: Vec::new(),
            }
        })
        .collect()
}

async fn run(
    pg: &Postgres,
    recs: &[ConnectRecord],
    method: WriteMethod,
    batch: usize,
) -> Result<f64> {
    pg.execute("DROP TABLE IF EXISTS results; DROP TABLE IF EXISTS walcast_offsets")
        .await?;
    pg.execute(TABLE).await?;
    pg.execute("CHECKPOINT").await?;
    let mut raw = BTreeMap::new();
    raw.insert(
        "connection.url".to_string(),
        format!(
            "jdbc:postgresql://127.0.0.1:{}/postgres?user=postgres&sslmode=disable",
            pg.port()
        ),
    );
    raw.insert("insert.mode".into(), "upsert".into());
    raw.insert("pk.mode".into(), "record_key".into());
    raw.insert("table.name.format".into(), "results".into());
    let cfg =
        JdbcSinkConfig::parse(Dialect::Confluent, &raw).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut w: Box<dyn SinkWriter> = Box::new(PgSinkWriter::new(Arc::new(cfg)).with_method(method));
    w.open("bench").await?;
    let start = Instant::now();
    for chunk in recs.chunks(batch) {
        let next = chunk.last().and_then(|r| r.offset).unwrap_or(0) + 1;
        let pos = [Position {
            tp: TopicPartition::new("results", 0),
            next_offset: next,
        }];
        w.write("bench", chunk, &pos)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let secs = start.elapsed().as_secs_f64();
    let c = pg.connect().await?;
    let n: i64 = c
        .query_one("SELECT count(*) FROM results", &[])
        .await?
        .get(0);
    anyhow::ensure!(n as usize == recs.len(), "{n} rows written");
    Ok(recs.len() as f64 / secs)
}

/// One `COPY` of the rows (already in text form) into the empty table: the ceiling.
async fn plain_copy(pg: &Postgres, recs: &[ConnectRecord]) -> Result<f64> {
    pg.execute("DROP TABLE IF EXISTS results").await?;
    pg.execute(TABLE).await?;
    pg.execute("CHECKPOINT").await?;
    let mut text = String::new();
    for r in recs {
        let Value::Struct(s) = &r.value else { continue };
        for (i, (f, v)) in s.iter().enumerate() {
            if i > 0 {
                text.push('\t');
            }
            if !walcast_jdbc_sink::render_pg_text(Some(&f.schema), v, &mut text) {
                text.push_str("\\N");
            }
        }
        text.push('\n');
    }
    let mut c = pg.connect().await?;
    let start = Instant::now();
    let tx = c.transaction().await?;
    let sink = tx
        .copy_in::<_, bytes::Bytes>("COPY results FROM STDIN")
        .await?;
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from(text)).await?;
    sink.as_mut().finish().await?;
    tx.commit().await?;
    Ok(recs.len() as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args
        .first()
        .map_or(Ok(200_000), |a| a.parse())
        .context("rows")?;
    let batches: Vec<usize> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|a| a.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![500, 3000, 10_000]
    };
    let pg = Postgres::start().await?;
    let recs = records(n);
    println!("{n} rows of the results shape, upsert by key into an empty table, one transaction per batch");
    println!(
        "plain COPY (ceiling): {:>9.0} rows/s",
        plain_copy(&pg, &recs).await?
    );
    for &batch in &batches {
        for method in [WriteMethod::Values, WriteMethod::Unnest, WriteMethod::Copy] {
            let rate = run(&pg, &recs, method, batch).await?;
            println!("batch {batch:>6} {method:>7?}: {rate:>9.0} rows/s");
        }
    }
    Ok(())
}
