//! Faults beyond kill -9 (issue 7), against real PostgreSQL and tansu with the `walcast` binary:
//! corrupted state files, a broker that stalls (SIGSTOP) or goes away and comes back, memory
//! while the broker is down, and a full disk under the spill directory.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use walcast_testkit::{Postgres, Tansu};
use walcast_tests::{
    eventually_ok, parse_lsn, pg_connector_config, slot_confirmed_lsn, wait_slot_confirmed_to_end,
    Worker,
};

const T: Duration = Duration::from_secs(60);

/// Every record value of a topic, parsed (tombstones left out).
async fn values(bootstrap: &str, topic: &str) -> Vec<Value> {
    walcast_kafka::read_topic_to_end(bootstrap, topic)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|r| r.value)
        .map(|v| serde_json::from_slice(&v).unwrap())
        .collect()
}

/// `payload.after.<field>` of each value, as i64.
fn after_field(values: &[Value], field: &str) -> Vec<i64> {
    values
        .iter()
        .filter_map(|v| v["payload"]["after"][field].as_i64())
        .collect()
}

/// The WAL insert position (`pg_current_wal_lsn` is the write position, which lags behind
/// commits when `synchronous_commit` is off, as in the test kit).
async fn current_wal_lsn(client: &tokio_postgres::Client) -> u64 {
    let s: String = client
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .await
        .unwrap()
        .get(0);
    parse_lsn(&s).unwrap()
}

