//! The Redis writer against a real redis-server (walcast-testkit): commands, keys, rendering,
//! positions in the same MULTI/EXEC, type errors and outages.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use walcast_connect_api::{logical, Field, Schema, SchemaRef, SchemaType, Struct, Value};
use walcast_connect_api::{ConnectRecord, Position, SinkErrorKind, SinkWriter, TopicPartition};
use walcast_redis_sink::{offsets_key, RedisSinkConfig, RedisWriter};
use walcast_testkit::Redis;

const TOPIC: &str = "shop.public.orders";

fn writer(redis_url: &str, pairs: &[(&str, &str)]) -> RedisWriter {
    let mut raw: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    raw.insert("redis.uri".into(), redis_url.into());
    RedisWriter::new(RedisSinkConfig::parse(&raw).unwrap())
}

fn key_schema() -> SchemaRef {
    Arc::new(Schema::structure(
        Some("shop.public.orders.Key".into()),
        vec![Field::new("id", Schema::primitive(SchemaType::Int32))],
    ))
}

fn row_schema() -> SchemaRef {
    Arc::new(Schema::structure(
        Some("shop.public.orders.Value".into()),
        vec![
            Field::new("id", Schema::primitive(SchemaType::Int32)),
            Field::new("customer_id", Schema::optional(SchemaType::String)),
            Field::new(
                "price",
                Schema::primitive(SchemaType::Bytes)
                    .named(logical::DECIMAL)
                    .with_parameter("scale", "2")
                    .into_optional(),
            ),
            Field::new(
                "created_at",
                Schema::primitive(SchemaType::Int64)
                    .named(logical::DBZ_MICRO_TIMESTAMP)
                    .into_optional(),
            ),
            Field::new("quantity", Schema::optional(SchemaType::Int32)),
            Field::new("note", Schema::optional(SchemaType::String)),
        ],
    ))
}

fn key(id: i32) -> Value {
    let mut k = Struct::new(key_schema());
    k.put("id", Value::Int32(id));
    Value::Struct(k)
}

fn row(id: i32, note: Option<&str>) -> Value {
    let mut r = Struct::new(row_schema());
    r.put("id", Value::Int32(id));
    r.put("customer_id", Value::String("CUST005".into()));
    r.put("price", Value::Bytes(vec![0x07, 0xCF]));
    r.put("created_at", Value::Int64(1_706_700_000_123_456));
    r.put("quantity", Value::Int32(7));
    r.put(
        "note",
        note.map_or(Value::Null, |n| Value::String(n.into())),
    );
    Value::Struct(r)
}

fn record(offset: i64, id: i32, value: Option<Value>) -> ConnectRecord {
    ConnectRecord {
        topic: TOPIC.into(),
        partition: Some(0),
        offset: Some(offset),
        timestamp_ms: None,
        key_schema: Some(key_schema()),
        key: key(id),
        value_schema: value.as_ref().map(|_| row_schema()),
        value: value.unwrap_or(Value::Null),
        headers: Vec::new(),
    }
}

/// A Debezium envelope (schemaless, as with `schemas.enable=false`) around `before`/`after`.
fn envelope(offset: i64, id: i32, op: &str, before: Value, after: Value) -> ConnectRecord {
    let m = |pairs: Vec<(&str, Value)>| {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Value::String(k.into()), v))
                .collect(),
        )
    };
    ConnectRecord {
        topic: TOPIC.into(),
        partition: Some(0),
        offset: Some(offset),
        timestamp_ms: None,
        key_schema: None,
        key: m(vec![("id", Value::Int64(id.into()))]),
        value_schema: None,
        value: m(vec![
            ("before", before),
            ("after", after),
            ("source", m(vec![("table", Value::String("orders".into()))])),
            ("op", Value::String(op.into())),
        ]),
        headers: Vec::new(),
    }
}

fn pos(next: i64) -> Vec<Position> {
    vec![Position {
        tp: TopicPartition::new(TOPIC, 0),
        next_offset: next,
    }]
}

async fn hgetall(c: &mut redis::aio::MultiplexedConnection, k: &str) -> HashMap<String, String> {
    redis::cmd("HGETALL").arg(k).query_async(c).await.unwrap()
}

