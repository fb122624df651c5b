//! The sink half under faults, through the real `walcast` binary:
//! - kill -9 of the worker at pseudo-random moments while orders are committed continuously: an
//!   append-only `insert.mode=insert` table keyed by the Kafka coordinates holds every record of
//!   the orders topic exactly once, `results` equals the orders joined with the customers, and
//!   every `order:<id>` hash in Redis matches;
//! - records that cannot be converted or written go to the dead letter queue with Connect's
//!   `__connect.errors.*` headers while the connector keeps RUNNING, or fail the task (naming
//!   topic, partition and offset) with `errors.tolerance=none`;
//! - the results PostgreSQL restarted mid-stream: the sinks retry and resume, nothing is lost or
//!   written twice, and no task goes FAILED.
//!
//! Set `WALCAST_CRASH_SEED` to replay the kill moments of a failed run (its seed is printed).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::ensure;
use serde_json::{json, Value};
use walcast_testkit::{Postgres, Redis, Tansu};
use walcast_tests::{
    deploy_config, eventually_ok, load_customers, repo_file, wait_slot_confirmed_to_end, Worker,
};

const T: Duration = Duration::from_secs(60);
const ORDERS_TOPIC: &str = "shop.public.orders";
const ORDERS_SLOT: &str = "walcast_orders";
/// The seed's customers plus one that is not in Redis (its enrichment is null).
const CUSTOMER_IDS: &str = "ARRAY['CUST001','CUST002','CUST003','CUST004','CUST005','CUST404']";

/// A small xorshift generator; the seed comes from `WALCAST_CRASH_SEED` or the clock.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = std::env::var("WALCAST_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("kill moments from WALCAST_CRASH_SEED={seed}");
        Self(seed)
    }

    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(lo + self.0 % (hi - lo))
    }
}

/// The append-only table: one row per Kafka record, the coordinates as plain columns with no
/// unique constraint, so a record written twice shows up as two rows.
const ORDERS_LOG_DDL: &str = "CREATE TABLE orders_log (
    __connect_topic     text    NOT NULL,
    __connect_partition integer NOT NULL,
    __connect_offset    bigint  NOT NULL,
    id          integer,
    customer_id varchar(20),
    product_id  varchar(20),
    quantity    integer,
    price       numeric(10,2),
    status      varchar(20),
    created_at  timestamptz
)";

/// A JDBC sink appending every unwrapped orders event to `orders_log` with its coordinates
/// (`pk.mode=kafka`, `insert.mode=insert`).
fn orders_log_config(results: &Postgres) -> Value {
    json!({
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "topics": ORDERS_TOPIC,
        "connection.url": format!("jdbc:postgresql://127.0.0.1:{}/postgres", results.port()),
        "connection.user": "postgres",
        "connection.password": "postgres",
        "table.name.format": "orders_log",
        "insert.mode": "insert",
        "pk.mode": "kafka",
        "auto.create": "false",
        "transforms": "unwrap",
        "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
    })
}

/// Starts the order writer: small transactions inserting orders (some for a customer missing
/// from Redis), updating and deleting random ones, until `stop` is set.
fn spawn_writer(
    client: tokio_postgres::Client,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut txns = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let mut sql = format!(
                "BEGIN;
                 INSERT INTO orders (customer_id, product_id, quantity, price, status)
                 SELECT ({CUSTOMER_IDS})[1 + floor(random() * 6)::int],
                        'PROD' || (100 + floor(random() * 900)::int),
                        1 + floor(random() * 9)::int,
                        round((random() * 500)::numeric, 2),
                        'PENDING'
                   FROM generate_series(1, 3);
                 UPDATE orders SET status = 'PAID', quantity = quantity + 1
                  WHERE id = (SELECT id FROM orders ORDER BY random() LIMIT 1);"
            );
            if txns % 5 == 4 {
                sql.push_str(
                    "DELETE FROM orders WHERE id = (SELECT id FROM orders ORDER BY random() LIMIT 1);",
                );
            }
            sql.push_str("COMMIT;");
            client.batch_execute(&sql).await.unwrap();
            txns += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        txns
    })
}

