//! The encoder (walcast-debezium) alone, against the captured fixtures, without a database or a
//! broker: row changes built by hand the way pgoutput delivers them (key-only old rows under
//! REPLICA IDENTITY DEFAULT, whole old rows under FULL, unchanged TOAST markers) must give exactly
//! the records Debezium emitted.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{json, Value};
use walcast_debezium::{EncodedRecords, EventConfig, Op, RowChange, SourceInfo, TableEncoder};
use walcast_pgoutput::{
    ColumnSchema, PgType, PgTypeKind, ReplicaIdentity, TableId, TableSchema, TupleValue,
};
use walcast_tests::conformance::{self, Fixture};

fn ty(name: &str, kind: PgTypeKind) -> PgType {
    PgType {
        oid: 0,
        schema: "pg_catalog".into(),
        name: name.into(),
        kind,
    }
}

fn base(name: &str) -> PgType {
    ty(name, PgTypeKind::Base)
}

fn col(name: &str, t: PgType, typmod: i32, nullable: bool, pk: Option<u16>) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        attnum: 0,
        pg_type: t,
        type_modifier: typmod,
        nullable,
        default_expr: None,
        primary_key_position: pk,
    }
}

fn table(schema: &str, name: &str, ri: ReplicaIdentity, columns: Vec<ColumnSchema>) -> TableSchema {
    TableSchema {
        relation_oid: 1,
        id: TableId::new(schema, name),
        columns,
        replica_identity: ri,
    }
}

fn t(s: &str) -> TupleValue {
    TupleValue::Text(Bytes::copy_from_slice(s.as_bytes()))
}

const N: TupleValue = TupleValue::Null;
const U: TupleValue = TupleValue::UnchangedToast;

fn numeric(p: i32, s: i32) -> i32 {
    ((p << 16) | s) + 4
}

fn config(f: &Fixture) -> EventConfig {
    let (k, v) = walcast_debezium::schemas_enable_from_properties(&f.properties).unwrap();
    EventConfig::from_properties(&f.properties, k, v).unwrap()
}

/// Streamed records of one topic, in order (tombstones included).
fn streamed<'a>(f: &'a Fixture, topic: &str) -> Vec<&'a Value> {
    f.expected
        .iter()
        .filter(|r| r["topic"] == topic && conformance::event_op(r) != Some("r"))
        .collect()
}

/// Encodes a change and returns its records as JSON.
fn encode(
    enc: &TableEncoder,
    op: Op,
    before: Option<&[TupleValue]>,
    after: Option<&[TupleValue]>,
) -> Vec<Value> {
    let mut out = EncodedRecords::new();
    let source = SourceInfo {
        ts_us: 1,
        ..Default::default()
    };
    enc.encode_change(&RowChange { op, before, after }, &source, 1_000, &mut out)
        .unwrap();
    out.iter()
        .map(|r| {
            let p = |b: Option<&[u8]>| {
                b.map(|b| serde_json::from_slice::<Value>(b).unwrap())
                    .unwrap_or(Value::Null)
            };
            json!({"topic": enc.topic(), "key": p(r.key()), "value": p(r.value())})
        })
        .collect()
}

/// Checks that the next records of `expected` are `actual`.
fn expect(expected: &mut std::slice::Iter<'_, &Value>, actual: Vec<Value>) {
    for a in actual {
        let e = expected
            .next()
            .expect("walcast emitted more records than Debezium");
        if let Err(err) = conformance::compare_events(e, &a) {
            panic!("{err}\nexpected: {e}\nactual:   {a}");
        }
    }
}

fn customers(ri: ReplicaIdentity) -> TableSchema {
    table(
        "public",
        "customers",
        ri,
        vec![
            col("id", base("int4"), -1, false, Some(1)),
            col("name", base("text"), -1, false, None),
            col("email", base("varchar"), 104, true, None),
            col("score", base("numeric"), numeric(5, 2), true, None),
        ],
    )
}

fn orders() -> TableSchema {
    table(
        "inventory",
        "orders",
        ReplicaIdentity::Full,
        vec![
            col("id", base("int8"), -1, false, Some(1)),
            col("customer_id", base("int4"), -1, false, None),
            col("status", base("text"), -1, true, None),
            col("amount", base("numeric"), numeric(12, 2), true, None),
            col("note", base("text"), -1, true, None),
        ],
    )
}

