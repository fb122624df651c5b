//! The direct COPY in PostgreSQL's binary form stores exactly what the text form stores: the
//! same rows go into one table through the writer (binary) and into a twin through a text COPY
//! of `render_pg_text`, and every stored value is compared. A value without a binary form
//! sends its batch again as a text COPY, and it lands the same.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use anyhow::Result;
use futures::SinkExt;
use walcast_connect_api::logical;
use walcast_connect_api::{
    ConnectRecord, Field, Position, Schema, SchemaRef, SchemaType, SinkWriter, Struct,
    TopicPartition, Value,
};
use walcast_jdbc_sink::{render_pg_text, Dialect, JdbcSinkConfig, PgSinkWriter};
use walcast_testkit::Postgres;

mod common;
use common::{cfg, unscaled};

const TOPIC: &str = "dbserver1.public.types";

const COLUMNS: &str = "id integer PRIMARY KEY, i2 smallint, i8 bigint, b boolean, f4 real, \
     f8 double precision, t text, vc varchar(20), ch character(5), n numeric(12,4), nn numeric, \
     tz timestamptz, tzm timestamptz, ts timestamp, tsm timestamp, ns numeric(10,2), nsu numeric";

fn config(pg: &Postgres) -> Arc<JdbcSinkConfig> {
    cfg(
        pg,
        Dialect::Debezium,
        &[
            ("insert.mode", "upsert"),
            ("primary.key.mode", "record_key"),
            ("table.name.format", "bin_t"),
        ],
    )
}

fn decimal_schema(scale: i32) -> Schema {
    Schema::optional(SchemaType::Bytes)
        .named(logical::DECIMAL)
        .with_parameter("scale", scale.to_string())
}

fn row_schema() -> SchemaRef {
    let opt = Schema::optional;
    Arc::new(Schema::structure(
        Some("dbserver1.public.types.Value".into()),
        vec![
            Field::new("id", Schema::primitive(SchemaType::Int32)),
            Field::new("i2", opt(SchemaType::Int16)),
            Field::new("i8", opt(SchemaType::Int64)),
            Field::new("b", opt(SchemaType::Boolean)),
            Field::new("f4", opt(SchemaType::Float32)),
            Field::new("f8", opt(SchemaType::Float64)),
            Field::new("t", opt(SchemaType::String)),
            Field::new("vc", opt(SchemaType::String)),
            Field::new("ch", opt(SchemaType::String)),
            Field::new("n", decimal_schema(4)),
            Field::new("nn", decimal_schema(6)),
            Field::new(
                "tz",
                opt(SchemaType::String).named(logical::DBZ_ZONED_TIMESTAMP),
            ),
            Field::new("tzm", opt(SchemaType::Int64).named(logical::TIMESTAMP)),
            Field::new(
                "ts",
                opt(SchemaType::Int64).named(logical::DBZ_MICRO_TIMESTAMP),
            ),
            Field::new("tsm", opt(SchemaType::Int64).named(logical::DBZ_TIMESTAMP)),
            // Decimals as strings (`decimal.handling.mode=string`).
            Field::new("ns", opt(SchemaType::String)),
            Field::new("nsu", opt(SchemaType::String)),
        ],
    ))
}

fn key_schema() -> SchemaRef {
    Arc::new(Schema::structure(
        Some("dbserver1.public.types.Key".into()),
        vec![Field::new("id", Schema::primitive(SchemaType::Int32))],
    ))
}