/// `walcast_offsets` of a database as JSON lines, for failure messages.
async fn offsets_diag(pg: &Postgres) -> String {
    let Ok(c) = pg.connect().await else {
        return "walcast_offsets: cannot connect".into();
    };
    match c
        .query(
            "SELECT row_to_json(o)::text FROM walcast_offsets o ORDER BY 1",
            &[],
        )
        .await
    {
        Ok(rows) => rows
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => format!("walcast_offsets: {e}"),
    }
}

/// The coordinates and order id of every record of the orders topic that the unwrap passes
/// (creates, snapshot reads and updates; deletes and tombstones are dropped by default).
async fn expected_log(bootstrap: &str) -> BTreeMap<(i32, i64), i32> {
    let records = walcast_kafka::read_topic_to_end(bootstrap, ORDERS_TOPIC)
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for r in records {
        let Some(v) = r.value else { continue };
        let v: Value = serde_json::from_slice(&v).unwrap();
        let payload = &v["payload"];
        if matches!(payload["op"].as_str(), Some("c" | "r" | "u")) {
            let id = payload["after"]["id"].as_i64().unwrap() as i32;
            out.insert((r.partition, r.offset), id);
        }
    }
    out
}

/// [`expected_log`] once two reads a second apart agree. Reads right after the slot is
/// confirmed to the WAL end have been seen to miss the topic's last records (see the eprintln).
async fn settled_log(bootstrap: &str) -> BTreeMap<(i32, i64), i32> {
    let first = expected_log(bootstrap).await;
    let mut last = first.clone();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = expected_log(bootstrap).await;
        if now == last {
            break;
        }
        last = now;
    }
    if last != first {
        eprintln!(
            "WARNING: {} passing records reached Kafka after the slot was confirmed to the WAL end \
             (first read {}, settled {}; first missing {:?})",
            last.len() - first.len(),
            first.len(),
            last.len(),
            last.keys().find(|k| !first.contains_key(k))
        );
    }
    last
}

/// Waits until `orders_log` holds exactly the records of `expected`, each once.
async fn check_exactly_once(results: &Postgres, expected: &BTreeMap<(i32, i64), i32>) {
    let outcome = eventually_ok(T, "orders_log to hold every record once", || async {
        let c = results.connect().await?;
        let dups = c
            .query(
                "SELECT __connect_topic, __connect_partition, __connect_offset, count(*)
                   FROM orders_log GROUP BY 1, 2, 3 HAVING count(*) > 1 ORDER BY 2, 3 LIMIT 20",
                &[],
            )
            .await?;
        if !dups.is_empty() {
            let shown: Vec<String> = dups
                .iter()
                .map(|r| {
                    format!(
                        "{}-{}@{} x{}",
                        r.get::<_, String>(0),
                        r.get::<_, i32>(1),
                        r.get::<_, i64>(2),
                        r.get::<_, i64>(3)
                    )
                })
                .collect();
            // Duplicates never go away: fail at once rather than wait.
            return Ok(Err(format!("records written twice: {shown:?}")));
        }
        let rows = c
            .query(
                "SELECT __connect_topic, __connect_partition, __connect_offset, id FROM orders_log",
                &[],
            )
            .await?;
        let mut got = BTreeMap::new();
        for r in &rows {
            ensure!(
                r.get::<_, String>(0) == ORDERS_TOPIC,
                "row from topic {}",
                r.get::<_, String>(0)
            );
            got.insert((r.get::<_, i32>(1), r.get::<_, i64>(2)), r.get::<_, i32>(3));
        }
        let missing: Vec<_> = expected
            .iter()
            .filter(|(k, _)| !got.contains_key(k))
            .take(10)
            .collect();
        let extra: Vec<_> = got
            .iter()
            .filter(|(k, _)| !expected.contains_key(k))
            .take(10)
            .collect();
        let wrong: Vec<_> = got
            .iter()
            .filter(|(k, id)| expected.get(k).is_some_and(|e| e != *id))
            .take(10)
            .collect();
        ensure!(
            got.len() == expected.len() && wrong.is_empty(),
            "orders_log has {} rows for {} records; missing (first 10) {missing:?}, \
             not in Kafka {extra:?}, wrong order id {wrong:?}",
            got.len(),
            expected.len()
        );
        Ok(Ok(()))
    })
    .await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{e}\n{}", offsets_diag(results).await),
        Err(e) => panic!("{e:#}\n{}", offsets_diag(results).await),
    }
}

