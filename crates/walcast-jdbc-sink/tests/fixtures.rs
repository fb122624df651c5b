//! Round trip of the source's conformance fixtures: the Debezium events captured from real
//! Debezium for each fixture (`tests/fixtures/<name>/expected.jsonl`), read with walcast-json as
//! the sink runtime reads them, written by the Debezium-dialect sink with
//! `schema.evolution=basic` into an empty database; then every table the sink created must hold
//! the source table's rows, value by value (compared as text, or after casting the source value
//! to the column type the sink chose when the two types print differently, e.g. money as
//! numeric).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use walcast_connect_api::{ConnectRecord, SinkWriter};
use walcast_jdbc_sink::{Dialect, JdbcSinkConfig, PgSinkWriter, WriteMethod};
use walcast_testkit::Postgres;

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
}

fn records(name: &str) -> Result<Vec<ConnectRecord>> {
    let text = std::fs::read_to_string(fixture_dir(name).join("expected.jsonl"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let j: serde_json::Value = serde_json::from_str(line)?;
        let bytes = |v: &serde_json::Value| -> Option<Vec<u8>> {
            (!v.is_null()).then(|| serde_json::to_vec(v).unwrap())
        };
        let (key_schema, key) = walcast_json::read(bytes(&j["key"]).as_deref(), true)
            .with_context(|| format!("{name} line {i} key"))?;
        let (value_schema, value) = walcast_json::read(bytes(&j["value"]).as_deref(), true)
            .with_context(|| format!("{name} line {i} value"))?;
        out.push(ConnectRecord {
            topic: j["topic"].as_str().unwrap_or_default().to_string(),
            partition: Some(0),
            offset: Some(i as i64),
            timestamp_ms: None,
            key_schema,
            key,
            value_schema,
            value,
            headers: Vec::new(),
        });
    }
    Ok(out)
}

async fn texts(c: &tokio_postgres::Client, sql: &str) -> Result<Vec<Option<String>>> {
    let rows = c.query(sql, &[]).await.with_context(|| sql.to_string())?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Writes fixture `name` and returns the mismatches (`table.column: source vs sink`).
async fn round_trip(name: &str, method: WriteMethod, batch: usize) -> Result<Vec<String>> {
    let pg = Postgres::start().await?;
    let dir = fixture_dir(name);
    pg.psql_file(&dir.join("setup.sql")).await?;
    pg.psql_file(&dir.join("changes.sql")).await?;
    pg.execute("CREATE DATABASE sink").await?;
    let recs: Vec<ConnectRecord> = records(name)?
        .into_iter()
        // Tables without a key cannot be upserted or deleted by key.
        .filter(|r| !r.key.is_null())
        .collect();
    let mut raw = BTreeMap::new();
    raw.insert(
        "connection.url".to_string(),
        format!(
            "jdbc:postgresql://127.0.0.1:{}/sink?sslmode=disable",
            pg.port()
        ),
    );
    for (k, v) in [
        ("connection.username", "postgres"),
        ("insert.mode", "upsert"),
        ("primary.key.mode", "record_key"),
        ("delete.enabled", "true"),
        ("truncate.enabled", "true"),
        ("schema.evolution", "basic"),
        ("quote.identifiers", "true"),
        ("collection.name.format", "${source.schema}_${source.table}"),
    ] {
        raw.insert(k.to_string(), v.to_string());
    }
    let cfg = Arc::new(JdbcSinkConfig::parse(Dialect::Debezium, &raw).unwrap());
    let mut w = PgSinkWriter::new(cfg).with_method(method);
    w.open("fixture")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for chunk in recs.chunks(batch) {
        w.write("fixture", chunk, &[])
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    }
    let src = pg.connect().await?;
    let sink = pg.connect_db("sink").await?;
    let tables = texts(
        &sink,
        "SELECT relname::text FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace AND relname <> 'walcast_offsets' ORDER BY 1",
    )
    .await?;
    anyhow::ensure!(!tables.is_empty(), "{name}: the sink created no table");
    let mut mismatches = Vec::new();
    for t in tables.into_iter().flatten() {
        let (schema, table) = t.split_once('_').unwrap();
        // Fixture tables in schema public whose name has an underscore: find the real split.
        let (schema, table) = {
            let exists = texts(
                &src,
                &format!("SELECT to_regclass('\"{schema}\".\"{table}\"')::text"),
            )
            .await?;
            if exists[0].is_some() {
                (schema.to_string(), table.to_string())
            } else {
                (
                    "public".to_string(),
                    t.trim_start_matches("public_").to_string(),
                )
            }
        };
        let src_t = format!("\"{schema}\".\"{table}\"");
        let sink_t = format!("\"{t}\"");
        let pk = texts(
            &sink,
            &format!(
                "SELECT string_agg(quote_ident(a.attname), ',' ORDER BY a.attnum) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '{sink_t}'::regclass AND i.indisprimary"
            ),
        )
        .await?;
        let pk = pk[0].clone().context("sink table has no primary key")?;
        let cols = sink
            .query(
                &format!("SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{sink_t}'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"),
                &[],
            )
            .await?;
        let n_src = texts(&src, &format!("SELECT count(*)::text FROM {src_t}")).await?;
        let n_sink = texts(&sink, &format!("SELECT count(*)::text FROM {sink_t}")).await?;
        if n_src != n_sink {
            mismatches.push(format!("{t}: {n_src:?} source rows, {n_sink:?} sink rows"));
            continue;
        }
        for c in &cols {
            let col: String = c.get(0);
            let typ: String = c.get(1);
            let q = format!("\"{col}\"");
            let a = texts(
                &src,
                &format!("SELECT {q}::text FROM {src_t} ORDER BY {pk}"),
            )
            .await?;
            let b = texts(
                &sink,
                &format!("SELECT {q}::text FROM {sink_t} ORDER BY {pk}"),
            )
            .await?;
            if a == b {
                continue;
            }
            // Different types printing the same value differently (money and numeric, char(n)
            // and text, inet and text): cast one side to the other's type and compare again.
            let cast = texts(
                &src,
                &format!("SELECT {q}::{typ}::text FROM {src_t} ORDER BY {pk}"),
            )
            .await
            .ok();
            if cast.as_ref() == Some(&b) {
                continue;
            }
            let src_type = texts(
                &src,
                &format!("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{src_t}'::regclass AND attname = '{col}'"),
            )
            .await?;
            let back = match &src_type[..] {
                [Some(st)] => src
                    .query(
                        &format!("SELECT x::{st}::text FROM unnest($1::text[]) WITH ORDINALITY AS u(x, n) ORDER BY n"),
                        &[&b],
                    )
                    .await
                    .ok()
                    .map(|rows| rows.iter().map(|r| r.get::<_, Option<String>>(0)).collect::<Vec<_>>()),
                _ => None,
            };
            if back.as_ref() != Some(&a) {
                mismatches.push(format!("{t}.{col} ({typ}): source {a:?} vs sink {b:?}"));
            }
        }
    }
    Ok(mismatches)
}

/// Columns whose source values Debezium's events do not carry (so no sink can restore them),
/// each with the reason; the test fails if one of these starts to match or another differs.
fn check(name: &str, mismatches: &[String], known: &[(&str, &str)]) {
    let cols: Vec<&str> = mismatches
        .iter()
        .map(|m| m.split(' ').next().unwrap_or_default())
        .collect();
    let expected: Vec<&str> = known.iter().map(|(c, _)| *c).collect();
    assert_eq!(cols, expected, "{name}:\n{}", mismatches.join("\n"));
}

#[tokio::test]
async fn crud_and_toast_round_trip() -> Result<()> {
    for (name, method, batch) in [
        ("crud", WriteMethod::Unnest, 1),
        ("crud", WriteMethod::Copy, 1000),
        ("toast", WriteMethod::Copy, 1),
        ("toast", WriteMethod::Values, 1000),
    ] {
        let m = round_trip(name, method, batch).await?;
        check(name, &m, &[]);
    }
    Ok(())
}

#[tokio::test]
async fn numeric_and_time_types_round_trip() -> Result<()> {
    let m = round_trip("types_numeric", WriteMethod::Unnest, 7).await?;
    let nan = "Debezium sends NaN and ±Infinity numerics as null (precise decimal mode)";
    check(
        "types_numeric",
        &m,
        &[
            (
                "public_numerics.n",
                "NaN as null; VariableScaleDecimal drops trailing zeros",
            ),
            ("public_numerics.n10_2", nan),
            ("public_numerics.n5", nan),
            ("public_numerics.n38_10", nan),
            ("public_numerics.bit1", "Debezium sends bit(1) as boolean"),
            (
                "public_numerics.vbit",
                "Bits bytes lose a varbit's leading zeros",
            ),
            (
                "public_numerics.na",
                "NaN as null; VariableScaleDecimal drops trailing zeros",
            ),
        ],
    );
    let m = round_trip("types_time", WriteMethod::Unnest, 7).await?;
    let micro = "MicroDuration counts microseconds (a month is 30.4375 days)";
    let zoned = "ZonedTime is normalised to UTC, the offset is gone";
    let arrays = "Debezium converts array elements through java.sql types (Julian calendar before 1582, milliseconds, 24:00 as 00:00)";
    check(
        "types_time",
        &m,
        &[
            (
                "public_times.d",
                "Debezium's snapshot loses the era of BC dates",
            ),
            ("public_times.ttz", zoned),
            ("public_times.ttz3", zoned),
            ("public_times.iv", micro),
            ("public_times.ivym", micro),
            ("public_times.iv3", micro),
            (
                "public_times.da",
                "Debezium's snapshot loses the era of BC dates",
            ),
            ("public_times.tsa", arrays),
            ("public_times.tstza", arrays),
            ("public_times.ta", arrays),
        ],
    );
    Ok(())
}

#[tokio::test]
async fn text_and_other_types_round_trip() -> Result<()> {
    let m = round_trip("types_text", WriteMethod::Copy, 5).await?;
    check(
        "types_text",
        &m,
        &[
            (
                "public_texts.nm",
                "Debezium streams columns of type name as null",
            ),
            ("public_texts.x", "Debezium drops the XML declaration"),
        ],
    );
    let m = round_trip("types_other", WriteMethod::Copy, 5).await?;
    let default = "JsonConverter reads a null as the schema's default, as in Kafka Connect";
    check(
        "types_other",
        &m,
        &[
            (
                "public_arrays.ia",
                "Debezium drops an array's lower bound ([0:1]=)",
            ),
            (
                "public_arrays.ea",
                "Debezium sends an enum array with a NULL element as null",
            ),
            (
                "public_arrays.ia2d",
                "Debezium sends multi-dimensional arrays as nulls",
            ),
            ("public_defaults.t", default),
            ("public_defaults.n", default),
            ("public_defaults.d", default),
            (
                "public_defaults.d_now",
                "Debezium's default for now() is the epoch",
            ),
            (
                "public_defaults.ttz",
                "ZonedTime is normalised to UTC, the offset is gone",
            ),
            ("public_defaults.ts", default),
            (
                "public_defaults.ts_now",
                "Debezium's default for now() is the epoch",
            ),
            ("public_defaults.tstz", default),
            (
                "public_defaults.iv",
                "MicroDuration counts microseconds: 1 day 02:00 is 26:00",
            ),
            ("public_defaults.u", default),
            (
                "public_defaults.u_gen",
                "Debezium's default for gen_random_uuid() is the nil uuid",
            ),
            ("public_defaults.e", default),
            ("public_defaults.bit1", "Debezium sends bit(1) as boolean"),
            (
                "public_defaults.p",
                "Debezium sends point as a Geometry struct (jsonb here)",
            ),
            (
                "public_others.p",
                "Debezium sends point as a Geometry struct (jsonb here)",
            ),
        ],
    );
    Ok(())
}
