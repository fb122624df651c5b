//! Snapshot reads against a real PostgreSQL: rows as of an exported snapshot, in bounded
//! batches, with values byte-for-byte identical to what pgoutput streams for the same rows.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use anyhow::Result;
use common::*;
use walcast_pgoutput::*;
use walcast_pgwire::*;
use walcast_testkit::Postgres;

const TRICKY: &str = r#"
CREATE TYPE mood AS ENUM ('ok', 'tab	bed');
CREATE TABLE tricky (
    id int PRIMARY KEY,
    t text,
    arr text[],
    j jsonb,
    js json,
    b bytea,
    ts timestamptz,
    tsn timestamp,
    d date,
    n numeric(12,4),
    f float8,
    r real,
    iv interval,
    m mood,
    ok boolean
);
INSERT INTO tricky VALUES
  (1, E'tab\there\nnewline\r\\backslash', ARRAY['a,b', 'c"d', NULL, E'e\\f', ''], '{"a": "tab\there", "b": [1, 2.5, null]}',
   '{"raw" :  "kept\nas typed"}', '\x00ff5c0a09', '2024-02-29 23:59:59.123456+05:30', '1999-12-31 23:59:59', '2024-01-01',
   12345678.1234, 0.1, 1.1, '1 year 2 mons 3 days 04:05:06.789', 'tab	bed', true),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (3, 'unicode: héllo ✓ 😀 中文', '{}', '[]', 'null', '', 'infinity', '-infinity', 'epoch', 'NaN', '-0', 'Infinity', '-1 day', 'ok', false),
  (4, E'\\N', ARRAY[E'back\\slash', E'new\nline', 'NULL'], '"just a string"', '1e3', E'\\x5c4e', '1970-01-01 00:00:00+00', '2000-01-01', '0001-01-01 BC',
   -0.0001, 1e300, 3.4e38, '00:00:00', 'ok', NULL),
  (5, E'ctl\x01\x08\x0b\x0c\x7f chars', ARRAY[E'tab\tin array'], '{"nested": {"q": "\"quoted\""}}', '[1,2]', '\x', now(), now()::timestamp, now()::date,
   0, 1.7976931348623157e308, 1.17549435e-38, '-178000000 years', 'ok', true),
  (6, '', ARRAY[ARRAY['x']], '{}', '{}', NULL, NULL, NULL, NULL, NULL, 'NaN', '-Infinity', NULL, NULL, NULL);
"#;

