//! Streaming behaviours beyond single changes: big transactions that PostgreSQL streams while
//! in progress (spilled to disk, published only at commit, dropped on abort), a slot whose
//! captured tables are quiet while others are busy (it must keep confirming, so WAL is released),
//! partitioned tables, heartbeats, and the Prometheus metrics.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use walcast_testkit::{Postgres, Tansu};
use walcast_tests::{pg_connector_config, wait_slot_confirmed_to_end, Worker};

const T: Duration = Duration::from_secs(60);

async fn values(bootstrap: &str, topic: &str) -> Vec<Value> {
    walcast_kafka::read_topic_to_end(bootstrap, topic)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| r.value)
        .map(|v| serde_json::from_slice(&v).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_transactions_are_streamed_spilled_and_published_at_commit() {
    // A tiny decoding budget makes PostgreSQL stream transactions while they are in progress.
    let pg = Postgres::builder()
        .setting("logical_decoding_work_mem", "64kB")
        .start()
        .await
        .unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute("CREATE TABLE big (id int PRIMARY KEY, pad text)")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    w.create_connector("big", pg_connector_config(&pg, "big", "big_slot"))
        .await
        .unwrap();
    w.wait_state("big", "RUNNING", T).await.unwrap();
    w.wait_streaming("big", T).await.unwrap();

    // A rolled-back big transaction (with a savepoint) and a committed one with an aborted
    // subtransaction in the middle.
    pg.execute(
        "BEGIN; INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(100001, 120000) g; ROLLBACK;
         BEGIN;
         INSERT INTO big SELECT g, repeat('y', 100) FROM generate_series(1, 10000) g;
         SAVEPOINT s1;
         INSERT INTO big SELECT g, repeat('z', 100) FROM generate_series(200001, 205000) g;
         ROLLBACK TO SAVEPOINT s1;
         INSERT INTO big SELECT g, repeat('y', 100) FROM generate_series(10001, 20000) g;
         COMMIT;",
    )
    .await
    .unwrap();

    let ids = walcast_testkit::eventually(T, "20000 rows in kafka", || async {
        let ids: BTreeSet<i64> = values(&tansu.bootstrap(), "big.public.big")
            .await
            .iter()
            .filter_map(|v| v["payload"]["after"]["id"].as_i64())
            .collect();
        (ids.len() >= 20000).then_some(ids)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", w.log()));
    assert_eq!(ids.len(), 20000);
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(
        ids.last(),
        Some(&20000),
        "rows of the aborted transaction or savepoint leaked"
    );

    // The transaction really was streamed (spilled), not sent at commit.
    let spilled_stats = pg
        .connect()
        .await
        .unwrap()
        .query_one(
            "SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name='big_slot'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert!(
        spilled_stats >= 1,
        "PostgreSQL did not stream the transaction"
    );
    // Nothing is left in the spill directory.
    let spill = work.path().join("state/spill");
    let leftovers: usize = walk(&spill);
    assert_eq!(
        leftovers,
        0,
        "spill files left behind in {}",
        spill.display()
    );
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_slot_keeps_confirming_and_heartbeats_flow() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute(
        "CREATE TABLE captured (id int PRIMARY KEY);
         CREATE TABLE busy (id serial PRIMARY KEY, v text);
         CREATE TABLE parted (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
         CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
         CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
         INSERT INTO parted VALUES (1, 'eu'), (2, 'us');",
    )
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut cfg = pg_connector_config(&pg, "quiet", "quiet_slot");
    cfg["table.include.list"] = json!("public\\.captured,public\\.parted.*");
    cfg["heartbeat.interval.ms"] = json!("200");
    w.create_connector("quiet", cfg).await.unwrap();
    w.wait_state("quiet", "RUNNING", T).await.unwrap();

    // Partitioned table: each row once in the snapshot, under the partition's topic.
    let eu = values(&tansu.bootstrap(), "quiet.public.parted_eu").await;
    let us = values(&tansu.bootstrap(), "quiet.public.parted_us").await;
    let parent = values(&tansu.bootstrap(), "quiet.public.parted").await;
    walcast_testkit::eventually(T, "partition snapshot", || async {
        (values(&tansu.bootstrap(), "quiet.public.parted_eu")
            .await
            .len()
            == 1)
            .then_some(())
    })
    .await
    .unwrap();
    assert!(
        eu.len() <= 1 && us.len() <= 1 && parent.is_empty(),
        "{eu:?} {us:?} {parent:?}"
    );

    // Traffic only on an uncaptured table: the slot must still advance past it.
    let client = pg.connect().await.unwrap();
    for _ in 0..50 {
        client
            .batch_execute(
                "INSERT INTO busy (v) SELECT repeat('b', 200) FROM generate_series(1, 100)",
            )
            .await
            .unwrap();
    }
    wait_slot_confirmed_to_end(&client, "quiet_slot", T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", w.log()));
    assert!(values(&tansu.bootstrap(), "quiet.public.busy")
        .await
        .is_empty());

    // Heartbeats, in Debezium's shape.
    let hb = walcast_testkit::eventually(T, "heartbeat records", || async {
        let r = walcast_kafka::read_topic_to_end(&tansu.bootstrap(), "__debezium-heartbeat.quiet")
            .await
            .ok()?;
        (!r.is_empty()).then_some(r)
    })
    .await
    .unwrap();
    let key: Value = serde_json::from_slice(hb[0].key.as_ref().unwrap()).unwrap();
    assert_eq!(key["payload"]["serverName"], "quiet");
    let value: Value = serde_json::from_slice(hb[0].value.as_ref().unwrap()).unwrap();
    assert!(value["payload"]["ts_ms"].as_i64().unwrap() > 0);

    // Metrics for the connector.
    let text = reqwest::get(w.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for m in [
        "walcast_source_events_total",
        "walcast_source_confirmed_lsn",
        "walcast_source_received_lsn",
        "walcast_source_snapshot_rows_total",
    ] {
        assert!(text.contains(m), "{m} missing from /metrics:\n{text}");
    }
    assert!(text.contains("connector=\"quiet\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_changes_mid_stream_need_no_restart() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute("CREATE TABLE evolving (id int PRIMARY KEY, a text)")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    w.create_connector("ddl", pg_connector_config(&pg, "ddl", "ddl_slot"))
        .await
        .unwrap();
    w.wait_state("ddl", "RUNNING", T).await.unwrap();
    // The snapshot must be over: the slot is active while it still reads, and DDL then would
    // land in the snapshot, not in the stream this test is about.
    w.wait_streaming("ddl", T).await.unwrap();
    pg.execute(
        "INSERT INTO evolving VALUES (1, 'one');
         ALTER TABLE evolving ADD COLUMN b int NOT NULL DEFAULT 7;
         INSERT INTO evolving VALUES (2, 'two', 2);
         ALTER TABLE evolving DROP COLUMN a;
         INSERT INTO evolving VALUES (3, 3);",
    )
    .await
    .unwrap();
    let events = walcast_testkit::eventually(T, "three inserts", || async {
        let v = values(&tansu.bootstrap(), "ddl.public.evolving").await;
        (v.len() >= 3).then_some(v)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", w.log()));
    let after = |i: usize| events[i]["payload"]["after"].clone();
    assert_eq!(after(0), json!({"id": 1, "a": "one"}));
    assert_eq!(after(1), json!({"id": 2, "a": "two", "b": 2}));
    assert_eq!(after(2), json!({"id": 3, "b": 3}));
    let fields = |i: usize| -> Vec<String> {
        events[i]["schema"]["fields"][1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(fields(1), ["id", "a", "b"]);
    assert_eq!(fields(2), ["id", "b"]);
    let (_, status) = w.get("/connectors/ddl/status").await.unwrap();
    assert_eq!(status["tasks"][0]["state"], "RUNNING");
}

/// DDL while the snapshot reads, as happens in production: a column dropped from a table the
/// snapshot has not reached yet, and a column added to the table it is reading. The connector
/// must stay RUNNING (never FAILED), every row must arrive, the table not yet read is read with
/// its current columns, and the table being read keeps its definition until the snapshot ends
/// (the ALTER waits for the snapshot's lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_during_a_large_snapshot_neither_fails_nor_loses_rows() {
    const BIG: i64 = 60_000;
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute(&format!(
        "CREATE TABLE a_big (id bigint PRIMARY KEY, pad text NOT NULL);
         INSERT INTO a_big SELECT g, repeat('p', 100) FROM generate_series(1, {BIG}) g;
         CREATE TABLE b_later (id int PRIMARY KEY, a text, b int);
         INSERT INTO b_later SELECT g, 'a' || g, g FROM generate_series(1, 500) g;"
    ))
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut cfg = pg_connector_config(&pg, "snapddl", "snapddl_slot");
    // Small batches and buffer: the snapshot paces itself on Kafka and takes a while.
    cfg["snapshot.fetch.size"] = json!("512");
    cfg["walcast.max.buffered.bytes"] = json!("1048576");
    cfg["producer.override.compression.type"] = json!("none");
    w.create_connector("snapddl", cfg).await.unwrap();

    // Wait until the snapshot is reading a_big.
    walcast_testkit::eventually(T, "snapshot reading", || async {
        let n = w
            .metric("walcast_source_snapshot_rows_total", "snapddl")
            .await
            .ok()??;
        (n > 0.0).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", w.log()));
    let rows_at_ddl = w
        .metric("walcast_source_snapshot_rows_total", "snapddl")
        .await
        .unwrap()
        .unwrap();
    // b_later is not locked yet: this commits at once.
    pg.execute("ALTER TABLE b_later DROP COLUMN b")
        .await
        .unwrap();
    // a_big is being read: this waits for the snapshot; then a row with the new column.
    let alter = {
        let client = pg.connect().await.unwrap();
        tokio::spawn(async move {
            client
                .batch_execute(&format!(
                    "ALTER TABLE a_big ADD COLUMN extra int NOT NULL DEFAULT 5;
                     INSERT INTO a_big VALUES ({}, 'new', 6);",
                    BIG + 1
                ))
                .await
        })
    };
    assert!(
        rows_at_ddl < (BIG as f64),
        "the snapshot ended before the DDL ({rows_at_ddl} rows read); make the table bigger"
    );

    // Watch the status until everything arrived: never FAILED.
    let big =
        walcast_testkit::eventually(Duration::from_secs(180), "all rows in kafka", || async {
            let (_, status) = w.get("/connectors/snapddl/status").await.ok()?;
            assert_ne!(
                status["tasks"][0]["state"],
                "FAILED",
                "{status}\n{}",
                w.log()
            );
            let big = values(&tansu.bootstrap(), "snapddl.public.a_big").await;
            (big.len() as i64 > BIG).then_some(big)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", w.log()));
    alter.await.unwrap().unwrap();

    let ids: BTreeSet<i64> = big
        .iter()
        .filter(|v| v["payload"]["op"] == "r")
        .map(|v| v["payload"]["after"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len() as i64, BIG, "snapshot rows of a_big missing");
    assert!(
        big.iter()
            .filter(|v| v["payload"]["op"] == "r")
            .all(|v| v["payload"]["after"].get("extra").is_none()),
        "a_big changed under the snapshot"
    );
    let created: Vec<&Value> = big.iter().filter(|v| v["payload"]["op"] == "c").collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(
        created[0]["payload"]["after"],
        json!({"id": BIG + 1, "pad": "new", "extra": 6})
    );

    let later = walcast_testkit::eventually(T, "b_later rows", || async {
        let v = values(&tansu.bootstrap(), "snapddl.public.b_later").await;
        (v.len() >= 500).then_some(v)
    })
    .await
    .unwrap();
    assert_eq!(later.len(), 500);
    assert!(
        later.iter().all(|v| v["payload"]["op"] == "r"
            && v["payload"]["after"].get("b").is_none()
            && v["payload"]["after"]["a"].is_string()),
        "b_later must be read with its columns after the DROP: {}",
        later[0]
    );
    w.wait_streaming("snapddl", T).await.unwrap();
    let (_, status) = w.get("/connectors/snapddl/status").await.unwrap();
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
}