fn no_pk() -> TableSchema {
    table(
        "public",
        "no_pk",
        ReplicaIdentity::Full,
        vec![
            col("a", base("int4"), -1, true, None),
            col("b", base("text"), -1, true, None),
        ],
    )
}

/// The `_small/changes.sql` workload shared by several option fixtures, as pgoutput sends it.
fn run_small_workload(f: &Fixture) {
    let cfg = config(f);
    let enc = TableEncoder::new(&customers(ReplicaIdentity::Default), &cfg).unwrap();
    let exp = streamed(f, enc.topic());
    let mut it = exp.iter();
    expect(
        &mut it,
        encode(
            &enc,
            Op::Create,
            None,
            Some(&[t("3"), t("Carol"), t("carol@example.com"), t("1.25")]),
        ),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            None,
            Some(&[t("2"), t("Bob"), t("bob@example.com"), N]),
        ),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            Some(&[t("2"), N, N, N]),
            Some(&[t("20"), t("Bob"), t("bob@example.com"), N]),
        ),
    );
    expect(
        &mut it,
        encode(&enc, Op::Delete, Some(&[t("3"), N, N, N]), None),
    );
    assert!(
        it.next().is_none(),
        "{}: Debezium emitted more customers records",
        f.name
    );

    let enc = TableEncoder::new(&orders(), &cfg).unwrap();
    let exp = streamed(f, enc.topic());
    let mut it = exp.iter();
    let o10 = [t("10"), t("1"), t("new"), t("99.90"), t("first")];
    let o11 = [t("11"), t("2"), t("paid"), t("0.01"), N];
    let o12 = [t("12"), t("3"), t("new"), t("5.00"), t("streamed")];
    expect(&mut it, encode(&enc, Op::Create, None, Some(&o12)));
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            Some(&o10),
            Some(&[t("10"), t("1"), t("shipped"), t("99.90"), t("first")]),
        ),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            Some(&o11),
            Some(&[t("11"), t("5"), t("paid"), t("0.01"), N]),
        ),
    );
    expect(&mut it, encode(&enc, Op::Delete, Some(&o12), None));
    assert!(
        it.next().is_none(),
        "{}: Debezium emitted more orders records",
        f.name
    );

    let enc = TableEncoder::new(&no_pk(), &cfg).unwrap();
    let exp = streamed(f, enc.topic());
    let mut it = exp.iter();
    expect(
        &mut it,
        encode(&enc, Op::Create, None, Some(&[t("3"), t("c")])),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            Some(&[t("2"), t("b")]),
            Some(&[t("2"), t("bb")]),
        ),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            Some(&[t("3"), t("c")]),
            Some(&[t("30"), t("c")]),
        ),
    );
    expect(
        &mut it,
        encode(&enc, Op::Delete, Some(&[t("1"), t("a")]), None),
    );
    expect(&mut it, encode(&enc, Op::Truncate, None, None));
    assert!(
        it.next().is_none(),
        "{}: Debezium emitted more no_pk records",
        f.name
    );
}

fn fixture(name: &str) -> Fixture {
    Fixture::load(&conformance::fixtures_dir().join(name)).unwrap()
}

#[test]
fn small_workload_under_each_option() {
    for name in [
        "tombstones_off",
        "key_columns",
        "column_exclude",
        "column_include",
        "schemas_disabled",
        "skipped_none",
    ] {
        run_small_workload(&fixture(name));
    }
}