type Row = Vec<Option<String>>;

/// `results` as text rows, ordered by order_id.
async fn results_rows(results: &Postgres) -> anyhow::Result<Vec<Row>> {
    let c = results.connect().await?;
    Ok(c.query(
        "SELECT order_id::text, customer_id, product_id, quantity::text, price::text, status,
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'),
                customer_name, customer_email, customer_tier
           FROM results ORDER BY order_id",
        &[],
    )
    .await?
    .iter()
    .map(|r| (0..10).map(|i| r.get::<_, Option<String>>(i)).collect())
    .collect())
}

/// What `results` must hold: the orders joined with the customers.
async fn expected_rows(orders: &Postgres, customers: &[Value]) -> Vec<Row> {
    let c = orders.connect().await.unwrap();
    c.query(
        "SELECT id::text, customer_id, product_id, quantity::text, price::text, status,
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')
           FROM orders ORDER BY id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let mut row: Row = (0..7).map(|i| r.get::<_, Option<String>>(i)).collect();
        let cust = customers
            .iter()
            .find(|c| Some(c["id"].as_str().unwrap().to_string()) == row[1]);
        for f in ["name", "email", "tier"] {
            row.push(cust.and_then(|c| c[f].as_str().map(str::to_string)));
        }
        row
    })
    .collect()
}

/// Waits until `results` equals the orders joined with the customers, value by value.
async fn check_results(results: &Postgres, expected: &[Row]) {
    let outcome = eventually_ok(
        T,
        "results to equal orders joined with customers",
        || async {
            let got = results_rows(results).await?;
            if got != expected {
                let gk: BTreeMap<_, _> = got.iter().map(|r| (r[0].clone(), r)).collect();
                let ek: BTreeMap<_, _> = expected.iter().map(|r| (r[0].clone(), r)).collect();
                let diff: Vec<_> = ek
                    .iter()
                    .filter(|(k, r)| gk.get(*k) != Some(*r))
                    .map(|(k, r)| format!("{k:?}: want {r:?} got {:?}", gk.get(k)))
                    .chain(
                        gk.keys()
                            .filter(|k| !ek.contains_key(*k))
                            .map(|k| format!("{k:?}: not in orders")),
                    )
                    .take(10)
                    .collect();
                anyhow::bail!(
                    "results has {} rows, orders {}; first differences {diff:#?}",
                    got.len(),
                    expected.len()
                );
            }
            Ok(())
        },
    )
    .await;
    if let Err(e) = outcome {
        panic!("{e:#}\n{}", offsets_diag(results).await);
    }
}

/// A timestamp's text without trailing zeros in its fraction (Debezium writes as few digits
/// as needed).
fn trim_fraction(ts: &str) -> String {
    let ts = ts.trim_end_matches('Z');
    match ts.split_once('.') {
        Some((whole, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                whole.to_string()
            } else {
                format!("{whole}.{frac}")
            }
        }
        None => ts.to_string(),
    }
}