/// Row `i` of a set that walks every column through its edge values (and nulls).
fn row(i: i32, zoned: &str) -> Struct {
    let pick = |vals: &[Value]| vals[i as usize % vals.len()].clone();
    let mut s = Struct::new(row_schema());
    s.put("id", Value::Int32(i));
    s.put(
        "i2",
        pick(&[
            Value::Int16(i16::MIN),
            Value::Int16(i16::MAX),
            Value::Int16(0),
            Value::Null,
            Value::Int16(-7),
        ]),
    );
    s.put(
        "i8",
        pick(&[
            Value::Int64(i64::MIN),
            Value::Int64(i64::MAX),
            Value::Int64(-1),
            Value::Null,
        ]),
    );
    s.put(
        "b",
        pick(&[Value::Boolean(true), Value::Boolean(false), Value::Null]),
    );
    s.put(
        "f4",
        pick(&[
            Value::Float32(1.1),
            Value::Float32(-0.0),
            Value::Float32(f32::NAN),
            Value::Float32(f32::INFINITY),
            Value::Float32(f32::MIN_POSITIVE),
            Value::Float32(3.402_823_5e38),
            Value::Null,
        ]),
    );
    s.put(
        "f8",
        pick(&[
            Value::Float64(0.1),
            Value::Float64(-1e-300),
            Value::Float64(f64::NEG_INFINITY),
            Value::Float64(f64::NAN),
            Value::Float64(1.797_693_134_862_315_7e308),
            Value::Null,
        ]),
    );
    s.put(
        "t",
        pick(&[
            Value::String(format!("row {i}\ttab\\back\nnew\rret")),
            Value::String(String::new()),
            Value::String("ünïcødé ✓ 𝄞".into()),
            Value::String("\\N".into()),
            Value::Null,
        ]),
    );
    s.put(
        "vc",
        pick(&[
            Value::String("short".into()),
            Value::String("exactly twenty chars".into()),
            Value::String("trailing spaces cut     ".into()),
            Value::Null,
        ]),
    );
    s.put(
        "ch",
        pick(&[
            Value::String("ab".into()),
            Value::String("abcde".into()),
            Value::String("abcde   ".into()),
            Value::Null,
        ]),
    );
    s.put(
        "n",
        pick(&[
            unscaled(123_456_789_012),
            unscaled(-1),
            unscaled(0),
            unscaled(999_999_999_999),
            unscaled(10_000),
            unscaled(-50_000_000),
            Value::Null,
        ]),
    );
    s.put(
        "nn",
        pick(&[
            unscaled(123_456_789_012_345_678_901_234_567),
            unscaled(-1_000_000),
            unscaled(0),
            unscaled(5),
            unscaled(10_000_000_000),
            Value::Null,
        ]),
    );
    s.put("tz", Value::String(zoned.to_string()));
    s.put(
        "tzm",
        pick(&[
            Value::Int64(0),
            Value::Int64(1_700_000_000_123),
            Value::Int64(-62_135_596_800_000),
            Value::Int64(253_402_300_799_999),
            Value::Int64(-1),
            // PostgreSQL JDBC's infinity values, which the text form writes as `infinity`.
            Value::Int64(9_223_372_036_825_200),
            Value::Int64(-9_223_372_036_832_400),
            Value::Null,
        ]),
    );
    s.put(
        "ts",
        pick(&[
            Value::Int64(1_700_000_000_123_456),
            Value::Int64(-62_135_596_800_000_000 - 86_400_000_000),
            Value::Int64(0),
            Value::Int64(-1),
            Value::Int64(9_223_372_036_825_200_000),
            Value::Null,
        ]),
    );
    s.put(
        "tsm",
        pick(&[
            Value::Int64(946_684_800_000),
            Value::Int64(-1),
            Value::Int64(1_700_000_000_999),
            Value::Int64(-9_223_372_036_832_400),
            Value::Null,
        ]),
    );
    // Rounded to the column's scale by both forms.
    let decimals = [
        "19.99",
        "-0.50",
        "007.100",
        "1.",
        "0",
        "-0",
        "12345678.994",
        "0.005",
        "-99999999.99",
    ];
    s.put(
        "ns",
        pick(
            &decimals
                .iter()
                .map(|d| Value::String(d.to_string()))
                .chain([Value::Null])
                .collect::<Vec<_>>(),
        ),
    );
    s.put(
        "nsu",
        pick(&[
            Value::String("123456789012345678901234567890.000000000000000000001".into()),
            Value::String("-0.000".into()),
            Value::String("10000".into()),
            Value::String("3.14159".into()),
            Value::Null,
        ]),
    );
    s
}

const ZONED: &[&str] = &[
    "2024-05-01T10:00:00Z",
    "2024-05-01T10:00:00.5Z",
    "2024-05-01T10:00:00.123456+05:30",
    "1999-12-31T23:59:59.999999-08:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "2024-02-29T00:00:00.000100+00:00",
    "1970-01-01T00:00:00.01-00:30:15",
];

fn event(offset: i64, after: Struct) -> ConnectRecord {
    let row_s = row_schema();
    let env_s = Arc::new(Schema::structure(
        Some("dbserver1.public.types.Envelope".into()),
        vec![
            Field::new("before", row_s.as_ref().clone().into_optional()),
            Field::new("after", row_s.as_ref().clone().into_optional()),
            Field::new("op", Schema::primitive(SchemaType::String)),
        ],
    ));
    let id = after.get("id").cloned().unwrap();
    let mut env = Struct::new(env_s.clone());
    env.put("op", Value::String("c".into()));
    env.put("after", Value::Struct(after));
    let mut key = Struct::new(key_schema());
    key.put("id", id);
    ConnectRecord {
        topic: TOPIC.into(),
        partition: Some(0),
        offset: Some(offset),
        timestamp_ms: None,
        key_schema: Some(key_schema()),
        key: Value::Struct(key),
        value_schema: Some(env_s),
        value: Value::Struct(env),
        headers: Vec::new(),
    }
}

