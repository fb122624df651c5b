//! The chain's contract (one outcome per record, in order; predicates; failures per record) and
//! the transforms on inputs the reference fixtures do not cover: schemaless values, whole-value
//! conversions, bad records and bad configs.

use std::collections::BTreeMap;
use std::sync::Arc;

use walcast_connect_api::{ConnectRecord, ConnectorConfig, Header};
use walcast_connect_api::{Field, Schema, SchemaRef, SchemaType, Struct, Value};
use walcast_transforms::{validate, Outcome, TransformChain};

fn cfg(pairs: &[(&str, &str)]) -> ConnectorConfig {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<BTreeMap<_, _>>()
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Value::String(k.to_string()), v.clone()))
            .collect(),
    )
}

fn record(topic: &str, value_schema: Option<SchemaRef>, value: Value) -> ConnectRecord {
    ConnectRecord {
        topic: topic.to_string(),
        partition: Some(3),
        offset: Some(42),
        timestamp_ms: Some(1_709_214_330_123),
        key_schema: None,
        key: Value::String("k".into()),
        value_schema,
        value,
        headers: Vec::new(),
    }
}

fn kept(o: &Outcome) -> &ConnectRecord {
    match o {
        Outcome::Keep(r) => r,
        other => panic!("expected a kept record, got {other:?}"),
    }
}

async fn run(config: &[(&str, &str)], records: Vec<ConnectRecord>) -> Vec<Outcome> {
    let mut chain = TransformChain::from_config(&cfg(config)).expect("valid chain");
    chain.apply_batch(records).await.expect("no batch failure")
}

