//! Conformance with real Debezium: every fixture under `tests/fixtures/` (SQL plus what
//! Debezium 3.6.3 emitted for it, captured with the reference tool) is replayed through the real
//! `walcast` binary — snapshot of `setup.sql`, then streaming of `changes.sql` — into a real
//! broker, and every record is compared with Debezium's, per topic and in order. Only the fields
//! that must differ are ignored (timestamps, source.version, LSNs, txId, sequence, xmin). Where a
//! fixture has `expected.corrected.jsonl`, Debezium was wrong and that file holds the right
//! events (its NOTES.md says why).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde_json::Value;
use walcast_testkit::{Postgres, Tansu};
use walcast_tests::conformance::{compare_events, event_op, load_all, Fixture};
use walcast_tests::{pg_connector_config, Worker};

fn by_topic(events: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in events {
        m.entry(e["topic"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(e.clone());
    }
    m
}

fn parse_json_bytes(b: &Option<bytes::Bytes>) -> Value {
    match b {
        None => Value::Null,
        Some(b) => serde_json::from_slice(b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned())),
    }
}

async fn read_actual(bootstrap: &str, topics: &[String]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for t in topics {
        let records = match walcast_kafka::read_topic_to_end(bootstrap, t).await {
            Ok(r) => r,
            Err(e) if e.to_string().to_lowercase().contains("unknown") => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        for r in records {
            out.push(serde_json::json!({
                "topic": t,
                "key": parse_json_bytes(&r.key),
                "value": parse_json_bytes(&r.value),
            }));
        }
    }
    Ok(out)
}

/// How many of the records are snapshot reads (op `r`).
fn snapshot_count(events: &[Value]) -> usize {
    events.iter().filter(|e| event_op(e) == Some("r")).count()
}

async fn run_fixture(fixture: &Fixture) -> Result<()> {
    let name = &fixture.name;
    let dir = &fixture.dir;
    let expected = &fixture.expected;
    let expected_topics: Vec<String> = by_topic(expected).keys().cloned().collect();
    let expected_snap = fixture.snapshot_events().len();
    let expected_total = expected.len();

    let pg = Postgres::start().await?;
    let tansu = Tansu::start().await?;
    // Run like the reference tool does: psql -f, statement by statement.
    pg.psql_file(&dir.join("setup.sql")).await?;
    pg.execute("CREATE PUBLICATION dbz_publication FOR ALL TABLES")
        .await?;

    let work = tempfile::tempdir()?;
    let worker = Worker::start(&tansu.bootstrap(), work.path()).await?;
    // The reference tool's connector configuration, plus the fixture's properties.
    let mut config = pg_connector_config(&pg, "dbserver1", "reference_slot");
    for (k, v) in [
        ("publication.name", "dbz_publication"),
        ("publication.autocreate.mode", "disabled"),
        ("snapshot.mode", "initial"),
        ("converter.schemas.enable", "true"),
    ] {
        config[k] = Value::String(v.into());
    }
    for (k, v) in &fixture.properties {
        config[k] = Value::String(v.clone());
    }
    worker.create_connector("reference", config).await?;
    worker
        .wait_state("reference", "RUNNING", Duration::from_secs(30))
        .await?;

    // Snapshot first (the fixture's changes must come after it, as with the reference tool).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let actual = read_actual(&tansu.bootstrap(), &expected_topics).await?;
        let snap = snapshot_count(&actual);
        if snap >= expected_snap {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{name}: {snap} of {expected_snap} snapshot events after 60 s\n{}",
                worker.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The slot must be streaming before the changes are written.
    worker
        .wait_streaming("reference", Duration::from_secs(30))
        .await?;
    pg.psql_file(&dir.join("changes.sql")).await?;

    let deadline = Instant::now() + Duration::from_secs(60);
    let actual = loop {
        let actual = read_actual(&tansu.bootstrap(), &expected_topics).await?;
        if actual.len() >= expected_total {
            // Give stragglers (extra events) a moment to show up.
            tokio::time::sleep(Duration::from_millis(500)).await;
            break read_actual(&tansu.bootstrap(), &expected_topics).await?;
        }
        if Instant::now() > deadline {
            break actual;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let exp = by_topic(expected);
    let act = by_topic(&actual);
    let mut problems = Vec::new();
    for (topic, e) in &exp {
        let a = act.get(topic).cloned().unwrap_or_default();
        if a.len() != e.len() {
            problems.push(format!("{topic}: {} events, expected {}", a.len(), e.len()));
        }
        for (i, (ev, av)) in e.iter().zip(a.iter()).enumerate() {
            if let Err(diff) = compare_events(ev, av) {
                problems.push(format!("{topic} #{i}: {diff}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems.truncate(20);
        bail!("{name}:\n  {}", problems.join("\n  "))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_and_snapshot_match_debezium() {
    let mut fixtures = load_all().expect("tests/fixtures");
    assert!(fixtures.len() >= 10, "fixtures missing: {}", fixtures.len());
    if let Ok(only) = std::env::var("WALCAST_FIXTURE") {
        fixtures.retain(|f| f.name == only);
    }
    let mut failures = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    let mut pending = fixtures.into_iter();
    let mut running = 0;
    loop {
        while running < 2 {
            let Some(f) = pending.next() else { break };
            set.spawn(async move {
                let r = run_fixture(&f).await;
                (f.dir, r)
            });
            running += 1;
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        running -= 1;
        let (dir, r) = done.expect("fixture task");
        if let Err(e) = r {
            failures.push(format!("{}: {e:#}", dir.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) differ from Debezium:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
