//! `walcast.transforms.RedisLookup` through the transform chain, against a real redis-server:
//! hits and misses, the cache (counted with INFO commandstats), outages, type errors, schema
//! updates of flat records and Debezium envelopes.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use walcast_connect_api::{ConnectRecord, ConnectorConfig};
use walcast_connect_api::{Field, Schema, SchemaRef, SchemaType, Struct, Value};
use walcast_testkit::Redis;
use walcast_transforms::{Outcome, TransformChain};

fn chain(redis: &str, extra: &[(&str, &str)]) -> TransformChain {
    let mut cfg: ConnectorConfig = [
        ("transforms", "customer"),
        ("transforms.customer.type", "walcast.transforms.RedisLookup"),
        ("transforms.customer.redis.url", redis),
        ("transforms.customer.key", "customer:${customer_id}"),
        ("transforms.customer.fields", "name,email,tier"),
        ("transforms.customer.prefix", "customer_"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        cfg.insert(format!("transforms.customer.{k}"), v.to_string());
    }
    TransformChain::from_config(&cfg).unwrap()
}

fn order_schema() -> SchemaRef {
    Arc::new(Schema::structure(
        Some("shop.public.orders.Value".into()),
        vec![
            Field::new("id", Schema::primitive(SchemaType::Int32)),
            Field::new("customer_id", Schema::optional(SchemaType::String)),
        ],
    ))
}

fn order(id: i32, customer: &str) -> Value {
    let mut s = Struct::new(order_schema());
    s.put("id", Value::Int32(id));
    s.put("customer_id", Value::String(customer.into()));
    Value::Struct(s)
}

fn record(offset: i64, value: Value, schema: Option<SchemaRef>) -> ConnectRecord {
    ConnectRecord {
        topic: "shop.public.orders".into(),
        partition: Some(0),
        offset: Some(offset),
        timestamp_ms: None,
        key_schema: None,
        key: Value::Null,
        value_schema: schema,
        value,
        headers: Vec::new(),
    }
}

fn flat(offset: i64, id: i32, customer: &str) -> ConnectRecord {
    record(offset, order(id, customer), Some(order_schema()))
}

async fn redis_cmd(r: &mut redis::aio::MultiplexedConnection, args: &[&str]) {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    let _: redis::Value = c.query_async(r).await.unwrap();
}

/// How many times Redis ran `command` (INFO commandstats).
async fn calls(r: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(r)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

async fn customers(redis: &Redis) -> redis::aio::MultiplexedConnection {
    let mut r = redis.connect().await.unwrap();
    redis_cmd(
        &mut r,
        &[
            "HSET",
            "customer:C1",
            "name",
            "Ada",
            "email",
            "ada@example.com",
            "tier",
            "gold",
            "extra",
            "x",
        ],
    )
    .await;
    redis_cmd(&mut r, &["HSET", "customer:C2", "name", "Alan"]).await;
    r
}

fn kept(o: &Outcome) -> &ConnectRecord {
    match o {
        Outcome::Keep(r) => r,
        other => panic!("expected a kept record, got {other:?}"),
    }
}

fn field<'a>(r: &'a ConnectRecord, name: &str) -> &'a Value {
    r.value
        .get(name)
        .unwrap_or_else(|| panic!("no field {name}"))
}

#[tokio::test]
async fn hits_misses_and_the_new_schema() {
    let redis = Redis::start().await.unwrap();
    let _r = customers(&redis).await;
    let mut chain = chain(&redis.url(), &[]);
    let out = chain
        .apply_batch(vec![
            flat(0, 1, "C1"),
            flat(1, 2, "C2"),
            flat(2, 3, "C9"),
            record(3, Value::Null, None),
        ])
        .await
        .unwrap();
    let hit = kept(&out[0]);
    assert_eq!(field(hit, "customer_name"), &Value::String("Ada".into()));
    assert_eq!(
        field(hit, "customer_email"),
        &Value::String("ada@example.com".into())
    );
    assert_eq!(field(hit, "customer_tier"), &Value::String("gold".into()));
    assert!(hit.value.get("customer_extra").is_none(), "only `fields`");
    let schema = hit.value_schema.as_ref().unwrap();
    assert_eq!(schema.name.as_deref(), Some("shop.public.orders.Value"));
    let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "customer_id",
            "customer_name",
            "customer_email",
            "customer_tier"
        ]
    );
    assert!(schema.fields[2..]
        .iter()
        .all(|f| f.schema.optional && f.schema.kind == SchemaType::String));
    // A hash without some fields: those are null.
    let partial = kept(&out[1]);
    assert_eq!(
        field(partial, "customer_name"),
        &Value::String("Alan".into())
    );
    assert_eq!(field(partial, "customer_tier"), &Value::Null);
    // A missing key with on.missing=null: the fields are there, null, same schema.
    let miss = kept(&out[2]);
    assert_eq!(field(miss, "customer_name"), &Value::Null);
    assert_eq!(miss.value_schema, hit.value_schema);
    // Tombstones pass untouched.
    assert_eq!(kept(&out[3]), &record(3, Value::Null, None));
}