#[tokio::test]
async fn one_outcome_per_record_in_input_order() {
    let config = [
        ("transforms", "unwrap,ins"),
        ("transforms.unwrap.type", "ExtractNewRecordState"),
        ("transforms.ins.type", "InsertField$Value"),
        ("transforms.ins.offset.field", "off"),
    ];
    let mut source_record = record("t", None, map(&[("a", Value::Int64(1))]));
    source_record.offset = None;
    let outcomes = run(
        &config,
        vec![
            record("t", None, map(&[("a", Value::Int64(1))])),
            record("t", None, Value::Null),
            source_record,
            record("t", None, map(&[("a", Value::Int64(2))])),
        ],
    )
    .await;
    assert_eq!(outcomes.len(), 4);
    assert_eq!(kept(&outcomes[0]).value.get("off"), Some(&Value::Int64(42)));
    assert_eq!(
        outcomes[1],
        Outcome::Dropped,
        "unwrap drops tombstones by default"
    );
    match &outcomes[2] {
        Outcome::Failed(e) => {
            assert!(
                e.message.starts_with("transform ins: Offset insertion"),
                "{e}"
            );
            assert!(!e.transient);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(kept(&outcomes[3]).value.get("a"), Some(&Value::Int64(2)));
}

#[tokio::test]
async fn predicates_gate_transforms_and_negate_inverts() {
    let config = [
        ("transforms", "a,b"),
        ("transforms.a.type", "RegexRouter"),
        ("transforms.a.regex", "orders"),
        ("transforms.a.replacement", "matched"),
        (
            "transforms.b.type",
            "org.apache.kafka.connect.transforms.InsertField$Value",
        ),
        ("transforms.b.static.field", "tag"),
        ("transforms.b.static.value", "x"),
        ("transforms.b.predicate", "has"),
        ("transforms.b.negate", "true"),
        ("predicates", "has"),
        ("predicates.has.type", "HasHeaderKey"),
        ("predicates.has.name", "skip"),
    ];
    let mut with_header = record("orders", None, map(&[]));
    with_header.headers.push(Header {
        key: "skip".into(),
        schema: None,
        value: Value::Bytes(b"1".to_vec()),
    });
    let outcomes = run(
        &config,
        vec![
            with_header,
            record("orders", None, map(&[])),
            record("orders2", None, map(&[])),
        ],
    )
    .await;
    let (a, b, c) = (kept(&outcomes[0]), kept(&outcomes[1]), kept(&outcomes[2]));
    assert_eq!((a.topic.as_str(), a.value.get("tag")), ("matched", None));
    assert_eq!(b.value.get("tag"), Some(&Value::String("x".into())));
    assert_eq!(c.topic, "orders2", "the regex must match the whole topic");
}

#[tokio::test]
async fn replace_field_schemaless_and_struct_keys() {
    let key_schema: SchemaRef = Arc::new(
        Schema::structure(
            Some("k.Key".into()),
            vec![
                Field::new("id", Schema::primitive(SchemaType::Int32)),
                Field::new("tenant", Schema::optional(SchemaType::String)),
            ],
        )
        .into_optional(),
    );
    let mut r = record(
        "t",
        None,
        map(&[
            ("a", Value::Int64(1)),
            ("b", Value::Int64(2)),
            ("c", Value::Int64(3)),
        ]),
    );
    r.key_schema = Some(Arc::clone(&key_schema));
    r.key = Value::Struct(Struct {
        schema: key_schema,
        values: vec![Value::Int32(7), Value::Null],
    });
    let outcomes = run(
        &[
            ("transforms", "v,k"),
            ("transforms.v.type", "ReplaceField$Value"),
            ("transforms.v.include", "a,b"),
            ("transforms.v.renames", "a:alpha"),
            ("transforms.k.type", "ReplaceField$Key"),
            ("transforms.k.exclude", "tenant"),
            ("transforms.k.renames", "id:pk"),
        ],
        vec![r],
    )
    .await;
    let r = kept(&outcomes[0]);
    assert_eq!(
        r.value,
        map(&[("alpha", Value::Int64(1)), ("b", Value::Int64(2))])
    );
    let ks = r.key_schema.as_ref().expect("key schema");
    assert_eq!(ks.name.as_deref(), Some("k.Key"));
    assert!(
        !ks.optional,
        "Connect's copySchemaBasics makes the struct required"
    );
    assert_eq!(ks.fields.len(), 1);
    assert_eq!(r.key.get("pk"), Some(&Value::Int32(7)));
}

#[tokio::test]
async fn bad_records_fail_alone_with_messages_free_of_values() {
    let ts_schema: SchemaRef = Arc::new(Schema::optional(SchemaType::String));
    let outcomes = run(
        &[
            ("transforms", "ts"),
            ("transforms.ts.type", "TimestampConverter$Value"),
            ("transforms.ts.target.type", "unix"),
            ("transforms.ts.format", "yyyy-MM-dd"),
        ],
        vec![
            record(
                "t",
                Some(Arc::clone(&ts_schema)),
                Value::String("secret-not-a-date".into()),
            ),
            record(
                "t",
                Some(Arc::clone(&ts_schema)),
                Value::String("2024-02-29".into()),
            ),
            record("t", None, Value::Boolean(true)),
        ],
    )
    .await;
    match &outcomes[0] {
        Outcome::Failed(e) => {
            assert!(
                e.message.contains("does not match format yyyy-MM-dd"),
                "{e}"
            );
            assert!(!e.message.contains("secret"), "{e}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let r = kept(&outcomes[1]);
    assert_eq!(r.value, Value::Int64(1_709_164_800_000));
    let s = r.value_schema.as_ref().expect("schema");
    assert_eq!(
        (s.kind, s.optional, s.name.as_deref()),
        (SchemaType::Int64, true, None)
    );
    assert!(matches!(&outcomes[2], Outcome::Failed(e) if e.message.contains("boolean")));
}

#[tokio::test]
async fn timestamp_converter_whole_values_and_schemaless_fields() {
    let outcomes = run(
        &[
            ("transforms", "d,f"),
            ("transforms.d.type", "TimestampConverter$Key"),
            ("transforms.d.target.type", "Date"),
            ("transforms.f.type", "TimestampConverter$Value"),
            ("transforms.f.field", "at"),
            ("transforms.f.target.type", "string"),
            ("transforms.f.format", "yyyy-MM-dd HH:mm:ss.SSS"),
            ("transforms.f.unix.precision", "seconds"),
        ],
        vec![{
            let mut r = record("t", None, map(&[("at", Value::Int64(1_709_214_330))]));
            r.key_schema = Some(Arc::new(
                Schema::primitive(SchemaType::Int64).named(walcast_connect_api::logical::TIMESTAMP),
            ));
            r.key = Value::Int64(-1);
            r
        }],
    )
    .await;
    let r = kept(&outcomes[0]);
    assert_eq!(
        r.key,
        Value::Int32(-1),
        "a millisecond before the epoch is the day before"
    );
    let ks = r.key_schema.as_ref().expect("key schema");
    assert_eq!(ks.name.as_deref(), Some(walcast_connect_api::logical::DATE));
    assert!(!ks.optional);
    assert_eq!(
        r.value.get("at"),
        Some(&Value::String("2024-02-29 13:45:30.000".into()))
    );
}

#[test]
fn config_issues_name_full_keys() {
    let issues = validate(&cfg(&[
        ("transforms", "a,b,c,a"),
        ("transforms.a.type", "TimestampConverter$Value"),
        ("transforms.a.target.type", "string"),
        ("transforms.b.type", "ExtractNewRecordState"),
        ("transforms.b.add.fields", "op,a.b.c"),
        ("transforms.c.type", "InsertField$Value"),
        ("transforms.c.predicate", "p"),
        ("predicates", "p"),
        ("predicates.p.type", "TopicNameMatch"),
    ]));
    let find = |key: &str| {
        issues
            .iter()
            .find(|i| i.key == key)
            .unwrap_or_else(|| panic!("no issue for {key}: {issues:?}"))
    };
    assert!(find("transforms.a.format")
        .message
        .contains("format option"));
    assert!(find("transforms.b.add.fields").message.contains("a.b.c"));
    assert!(find("transforms").message.contains("Duplicate alias"));
    assert!(find("predicates.p.type")
        .message
        .contains("Did you mean \"TopicNameMatches\""));
    let issues = validate(&cfg(&[
        ("transforms", "r"),
        ("transforms.r.type", "RegexRouter"),
        ("transforms.r.regex", "(a)"),
        ("transforms.r.replacement", "$2"),
    ]));
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].key, "transforms.r.replacement");
    let issues = validate(&cfg(&[
        ("transforms", "t"),
        ("transforms.t.type", "TimestampConverter$Value"),
        ("transforms.t.target.type", "Instant"),
    ]));
    assert_eq!(issues[0].key, "transforms.t.target.type", "{issues:?}");
}

#[tokio::test]
async fn a_chain_runs_on_a_spawned_task() {
    // The sink runs chains inside spawned tasks: the chain and its batch future must be Send.
    let mut chain = TransformChain::from_config(&cfg(&[
        ("transforms", "r"),
        ("transforms.r.type", "RegexRouter"),
        ("transforms.r.regex", "(.*)"),
        ("transforms.r.replacement", "x.$1"),
    ]))
    .expect("valid chain");
    let outcomes = tokio::spawn(async move {
        chain
            .apply_batch(vec![record("t", None, Value::Null)])
            .await
    })
    .await
    .expect("task")
    .expect("batch");
    assert_eq!(kept(&outcomes[0]).topic, "x.t");
}