/// Waits until Redis holds exactly one `order:<id>` hash per order, equal to its results row.
async fn check_redis(redis: &Redis, expected: &[Row]) {
    let names = [
        "order_id",
        "customer_id",
        "product_id",
        "quantity",
        "price",
        "status",
        "created_at",
        "customer_name",
        "customer_email",
        "customer_tier",
    ];
    let want: BTreeMap<String, BTreeMap<String, String>> = expected
        .iter()
        .map(|row| {
            let hash = names
                .iter()
                .zip(row)
                .filter_map(|(n, v)| {
                    let v = v.as_ref()?;
                    let v = if *n == "created_at" {
                        trim_fraction(v)
                    } else {
                        v.clone()
                    };
                    Some((n.to_string(), v))
                })
                .collect();
            (format!("order:{}", row[0].as_ref().unwrap()), hash)
        })
        .collect();
    eventually_ok(T, "Redis order hashes to match the orders", || async {
        let mut conn = redis.connect().await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("order:*")
            .query_async(&mut conn)
            .await?;
        let keys: BTreeSet<String> = keys.into_iter().collect();
        let want_keys: BTreeSet<String> = want.keys().cloned().collect();
        ensure!(
            keys == want_keys,
            "order keys in Redis: {} extra (e.g. {:?}), {} missing (e.g. {:?})",
            keys.difference(&want_keys).count(),
            keys.difference(&want_keys).take(5).collect::<Vec<_>>(),
            want_keys.difference(&keys).count(),
            want_keys.difference(&keys).take(5).collect::<Vec<_>>()
        );
        for (key, hash) in &want {
            let got: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut conn)
                .await?;
            let got: BTreeMap<String, String> = got
                .into_iter()
                .map(|(k, v)| {
                    if k == "created_at" {
                        (k, trim_fraction(&v))
                    } else {
                        (k, v)
                    }
                })
                .collect();
            ensure!(&got == hash, "{key}: got {got:?}\nwant {hash:?}");
        }
        Ok(())
    })
    .await
    .unwrap();
}