#[tokio::test]
async fn snapshot_values_match_pgoutput_exactly() -> Result<()> {
    let pg = Postgres::start().await?;
    pg.execute("CREATE PUBLICATION pub FOR ALL TABLES").await?;
    let mut stream_conn = ReplicationConnection::connect(&config(&pg)).await?;
    stream_conn
        .create_slot("stream", false, SnapshotAction::NoExport)
        .await?;
    pg.execute(TRICKY).await?;

    // The same rows, once as pgoutput streams them...
    let mut stream = stream_conn
        .start_replication(
            "stream",
            Lsn::INVALID,
            &[
                ("proto_version", "1".into()),
                ("publication_names", "pub".into()),
            ],
        )
        .await?;
    let mut d = Decoder::new();
    let msgs = collect_until(&mut stream, &mut d, Duration::from_secs(30), |m| {
        matches!(m, Message::Commit(_))
    })
    .await?;
    let streamed: Vec<Vec<TupleValue>> = msgs
        .into_iter()
        .filter_map(|(_, m)| match m {
            Message::Insert(i) => Some(i.new),
            _ => None,
        })
        .collect();
    assert_eq!(streamed.len(), 6);

    // ...and once read from an exported snapshot, with a client that has none of walcast's
    // session settings (begin_snapshot must pin them).
    let mut snap_conn = ReplicationConnection::connect(&config(&pg)).await?;
    let slot = snap_conn
        .create_slot("snap", true, SnapshotAction::Export)
        .await?;
    let (client, conn) = tokio_postgres::connect(
        &format!("{} options='-c DateStyle=German -c TimeZone=America/New_York -c extra_float_digits=0 -c IntervalStyle=sql_standard -c bytea_output=escape'", pg.connection_string()),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(conn);
    let schema = load_table_schema_by_name(&client, &TableId::new("public", "tricky")).await?;
    begin_snapshot(&client, slot.snapshot_name.as_deref().unwrap()).await?;
    let mut rows = read_table(&client, &schema, 4, usize::MAX).await?;
    let mut batches = Vec::new();
    while let Some(batch) = rows.next_batch().await? {
        batches.push(batch);
    }
    end_snapshot(&client).await?;
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 2]);
    let mut snap: Vec<Vec<TupleValue>> = batches.into_iter().flatten().collect();
    snap.sort_by_key(|r| text(&r[0]).unwrap().parse::<i32>().unwrap());
    for (s, p) in snap.iter().zip(&streamed) {
        assert_eq!(
            s,
            p,
            "snapshot row {:?} differs from pgoutput row {:?}",
            texts(s),
            texts(p)
        );
    }
    // Spot checks that the tricky parts really were tricky.
    assert_eq!(text(&snap[0][1]), Some("tab\there\nnewline\r\\backslash"));
    assert_eq!(text(&snap[0][2]), Some(r#"{"a,b","c\"d",NULL,"e\\f",""}"#));
    assert_eq!(text(&snap[0][5]), Some(r"\x00ff5c0a09"));
    assert_eq!(text(&snap[0][6]), Some("2024-02-29 18:29:59.123456+00"));
    assert_eq!(text(&snap[0][10]), Some("0.1"));
    assert!(snap[1][1..].iter().all(TupleValue::is_null));
    assert_eq!(text(&snap[2][1]), Some("unicode: héllo ✓ 😀 中文"));
    assert_eq!(text(&snap[3][1]), Some("\\N"));
    assert_eq!(text(&snap[4][1]), Some("ctl\x01\x08\x0b\x0c\x7f chars"));
    Ok(())
}

#[tokio::test]
async fn snapshot_sees_only_rows_before_the_slot_and_streams_big_tables_in_batches() -> Result<()> {
    let pg = Postgres::start().await?;
    pg.execute(
        r#"CREATE SCHEMA "Sch";
           CREATE TABLE "Sch"."Big ""T""" (id int PRIMARY KEY, pad text, gen int GENERATED ALWAYS AS (id * 2) STORED);
           INSERT INTO "Sch"."Big ""T""" (id, pad) SELECT i, repeat(md5(i::text), 20) FROM generate_series(1, 20000) i;
           ANALYZE "Sch"."Big ""T""";"#,
    )
    .await?;
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    let slot = conn.create_slot("s", false, SnapshotAction::Export).await?;
    pg.execute(r#"INSERT INTO "Sch"."Big ""T""" (id, pad) VALUES (20001, 'after'); DELETE FROM "Sch"."Big ""T""" WHERE id = 1;"#).await?;

    let client = connect_client(&config(&pg).with_sslmode(SslMode::Disable)).await?;
    let id = TableId::new("Sch", "Big \"T\"");
    let estimate = estimate_rows(&client, &id).await?.unwrap();
    assert!((19_000..=21_000).contains(&estimate), "{estimate}");
    let schema = load_table_schema_by_name(&client, &id).await?;
    assert_eq!(
        schema.columns.len(),
        2,
        "generated columns are not published"
    );
    begin_snapshot(&client, slot.snapshot_name.as_deref().unwrap()).await?;
    let mut rows = read_table(&client, &schema, 1000, usize::MAX).await?;
    let mut count = 0;
    let mut ids = Vec::new();
    while let Some(batch) = rows.next_batch().await? {
        assert!(!batch.is_empty() && batch.len() <= 1000);
        for r in &batch {
            assert_eq!(r.len(), 2);
            assert_eq!(r[1].as_text().unwrap().len(), 640);
            ids.push(text(&r[0]).unwrap().parse::<i32>().unwrap());
        }
        count += batch.len();
    }
    end_snapshot(&client).await?;
    assert_eq!(count, 20000);
    ids.sort();
    assert_eq!(
        ids.first(),
        Some(&1),
        "the delete after the slot is not visible"
    );
    assert_eq!(
        ids.last(),
        Some(&20000),
        "the insert after the slot is not visible"
    );

    // The snapshot is only valid until the next command on the replication connection.
    conn.identify_system().await?;
    let err = begin_snapshot(&client, slot.snapshot_name.as_deref().unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("snapshot"), "{err}");
    Ok(())
}

#[tokio::test]
async fn estimate_is_none_before_analyze_and_missing_table_is_named() -> Result<()> {
    let pg = Postgres::start().await?;
    pg.execute("CREATE TABLE fresh (id int)").await?;
    let client = pg.connect().await?;
    assert_eq!(
        estimate_rows(&client, &TableId::new("public", "fresh")).await?,
        None
    );
    let err = estimate_rows(&client, &TableId::new("public", "nope"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("public.nope"), "{err}");
    Ok(())
}

#[tokio::test]
async fn partitioned_tables_are_estimated_and_read() -> Result<()> {
    let pg = Postgres::start().await?;
    pg.execute(
        "CREATE TABLE p (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
         CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);
         CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (100) TO (200);
         INSERT INTO p SELECT i, 'v' || i FROM generate_series(0, 199) i;
         ANALYZE p1; ANALYZE p2;",
    )
    .await?;
    let client = pg.connect().await?;
    let id = TableId::new("public", "p");
    assert_eq!(estimate_rows(&client, &id).await?, Some(200));
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    let slot = conn.create_slot("s", true, SnapshotAction::Export).await?;
    let schema = load_table_schema_by_name(&client, &id).await?;
    begin_snapshot(&client, slot.snapshot_name.as_deref().unwrap()).await?;
    let mut rows = read_table(&client, &schema, 64, usize::MAX).await?;
    let mut n = 0;
    while let Some(b) = rows.next_batch().await? {
        n += b.len();
    }
    end_snapshot(&client).await?;
    assert_eq!(n, 200);
    Ok(())
}
