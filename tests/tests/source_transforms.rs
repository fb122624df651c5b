//! The source connector's transform chain, end to end: `transforms=unwrap,route`
//! (Debezium's ExtractNewRecordState and Kafka's RegexRouter) turns snapshot and streamed
//! events into flat rows on the routed topic, the slot is still confirmed past changes whose
//! records a transform dropped, headers the chain adds (`add.headers`) are produced in Connect's
//! string form, a transform that fails on a record fails the task naming topic and LSN, and a
//! chain that cannot be built is refused when the connector is created.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{json, Value};
use walcast_testkit::{Postgres, Tansu};
use walcast_tests::{pg_connector_config, wait_slot_confirmed_to_end, Worker};

const T: Duration = Duration::from_secs(60);

/// The records of `topic` as (key payload, value payload or null for a tombstone, value schema).
async fn records(bootstrap: &str, topic: &str) -> Vec<(Value, Value, Value)> {
    walcast_kafka::read_topic_to_end(bootstrap, topic)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let json = |b: Option<bytes::Bytes>| {
                b.map(|b| serde_json::from_slice::<Value>(&b).unwrap())
                    .unwrap_or(Value::Null)
            };
            let key = json(r.key);
            let value = json(r.value);
            (
                key["payload"].clone(),
                value["payload"].clone(),
                value["schema"].clone(),
            )
        })
        .collect()
}

