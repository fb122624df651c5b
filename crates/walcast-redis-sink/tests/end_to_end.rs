//! The Redis sink plugin end to end: Debezium events in a real tansu broker, read by the shared
//! sink runtime (`walcast_sink::run`), unwrapped, enriched by RedisLookup, written to a real
//! redis-server. Covers the seed's cache connector (`deploy/connect/orders-cache.json`) and
//! exactly-once across stops and aborted tasks (an XADD stream holds every record once).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use walcast_connect_api::{ConnectorError, ConnectorPlugin, TaskContext, WorkerSettings};
use walcast_kafka::{connect, ensure_topic, RecordSender};
use walcast_redis_sink::{offsets_key, RedisSinkPlugin};
use walcast_testkit::{eventually, Redis, Tansu};

const STEP: Duration = Duration::from_secs(60);
const TOPIC: &str = "shop.public.orders";

struct Running {
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), ConnectorError>>,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        let r = tokio::time::timeout(STEP, self.handle)
            .await
            .unwrap()
            .unwrap();
        r.unwrap();
    }

    /// Like kill -9 of the task: drop it wherever it is.
    async fn kill(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }
}

fn start(name: &str, tansu: &Tansu, config: &[(&str, &str)], schemas: bool) -> Running {
    let shutdown = CancellationToken::new();
    let mut cfg: BTreeMap<String, String> = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    cfg.insert(
        "connector.class".into(),
        "com.redis.kafka.connect.RedisSinkConnector".into(),
    );
    let issues = RedisSinkPlugin.validate(&cfg);
    assert!(issues.is_empty(), "{issues:?}");
    let ctx = TaskContext {
        name: name.into(),
        config: cfg,
        worker: Arc::new(WorkerSettings {
            bootstrap_servers: tansu.bootstrap(),
            worker_id: "test:0".into(),
            state_dir: PathBuf::from("/nonexistent"),
            properties: BTreeMap::new(),
        }),
        key_schemas_enable: schemas,
        value_schemas_enable: schemas,
        shutdown: shutdown.clone(),
    };
    let handle = tokio::spawn(RedisSinkPlugin.run(ctx));
    Running { shutdown, handle }
}

const ROW_SCHEMA: &str = r#"{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"customer_id"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"},{"type":"string","optional":true,"field":"status"}],"optional":true,"name":"shop.public.orders.Value"}"#;