#[test]
fn crud_semantics() {
    let f = fixture("crud");
    let cfg = config(&f);
    let mut cust = customers(ReplicaIdentity::Default);
    cust.columns[2].type_modifier = 104;
    let enc = TableEncoder::new(&cust, &cfg).unwrap();
    let exp = streamed(&f, enc.topic());
    let mut it = exp.iter();
    expect(
        &mut it,
        encode(
            &enc,
            Op::Create,
            None,
            Some(&[t("3"), t("Carol"), t("carol@example.com"), t("1.25")]),
        ),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            None,
            Some(&[t("2"), t("Bob"), t("bob@example.com"), N]),
        ),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            Some(&[t("2"), N, N, N]),
            Some(&[t("20"), t("Bob"), t("bob@example.com"), N]),
        ),
    );
    expect(
        &mut it,
        encode(&enc, Op::Delete, Some(&[t("3"), N, N, N]), None),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Create,
            None,
            Some(&[t("4"), t("Dan"), N, t("0.00")]),
        ),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            None,
            Some(&[t("4"), t("Daniel"), N, t("0.00")]),
        ),
    );
    expect(
        &mut it,
        encode(&enc, Op::Delete, Some(&[t("4"), N, N, N]), None),
    );
    assert!(it.next().is_none());

    // Composite key in primary-key order (b, a), not column order.
    let cpk = table(
        "public",
        "composite_pk",
        ReplicaIdentity::Default,
        vec![
            col("a", base("int4"), -1, false, Some(2)),
            col("b", base("text"), -1, false, Some(1)),
            col("v", base("text"), -1, true, None),
        ],
    );
    let enc = TableEncoder::new(&cpk, &cfg).unwrap();
    let exp = streamed(&f, enc.topic());
    let mut it = exp.iter();
    expect(
        &mut it,
        encode(&enc, Op::Update, None, Some(&[t("1"), t("x"), t("uno")])),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            Some(&[t("2"), t("x"), N]),
            Some(&[t("3"), t("x"), t("two")]),
        ),
    );
    expect(
        &mut it,
        encode(&enc, Op::Delete, Some(&[t("1"), t("x"), N]), None),
    );
    assert!(it.next().is_none());

    // No primary key, REPLICA IDENTITY USING INDEX: keyed by the index columns (the catalog
    // reports them as the key).
    let ui = table(
        "public",
        "unique_idx",
        ReplicaIdentity::Index,
        vec![
            col("id", base("int4"), -1, false, None),
            col("code", base("text"), -1, false, Some(1)),
            col("v", base("text"), -1, true, None),
        ],
    );
    let enc = TableEncoder::new(&ui, &cfg).unwrap();
    let exp = streamed(&f, enc.topic());
    let mut it = exp.iter();
    expect(
        &mut it,
        encode(&enc, Op::Update, None, Some(&[t("1"), t("A"), t("v1b")])),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            Some(&[N, t("B"), N]),
            Some(&[t("2"), t("BB"), t("v2")]),
        ),
    );
    expect(
        &mut it,
        encode(&enc, Op::Delete, Some(&[N, t("A"), N]), None),
    );
    assert!(it.next().is_none());

    // A keyless table that only sees inserts.
    let ins = table(
        "public",
        "no_pk_inserts",
        ReplicaIdentity::Default,
        vec![
            col("a", base("int4"), -1, true, None),
            col("b", base("text"), -1, true, None),
        ],
    );
    let enc = TableEncoder::new(&ins, &cfg).unwrap();
    let exp = streamed(&f, enc.topic());
    let mut it = exp.iter();
    expect(&mut it, encode(&enc, Op::Create, None, Some(&[t("2"), N])));
    // TRUNCATE is skipped by default.
    assert!(encode(&enc, Op::Truncate, None, None).is_empty());
    assert!(it.next().is_none());
}

#[test]
fn names_are_sanitized_like_debezium() {
    let f = fixture("names");
    let cfg = config(&f);
    let ol = table(
        "My-Schema",
        "Order Lines",
        ReplicaIdentity::Default,
        vec![
            col("Line No", base("int4"), -1, false, Some(1)),
            col("1st", base("text"), -1, true, None),
            col("dash-col", base("int4"), -1, true, None),
            col("ünï", base("text"), -1, true, None),
            col("$dollar", base("text"), -1, true, None),
            col("CamelCol", base("text"), -1, true, None),
            col("dot.col", base("text"), -1, true, None),
        ],
    );
    let enc = TableEncoder::new(&ol, &cfg).unwrap();
    assert_eq!(enc.topic(), "dbserver1.My-Schema.Order_Lines");
    let exp = streamed(&f, enc.topic());
    let mut it = exp.iter();
    let row = |k: &str, d: &str| [t(k), t("a"), t(d), t("b"), t("c"), t("d"), t("e")];
    expect(
        &mut it,
        encode(&enc, Op::Create, None, Some(&row("2", "3"))),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            Some(&[t("1"), N, N, N, N, N, N]),
            Some(&row("3", "2")),
        ),
    );
    assert!(it.next().is_none());
    let u = table(
        "public",
        "ünïcode",
        ReplicaIdentity::Default,
        vec![
            col("id", base("int4"), -1, false, Some(1)),
            col("v", base("text"), -1, true, None),
        ],
    );
    assert_eq!(
        TableEncoder::new(&u, &cfg).unwrap().topic(),
        "dbserver1.public._n_code"
    );
}