#[tokio::test]
async fn hset_keyspace_renders_fields_and_stores_positions_atomically() {
    let redis = Redis::start().await.unwrap();
    let mut c = redis.connect().await.unwrap();
    let mut w = writer(
        &redis.url(),
        &[("redis.command", "HSET"), ("redis.key", "order")],
    );
    assert!(w.open("cache").await.unwrap().is_empty());

    w.write(
        "cache",
        &[record(0, 1, Some(row(1, Some("gift"))))],
        &pos(1),
    )
    .await
    .unwrap();
    let h = hgetall(&mut c, "order:1").await;
    assert_eq!(h["id"], "1");
    assert_eq!(h["customer_id"], "CUST005");
    assert_eq!(h["price"], "19.99");
    assert_eq!(h["created_at"], "2024-01-31T11:20:00.123456");
    assert_eq!(h["quantity"], "7");
    assert_eq!(h["note"], "gift");

    // An update with a null field removes it from the hash; a tombstone deletes the key.
    w.write("cache", &[record(1, 1, Some(row(1, None)))], &pos(2))
        .await
        .unwrap();
    let h = hgetall(&mut c, "order:1").await;
    assert!(!h.contains_key("note"), "{h:?}");
    assert_eq!(h.len(), 5);
    w.write(
        "cache",
        &[record(2, 2, Some(row(2, None))), record(3, 1, None)],
        &pos(4),
    )
    .await
    .unwrap();
    assert!(hgetall(&mut c, "order:1").await.is_empty());
    assert_eq!(hgetall(&mut c, "order:2").await["price"], "19.99");

    // Positions: per connector, read back by a new writer (a restart).
    let stored = hgetall(&mut c, &offsets_key("cache")).await;
    assert_eq!(stored[&format!("{TOPIC}/0")], "4");
    let mut again = writer(
        &redis.url(),
        &[("redis.command", "HSET"), ("redis.key", "order")],
    );
    assert_eq!(again.open("cache").await.unwrap(), pos(4));
    assert!(again.open("other").await.unwrap().is_empty());
}

#[tokio::test]
async fn template_keys_over_envelopes_deletes_and_tombstones() {
    let redis = Redis::start().await.unwrap();
    let mut c = redis.connect().await.unwrap();
    let mut w = writer(
        &redis.url(),
        &[("redis.command", "HSET"), ("redis.key", "order:${id}")],
    );
    w.open("cache").await.unwrap();
    let flat = |id: i64, status: &str| {
        Value::Map(vec![
            (Value::String("id".into()), Value::Int64(id)),
            (Value::String("status".into()), Value::String(status.into())),
        ])
    };
    w.write(
        "cache",
        &[
            envelope(0, 10, "r", Value::Null, flat(10, "NEW")),
            envelope(1, 11, "c", Value::Null, flat(11, "NEW")),
            envelope(2, 12, "c", Value::Null, flat(12, "NEW")),
            envelope(3, 10, "u", flat(10, "NEW"), flat(10, "PAID")),
            envelope(4, 11, "d", flat(11, "NEW"), Value::Null),
            envelope(5, 0, "t", Value::Null, Value::Null),
        ],
        &pos(6),
    )
    .await
    .unwrap();
    assert_eq!(hgetall(&mut c, "order:10").await["status"], "PAID");
    assert!(hgetall(&mut c, "order:11").await.is_empty());
    assert_eq!(hgetall(&mut c, "order:12").await["status"], "NEW");
    // A tombstone has only its key: the template is filled from the key's fields.
    let mut tomb = envelope(6, 12, "d", Value::Null, Value::Null);
    tomb.value = Value::Null;
    w.write("cache", &[tomb], &pos(7)).await.unwrap();
    assert!(hgetall(&mut c, "order:12").await.is_empty());
    assert_eq!(w.open("cache").await.unwrap(), pos(7));
}

