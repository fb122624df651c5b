//! `snapshot.mode` values and starting while the broker is down, end to end.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{json, Value};
use walcast_testkit::{Postgres, Tansu};
use walcast_tests::{pg_connector_config, Worker};

const T: Duration = Duration::from_secs(60);

async fn ops(bootstrap: &str, topic: &str) -> Vec<String> {
    walcast_kafka::read_topic_to_end(bootstrap, topic)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| r.value)
        .map(|v| {
            serde_json::from_slice::<Value>(&v).unwrap()["payload"]["op"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

async fn wait_ops(bootstrap: &str, topic: &str, want: &[&str]) -> Vec<String> {
    let got = walcast_testkit::eventually(T, &format!("{want:?} in {topic}"), || async {
        let o = ops(bootstrap, topic).await;
        (o.len() >= want.len()).then_some(o)
    })
    .await
    .unwrap();
    // Nothing more may arrive.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = ops(bootstrap, topic).await;
    assert_eq!(again, got, "more events arrived than expected");
    assert_eq!(got, want, "events in {topic}");
    got
}

async fn setup(mode: &str) -> (Postgres, Tansu, tempfile::TempDir, Worker) {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2);")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut cfg = pg_connector_config(&pg, "m", "m_slot");
    cfg["snapshot.mode"] = json!(mode);
    w.create_connector("m", cfg).await.unwrap();
    w.wait_state("m", "RUNNING", T).await.unwrap();
    (pg, tansu, work, w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_only_snapshots_and_does_not_stream() {
    let (pg, tansu, _work, w) = setup("initial_only").await;
    wait_ops(&tansu.bootstrap(), "m.public.t", &["r", "r"]).await;
    pg.execute("INSERT INTO t VALUES (3)").await.unwrap();
    wait_ops(&tansu.bootstrap(), "m.public.t", &["r", "r"]).await;
    w.wait_state("m", "RUNNING", T).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_data_streams_without_snapshot() {
    let (pg, tansu, _work, w) = setup("no_data").await;
    w.wait_streaming("m", T).await.unwrap();
    pg.execute("INSERT INTO t VALUES (3)").await.unwrap();
    wait_ops(&tansu.bootstrap(), "m.public.t", &["c"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_snapshots_at_every_start_and_when_needed_after_losing_the_slot() {
    let (pg, tansu, _work, mut w) = setup("always").await;
    wait_ops(&tansu.bootstrap(), "m.public.t", &["r", "r"]).await;
    pg.execute("INSERT INTO t VALUES (3)").await.unwrap();
    wait_ops(&tansu.bootstrap(), "m.public.t", &["r", "r", "c"]).await;
    w.restart().await.unwrap();
    w.wait_state("m", "RUNNING", T).await.unwrap();
    wait_ops(
        &tansu.bootstrap(),
        "m.public.t",
        &["r", "r", "c", "r", "r", "r"],
    )
    .await;

    // when_needed: a normal restart streams on; a lost slot means a new snapshot.
    let mut cfg = pg_connector_config(&pg, "m", "m_slot");
    cfg["snapshot.mode"] = json!("when_needed");
    let (code, body) = w
        .send("PUT", "/connectors/m/config", Some(cfg))
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    w.wait_state("m", "RUNNING", T).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let before = ops(&tansu.bootstrap(), "m.public.t").await.len();
    assert_eq!(
        before, 6,
        "when_needed snapshotted although the slot is there"
    );
    w.kill9();
    let c = pg.connect().await.unwrap();
    walcast_testkit::eventually(T, "slot released", || async {
        c.execute("SELECT pg_drop_replication_slot('m_slot')", &[])
            .await
            .ok()
    })
    .await
    .unwrap();
    w.restart().await.unwrap();
    w.wait_state("m", "RUNNING", T).await.unwrap();
    wait_ops(
        &tansu.bootstrap(),
        "m.public.t",
        &["r", "r", "c", "r", "r", "r", "r", "r", "r"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_at_start_is_retried_until_it_is_up() {
    let pg = Postgres::start().await.unwrap();
    let mut tansu = Tansu::start().await.unwrap();
    tansu.stop();
    pg.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    w.create_connector("down", pg_connector_config(&pg, "down", "down_slot"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Retrying, not failed.
    let (_, status) = w.get("/connectors/down/status").await.unwrap();
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
    assert!(w.log().contains("retrying"), "{}", w.log());
    tansu.start_again().await.unwrap();
    wait_ops(&tansu.bootstrap(), "down.public.t", &["r"]).await;
}