#[test]
fn unchanged_toast_placeholders() {
    let f = fixture("toast");
    let cfg = config(&f);
    let mut hstore = base("hstore");
    hstore.schema = "public".into();
    let toasty = table(
        "public",
        "toasty",
        ReplicaIdentity::Default,
        vec![
            col("id", base("int4"), -1, false, Some(1)),
            col("flag", base("int4"), -1, true, None),
            col("t", base("text"), -1, true, None),
            col("vc", base("varchar"), -1, true, None),
            col("jb", base("jsonb"), -1, true, None),
            col("j", base("json"), -1, true, None),
            col("x", base("xml"), -1, true, None),
            col("by", base("bytea"), -1, true, None),
            col(
                "ta",
                ty(
                    "_text",
                    PgTypeKind::Array {
                        element: Box::new(base("text")),
                    },
                ),
                -1,
                true,
                None,
            ),
            col(
                "ia",
                ty(
                    "_int4",
                    PgTypeKind::Array {
                        element: Box::new(base("int4")),
                    },
                ),
                -1,
                true,
                None,
            ),
            col("h", hstore, -1, true, None),
            col("small", base("text"), -1, true, None),
        ],
    );
    let enc = TableEncoder::new(&toasty, &cfg).unwrap();
    let exp = streamed(&f, enc.topic());
    let mut it = exp.iter();
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            None,
            Some(&[t("1"), t("1"), U, U, U, U, U, U, U, U, U, t("small")]),
        ),
    );
    expect(
        &mut it,
        encode(
            &enc,
            Op::Update,
            None,
            Some(&[
                t("2"),
                t("2"),
                t("now short"),
                U,
                U,
                U,
                U,
                U,
                U,
                U,
                U,
                t("small"),
            ]),
        ),
    );
    let key_only = [t("1"), N, N, N, N, N, N, N, N, N, N, N];
    expect(&mut it, encode(&enc, Op::Delete, Some(&key_only), None));
    assert!(it.next().is_none());
}

#[test]
fn full_identity_fills_unchanged_toast_from_the_old_row() {
    let cfg = EventConfig::from_properties(
        &BTreeMap::from([("topic.prefix".to_string(), "p".to_string())]),
        false,
        false,
    )
    .unwrap();
    let s = table(
        "public",
        "f",
        ReplicaIdentity::Full,
        vec![
            col("id", base("int4"), -1, false, Some(1)),
            col("big", base("text"), -1, true, None),
        ],
    );
    let enc = TableEncoder::new(&s, &cfg).unwrap();
    let recs = encode(
        &enc,
        Op::Update,
        Some(&[t("1"), t("long value")]),
        Some(&[t("1"), U]),
    );
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["value"]["after"]["big"], "long value");
    assert_eq!(recs[0]["value"]["before"]["big"], "long value");
    assert_eq!(recs[0]["key"], json!({"id": 1}));
}

#[test]
fn errors_name_table_and_column_not_the_value() {
    let cfg = EventConfig::with_defaults("p", "db");
    let s = table(
        "public",
        "secrets",
        ReplicaIdentity::Default,
        vec![
            col("id", base("int4"), -1, false, Some(1)),
            col("n", base("numeric"), -1, true, None),
        ],
    );
    let enc = TableEncoder::new(&s, &cfg).unwrap();
    let mut out = EncodedRecords::new();
    let err = enc
        .encode_change(
            &RowChange {
                op: Op::Create,
                before: None,
                after: Some(&[t("1"), t("hunter2")]),
            },
            &SourceInfo::default(),
            0,
            &mut out,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("public.secrets") && msg.contains("column n"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(out.is_empty());
    let err = enc
        .encode_change(
            &RowChange {
                op: Op::Create,
                before: None,
                after: Some(&[t("1")]),
            },
            &SourceInfo::default(),
            0,
            &mut out,
        )
        .unwrap_err();
    assert!(err.to_string().contains("1 values"), "{err}");
    let err = enc
        .encode_change(
            &RowChange {
                op: Op::Delete,
                before: None,
                after: None,
            },
            &SourceInfo::default(),
            0,
            &mut out,
        )
        .unwrap_err();
    assert!(err.to_string().contains("without the old row"), "{err}");
}