/// The rows as text COPY data, each value as `render_pg_text` writes it.
fn text_copy(rows: &[Struct]) -> String {
    let schema = row_schema();
    let mut out = String::new();
    for r in rows {
        let fields: Vec<String> = schema
            .fields
            .iter()
            .map(|f| {
                let mut t = String::new();
                let v = r.get(&f.name).unwrap();
                if render_pg_text(Some(&f.schema), v, &mut t) {
                    t.replace('\\', "\\\\")
                        .replace('\t', "\\t")
                        .replace('\n', "\\n")
                        .replace('\r', "\\r")
                } else {
                    "\\N".into()
                }
            })
            .collect();
        out.push_str(&fields.join("\t"));
        out.push('\n');
    }
    out
}

async fn stored(pg: &Postgres, table: &str) -> Result<Vec<String>> {
    let c = pg.connect().await?;
    let rows = c
        .query(
            &format!("SELECT (t.*)::text FROM {table} t ORDER BY id"),
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

#[tokio::test]
async fn binary_and_text_store_the_same() -> Result<()> {
    let pg = Postgres::start().await?;
    pg.execute(&format!(
        "SET TIME ZONE 'UTC'; ALTER DATABASE postgres SET timezone TO 'America/New_York';
         CREATE TABLE bin_t ({COLUMNS}); CREATE TABLE text_t ({COLUMNS});
         CREATE TABLE stmt_log (seq serial, q text);
         CREATE FUNCTION log_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN INSERT INTO stmt_log (q) VALUES (current_query()); RETURN NULL; END $$;
         CREATE TRIGGER log_stmt BEFORE INSERT ON bin_t
           FOR EACH STATEMENT EXECUTE FUNCTION log_stmt();"
    ))
    .await?;
    let mut w = PgSinkWriter::new(config(&pg));
    assert!(w.open("c1").await?.is_empty());
    let pos = |next: i64| {
        vec![Position {
            tp: TopicPartition::new(TOPIC, 0),
            next_offset: next,
        }]
    };

    // New keys, every value with a binary form: the direct COPY in binary.
    let first: Vec<Struct> = (0..420)
        .map(|i| row(i, ZONED[i as usize % ZONED.len()]))
        .collect();
    let records: Vec<ConnectRecord> = first
        .iter()
        .enumerate()
        .map(|(i, r)| event(i as i64, r.clone()))
        .collect();
    w.write("c1", &records, &pos(420)).await?;

    // New keys again, a batch of several COPY chunks whose row 1300 has a zoned timestamp
    // without the form the binary encoder reads (seven fractional digits, which PostgreSQL's
    // text input rounds): the binary COPY is abandoned after chunks went out, and the batch
    // goes again as a text COPY (still straight into the table: every key is new).
    let second: Vec<Struct> = (420..1420)
        .map(|i| {
            let z = if i == 1300 {
                "2024-05-01T10:00:00.1234567Z"
            } else {
                ZONED[i as usize % ZONED.len()]
            };
            row(i, z)
        })
        .collect();
    let records: Vec<ConnectRecord> = second
        .iter()
        .enumerate()
        .map(|(i, r)| event(420 + i as i64, r.clone()))
        .collect();
    w.write("c1", &records, &pos(1420)).await?;
    assert_eq!(w.open("c1").await?, pos(1420));

    // The twin through a text COPY of the same rows.
    let c = pg.connect().await?;
    let sink = c.copy_in("COPY text_t FROM STDIN").await?;
    futures::pin_mut!(sink);
    let all: Vec<Struct> = first.into_iter().chain(second).collect();
    sink.send(bytes::Bytes::from(text_copy(&all))).await?;
    assert_eq!(sink.finish().await?, 1420);

    let binary = stored(&pg, "bin_t").await?;
    let text = stored(&pg, "text_t").await?;
    assert_eq!(binary.len(), 1420);
    for (b, t) in binary.iter().zip(&text) {
        assert_eq!(b, t);
    }
    // Which statements inserted: the first batch by a binary COPY, the second by a text COPY
    // after its binary COPY was abandoned (the abandoned one inserted nothing that stayed).
    let log: Vec<String> = c
        .query("SELECT q FROM stmt_log ORDER BY seq", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].starts_with("COPY") && log[0].ends_with("(FORMAT binary)"),
        "{log:?}"
    );
    assert!(
        log[1].starts_with("COPY") && !log[1].contains("binary"),
        "{log:?}"
    );
    Ok(())
}
