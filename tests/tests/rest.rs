//! The REST API end to end with the real PostgreSQL connector: the life of a connector as
//! Kafka Connect users drive it (create, status, pause, resume, restart, delete), persistence
//! across a worker restart, Connect's error bodies, and FAILED states that say what to fix.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{json, Value};
use walcast_testkit::{Postgres, Tansu};
use walcast_tests::{pg_connector_config, Worker};

const T: Duration = Duration::from_secs(30);

async fn topic_len(bootstrap: &str, topic: &str) -> usize {
    walcast_kafka::read_topic_to_end(bootstrap, topic)
        .await
        .map(|r| r.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_lifecycle_over_rest() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute("CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders VALUES (1, 'a'), (2, 'b');")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();

    let (code, root) = w.get("/").await.unwrap();
    assert_eq!(code, 200);
    assert!(root["version"].is_string(), "{root}");

    let (code, plugins) = w.get("/connector-plugins").await.unwrap();
    assert_eq!(code, 200);
    assert!(
        plugins.as_array().unwrap().iter().any(|p| p["class"]
            == "io.debezium.connector.postgresql.PostgresConnector"
            && p["type"] == "source"),
        "{plugins}"
    );

    let cfg = pg_connector_config(&pg, "shop", "shop_slot");
    let created = w.create_connector("shop", cfg.clone()).await.unwrap();
    assert_eq!(created["name"], "shop");
    assert_eq!(created["type"], "source");
    assert_eq!(created["config"]["topic.prefix"], "shop");

    // Duplicate name: 409 in Connect's error body.
    let (code, body) = w
        .send(
            "POST",
            "/connectors",
            Some(json!({"name": "shop", "config": cfg})),
        )
        .await
        .unwrap();
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error_code"], 409);

    let status = w.wait_state("shop", "RUNNING", T).await.unwrap();
    assert_eq!(status["type"], "source");
    assert_eq!(status["tasks"][0]["id"], 0);

    // The snapshot reaches Kafka.
    walcast_testkit::eventually(T, "snapshot in kafka", || async {
        (topic_len(&tansu.bootstrap(), "shop.public.orders").await >= 2).then_some(())
    })
    .await
    .unwrap();

    // Pause: nothing flows; resume: it does again, from where it stopped.
    let (code, _) = w.send("PUT", "/connectors/shop/pause", None).await.unwrap();
    assert_eq!(code, 202);
    w.wait_state("shop", "PAUSED", T).await.unwrap();
    pg.execute("INSERT INTO orders VALUES (3, 'c')")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(topic_len(&tansu.bootstrap(), "shop.public.orders").await, 2);
    let (code, _) = w
        .send("PUT", "/connectors/shop/resume", None)
        .await
        .unwrap();
    assert_eq!(code, 202);
    w.wait_state("shop", "RUNNING", T).await.unwrap();
    walcast_testkit::eventually(T, "insert after resume", || async {
        (topic_len(&tansu.bootstrap(), "shop.public.orders").await >= 3).then_some(())
    })
    .await
    .unwrap();

    let (code, _) = w
        .send("POST", "/connectors/shop/restart", None)
        .await
        .unwrap();
    assert!(code == 204 || code == 202, "{code}");
    w.wait_state("shop", "RUNNING", T).await.unwrap();

    let (code, tasks) = w.get("/connectors/shop/tasks").await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(tasks[0]["id"]["connector"], "shop");

    let (code, expanded) = w
        .get("/connectors?expand=status&expand=info")
        .await
        .unwrap();
    assert_eq!(code, 200);
    assert_eq!(expanded["shop"]["status"]["connector"]["state"], "RUNNING");
    assert_eq!(expanded["shop"]["info"]["name"], "shop");

    // A worker restart resumes the connector created over REST, without a second snapshot.
    w.restart().await.unwrap();
    w.wait_state("shop", "RUNNING", T).await.unwrap();
    pg.execute("INSERT INTO orders VALUES (4, 'd')")
        .await
        .unwrap();
    walcast_testkit::eventually(T, "insert after worker restart", || async {
        (topic_len(&tansu.bootstrap(), "shop.public.orders").await >= 4).then_some(())
    })
    .await
    .unwrap();
    let records = walcast_kafka::read_topic_to_end(&tansu.bootstrap(), "shop.public.orders")
        .await
        .unwrap();
    let snapshot_reads = records
        .iter()
        .filter_map(|r| r.value.as_ref())
        .filter(|v| serde_json::from_slice::<Value>(v).unwrap()["payload"]["op"] == "r")
        .count();
    assert_eq!(snapshot_reads, 2, "the snapshot ran again after restart");

    let (code, _) = w.send("DELETE", "/connectors/shop", None).await.unwrap();
    assert_eq!(code, 204);
    let (code, body) = w.get("/connectors/shop/status").await.unwrap();
    assert_eq!(code, 404);
    assert_eq!(body["error_code"], 404);
    assert_eq!(w.terminate(), Some(0), "SIGTERM must exit 0\n{}", w.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_get_connect_error_bodies() {
    let tansu = Tansu::start().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();

    // Missing required keys: 400 naming each.
    let (code, body) = w
        .send(
            "POST",
            "/connectors",
            Some(json!({"name": "x", "config": {"connector.class": "io.debezium.connector.postgresql.PostgresConnector"}})),
        )
        .await
        .unwrap();
    assert_eq!(code, 400, "{body}");
    let msg = body["message"].as_str().unwrap();
    for k in [
        "database.hostname",
        "database.user",
        "database.dbname",
        "topic.prefix",
    ] {
        assert!(msg.contains(k), "{k} not named in: {msg}");
    }

    // Another decoding plugin: 400 that says to use pgoutput.
    let mut cfg = json!({
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": "127.0.0.1", "database.user": "u", "database.dbname": "d",
        "topic.prefix": "p", "plugin.name": "decoderbufs"
    });
    let (code, body) = w
        .send(
            "POST",
            "/connectors",
            Some(json!({"name": "x", "config": cfg.clone()})),
        )
        .await
        .unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("pgoutput"),
        "{body}"
    );

    // A bad handling mode names the key and the allowed values.
    cfg["plugin.name"] = json!("pgoutput");
    cfg["decimal.handling.mode"] = json!("exact");
    let (code, body) = w
        .send(
            "POST",
            "/connectors",
            Some(json!({"name": "x", "config": cfg})),
        )
        .await
        .unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("decimal.handling.mode"),
        "{body}"
    );

    // Unknown connector: 404.
    let (code, body) = w.get("/connectors/nope/status").await.unwrap();
    assert_eq!(code, 404);
    assert_eq!(body["error_code"], 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_without_logical_wal_fails_with_the_fix() {
    let pg = Postgres::builder()
        .setting("wal_level", "replica")
        .start()
        .await
        .unwrap();
    let tansu = Tansu::start().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    w.create_connector("nolog", pg_connector_config(&pg, "nolog", "nolog_slot"))
        .await
        .unwrap();
    let status = w.wait_state("nolog", "FAILED", T).await.unwrap();
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
    assert!(trace.contains("wal_level"), "{status}");

    // A publication that must exist but does not.
    let pg2 = Postgres::start().await.unwrap();
    let mut cfg = pg_connector_config(&pg2, "nopub", "nopub_slot");
    cfg["publication.autocreate.mode"] = json!("disabled");
    cfg["publication.name"] = json!("missing_pub");
    w.create_connector("nopub", cfg).await.unwrap();
    let status = w.wait_state("nopub", "FAILED", T).await.unwrap();
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
    assert!(trace.contains("missing_pub"), "{status}");
}

/// The exfiltration attempt from issue 7: a POSTed config puts a provider-resolved secret
/// where the connector will echo it (the user name PostgreSQL quotes in its error). The task
/// fails, and neither its trace, any REST answer nor the worker's log holds the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolved_secrets_never_leave_the_worker() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let secrets = work.path().join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let secret = "Exfil-Target-9c2f71ab";
    std::fs::write(secrets.join("aws.properties"), format!("key={secret}\n")).unwrap();
    let allowed = secrets.display().to_string();
    let w = Worker::start_with(
        &tansu.bootstrap(),
        work.path(),
        &[
            ("config.providers", "file"),
            (
                "config.providers.file.class",
                "org.apache.kafka.common.config.provider.FileConfigProvider",
            ),
            ("config.providers.file.param.allowed.paths", &allowed),
        ],
    )
    .await
    .unwrap();

    let mut cfg = pg_connector_config(&pg, "exfil", "exfil_slot");
    cfg["database.user"] = json!(format!("${{file:{allowed}/aws.properties:key}}"));
    cfg["errors.retry.timeout"] = json!("0");
    let (code, body) = w
        .send(
            "POST",
            "/connectors",
            Some(json!({"name": "exfil", "config": cfg})),
        )
        .await
        .unwrap();
    assert_eq!(code, 201, "{body}");
    let status = w.wait_state("exfil", "FAILED", T).await.unwrap();
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
    assert!(trace.contains("[hidden]"), "{trace}");

    // An env reference is refused: only `file` is declared.
    cfg["database.user"] = json!("${env:PATH}");
    let (code, refused) = w
        .send(
            "POST",
            "/connectors",
            Some(json!({"name": "exfil-env", "config": cfg})),
        )
        .await
        .unwrap();
    assert_eq!(code, 400, "{refused}");

    let mut seen = vec![status.to_string(), refused.to_string()];
    for path in [
        "/connectors?expand=status&expand=info",
        "/connectors/exfil/config",
        "/connectors/exfil/tasks",
        "/connectors/exfil/tasks/0/status",
    ] {
        seen.push(w.get(path).await.unwrap().1.to_string());
    }
    let log = std::fs::read_to_string(work.path().join("walcast.log")).unwrap();
    assert!(
        log.contains("[hidden]"),
        "the failure is logged, scrubbed:\n{log}"
    );
    seen.push(log);
    for text in &seen {
        assert!(!text.contains(secret), "the secret leaked: {text}");
    }
}