fn unwrap_route(pg: &Postgres, prefix: &str, slot: &str) -> Value {
    let mut cfg = pg_connector_config(pg, prefix, slot);
    for (k, v) in [
        ("transforms", "unwrap,route"),
        (
            "transforms.unwrap.type",
            "io.debezium.transforms.ExtractNewRecordState",
        ),
        (
            "transforms.route.type",
            "org.apache.kafka.connect.transforms.RegexRouter",
        ),
        ("transforms.route.regex", "[^.]+\\.public\\.(.*)"),
        ("transforms.route.replacement", "flat.$1"),
    ] {
        cfg[k] = json!(v);
    }
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwrap_and_route_produce_flat_rows_to_the_routed_topic() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    let bootstrap = tansu.bootstrap();
    pg.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, qty int);
         INSERT INTO orders VALUES (1, 'apple', 2), (2, 'pear', 5);",
    )
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&bootstrap, work.path()).await.unwrap();
    w.create_connector("src", unwrap_route(&pg, "s", "s_slot"))
        .await
        .unwrap();
    w.wait_streaming("src", T).await.unwrap();
    pg.execute(
        "INSERT INTO orders VALUES (3, 'plum', NULL);
         UPDATE orders SET qty = 3 WHERE id = 1;
         DELETE FROM orders WHERE id = 2;",
    )
    .await
    .unwrap();

    let want = [
        (
            json!({"id": 1}),
            json!({"id": 1, "item": "apple", "qty": 2}),
        ),
        (json!({"id": 2}), json!({"id": 2, "item": "pear", "qty": 5})),
        (
            json!({"id": 3}),
            json!({"id": 3, "item": "plum", "qty": null}),
        ),
        (
            json!({"id": 1}),
            json!({"id": 1, "item": "apple", "qty": 3}),
        ),
        // The delete becomes a tombstone (delete.tombstone.handling.mode=tombstone, the
        // default); the source's own tombstone after it is dropped.
        (json!({"id": 2}), Value::Null),
    ];
    let got = walcast_testkit::eventually(T, "5 flat records in flat.orders", || async {
        let r = records(&bootstrap, "flat.orders").await;
        (r.len() >= want.len()).then_some(r)
    })
    .await
    .unwrap();
    let pairs: Vec<(Value, Value)> = got.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
    assert_eq!(pairs, want);
    // A flat row's schema is the table's row schema, not the envelope.
    let schema = &got[0].2;
    assert_eq!(schema["name"], "s.public.orders.Value", "{schema}");
    let fields: Vec<&str> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["id", "item", "qty"]);
    // Nothing went to the topic the events would have had without the router.
    assert!(records(&bootstrap, "s.public.orders").await.is_empty());

    // The slot is confirmed past the delete, whose tombstone record the chain dropped.
    let client = pg.connect().await.unwrap();
    wait_slot_confirmed_to_end(&client, "s_slot", T)
        .await
        .unwrap();
    assert_eq!(
        w.metric("walcast_source_transform_dropped_total", "src")
            .await
            .unwrap(),
        Some(1.0)
    );
    assert_eq!(records(&bootstrap, "flat.orders").await.len(), want.len());
    w.wait_state("src", "RUNNING", T).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_added_by_the_chain_are_produced_as_connect_writes_them() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    let bootstrap = tansu.bootstrap();
    pg.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL);
         INSERT INTO orders VALUES (1, 'apple');",
    )
    .await
    .unwrap();
    let mut cfg = pg_connector_config(&pg, "h", "h_slot");
    for (k, v) in [
        ("transforms", "unwrap"),
        (
            "transforms.unwrap.type",
            "io.debezium.transforms.ExtractNewRecordState",
        ),
        ("transforms.unwrap.add.headers", "op,source.ts_ms,table:tbl"),
    ] {
        cfg[k] = json!(v);
    }
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&bootstrap, work.path()).await.unwrap();
    w.create_connector("src", cfg).await.unwrap();
    w.wait_streaming("src", T).await.unwrap();
    pg.execute("INSERT INTO orders VALUES (2, 'pear');")
        .await
        .unwrap();

    let got = walcast_testkit::eventually(T, "2 records in h.public.orders", || async {
        let r = walcast_kafka::read_topic_to_end(&bootstrap, "h.public.orders")
            .await
            .unwrap();
        (r.len() >= 2).then_some(r)
    })
    .await
    .unwrap();
    let text = |r: &walcast_kafka::ConsumedRecord, name: &str| {
        let v = r
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("no header {name}: {r:?}"));
        String::from_utf8(v.clone()).unwrap()
    };
    for (r, op) in got.iter().zip(["r", "c"]) {
        let names: Vec<&str> = r.headers.keys().map(String::as_str).collect();
        assert_eq!(names, ["__op", "__source_ts_ms", "__tbl"], "{r:?}");
        assert_eq!(text(r, "__op"), op);
        assert_eq!(text(r, "__tbl"), "orders");
        // An int64 in its decimal text, as SimpleHeaderConverter writes it.
        let ts: i64 = text(r, "__source_ts_ms").parse().unwrap();
        assert!(ts > 1_700_000_000_000, "{ts}");
    }
    w.wait_state("src", "RUNNING", T).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transform_failing_on_a_record_fails_the_task_naming_topic_and_lsn() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    pg.execute("CREATE TABLE t (id int PRIMARY KEY, note text)")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut cfg = unwrap_route(&pg, "f", "f_slot");
    cfg["transforms"] = json!("unwrap,ts");
    cfg["transforms.ts.type"] =
        json!("org.apache.kafka.connect.transforms.TimestampConverter$Value");
    cfg["transforms.ts.field"] = json!("note");
    cfg["transforms.ts.target.type"] = json!("Timestamp");
    w.create_connector("f", cfg).await.unwrap();
    w.wait_streaming("f", T).await.unwrap();
    pg.execute("INSERT INTO t VALUES (1, 'not a time')")
        .await
        .unwrap();
    let status = w.wait_state("f", "FAILED", T).await.unwrap();
    let trace = status["tasks"][0]["trace"].as_str().unwrap();
    assert!(
        trace.contains("transform ts:") && trace.contains("topic f.public.t at LSN "),
        "{trace}"
    );
    assert!(trace.contains("errors.tolerance=all"), "{trace}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transform_config_error_is_reported_when_the_connector_is_created() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut cfg = unwrap_route(&pg, "e", "e_slot");
    cfg["transforms.unwrap.type"] = json!("io.debezium.transforms.ExtractNewRecordStat");
    cfg.as_object_mut()
        .unwrap()
        .remove("transforms.route.replacement");
    let (status, body) = w
        .send(
            "POST",
            "/connectors",
            Some(json!({"name": "e", "config": cfg})),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("Did you mean \"io.debezium.transforms.ExtractNewRecordState\"?"),
        "{message}"
    );
    assert!(
        message.contains("transforms.route.replacement"),
        "{message}"
    );
    let (_, list) = w.get("/connectors").await.unwrap();
    assert_eq!(list, json!([]));

    // The validate endpoint reports the same, under the keys.
    cfg["name"] = json!("e");
    let (status, body) = w
        .send(
            "PUT",
            "/connector-plugins/io.debezium.connector.postgresql.PostgresConnector/config/validate",
            Some(cfg),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let mut with_errors: Vec<&str> = body["configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["value"]["errors"].as_array().unwrap().is_empty())
        .map(|c| c["value"]["name"].as_str().unwrap())
        .collect();
    with_errors.sort_unstable();
    assert_eq!(
        with_errors,
        ["transforms.route.replacement", "transforms.unwrap.type"],
        "{body}"
    );
}
