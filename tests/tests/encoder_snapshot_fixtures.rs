//! The encoder (walcast-debezium) and the catalog loader (walcast-pgwire), without the worker or
//! a broker: for every captured fixture, run its `setup.sql` against a throwaway
//! PostgreSQL, load each table's schema from the catalog, read the rows in text format (what
//! the snapshot's `COPY ... TO STDOUT` delivers), encode them as `op: "r"` events and compare
//! them with what Debezium 3.6.3 emitted (corrected where Debezium is wrong), field by field.
#![allow(clippy::unwrap_used)]

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio_postgres::{Client, SimpleQueryMessage};
use walcast_debezium::{
    schemas_enable_from_properties, EncodedRecords, EventConfig, Op, RowChange, SnapshotMarker,
    SourceInfo, TableEncoder,
};
use walcast_pgoutput::{TableId, TableSchema, TupleValue};
use walcast_pgwire::{load_table_schema_by_name, quote_ident, quote_table};
use walcast_tests::conformance::{self, Fixture};

/// The tables of the fixture's snapshot events, in the order Debezium read them.
fn snapshot_tables(f: &Fixture) -> Vec<TableId> {
    let mut out: Vec<TableId> = Vec::new();
    for e in f.snapshot_events() {
        let src = &conformance::value_payload(e).unwrap()["source"];
        let t = TableId::new(
            src["schema"].as_str().unwrap(),
            src["table"].as_str().unwrap(),
        );
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// The table's rows as text values, in physical order like Debezium's snapshot SELECT.
async fn read_rows(client: &Client, schema: &TableSchema) -> Result<Vec<Vec<TupleValue>>> {
    let cols: Vec<String> = schema
        .columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect();
    let sql = format!(
        "SELECT {} FROM {}",
        cols.join(", "),
        quote_table(&schema.id)
    );
    let mut rows = Vec::new();
    for msg in client.simple_query(&sql).await? {
        if let SimpleQueryMessage::Row(r) = msg {
            rows.push(
                (0..r.len())
                    .map(|i| match r.get(i) {
                        Some(s) => TupleValue::Text(Bytes::copy_from_slice(s.as_bytes())),
                        None => TupleValue::Null,
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

fn record_json(topic: &str, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Value> {
    let parse = |b: Option<&[u8]>| -> Result<Value> {
        Ok(match b {
            Some(b) => serde_json::from_slice(b).with_context(|| {
                format!("walcast wrote invalid JSON: {}", String::from_utf8_lossy(b))
            })?,
            None => Value::Null,
        })
    };
    Ok(json!({"topic": topic, "key": parse(key)?, "value": parse(value)?}))
}

async fn check_fixture(pg: &walcast_testkit::Postgres, f: &Fixture) -> Result<Vec<String>> {
    let admin = pg.connect().await?;
    let db = format!("fx_{}", f.name);
    admin
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&db)))
        .await?;
    let client = pg.connect_db(&db).await?;
    client
        .batch_execute(&f.setup_sql)
        .await
        .with_context(|| format!("{}: setup.sql", f.name))?;
    client
        .batch_execute(
            "SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 1",
        )
        .await?;
    let (key_schemas, value_schemas) = schemas_enable_from_properties(&f.properties)?;
    let cfg = EventConfig::from_properties(&f.properties, key_schemas, value_schemas)?;
    let tables = snapshot_tables(f);
    if tables.is_empty() {
        return Err(anyhow!("{}: no snapshot events in the fixture", f.name));
    }
    let mut problems = Vec::new();
    let mut records = EncodedRecords::new();
    for (ti, table) in tables.iter().enumerate() {
        let schema = load_table_schema_by_name(&client, table).await?;
        let enc = TableEncoder::new(&schema, &cfg)?;
        let rows = read_rows(&client, &schema).await?;
        let expected: Vec<&Value> = f
            .snapshot_events()
            .into_iter()
            .filter(|e| {
                let src = &conformance::value_payload(e).unwrap()["source"];
                src["schema"] == table.schema.as_str() && src["table"] == table.table.as_str()
            })
            .collect();
        if expected.len() != rows.len() {
            problems.push(format!(
                "{} {table}: Debezium read {} rows, walcast {}",
                f.name,
                expected.len(),
                rows.len()
            ));
            continue;
        }
        for (ri, (row, exp)) in rows.iter().zip(&expected).enumerate() {
            let source = SourceInfo {
                ts_us: 1_700_000_000_000_000,
                snapshot: SnapshotMarker::for_snapshot_row(
                    ti == 0,
                    ti + 1 == tables.len(),
                    ri == 0,
                    ri + 1 == rows.len(),
                ),
                sequence: [None, Some(1)],
                tx_id: Some(1),
                lsn: Some(1),
                ..Default::default()
            };
            let change = RowChange {
                op: Op::Read,
                before: None,
                after: Some(row),
            };
            if let Err(e) =
                enc.encode_change(&change, &source, 1_700_000_000_000_000_000, &mut records)
            {
                problems.push(format!("{} {table} row {ri}: {e}", f.name));
                continue;
            }
            if records.len() != 1 {
                problems.push(format!(
                    "{} {table} row {ri}: {} records",
                    f.name,
                    records.len()
                ));
                continue;
            }
            let r = records.get(0).unwrap();
            let actual = record_json(enc.topic(), r.key(), r.value())?;
            if let Err(e) = conformance::compare_events(exp, &actual) {
                problems.push(format!("{} {table} row {ri}: {e}", f.name));
            }
        }
    }
    Ok(problems)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_events_match_debezium() {
    let fixtures = conformance::load_all().unwrap();
    assert!(fixtures.len() >= 20, "fixtures missing: {}", fixtures.len());
    let pg = walcast_testkit::Postgres::start().await.unwrap();
    let mut problems = Vec::new();
    for f in &fixtures {
        match check_fixture(&pg, f).await {
            Ok(p) => problems.extend(p),
            Err(e) => problems.push(format!("{}: {e:#}", f.name)),
        }
    }
    assert!(
        problems.is_empty(),
        "{} snapshot mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