#[tokio::test]
async fn on_missing_fail_and_wrong_type_fail_only_their_record() {
    let redis = Redis::start().await.unwrap();
    let mut r = customers(&redis).await;
    redis_cmd(&mut r, &["SET", "customer:C3", "not a hash"]).await;
    let mut chain = chain(&redis.url(), &[("on.missing", "fail")]);
    let out = chain
        .apply_batch(vec![flat(0, 1, "C9"), flat(1, 2, "C3"), flat(2, 3, "C1")])
        .await
        .unwrap();
    match &out[0] {
        Outcome::Failed(e) => {
            assert!(!e.transient);
            assert!(e.message.contains("does not exist"), "{}", e.message);
            assert!(
                e.message.contains("shop.public.orders-0@0"),
                "{}",
                e.message
            );
            assert!(!e.message.contains("C9"), "no row values: {}", e.message);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    match &out[1] {
        Outcome::Failed(e) => {
            assert!(!e.transient);
            assert!(e.message.contains("WRONGTYPE"), "{}", e.message);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(
        field(kept(&out[2]), "customer_name"),
        &Value::String("Ada".into())
    );
    // A record without the template's field fails on its own too.
    let mut no_field = record(
        4,
        Value::Map(vec![(Value::String("id".into()), Value::Int64(4))]),
        None,
    );
    no_field.offset = Some(4);
    let out = chain.apply_batch(vec![no_field]).await.unwrap();
    assert!(matches!(&out[0], Outcome::Failed(e) if e.message.contains("customer_id")));
}

#[tokio::test]
async fn one_round_of_lookups_per_batch_and_the_cache() {
    let redis = Redis::start().await.unwrap();
    let mut r = customers(&redis).await;
    let mut chain = chain(&redis.url(), &[]);
    let batch = || {
        vec![
            flat(0, 1, "C1"),
            flat(1, 2, "C2"),
            flat(2, 3, "C1"),
            flat(3, 4, "C1"),
        ]
    };
    chain.apply_batch(batch()).await.unwrap();
    assert_eq!(calls(&mut r, "hgetall").await, 2, "distinct keys only");
    let out = chain.apply_batch(batch()).await.unwrap();
    assert_eq!(
        calls(&mut r, "hgetall").await,
        2,
        "second batch served by the cache"
    );
    assert_eq!(
        field(kept(&out[3]), "customer_name"),
        &Value::String("Ada".into())
    );
    // Misses are not cached: a customer added later is seen by the next batch.
    chain.apply_batch(vec![flat(4, 5, "C7")]).await.unwrap();
    redis_cmd(&mut r, &["HSET", "customer:C7", "name", "Grace"]).await;
    let out = chain.apply_batch(vec![flat(5, 5, "C7")]).await.unwrap();
    assert_eq!(
        field(kept(&out[0]), "customer_name"),
        &Value::String("Grace".into())
    );

    // Without a cache every batch asks again.
    let mut uncached = self::chain(&redis.url(), &[("cache.ttl.ms", "0")]);
    let before = calls(&mut r, "hgetall").await;
    uncached.apply_batch(batch()).await.unwrap();
    uncached.apply_batch(batch()).await.unwrap();
    assert_eq!(calls(&mut r, "hgetall").await, before + 4);
}

#[tokio::test]
async fn redis_unreachable_is_a_transient_batch_error() {
    let redis = Redis::start().await.unwrap();
    let url = redis.url();
    let mut chain = chain(&url, &[]);
    chain.apply_batch(vec![flat(0, 1, "C1")]).await.unwrap();
    drop(redis);
    let err = chain.apply_batch(vec![flat(1, 2, "C2")]).await.unwrap_err();
    assert!(err.transient, "{}", err.message);
    assert!(
        err.message.contains("transform customer"),
        "{}",
        err.message
    );
    // Reconnecting fails the same way while Redis is down.
    let err = chain.apply_batch(vec![flat(2, 3, "C3")]).await.unwrap_err();
    assert!(err.transient, "{}", err.message);
}

#[tokio::test]
async fn envelopes_get_the_row_enriched_and_one_schema_for_both_images() {
    let redis = Redis::start().await.unwrap();
    let _r = customers(&redis).await;
    let mut chain = chain(&redis.url(), &[]);
    let row = order_schema();
    let opt_row = Arc::new(Schema {
        optional: true,
        ..(*row).clone()
    });
    let env_schema = Arc::new(Schema::structure(
        Some("shop.public.orders.Envelope".into()),
        vec![
            Field::new("before", Arc::clone(&opt_row)),
            Field::new("after", Arc::clone(&opt_row)),
            Field::new(
                "source",
                Schema::structure(
                    None,
                    vec![Field::new("table", Schema::primitive(SchemaType::String))],
                ),
            ),
            Field::new("op", Schema::primitive(SchemaType::String)),
        ],
    ));
    let envelope = |op: &str, before: Option<&str>, after: Option<&str>| {
        let img = |c: Option<&str>| {
            c.map_or(Value::Null, |c| {
                let mut s = Struct::new(Arc::clone(&opt_row));
                s.put("id", Value::Int32(1));
                s.put("customer_id", Value::String(c.into()));
                Value::Struct(s)
            })
        };
        let mut e = Struct::new(Arc::clone(&env_schema));
        e.put("before", img(before));
        e.put("after", img(after));
        let source_schema = Arc::clone(&env_schema.field("source").unwrap().1.schema);
        let mut src = Struct::new(source_schema);
        src.put("table", Value::String("orders".into()));
        e.put("source", Value::Struct(src));
        e.put("op", Value::String(op.into()));
        Value::Struct(e)
    };
    let out = chain
        .apply_batch(vec![
            record(
                0,
                envelope("u", Some("C2"), Some("C1")),
                Some(Arc::clone(&env_schema)),
            ),
            record(
                1,
                envelope("d", Some("C2"), None),
                Some(Arc::clone(&env_schema)),
            ),
        ])
        .await
        .unwrap();
    let upd = kept(&out[0]);
    let after = upd.value.get("after").unwrap();
    let before = upd.value.get("before").unwrap();
    assert_eq!(
        after.get("customer_name"),
        Some(&Value::String("Ada".into()))
    );
    assert_eq!(before.get("customer_name"), Some(&Value::Null));
    let s = upd.value_schema.as_ref().unwrap();
    assert_eq!(s.name.as_deref(), Some("shop.public.orders.Envelope"));
    let b = &s.field("before").unwrap().1.schema;
    let a = &s.field("after").unwrap().1.schema;
    assert_eq!(a, b);
    assert!(a.optional);
    assert_eq!(a.fields.len(), 5);
    assert_eq!(
        after.as_struct().unwrap().schema.as_ref(),
        a.as_ref(),
        "values carry the new schema"
    );
    // A delete: the before image is the row.
    let del = kept(&out[1]);
    assert_eq!(
        del.value.get("before").unwrap().get("customer_name"),
        Some(&Value::String("Alan".into()))
    );

    // Schemaless envelope (schemas.enable=false): entries added to the row map.
    let m = |pairs: Vec<(&str, Value)>| {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Value::String(k.into()), v))
                .collect(),
        )
    };
    let env = m(vec![
        ("before", Value::Null),
        (
            "after",
            m(vec![
                ("id", Value::Int64(1)),
                ("customer_id", Value::String("C1".into())),
            ]),
        ),
        ("source", m(vec![])),
        ("op", Value::String("c".into())),
    ]);
    let out = chain.apply_batch(vec![record(2, env, None)]).await.unwrap();
    let after = kept(&out[0]).value.get("after").unwrap();
    assert_eq!(
        after.get("customer_tier"),
        Some(&Value::String("gold".into()))
    );
}

#[tokio::test]
async fn json_and_string_values() {
    let redis = Redis::start().await.unwrap();
    let mut r = redis.connect().await.unwrap();
    redis_cmd(
        &mut r,
        &[
            "SET",
            "customer:C1",
            r#"{"name":"Ada","vip":true,"orders":12,"score":1.5,"tags":["a"]}"#,
        ],
    )
    .await;
    redis_cmd(&mut r, &["SET", "customer:C2", "[1,2]"]).await;
    let mut json = chain(
        &redis.url(),
        &[
            ("redis.type", "json"),
            ("fields", "name,vip,orders,score,tags"),
        ],
    );
    let out = json
        .apply_batch(vec![flat(0, 1, "C1"), flat(1, 2, "C2"), flat(2, 3, "C9")])
        .await
        .unwrap();
    let rec = kept(&out[0]);
    assert_eq!(field(rec, "customer_vip"), &Value::Boolean(true));
    assert_eq!(field(rec, "customer_orders"), &Value::Int64(12));
    assert_eq!(field(rec, "customer_score"), &Value::Float64(1.5));
    assert_eq!(
        field(rec, "customer_tags"),
        &Value::String(r#"["a"]"#.into())
    );
    let types: Vec<SchemaType> = rec.value_schema.as_ref().unwrap().fields[2..]
        .iter()
        .map(|f| f.schema.kind)
        .collect();
    assert_eq!(
        types,
        [
            SchemaType::String,
            SchemaType::Boolean,
            SchemaType::Int64,
            SchemaType::Float64,
            SchemaType::String
        ]
    );
    assert!(matches!(&out[1], Outcome::Failed(e) if e.message.contains("not an object")));
    // A miss keeps each field's last type, so the schema does not flip to string.
    let miss = kept(&out[2]);
    assert_eq!(miss.value_schema, rec.value_schema);

    redis_cmd(&mut r, &["SET", "tier:C1", "gold"]).await;
    let mut string = chain(
        &redis.url(),
        &[
            ("redis.type", "string"),
            ("key", "tier:${customer_id}"),
            ("fields", "tier"),
            ("prefix", ""),
        ],
    );
    let out = string.apply_batch(vec![flat(0, 1, "C1")]).await.unwrap();
    assert_eq!(field(kept(&out[0]), "tier"), &Value::String("gold".into()));
}