fn row(id: i32, customer: &str, price_b64: &str, status: &str) -> String {
    format!(r#"{{"id":{id},"customer_id":"{customer}","price":"{price_b64}","status":"{status}"}}"#)
}

/// A Debezium change event with schemas, as the source writes it.
fn event(op: &str, before: Option<String>, after: Option<String>) -> Vec<u8> {
    let with = |field: &str| {
        let open = ROW_SCHEMA.strip_suffix('}').unwrap_or(ROW_SCHEMA);
        format!(r#"{open},"field":"{field}"}}"#)
    };
    let schema = format!(
        r#"{{"type":"struct","fields":[{},{},{{"type":"struct","fields":[{{"type":"string","optional":false,"field":"table"}}],"optional":false,"name":"io.debezium.connector.postgresql.Source","field":"source"}},{{"type":"string","optional":false,"field":"op"}},{{"type":"int64","optional":true,"field":"ts_ms"}}],"optional":false,"name":"shop.public.orders.Envelope","version":2}}"#,
        with("before"),
        with("after")
    );
    let payload = format!(
        r#"{{"before":{},"after":{},"source":{{"table":"orders"}},"op":"{op}","ts_ms":1700000000000}}"#,
        before.unwrap_or_else(|| "null".into()),
        after.unwrap_or_else(|| "null".into())
    );
    format!(r#"{{"schema":{schema},"payload":{payload}}}"#).into_bytes()
}

fn event_key(id: i32) -> Vec<u8> {
    format!(r#"{{"schema":{{"type":"struct","fields":[{{"type":"int32","optional":false,"field":"id"}}],"optional":false,"name":"shop.public.orders.Key"}},"payload":{{"id":{id}}}}}"#).into_bytes()
}

async fn send(s: &mut RecordSender, topic: &str, key: Vec<u8>, value: Option<Vec<u8>>) {
    s.send_to(
        topic,
        0,
        Some(key),
        value,
        BTreeMap::new(),
        1_700_000_000_000,
    )
    .await
    .unwrap();
}

async fn hgetall(c: &mut redis::aio::MultiplexedConnection, k: &str) -> HashMap<String, String> {
    redis::cmd("HGETALL").arg(k).query_async(c).await.unwrap()
}

#[tokio::test]
async fn the_seed_cache_connector_writes_enriched_orders_and_deletes() -> Result<()> {
    let tansu = Tansu::start().await?;
    let redis = Redis::start().await?;
    let mut r = redis.connect().await?;
    let _: () = redis::cmd("HSET")
        .arg("customer:CUST005")
        .arg(&[
            "name",
            "Barbara Liskov",
            "email",
            "barbara@example.com",
            "tier",
            "gold",
        ])
        .query_async(&mut r)
        .await?;
    let client = connect(&[tansu.bootstrap()], "redis-sink-test", STEP).await?;
    ensure_topic(&client, TOPIC, 1, 1, STEP).await?;
    let mut s = RecordSender::new(client);
    // 19.99 and 5.00 as Connect Decimal (scale 2) base64.
    send(
        &mut s,
        TOPIC,
        event_key(1),
        Some(event("c", None, Some(row(1, "CUST005", "B88=", "PENDING")))),
    )
    .await;
    send(
        &mut s,
        TOPIC,
        event_key(2),
        Some(event("c", None, Some(row(2, "CUST404", "AfQ=", "PENDING")))),
    )
    .await;

    // The connector config of deploy/connect/orders-cache.json, pointed at the test services.
    let url = redis.url();
    let config = [
        ("topics", TOPIC),
        ("redis.uri", url.as_str()),
        ("redis.command", "HSET"),
        ("redis.key", "order:${order_id}"),
        ("transforms", "unwrap,orderId,orderIdKey,customer"),
        (
            "transforms.unwrap.type",
            "io.debezium.transforms.ExtractNewRecordState",
        ),
        (
            "transforms.unwrap.delete.tombstone.handling.mode",
            "tombstone",
        ),
        (
            "transforms.orderId.type",
            "org.apache.kafka.connect.transforms.ReplaceField$Value",
        ),
        ("transforms.orderId.renames", "id:order_id"),
        (
            "transforms.orderIdKey.type",
            "org.apache.kafka.connect.transforms.ReplaceField$Key",
        ),
        ("transforms.orderIdKey.renames", "id:order_id"),
        ("transforms.customer.type", "walcast.transforms.RedisLookup"),
        ("transforms.customer.redis.url", url.as_str()),
        ("transforms.customer.key", "customer:${customer_id}"),
        ("transforms.customer.fields", "name,email,tier"),
        ("transforms.customer.prefix", "customer_"),
    ];
    let run = start("orders-cache", &tansu, &config, true);
    let h = eventually(STEP, "order:1 in Redis", || {
        let mut r = r.clone();
        async move { Some(hgetall(&mut r, "order:1").await).filter(|h| !h.is_empty()) }
    })
    .await?;
    assert_eq!(h["order_id"], "1");
    assert_eq!(h["customer_id"], "CUST005");
    assert_eq!(h["price"], "19.99");
    assert_eq!(h["status"], "PENDING");
    assert_eq!(h["customer_name"], "Barbara Liskov");
    assert_eq!(h["customer_email"], "barbara@example.com");
    assert_eq!(h["customer_tier"], "gold");
    // Unknown customer: the enrichment fields are null, so absent from the hash.
    let h2 = hgetall(&mut r, "order:2").await;
    assert_eq!(h2["price"], "5.00");
    assert!(!h2.contains_key("customer_name"), "{h2:?}");

    // An update, then a delete followed by Debezium's tombstone.
    send(
        &mut s,
        TOPIC,
        event_key(1),
        Some(event(
            "u",
            Some(row(1, "CUST005", "B88=", "PENDING")),
            Some(row(1, "CUST005", "B88=", "SHIPPED")),
        )),
    )
    .await;
    send(
        &mut s,
        TOPIC,
        event_key(2),
        Some(event("d", Some(row(2, "CUST404", "AfQ=", "PENDING")), None)),
    )
    .await;
    send(&mut s, TOPIC, event_key(2), None).await;
    eventually(STEP, "position 5 stored", || {
        let mut r = r.clone();
        async move {
            let p = hgetall(&mut r, &offsets_key("orders-cache")).await;
            (p.get(&format!("{TOPIC}/0")).map(String::as_str) == Some("5")).then_some(())
        }
    })
    .await?;
    run.stop().await;
    assert_eq!(hgetall(&mut r, "order:1").await["status"], "SHIPPED");
    assert!(hgetall(&mut r, "order:2").await.is_empty());
    Ok(())
}

/// Every record lands exactly once in an XADD stream across clean stops and aborted tasks.
#[tokio::test]
async fn xadd_stream_holds_every_record_once_across_restarts_and_kills() -> Result<()> {
    let tansu = Tansu::start().await?;
    let redis = Redis::start().await?;
    let mut r = redis.connect().await?;
    let client = connect(&[tansu.bootstrap()], "redis-sink-test", STEP).await?;
    ensure_topic(&client, "events", 1, 1, STEP).await?;
    let mut s = RecordSender::new(client);
    let url = redis.url();
    let config = [
        ("topics", "events"),
        ("redis.uri", url.as_str()),
        ("redis.command", "XADD"),
        ("redis.key", "log:${topic}"),
        ("batch.size", "5"),
    ];
    // Rounds that kill the task are large so the kill lands between two batches of a busy
    // task; the others stop it cleanly after everything produced so far is stored.
    let rounds: [(i64, bool); 4] = [(3000, true), (50, false), (3000, true), (50, false)];
    let total: i64 = rounds.iter().map(|(n, _)| n).sum();
    let mut next = 0;
    let mut killed_mid_stream = 0;
    for (size, kill) in rounds {
        let until = next + size;
        for i in next..until {
            let (k, v) = (
                i.to_string().into_bytes(),
                format!(r#"{{"id":{i}}}"#).into_bytes(),
            );
            s.send_to(
                "events",
                0,
                Some(k),
                Some(v),
                BTreeMap::new(),
                1_700_000_000_000,
            )
            .await?;
        }
        let run = start("events-log", &tansu, &config, false);
        if kill {
            // Kill it as soon as it has written something of this round.
            let deadline = tokio::time::Instant::now() + STEP;
            loop {
                let n: i64 = redis::cmd("XLEN")
                    .arg("log:events")
                    .query_async(&mut r)
                    .await?;
                if n > next {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the task wrote nothing"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            run.kill().await;
            let n: i64 = redis::cmd("XLEN")
                .arg("log:events")
                .query_async(&mut r)
                .await?;
            if n < until {
                killed_mid_stream += 1;
            }
        } else {
            eventually(STEP, "the round to be stored", || {
                let mut r = r.clone();
                async move {
                    let p = hgetall(&mut r, &offsets_key("events-log")).await;
                    (p.get("events/0") == Some(&until.to_string())).then_some(())
                }
            })
            .await?;
            run.stop().await;
        }
        next = until;
    }
    assert!(
        killed_mid_stream > 0,
        "no kill landed while the task was writing"
    );
    // A last run drains whatever the kills left.
    let run = start("events-log", &tansu, &config, false);
    eventually(STEP, "everything stored", || {
        let mut r = r.clone();
        async move {
            let p = hgetall(&mut r, &offsets_key("events-log")).await;
            (p.get("events/0") == Some(&total.to_string())).then_some(())
        }
    })
    .await?;
    run.stop().await;
    let entries: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg("log:events")
        .arg("-")
        .arg("+")
        .query_async(&mut r)
        .await?;
    let ids: Vec<i64> = entries
        .iter()
        .map(|(_, f)| f["id"].parse().unwrap())
        .collect();
    let distinct: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), distinct.len(), "a record was written twice");
    assert_eq!(
        ids,
        (0..total).collect::<Vec<_>>(),
        "every record once, in order"
    );
    Ok(())
}

/// A redis-server with an fsync-always append-only file, so a `kill -9` loses nothing that was
/// acknowledged and a restart on the same port and directory finds it again. (The testkit's
/// Redis keeps nothing across a restart.)
struct DurableRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl DurableRedis {
    fn start() -> Self {
        // A port found free can be taken by another test's server before redis-server binds
        // it: then this one exits, and a new port is tried.
        for _ in 0..5 {
            let mut r = Self {
                port: walcast_testkit::free_port(),
                dir: tempfile::tempdir().unwrap(),
                child: None,
            };
            if r.spawn_once() {
                return r;
            }
        }
        panic!("redis-server did not start on any of 5 ports");
    }

    fn spawn(&mut self) {
        assert!(
            self.spawn_once(),
            "redis-server did not start again on its port"
        );
    }

    /// Starts the server and waits until it answers PING; false if it exited first (its port
    /// was taken).
    fn spawn_once(&mut self) -> bool {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + STEP;
        loop {
            if let Some(c) = self.child.as_mut() {
                if !matches!(c.try_wait(), Ok(None)) {
                    self.child = None;
                    return false;
                }
            }
            if walcast_testkit::redis_pong(self.port).is_ok() {
                return true;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for DurableRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Redis killed with SIGKILL mid-stream and started again: the sink and the RedisLookup in
/// front of it retry, the task stays up, and the stream holds every record once, enriched.
#[tokio::test]
async fn redis_killed_mid_stream_is_retried_without_loss_or_duplicates() -> Result<()> {
    let tansu = Tansu::start().await?;
    let mut redis = DurableRedis::start();
    let url = redis.url();
    let mut r = redis::Client::open(url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let _: () = redis::cmd("HSET")
        .arg("customer:C1")
        .arg(&["name", "Ada"])
        .query_async(&mut r)
        .await?;
    let client = connect(&[tansu.bootstrap()], "redis-sink-test", STEP).await?;
    ensure_topic(&client, "events", 1, 1, STEP).await?;
    let mut s = RecordSender::new(client);
    let total: i64 = 3000;
    for i in 0..total {
        let v = format!(r#"{{"id":{i},"customer_id":"C1"}}"#).into_bytes();
        s.send_to(
            "events",
            0,
            Some(i.to_string().into_bytes()),
            Some(v),
            BTreeMap::new(),
            1_700_000_000_000,
        )
        .await?;
    }
    let config = [
        ("topics", "events"),
        ("redis.uri", url.as_str()),
        ("redis.command", "XADD"),
        ("redis.key", "log"),
        ("batch.size", "5"),
        ("errors.retry.delay.max.ms", "200"),
        ("transforms", "customer"),
        ("transforms.customer.type", "RedisLookup"),
        ("transforms.customer.redis.url", url.as_str()),
        ("transforms.customer.key", "customer:${customer_id}"),
        ("transforms.customer.fields", "name"),
        ("transforms.customer.prefix", "customer_"),
        ("transforms.customer.cache.ttl.ms", "0"),
    ];
    let run = start("events-log", &tansu, &config, false);
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let n: i64 = redis::cmd("XLEN").arg("log").query_async(&mut r).await?;
        if n > 0 {
            assert!(n < total, "the task finished before Redis could be killed");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task wrote nothing"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    redis.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.spawn();
    // The restarted server may accept a connection and drop it while it starts up: the test's
    // own connection is retried until it answers.
    let mut r = eventually(STEP, "a connection to the restarted Redis", || async {
        let mut c = redis::Client::open(url.as_str())
            .ok()?
            .get_multiplexed_async_connection()
            .await
            .ok()?;
        let _: String = redis::cmd("PING").query_async(&mut c).await.ok()?;
        Some(c)
    })
    .await?;
    eventually(STEP, "everything stored after the restart", || {
        let mut r = r.clone();
        async move {
            // The test's own reads may meet Redis still loading its append-only file.
            let next: Option<String> = redis::cmd("HGET")
                .arg(offsets_key("events-log"))
                .arg("events/0")
                .query_async(&mut r)
                .await
                .ok()?;
            (next == Some(total.to_string())).then_some(())
        }
    })
    .await?;
    run.stop().await;
    let entries: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg("log")
        .arg("-")
        .arg("+")
        .query_async(&mut r)
        .await?;
    let ids: Vec<i64> = entries
        .iter()
        .map(|(_, f)| f["id"].parse().unwrap())
        .collect();
    assert_eq!(
        ids,
        (0..total).collect::<Vec<_>>(),
        "every record once, in order"
    );
    assert!(entries.iter().all(|(_, f)| f["customer_name"] == "Ada"));
    Ok(())
}

/// Bad data in Redis fails only its record: a sink key holding a string (HSET would hit
/// WRONGTYPE) and a customer key holding a string (the lookup's HGETALL would) each send their
/// record to the dead letter queue, with the reason; the others are written.
#[tokio::test]
async fn wrong_types_in_redis_send_their_records_to_the_dlq() -> Result<()> {
    let tansu = Tansu::start().await?;
    let redis = Redis::start().await?;
    let mut r = redis.connect().await?;
    for (k, v) in [("order:2", "a string"), ("customer:BAD", "a string")] {
        let _: () = redis::cmd("SET").arg(k).arg(v).query_async(&mut r).await?;
    }
    let _: () = redis::cmd("HSET")
        .arg("customer:C1")
        .arg(&["name", "Ada"])
        .query_async(&mut r)
        .await?;
    let client = connect(&[tansu.bootstrap()], "redis-sink-test", STEP).await?;
    ensure_topic(&client, "rows", 1, 1, STEP).await?;
    let mut s = RecordSender::new(client);
    for (id, customer) in [(1, "C1"), (2, "C1"), (3, "BAD"), (4, "C1")] {
        let v = format!(r#"{{"id":{id},"customer_id":"{customer}"}}"#).into_bytes();
        s.send_to(
            "rows",
            0,
            Some(id.to_string().into_bytes()),
            Some(v),
            BTreeMap::new(),
            0,
        )
        .await?;
    }
    let url = redis.url();
    let config = [
        ("topics", "rows"),
        ("redis.uri", url.as_str()),
        ("redis.command", "HSET"),
        ("redis.key", "order:${id}"),
        ("errors.tolerance", "all"),
        ("errors.deadletterqueue.topic.name", "rows-dlq"),
        ("errors.deadletterqueue.topic.replication.factor", "1"),
        ("errors.deadletterqueue.context.headers.enable", "true"),
        ("transforms", "customer"),
        ("transforms.customer.type", "RedisLookup"),
        ("transforms.customer.redis.url", url.as_str()),
        ("transforms.customer.key", "customer:${customer_id}"),
        ("transforms.customer.fields", "name"),
    ];
    let run = start("rows-cache", &tansu, &config, false);
    eventually(STEP, "position 4 stored", || {
        let mut r = r.clone();
        async move {
            let p = hgetall(&mut r, &offsets_key("rows-cache")).await;
            (p.get("rows/0").map(String::as_str) == Some("4")).then_some(())
        }
    })
    .await?;
    run.stop().await;
    assert_eq!(hgetall(&mut r, "order:1").await["name"], "Ada");
    assert_eq!(hgetall(&mut r, "order:4").await["name"], "Ada");
    let untouched: String = redis::cmd("GET").arg("order:2").query_async(&mut r).await?;
    assert_eq!(untouched, "a string");
    let exists: i64 = redis::cmd("EXISTS")
        .arg("order:3")
        .query_async(&mut r)
        .await?;
    assert_eq!(exists, 0);

    let dlq = walcast_kafka::read_topic_to_end(&tansu.bootstrap(), "rows-dlq").await?;
    // The transform failure is dead-lettered when the batch is transformed, the write failure
    // when the batch is retried record by record: look them up by key.
    let mut keys: Vec<&[u8]> = dlq.iter().filter_map(|d| d.key.as_deref()).collect();
    keys.sort();
    assert_eq!(keys, [&b"2"[..], &b"3"[..]]);
    let header = |key: &[u8], k: &str| {
        let d = dlq.iter().find(|d| d.key.as_deref() == Some(key)).unwrap();
        String::from_utf8(d.headers.get(k).cloned().unwrap_or_default()).unwrap()
    };
    assert!(header(b"2", "__connect.errors.exception.message").contains("WRONGTYPE"));
    assert!(header(b"3", "__connect.errors.exception.message").contains("WRONGTYPE"));
    assert_eq!(header(b"3", "__connect.errors.stage"), "TRANSFORMATION");
    Ok(())
}