#[tokio::test]
async fn set_xadd_and_del_commands() {
    let redis = Redis::start().await.unwrap();
    let mut c = redis.connect().await.unwrap();

    let mut set = writer(
        &redis.url(),
        &[("redis.command", "SET"), ("redis.key", "o")],
    );
    set.write("s", &[record(0, 1, Some(row(1, None)))], &pos(1))
        .await
        .unwrap();
    let json: String = redis::cmd("GET")
        .arg("o:1")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(
        json,
        r#"{"id":1,"customer_id":"CUST005","price":19.99,"created_at":"2024-01-31T11:20:00.123456","quantity":7,"note":null}"#
    );

    let mut xadd = writer(&redis.url(), &[("redis.command", "XADD")]);
    xadd.write(
        "x",
        &[
            record(0, 1, Some(row(1, None))),
            record(1, 1, None),
            record(2, 2, Some(row(2, Some("n")))),
        ],
        &pos(3),
    )
    .await
    .unwrap();
    let entries: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
        .arg(TOPIC)
        .arg("-")
        .arg("+")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(entries.len(), 2, "the tombstone appends nothing");
    assert_eq!(entries[0].1["price"], "19.99");
    assert!(!entries[0].1.contains_key("note"));
    assert_eq!(entries[1].1["note"], "n");

    let mut del = writer(
        &redis.url(),
        &[("redis.command", "DEL"), ("redis.key", "o")],
    );
    del.write("d", &[record(5, 1, Some(row(1, None)))], &pos(6))
        .await
        .unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg("o:1")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn a_key_of_another_type_fails_the_batch_without_writing_anything() {
    let redis = Redis::start().await.unwrap();
    let mut c = redis.connect().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("order:2")
        .arg("not a hash")
        .query_async(&mut c)
        .await
        .unwrap();
    let mut w = writer(
        &redis.url(),
        &[("redis.command", "HSET"), ("redis.key", "order")],
    );
    let err = w
        .write(
            "cache",
            &[
                record(0, 1, Some(row(1, None))),
                record(1, 2, Some(row(2, None))),
            ],
            &pos(2),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, SinkErrorKind::Data);
    assert!(
        err.message.contains(&format!("{TOPIC}-0@1")),
        "{}",
        err.message
    );
    assert!(err.message.contains("WRONGTYPE"), "{}", err.message);
    assert!(!err.message.contains("CUST005"));
    assert!(
        hgetall(&mut c, "order:1").await.is_empty(),
        "nothing of the batch is written"
    );
    assert!(
        w.open("cache").await.unwrap().is_empty(),
        "no position stored"
    );

    // Deleting the key earlier in the same batch makes the HSET valid.
    let mut tomb = record(1, 2, None);
    tomb.offset = Some(1);
    w.write(
        "cache",
        &[
            record(0, 1, Some(row(1, None))),
            tomb,
            record(2, 2, Some(row(2, None))),
        ],
        &pos(3),
    )
    .await
    .unwrap();
    assert_eq!(hgetall(&mut c, "order:2").await["id"], "2");
    assert_eq!(w.open("cache").await.unwrap(), pos(3));
}

#[tokio::test]
async fn redis_going_away_is_transient() {
    let redis = Redis::start().await.unwrap();
    let url = redis.url();
    let mut w = writer(&url, &[("redis.command", "HSET"), ("redis.key", "order")]);
    w.open("cache").await.unwrap();
    drop(redis);
    let err = w
        .write("cache", &[record(0, 1, Some(row(1, None)))], &pos(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SinkErrorKind::Transient, "{}", err.message);
    let err = w.open("cache").await.unwrap_err();
    assert_eq!(err.kind, SinkErrorKind::Transient, "{}", err.message);
    assert!(
        !err.message.contains("@"),
        "no credentials in {}",
        err.message
    );
}

#[tokio::test]
async fn jsonset_without_redisjson_fails_before_anything_is_written() {
    let redis = Redis::start().await.unwrap();
    let mut c = redis.connect().await.unwrap();
    let mut w = writer(
        &redis.url(),
        &[("redis.command", "JSONSET"), ("redis.key", "o")],
    );
    let err = w
        .write("j", &[record(0, 1, Some(row(1, None)))], &pos(1))
        .await
        .unwrap_err();
    // This redis-server has no RedisJSON module: the transaction is discarded at queue time.
    assert_eq!(err.kind, SinkErrorKind::Fatal, "{}", err.message);
    assert!(
        err.message.contains("nothing was written"),
        "{}",
        err.message
    );
    assert!(err.message.contains("RedisJSON"), "{}", err.message);
    assert!(hgetall(&mut c, &offsets_key("j")).await.is_empty());
}
