//! Nothing is lost when walcast is killed: a writer commits transactions continuously while the
//! worker is SIGKILLed at pseudo-random moments and restarted; afterwards every committed insert
//! is in Kafka (duplicates of the unconfirmed window are allowed) and, for every row, the last
//! event in Kafka carries the row's final value (per-key order survives the replays).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use walcast_testkit::{Postgres, Tansu};
use walcast_tests::{pg_connector_config, wait_slot_confirmed_to_end, Worker};

fn pseudo_random_ms(lo: u64, hi: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    lo + (nanos.wrapping_mul(6364136223846793005) >> 33) % (hi - lo)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_nothing() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute(
        "CREATE TABLE items (id bigint PRIMARY KEY, payload text NOT NULL);
         CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL);
         INSERT INTO counters SELECT g, 0 FROM generate_series(1, 20) g;
         INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 500) g;",
    )
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut worker = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    worker
        .create_connector("crash", pg_connector_config(&pg, "crash", "crash_slot"))
        .await
        .unwrap();
    worker
        .wait_state("crash", "RUNNING", Duration::from_secs(30))
        .await
        .unwrap();

    // The writer: small transactions of inserts and counter increments, as fast as it can.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let client = pg.connect().await.unwrap();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut next = 501i64;
            while !stop.load(Ordering::Relaxed) {
                let k = (next % 20) as i32 + 1;
                client
                    .batch_execute(&format!(
                        "BEGIN;
                         INSERT INTO items SELECT g, md5(g::text) FROM generate_series({next}, {}) g;
                         UPDATE counters SET n = n + 1 WHERE id = {k};
                         COMMIT;",
                        next + 9
                    ))
                    .await
                    .unwrap();
                next += 10;
            }
            next - 1
        })
    };

    for round in 0..4 {
        tokio::time::sleep(Duration::from_millis(pseudo_random_ms(300, 1500))).await;
        worker.kill9();
        tokio::time::sleep(Duration::from_millis(pseudo_random_ms(10, 300))).await;
        worker.restart().await.unwrap();
        worker
            .wait_state("crash", "RUNNING", Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let last_id = writer.await.unwrap();

    // Everything committed is confirmed once Kafka has it.
    let client = pg.connect().await.unwrap();
    wait_slot_confirmed_to_end(&client, "crash_slot", Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", worker.log()));

    let bootstrap = tansu.bootstrap();
    let items = walcast_kafka::read_topic_to_end(&bootstrap, "crash.public.items")
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    for r in &items {
        let Some(v) = &r.value else { continue };
        let v: Value = serde_json::from_slice(v).unwrap();
        if let Some(id) = v["payload"]["after"]["id"].as_i64() {
            seen.insert(id);
        }
    }
    let missing: Vec<i64> = (1..=last_id).filter(|i| !seen.contains(i)).collect();
    assert!(
        missing.is_empty(),
        "{} of {last_id} committed rows missing from Kafka, first: {:?}\n{}",
        missing.len(),
        &missing[..missing.len().min(20)],
        worker.log()
    );

    let counters = walcast_kafka::read_topic_to_end(&bootstrap, "crash.public.counters")
        .await
        .unwrap();
    let mut last: BTreeMap<i64, i64> = BTreeMap::new();
    for r in &counters {
        let Some(v) = &r.value else { continue };
        let v: Value = serde_json::from_slice(v).unwrap();
        let after = &v["payload"]["after"];
        if let (Some(id), Some(n)) = (after["id"].as_i64(), after["n"].as_i64()) {
            last.insert(id, n);
        }
    }
    for row in client
        .query("SELECT id::bigint, n::bigint FROM counters", &[])
        .await
        .unwrap()
    {
        let (id, n): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!(
            last.get(&id),
            Some(&n),
            "counter {id}: last event in Kafka is not the final value"
        );
    }
    eprintln!(
        "{} item events for {last_id} rows ({} duplicates from replays)",
        items.len(),
        items.len() as i64 - last_id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_the_snapshot_redoes_it_and_loses_nothing() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute(
        "CREATE TABLE big (id bigint PRIMARY KEY, pad text NOT NULL);
         INSERT INTO big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 100000) g;",
    )
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut worker = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut cfg = pg_connector_config(&pg, "snap", "snap_slot");
    cfg["snapshot.fetch.size"] = serde_json::json!("1000");
    worker.create_connector("snap", cfg).await.unwrap();
    // Kill once part of the snapshot is in Kafka.
    walcast_testkit::eventually(Duration::from_secs(60), "part of the snapshot", || async {
        let n = walcast_kafka::read_topic_to_end(&tansu.bootstrap(), "snap.public.big")
            .await
            .ok()?
            .len();
        (n > 0).then_some(())
    })
    .await
    .unwrap();
    worker.kill9();
    let partial = walcast_kafka::read_topic_to_end(&tansu.bootstrap(), "snap.public.big")
        .await
        .unwrap()
        .len();
    // A change made while walcast is down must arrive too, once.
    pg.execute("INSERT INTO big VALUES (100001, 'after the crash')")
        .await
        .unwrap();
    worker.restart().await.unwrap();
    worker
        .wait_state("snap", "RUNNING", Duration::from_secs(60))
        .await
        .unwrap();
    pg.execute("INSERT INTO big VALUES (100002, 'streamed')")
        .await
        .unwrap();
    // The slot is re-created for the new snapshot, so its position says nothing about the
    // snapshot's progress: wait for the rows themselves.
    let bootstrap = tansu.bootstrap();
    let (records, ids) = walcast_testkit::eventually(
        Duration::from_secs(120),
        "all rows after the restart",
        || async {
            let records = walcast_kafka::read_topic_to_end(&bootstrap, "snap.public.big")
                .await
                .ok()?;
            let ids: BTreeSet<i64> = records
                .iter()
                .filter_map(|r| r.value.as_ref())
                .filter_map(|v| serde_json::from_slice::<Value>(v).ok())
                .filter_map(|v| v["payload"]["after"]["id"].as_i64())
                .collect();
            (ids.len() >= 100002).then_some((records, ids))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", worker.log()));
    assert_eq!(
        ids.len(),
        100002,
        "rows missing after a crash during the snapshot"
    );
    assert!(
        partial < 100000,
        "the kill came after the snapshot ({partial} records)"
    );
    eprintln!(
        "{partial} snapshot records before the kill, {} in all",
        records.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_held_by_another_client_fails_with_the_fix() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    pg.execute("SELECT pg_create_logical_replication_slot('taken', 'pgoutput')")
        .await
        .unwrap();
    pg.execute("CREATE PUBLICATION dbz_publication FOR ALL TABLES")
        .await
        .unwrap();
    // Another client streams from the slot.
    let mut other = std::process::Command::new(
        walcast_testkit::pg_bin_dir()
            .unwrap()
            .join("pg_recvlogical"),
    )
    .args([
        "-h",
        "127.0.0.1",
        "-p",
        &pg.port().to_string(),
        "-U",
        "postgres",
        "-d",
        "postgres",
    ])
    .args(["--slot", "taken", "--start", "-o", "proto_version=1"])
    .args(["-o", "publication_names=dbz_publication", "-f", "/dev/null"])
    .spawn()
    .unwrap();
    walcast_tests::wait_slot_active(&pg, "taken", Duration::from_secs(30))
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let worker = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut cfg = pg_connector_config(&pg, "busy", "taken");
    cfg["snapshot.mode"] = serde_json::json!("no_data");
    worker.create_connector("busy", cfg).await.unwrap();
    let status = worker
        .wait_state("busy", "FAILED", Duration::from_secs(90))
        .await
        .unwrap();
    let _ = other.kill();
    let _ = other.wait();
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains("taken") && trace.contains("in use"),
        "{status}"
    );
}

/// The source PostgreSQL restarted mid-stream, cleanly (`pg_ctl restart -m fast`: the walsender
/// is terminated with 57P01) and as after a crash (`-m immediate`): the task reconnects with
/// backoff and resumes from the slot's confirmed position. Its status never leaves RUNNING and
/// every insert that committed is in Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_postgres_restarts_are_retried_without_loss() {
    // The test kit turns synchronous_commit off for speed; an immediate shutdown then loses
    // commits PostgreSQL already acknowledged, which would be PostgreSQL's loss, not walcast's.
    let mut pg = Postgres::builder()
        .setting("synchronous_commit", "on")
        .start()
        .await
        .unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute("CREATE TABLE r (id bigint PRIMARY KEY)")
        .await
        .unwrap();
    let conn_str = pg.connection_string();
    let work = tempfile::tempdir().unwrap();
    let worker = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut cfg = pg_connector_config(&pg, "rs", "rs_slot");
    cfg["errors.retry.delay.max.ms"] = serde_json::json!("1000");
    worker.create_connector("rs", cfg).await.unwrap();
    worker
        .wait_streaming("rs", Duration::from_secs(30))
        .await
        .unwrap();

    // Watch the status the whole time: any state but RUNNING is a failure of this test.
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let url = worker.url("/connectors/rs/status");
        tokio::spawn(async move {
            let mut seen = BTreeSet::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = reqwest::get(&url).await {
                    if let Ok(v) =
                        serde_json::from_str::<Value>(&r.text().await.unwrap_or_default())
                    {
                        seen.insert(v["tasks"][0]["state"].as_str().unwrap_or("?").to_string());
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seen
        })
    };
    // The writer: one insert per transaction, reconnecting while the server is away; it keeps
    // the ids whose COMMIT succeeded.
    let writer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut committed = BTreeSet::new();
            let mut next = 1i64;
            let mut client: Option<tokio_postgres::Client> = None;
            while !stop.load(Ordering::Relaxed) {
                let c = match client.take() {
                    Some(c) if !c.is_closed() => c,
                    _ => match tokio_postgres::connect(&conn_str, tokio_postgres::NoTls).await {
                        Ok((c, conn)) => {
                            tokio::spawn(conn);
                            c
                        }
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                if c.batch_execute(&format!("INSERT INTO r VALUES ({next})"))
                    .await
                    .is_ok()
                {
                    committed.insert(next);
                }
                // A failed insert may or may not have committed; the next id is new either way.
                next += 1;
                client = Some(c);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            committed
        })
    };

    tokio::time::sleep(Duration::from_secs(2)).await;
    // -m fast.
    pg = pg.restart().await.unwrap();
    worker
        .wait_streaming("rs", Duration::from_secs(60))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // -m immediate: SIGQUIT, no shutdown checkpoint, crash recovery at start.
    pg.kill();
    pg = pg.restart().await.unwrap();
    worker
        .wait_streaming("rs", Duration::from_secs(60))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let committed = writer.await.unwrap();
    let states = watcher.await.unwrap();
    assert!(
        committed.len() > 100,
        "the writer barely wrote: {}",
        committed.len()
    );

    let client = pg.connect().await.unwrap();
    wait_slot_confirmed_to_end(&client, "rs_slot", Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", worker.log()));
    let seen: BTreeSet<i64> = walcast_kafka::read_topic_to_end(&tansu.bootstrap(), "rs.public.r")
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| r.value)
        .map(|v| serde_json::from_slice::<Value>(&v).unwrap())
        .filter_map(|v| v["payload"]["after"]["id"].as_i64())
        .collect();
    let in_table: BTreeSet<i64> = client
        .query("SELECT id FROM r", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        committed.is_subset(&in_table),
        "PostgreSQL lost acknowledged commits (synchronous_commit must be on for this test)"
    );
    let missing: Vec<&i64> = in_table.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "{} committed inserts missing from kafka, first {:?}\n{}",
        missing.len(),
        missing.iter().take(10).collect::<Vec<_>>(),
        worker.log()
    );
    assert_eq!(
        states,
        BTreeSet::from(["RUNNING".to_string()]),
        "the task left RUNNING\n{}",
        worker.log()
    );
    let log = std::fs::read_to_string(work.path().join("walcast.log")).unwrap();
    assert!(
        log.contains("reconnecting and resuming"),
        "no retry was logged\n{}",
        worker.log()
    );
}