/// Waits until the sinks have written the snapshot's orders, so that the faults that follow hit
/// sinks already reading (a sink created before its topic exists finds it at its next topic
/// refresh, `consumer.override.metadata.max.age.ms`, up to 5 s later).
async fn wait_snapshot_written(results: &Postgres) {
    eventually_ok(
        T,
        "the snapshot's orders in orders_log and results",
        || async {
            let c = results.connect().await?;
            let log: i64 = c
                .query_one("SELECT count(*) FROM orders_log", &[])
                .await?
                .get(0);
            let res: i64 = c
                .query_one("SELECT count(*) FROM results", &[])
                .await?
                .get(0);
            ensure!(log >= 4 && res >= 4, "orders_log {log} rows, results {res}");
            Ok(())
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_load_applies_every_record_exactly_once() {
    let orders = Postgres::start().await.unwrap();
    let results = Postgres::start().await.unwrap();
    let redis = Redis::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    orders
        .psql_file(&repo_file("sql/init-orders.sql"))
        .await
        .unwrap();
    results
        .psql_file(&repo_file("sql/init-results.sql"))
        .await
        .unwrap();
    results.execute(ORDERS_LOG_DDL).await.unwrap();
    let customers = load_customers(&redis).await.unwrap();

    let work = tempfile::tempdir().unwrap();
    let mut w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut connectors = vec![];
    for name in ["orders-source", "results-sink", "orders-cache"] {
        w.create_connector(
            name,
            deploy_config(name, &orders, &results, &redis).unwrap(),
        )
        .await
        .unwrap();
        connectors.push(name);
    }
    w.create_connector("orders-log", orders_log_config(&results))
        .await
        .unwrap();
    connectors.push("orders-log");
    for name in &connectors {
        w.wait_state(name, "RUNNING", T).await.unwrap();
    }
    w.wait_streaming("orders-source", T).await.unwrap();
    wait_snapshot_written(&results).await;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(orders.connect().await.unwrap(), stop.clone());
    let mut rng = Rng::new();
    let started = std::time::Instant::now();
    // Rows in orders_log at each kill: growing from kill to kill shows that every restart
    // resumed writing, and that each kill hit a sink in the middle of its work.
    let log_client = results.connect().await.unwrap();
    let mut at_kill = vec![];
    for round in 0..5 {
        tokio::time::sleep(rng.ms(700, 3500)).await;
        let n: i64 = log_client
            .query_one("SELECT count(*) FROM orders_log", &[])
            .await
            .unwrap()
            .get(0);
        at_kill.push(n);
        w.kill9();
        tokio::time::sleep(rng.ms(10, 400)).await;
        w.restart().await.unwrap();
        for name in &connectors {
            w.wait_state(name, "RUNNING", T)
                .await
                .unwrap_or_else(|e| panic!("after kill {round}: {e}"));
        }
    }
    tokio::time::sleep(rng.ms(200, 1000)).await;
    stop.store(true, Ordering::Relaxed);
    let txns = writer.await.unwrap();
    eprintln!(
        "{txns} writer transactions over {:?} with 5 kills; orders_log rows at the kills {at_kill:?}",
        started.elapsed()
    );
    assert!(
        at_kill[0] >= 4 && at_kill.windows(2).all(|p| p[0] < p[1]),
        "orders_log did not grow between kills: {at_kill:?}\n{}",
        offsets_diag(&results).await
    );

    let client = orders.connect().await.unwrap();
    wait_slot_confirmed_to_end(&client, ORDERS_SLOT, T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", w.log()));
    let expected = settled_log(&tansu.bootstrap()).await;
    assert!(
        expected.len() as u64 > txns * 3,
        "{} records in Kafka for {txns} transactions",
        expected.len()
    );
    let drain = std::time::Instant::now();
    check_exactly_once(&results, &expected).await;
    let rows = expected_rows(&orders, &customers).await;
    check_results(&results, &rows).await;
    check_redis(&redis, &rows).await;
    eprintln!(
        "{} records, {} orders checked; drained {:?} after the writer stopped",
        expected.len(),
        rows.len(),
        drain.elapsed()
    );
    for name in &connectors {
        let (_, status) = w.get(&format!("/connectors/{name}/status")).await.unwrap();
        assert_eq!(status["tasks"][0]["state"], "RUNNING", "{name}: {status}");
    }
}

/// Headers of a consumed record as text.
fn header_text(h: &BTreeMap<String, Vec<u8>>, name: &str) -> Option<String> {
    h.get(name).map(|v| String::from_utf8_lossy(v).into_owned())
}

fn jdbc_config(pg: &Postgres, topic: &str, table: &str) -> Value {
    json!({
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "topics": topic,
        "connection.url": format!("jdbc:postgresql://127.0.0.1:{}/postgres", pg.port()),
        "connection.user": "postgres",
        "connection.password": "postgres",
        "table.name.format": table,
        "insert.mode": "insert",
        "pk.mode": "none",
        "auto.create": "false",
    })
}

fn item(id: i32, name: Option<&str>, qty: i32) -> Vec<u8> {
    json!({
        "schema": {"type": "struct", "optional": false, "name": "item", "fields": [
            {"field": "id", "type": "int32", "optional": false},
            {"field": "name", "type": "string", "optional": true},
            {"field": "qty", "type": "int32", "optional": true},
        ]},
        "payload": {"id": id, "name": name, "qty": qty},
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_go_to_the_dlq_with_context_headers_or_fail_the_task() {
    let pg = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    for table in ["items", "items_strict"] {
        pg.execute(&format!(
            "CREATE TABLE {table} (id integer PRIMARY KEY, name text NOT NULL,
                                   qty integer CHECK (qty >= 0))"
        ))
        .await
        .unwrap();
    }
    let topic = "items.in";
    let client = walcast_kafka::connect(&[tansu.bootstrap()], "sink-crash-test", T)
        .await
        .unwrap();
    walcast_kafka::ensure_topic(&client, topic, 1, 1, T)
        .await
        .unwrap();
    let mut sender = walcast_kafka::RecordSender::new(client);
    // Each value with the stage it fails in, if it does.
    let inputs: Vec<(Vec<u8>, Option<&str>)> = vec![
        (item(1, Some("a"), 1), None),
        (item(2, Some("b"), 2), None),
        (b"not json {".to_vec(), Some("VALUE_CONVERTER")),
        (item(3, Some("c"), 3), None),
        (item(4, None, 4), Some("TASK_PUT")),
        (item(5, Some("e"), 5), None),
        (item(6, Some("f"), -1), Some("TASK_PUT")),
        (item(7, Some("g"), 7), None),
    ];
    let mut bad = BTreeMap::new();
    for (value, stage) in &inputs {
        let offset = sender
            .send_to(topic, 0, None, Some(value.clone()), BTreeMap::new(), 0)
            .await
            .unwrap();
        if let Some(stage) = stage {
            bad.insert(offset, (*stage, value.clone()));
        }
    }
    let first_bad = *bad.keys().next().unwrap();

    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    let mut tolerant = jdbc_config(&pg, topic, "items");
    for (k, v) in [
        ("errors.tolerance", "all"),
        ("errors.deadletterqueue.topic.name", "items-sink.dlq"),
        ("errors.deadletterqueue.topic.replication.factor", "1"),
        ("errors.deadletterqueue.context.headers.enable", "true"),
    ] {
        tolerant[k] = json!(v);
    }
    w.create_connector("items-sink", tolerant).await.unwrap();
    let mut strict = jdbc_config(&pg, topic, "items_strict");
    strict["errors.tolerance"] = json!("none");
    w.create_connector("items-strict", strict).await.unwrap();

    // Good rows land; a good record after the bad ones shows the connector kept going.
    let ids = |table: &'static str| {
        let pg = &pg;
        async move {
            let c = pg.connect().await?;
            let rows = c
                .query(&format!("SELECT id FROM {table} ORDER BY id"), &[])
                .await?;
            Ok::<_, anyhow::Error>(rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>())
        }
    };
    eventually_ok(T, "good rows in items", || async {
        let got = ids("items").await?;
        ensure!(got == [1, 2, 3, 5, 7], "items ids {got:?}\n{}", w.log());
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    sender
        .send_to(
            topic,
            0,
            None,
            Some(item(8, Some("h"), 8)),
            BTreeMap::new(),
            0,
        )
        .await
        .unwrap();
    eventually_ok(T, "a good record after the bad ones", || async {
        let got = ids("items").await?;
        ensure!(got == [1, 2, 3, 5, 7, 8], "items ids {got:?}");
        Ok(())
    })
    .await
    .unwrap();

    // Each bad record is in the DLQ, unchanged, with Connect's context headers.
    let dlq = eventually_ok(T, "three records in the DLQ", || async {
        let dlq = walcast_kafka::read_topic_to_end(&tansu.bootstrap(), "items-sink.dlq").await?;
        ensure!(dlq.len() >= bad.len(), "{} DLQ records", dlq.len());
        Ok(dlq)
    })
    .await
    .unwrap();
    assert_eq!(dlq.len(), bad.len(), "DLQ records: {dlq:?}");
    for r in &dlq {
        let h = &r.headers;
        let offset: i64 = header_text(h, "__connect.errors.offset")
            .unwrap_or_else(|| panic!("no offset header in {h:?}"))
            .parse()
            .unwrap();
        let (stage, value) = bad
            .get(&offset)
            .unwrap_or_else(|| panic!("DLQ record for good offset {offset}: {h:?}"));
        assert_eq!(
            r.value.as_deref(),
            Some(&value[..]),
            "DLQ value at offset {offset}"
        );
        assert_eq!(
            header_text(h, "__connect.errors.topic").as_deref(),
            Some(topic)
        );
        assert_eq!(
            header_text(h, "__connect.errors.partition").as_deref(),
            Some("0")
        );
        assert_eq!(
            header_text(h, "__connect.errors.stage").as_deref(),
            Some(*stage),
            "offset {offset}: {h:?}"
        );
        assert_eq!(
            header_text(h, "__connect.errors.connector.name").as_deref(),
            Some("items-sink")
        );
        for name in [
            "__connect.errors.class.name",
            "__connect.errors.exception.class.name",
            "__connect.errors.exception.message",
        ] {
            assert!(
                header_text(h, name).is_some_and(|v| !v.is_empty()),
                "offset {offset}: no {name} in {h:?}"
            );
        }
    }
    let status = w
        .wait_state("items-sink", "RUNNING", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(status["connector"]["state"], "RUNNING", "{status}");

    // errors.tolerance=none: the task fails at the first bad record, naming it, and its stored
    // position never passes it.
    let status = w.wait_state("items-strict", "FAILED", T).await.unwrap();
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains(topic)
            && (trace.contains(&format!("offset={first_bad}"))
                || trace.contains(&format!("offset {first_bad}"))),
        "trace does not name {topic}-0 at offset {first_bad}: {status}"
    );
    let c = pg.connect().await.unwrap();
    let stored: Option<i64> = c
        .query_one(
            "SELECT max(next_offset)::bigint FROM walcast_offsets WHERE connector = 'items-strict'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        stored.unwrap_or(0) <= first_bad,
        "items-strict stored position {stored:?} past the failed record at {first_bad}"
    );
    let strict_ids = ids("items_strict").await.unwrap();
    assert!(
        strict_ids.iter().all(|id| *id < 3),
        "items_strict holds rows after the failed record: {strict_ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_postgres_restart_is_retried_without_loss_or_duplicates() {
    let orders = Postgres::start().await.unwrap();
    let mut results = Postgres::start().await.unwrap();
    let redis = Redis::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    orders
        .psql_file(&repo_file("sql/init-orders.sql"))
        .await
        .unwrap();
    results
        .psql_file(&repo_file("sql/init-results.sql"))
        .await
        .unwrap();
    results.execute(ORDERS_LOG_DDL).await.unwrap();
    let customers = load_customers(&redis).await.unwrap();

    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    for name in ["orders-source", "results-sink"] {
        w.create_connector(
            name,
            deploy_config(name, &orders, &results, &redis).unwrap(),
        )
        .await
        .unwrap();
    }
    w.create_connector("orders-log", orders_log_config(&results))
        .await
        .unwrap();
    let sinks = ["results-sink", "orders-log"];
    for name in ["orders-source", "results-sink", "orders-log"] {
        w.wait_state(name, "RUNNING", T).await.unwrap();
    }
    w.wait_streaming("orders-source", T).await.unwrap();
    wait_snapshot_written(&results).await;

    // Watch the sinks' task states the whole time: FAILED even once is a failure.
    let watching = Arc::new(AtomicBool::new(true));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let watcher = {
        let watching = watching.clone();
        let failures = failures.clone();
        let urls: Vec<String> = sinks
            .iter()
            .map(|n| w.url(&format!("/connectors/{n}/status")))
            .collect();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while watching.load(Ordering::Relaxed) {
                for url in &urls {
                    let Ok(r) = http.get(url).send().await else {
                        continue;
                    };
                    let Ok(body) = r.json::<Value>().await else {
                        continue;
                    };
                    if body["tasks"][0]["state"] == "FAILED" {
                        failures.lock().unwrap().push(body.to_string());
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(orders.connect().await.unwrap(), stop.clone());
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        results = results.restart().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let txns = writer.await.unwrap();

    let client = orders.connect().await.unwrap();
    wait_slot_confirmed_to_end(&client, ORDERS_SLOT, T)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", w.log()));
    let expected = settled_log(&tansu.bootstrap()).await;
    assert!(
        expected.len() as u64 > txns * 3,
        "{} records in Kafka for {txns} transactions",
        expected.len()
    );
    check_exactly_once(&results, &expected).await;
    let rows = expected_rows(&orders, &customers).await;
    check_results(&results, &rows).await;
    watching.store(false, Ordering::Relaxed);
    watcher.await.unwrap();
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "a sink task went FAILED while the results database restarted: {}\n{}",
        failures.first().map(String::as_str).unwrap_or_default(),
        w.log()
    );
    // The outages were seen (and retried), so the checks above covered writes that failed.
    let log = std::fs::read_to_string(w.dir.join("walcast.log")).unwrap();
    let retries = log
        .lines()
        .filter(|l| {
            l.contains("write failed transiently, retrying")
                || l.contains("opening the destination failed, retrying")
        })
        .count();
    assert!(
        retries > 0,
        "no sink retried while the results database was down\n{}",
        w.log()
    );
    eprintln!(
        "{txns} writer transactions, {} records, {} orders across two results restarts \
         ({retries} retries logged)",
        expected.len(),
        rows.len()
    );
}