/// Resident set size of a process in KiB, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Polls a connector's task state in the background and collects every state it reports.
fn watch_states(
    worker: &Worker,
    connector: &str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<BTreeSet<String>> {
    let url = worker.url(&format!("/connectors/{connector}/status"));
    tokio::spawn(async move {
        let mut seen = BTreeSet::new();
        while !stop.load(Ordering::Relaxed) {
            if let Ok(r) = reqwest::get(&url).await {
                if let Ok(v) = serde_json::from_str::<Value>(&r.text().await.unwrap_or_default()) {
                    seen.insert(v["tasks"][0]["state"].as_str().unwrap_or("?").to_string());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen
    })
}

fn full_log(work: &Path) -> String {
    std::fs::read_to_string(work.join("walcast.log")).unwrap_or_default()
}

/// A corrupted or truncated state file is refused with an error naming the file and what to do;
/// walcast never starts over silently. (a) The worker's `connectors.json` truncated or emptied:
/// the worker exits at startup and leaves the file as it was. (b) The source's own state
/// (`source/<connector>.json`) garbled: the task fails naming the file, without a new snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_state_files_are_refused_naming_the_file() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute(
        "CREATE TABLE t (id int PRIMARY KEY);
         INSERT INTO t SELECT generate_series(1, 10);",
    )
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut worker = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    worker
        .create_connector("st", pg_connector_config(&pg, "st", "st_slot"))
        .await
        .unwrap();
    worker.wait_streaming("st", T).await.unwrap();
    let bootstrap = tansu.bootstrap();
    let state = work.path().join("state");
    let connectors = state.join("connectors.json");
    let source = state.join("source").join("st.json");
    walcast_testkit::eventually(T, "the source's state file", || async {
        source.is_file().then_some(())
    })
    .await
    .unwrap();
    assert_eq!(worker.terminate(), Some(0), "{}", worker.log());
    let snapshot_records = values(&bootstrap, "st.public.t").await.len();
    assert_eq!(snapshot_records, 10);
    let good = std::fs::read(&connectors).unwrap();

    // (a) The worker's state, truncated halfway, then empty.
    for (what, bytes) in [
        ("truncated", &good[..good.len() / 2]),
        ("empty", &good[..0]),
    ] {
        std::fs::write(&connectors, bytes).unwrap();
        let err = worker.restart().await.expect_err(what).to_string();
        assert!(
            err.contains(&connectors.display().to_string())
                && err.contains("corrupt")
                && err.contains("fix or remove it"),
            "{what} connectors.json: the error does not name the file and the fix:\n{err}"
        );
        assert_eq!(
            std::fs::read(&connectors).unwrap(),
            bytes,
            "{what} connectors.json was rewritten"
        );
    }

    // (b) The source's state garbled: the task fails naming the file; no new snapshot.
    std::fs::write(&connectors, &good).unwrap();
    let source_good = std::fs::read(&source).unwrap();
    std::fs::write(&source, &source_good[..source_good.len() / 3]).unwrap();
    worker.restart().await.unwrap();
    let status = worker.wait_state("st", "FAILED", T).await.unwrap();
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains(&source.display().to_string()) && trace.contains("delete it"),
        "the trace does not name the source state file and the fix: {status}"
    );
    assert_eq!(
        values(&bootstrap, "st.public.t").await.len(),
        snapshot_records,
        "the source started over with a new snapshot"
    );
    assert_eq!(
        std::fs::read(&source).unwrap(),
        &source_good[..source_good.len() / 3],
        "the garbled source state was rewritten"
    );
    eprintln!("trace: {}", trace.lines().next().unwrap_or_default());
}

/// The broker SIGSTOPped for 15 s mid-stream (a network stall: connections stay open, nothing
/// answers), then SIGCONT: produce requests time out and are retried; the task never fails,
/// every committed change arrives afterwards, per key in commit order (a retried batch may
/// repeat records that were already written, never put an older version after a newer one), and
/// nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_stall_is_retried_without_loss_or_reordering() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute(
        "CREATE TABLE kv (id int PRIMARY KEY, n bigint NOT NULL);
         INSERT INTO kv SELECT g, 0 FROM generate_series(1, 20) g;",
    )
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let worker = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut cfg = pg_connector_config(&pg, "stall", "stall_slot");
    cfg["producer.override.request.timeout.ms"] = json!("2000");
    cfg["errors.retry.delay.max.ms"] = json!("1000");
    cfg["status.update.interval.ms"] = json!("500");
    worker.create_connector("stall", cfg).await.unwrap();
    worker.wait_streaming("stall", T).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_states(&worker, "stall", stop.clone());
    // The writer: one increment per transaction, round robin over the keys.
    let writer = {
        let client = pg.connect().await.unwrap();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let k = i % 20 + 1;
                client
                    .batch_execute(&format!("UPDATE kv SET n = n + 1 WHERE id = {k}"))
                    .await
                    .unwrap();
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            i
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = tansu.pid().unwrap() as i32;
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    let stalled = Instant::now();
    tokio::time::sleep(Duration::from_secs(15)).await;
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGCONT);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let client = pg.connect().await.unwrap();
    let at_resume = worker.get("/connectors/stall/status").await.unwrap().1;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let updates = writer.await.unwrap();
    wait_slot_confirmed_to_end(&client, "stall_slot", T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", worker.log()));
    let states = watcher.await.unwrap();
    eprintln!(
        "{updates} updates, stall of {:?}; status after SIGCONT: {}",
        stalled.elapsed(),
        at_resume["tasks"][0]["state"]
    );

    let finals: BTreeMap<i64, i64> = client
        .query("SELECT id::bigint, n FROM kv", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let records = values(&tansu.bootstrap(), "stall.public.kv").await;
    let mut per_key: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for v in &records {
        let after = &v["payload"]["after"];
        if let (Some(id), Some(n)) = (after["id"].as_i64(), after["n"].as_i64()) {
            per_key.entry(id).or_default().push(n);
        }
    }
    let mut duplicates = 0;
    for (id, last) in &finals {
        let seq = per_key.get(id).cloned().unwrap_or_default();
        // First occurrences, in the order Kafka has them: replays of a retried batch repeat
        // values already seen; anything else out of order is a reordering.
        let mut seen = BTreeSet::new();
        let firsts: Vec<i64> = seq.iter().copied().filter(|n| seen.insert(*n)).collect();
        duplicates += seq.len() - firsts.len();
        // 0 is the snapshot's version.
        let expected: Vec<i64> = (0..=*last).collect();
        if firsts != expected {
            let at = firsts
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(firsts.len().min(expected.len()));
            let lo = at.saturating_sub(5);
            panic!(
                "key {id}: versions in Kafka are missing or out of order from index {at}: Kafka has {:?}, expected {:?} (final {last}, {} records for the key)\n{}",
                &firsts[lo.min(firsts.len())..(at + 5).min(firsts.len())],
                &expected[lo.min(expected.len())..(at + 5).min(expected.len())],
                seq.len(),
                worker.log()
            );
        }
        assert_eq!(
            seq.last(),
            Some(last),
            "key {id}: the last record is not the final value"
        );
    }
    assert_eq!(
        states,
        BTreeSet::from(["RUNNING".to_string()]),
        "the task left RUNNING during the stall\n{}",
        worker.log()
    );
    assert_eq!(at_resume["tasks"][0]["state"], "RUNNING");
    let log = full_log(work.path());
    assert!(!log.contains("panicked"), "walcast panicked:\n{log}");
    eprintln!(
        "{} records, {duplicates} duplicates from retries",
        records.len()
    );
}

/// The broker stopped mid-stream and started again on the same port. tansu's memory engine
/// keeps nothing across a restart (topics and records written before it are gone, which is
/// tansu's loss, not walcast's), so this shows the reconnect and the slot's safety, not
/// durability across the restart: while the broker is down the slot is never confirmed past
/// data Kafka has not acknowledged, memory stays flat while 100,000 commits on an uncaptured
/// table stream by (their positions coalesce instead of queueing one entry each), and once the
/// broker is back the task is still RUNNING, the changes committed during the outage and after
/// it arrive, and the slot catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_reconnects_and_memory_stays_flat_while_it_is_down() {
    let pg = Postgres::start().await.unwrap();
    let mut tansu = Tansu::start().await.unwrap();
    pg.execute(
        "CREATE TABLE cap (id bigint PRIMARY KEY);
         CREATE TABLE uncap (id bigserial PRIMARY KEY, v int NOT NULL);",
    )
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let worker = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut cfg = pg_connector_config(&pg, "down", "down_slot");
    cfg["table.include.list"] = json!("public.cap");
    cfg["producer.override.request.timeout.ms"] = json!("2000");
    cfg["errors.retry.delay.max.ms"] = json!("1000");
    cfg["status.update.interval.ms"] = json!("200");
    worker.create_connector("down", cfg).await.unwrap();
    worker.wait_streaming("down", T).await.unwrap();
    let client = pg.connect().await.unwrap();
    let bootstrap = tansu.bootstrap();
    let uncaptured = |n: u32| {
        format!("DO $$ BEGIN FOR i IN 1..{n} LOOP INSERT INTO uncap (v) VALUES (i); COMMIT; END LOOP; END $$")
    };
    // Warm up with the broker there, so allocator pools and buffers are at their working size.
    client
        .batch_execute("INSERT INTO cap SELECT generate_series(1, 100)")
        .await
        .unwrap();
    client.batch_execute(&uncaptured(20_000)).await.unwrap();
    wait_slot_confirmed_to_end(&client, "down_slot", T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", worker.log()));
    assert_eq!(
        after_field(&values(&bootstrap, "down.public.cap").await, "id").len(),
        100
    );

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_states(&worker, "down", stop.clone());
    let pid = worker.pid().unwrap();
    tansu.stop();
    client
        .batch_execute("INSERT INTO cap SELECT generate_series(101, 200)")
        .await
        .unwrap();
    // The end of the unacknowledged transaction's commit record. PostgreSQL replays every
    // transaction whose commit record starts at or after the slot's confirmed_flush_lsn, so the
    // slot must stay below this; a keepalive position inside the transaction is harmless.
    let unacked_end = current_wal_lsn(&client).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let confirmed = slot_confirmed_lsn(&client, "down_slot").await.unwrap();
    assert!(
        confirmed < unacked_end,
        "with the broker down, the slot was confirmed at {confirmed:X}, past the unacknowledged transaction ending at {unacked_end:X}\n{}",
        worker.log()
    );
    let rss_before = rss_kib(pid);
    let started = Instant::now();
    client.batch_execute(&uncaptured(100_000)).await.unwrap();
    let end = current_wal_lsn(&client).await;
    // Wait until walcast has read all of it.
    eventually_ok(T, "walcast to read the uncaptured commits", || async {
        let got = worker.metric("walcast_source_received_lsn", "down").await?;
        anyhow::ensure!(got.unwrap_or(0.0) >= end as f64, "received {got:?} < {end}");
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", worker.log()));
    let rss_after = rss_kib(pid);
    eprintln!(
        "100,000 uncaptured commits with the broker down in {:?}: RSS {rss_before} KiB -> {rss_after} KiB",
        started.elapsed()
    );
    // Status updates go out every 200 ms; give them time to carry anything they should not.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let confirmed = slot_confirmed_lsn(&client, "down_slot").await.unwrap();
    assert!(
        confirmed < unacked_end,
        "after 100,000 uncaptured commits the slot was confirmed at {confirmed:X}, past the unacknowledged transaction ending at {unacked_end:X}\n{}",
        worker.log()
    );
    assert!(
        rss_after <= rss_before + 4 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB over 100,000 uncaptured commits while the broker was down"
    );

    tansu.start_again().await.unwrap();
    client
        .batch_execute("INSERT INTO cap SELECT generate_series(201, 300)")
        .await
        .unwrap();
    let ids: BTreeSet<i64> =
        walcast_testkit::eventually(T, "rows 101..300 after the restart", || async {
            let ids: BTreeSet<i64> =
                after_field(&values(&bootstrap, "down.public.cap").await, "id")
                    .into_iter()
                    .collect();
            (101..=300).all(|i| ids.contains(&i)).then_some(ids)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", worker.log()));
    wait_slot_confirmed_to_end(&client, "down_slot", T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", worker.log()));
    let status = worker.wait_state("down", "RUNNING", T).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let states = watcher.await.unwrap();
    assert!(
        !states.contains("FAILED"),
        "the task failed while the broker was away: {states:?} {status}\n{}",
        worker.log()
    );
    eprintln!(
        "{} of rows 1..100 (acknowledged before tansu's restart) are in the topic now",
        ids.iter().filter(|i| **i <= 100).count()
    );
    let log = full_log(work.path());
    assert!(!log.contains("panicked"), "walcast panicked:\n{log}");
    eprintln!("states during the outage: {states:?}");
}

/// Unmounts the spill directory's tmpfs when the test ends, however it ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A streamed transaction bigger than the free space under the spill directory (a 1 MiB tmpfs):
/// the task fails with a message naming the spill file and the disk problem, nothing of the
/// transaction is published and the slot is not confirmed past it; with space again, a
/// restart publishes it whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_spill_disk_fails_the_task_without_confirming_the_transaction() {
    let pg = Postgres::builder()
        .setting("logical_decoding_work_mem", "64kB")
        .start()
        .await
        .unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute(
        "CREATE TABLE big (id int PRIMARY KEY, pad text NOT NULL);
         INSERT INTO big SELECT g, 'small' FROM generate_series(1, 10) g;",
    )
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let spill = work.path().join("state").join("spill");
    std::fs::create_dir_all(&spill).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&spill)
        .output()
        .unwrap();
    if !mounted.status.success() {
        eprintln!(
            "SKIPPED: cannot mount a 1 MiB tmpfs on the spill directory (needs root): {}",
            String::from_utf8_lossy(&mounted.stderr).trim()
        );
        return;
    }
    let _mount = Mount(spill.clone());
    let worker = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut cfg = pg_connector_config(&pg, "sp", "sp_slot");
    cfg["errors.retry.timeout"] = json!("5000");
    cfg["errors.retry.delay.max.ms"] = json!("500");
    cfg["status.update.interval.ms"] = json!("200");
    worker.create_connector("sp", cfg).await.unwrap();
    worker.wait_streaming("sp", T).await.unwrap();
    let client = pg.connect().await.unwrap();
    wait_slot_confirmed_to_end(&client, "sp_slot", T)
        .await
        .unwrap();
    let bootstrap = tansu.bootstrap();
    assert_eq!(values(&bootstrap, "sp.public.big").await.len(), 10);

    // About 5 MB of changes in one transaction; PostgreSQL streams it past 64 kB.
    client
        .batch_execute(
            "INSERT INTO big SELECT g, repeat('x', 150) FROM generate_series(11, 30010) g",
        )
        .await
        .unwrap();
    // The end of its commit record: PostgreSQL replays a transaction whose commit record starts
    // at or after the slot's confirmed_flush_lsn, so the slot must stay below this.
    let tx_end = current_wal_lsn(&client).await;
    let status = worker.wait_state("sp", "FAILED", T).await.unwrap();
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains("spill file")
            && trace.contains(&spill.join("sp").display().to_string())
            && trace.contains(".spill")
            && trace.contains("No space left on device"),
        "the trace does not name the spill file and the full disk: {status}"
    );
    let confirmed = slot_confirmed_lsn(&client, "sp_slot").await.unwrap();
    assert!(
        confirmed < tx_end,
        "slot confirmed at {confirmed:X}, past the unpublished transaction ending at {tx_end:X}"
    );
    assert_eq!(
        values(&bootstrap, "sp.public.big").await.len(),
        10,
        "part of the transaction was published"
    );
    eprintln!("trace: {}", trace.lines().next().unwrap_or_default());

    // Space again: the transaction is streamed anew and published whole.
    let grown = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&spill)
        .status()
        .unwrap();
    assert!(grown.success());
    let (code, body) = worker
        .send("POST", "/connectors/sp/restart?includeTasks=true", None)
        .await
        .unwrap();
    assert!(code < 300, "restart: {code} {body}");
    let ids: BTreeSet<i64> = walcast_testkit::eventually(T, "30,010 rows", || async {
        let ids: BTreeSet<i64> = after_field(&values(&bootstrap, "sp.public.big").await, "id")
            .into_iter()
            .collect();
        (ids.len() >= 30_010).then_some(ids)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", worker.log()));
    assert_eq!(ids.len(), 30_010);
    wait_slot_confirmed_to_end(&client, "sp_slot", T)
        .await
        .unwrap();
}
