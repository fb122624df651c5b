//! Kafka Connect's `JsonConverter`, both ways, for walcast's data model
//! ([`walcast_connect_api::Schema`], [`walcast_connect_api::Value`]).
//!
//! In: a Kafka key or value as bytes (what walcast's source or any Debezium/Connect producer
//! wrote). Out: an optional [`SchemaRef`] and a [`Value`] that transforms and sinks work on. And
//! back: a schema and value become the same bytes Connect would write, so a transformed record
//! can be dead-lettered or re-produced exactly as Connect would.
//!
//! With `schemas.enable=true` the JSON is the `{"schema": ..., "payload": ...}` envelope; the
//! schema is read like Connect's `asConnectSchema` and the payload converted per schema (bytes
//! and `Decimal` as base64, maps as an object when keys are strings, else as `[key, value]`
//! pairs). With `schemas.enable=false` the JSON is the bare payload and values are schemaless:
//! objects become [`Value::Map`] with string keys in order, integers [`Value::Int64`], other
//! numbers [`Value::Float64`].
//!
//! Like Connect (`replace.null.with.default=true`), a JSON null for a schema with a default reads
//! as the default, and a null value with a default writes the default.
//!
//! Speed (the sink reads every record through here): each distinct schema text is parsed once
//! per process and its `Arc` shared by every record that repeats it; an envelope in
//! JsonConverter's compact form with a known schema is matched byte for byte instead of being
//! scanned; payloads are read straight from the bytes per schema (`seed`), without an
//! intermediate `serde_json::Value`, and the common form of a row (fields in schema order, plain
//! strings, integers, booleans, nulls, base64 bytes) in one pass without serde (`fast`, which
//! hands anything else to `seed`). `examples/read_speed.rs` measures it.
//!
//! Errors say where in the document something is wrong (`payload.after.price: expected bytes
//! (base64)`), never the value itself: record values may be personal data.
//!
//! [`SchemaRef`]: walcast_connect_api::SchemaRef
//! [`Value`]: walcast_connect_api::Value
//! [`Value::Map`]: walcast_connect_api::Value::Map
//! [`Value::Int64`]: walcast_connect_api::Value::Int64
//! [`Value::Float64`]: walcast_connect_api::Value::Float64

mod error;
mod fast;
mod number;
mod reader;
mod schema;
mod seed;
mod tree;
mod writer;

pub use error::JsonError;
pub use reader::{read, read_projected};
pub use schema::schema_from_json;
pub use writer::{schema_to_json, value_to_json, write};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use serde_json::Value as Json;
    use walcast_connect_api::{logical, Value};

    use super::*;
    use crate::error::Path;
    use crate::number::unscaled_bytes;
    use crate::tree::to_connect;

    fn env(schema: &str, payload: &str) -> Vec<u8> {
        format!("{{\"schema\":{schema},\"payload\":{payload}}}").into_bytes()
    }

    /// The payload read straight from bytes (`seed`) gives what converting a parsed JSON tree
    /// (`to_connect`) gives: same values, same errors.
    fn same_as_tree(schema: &str, payload: &str) {
        let bytes = env(schema, payload);
        let direct = read(Some(&bytes), true);
        let tree = (|| {
            let s = schema_from_json(&serde_json::from_str(schema).unwrap())?;
            let json: Json =
                serde_json::from_str(payload).map_err(|e| JsonError::Syntax(e.to_string()))?;
            to_connect(Some(&Arc::new(s)), &json, &Path::Root("payload"))
        })();
        match (direct, tree) {
            // Compared as text: NaN is not equal to itself.
            (Ok((_, a)), Ok(b)) => {
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{schema} {payload}")
            }
            // Positions in syntax errors differ (envelope vs bare payload).
            (Err(JsonError::Syntax(_)), Err(JsonError::Syntax(_))) => {}
            (Err(a), Err(b)) => assert_eq!(a, b, "{schema} {payload}"),
            (a, b) => panic!("{schema} {payload}: direct {a:?} vs tree {b:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn direct_read_matches_tree_conversion(
            schema in r#"\{"type":"(int8|int16|int32|int64|float|double|boolean|string|bytes)"(,"optional":(true|false))?(,"name":"org\.apache\.kafka\.connect\.data\.Decimal","parameters":\{"scale":"[0-3]"\})?\}|\{"type":"(array|map|struct)","optional":(true|false),"items":\{"type":"int16"\},"keys":\{"type":"(string|int8)"\},"values":\{"type":"bytes","optional":true\},"fields":\[\{"type":"int32","field":"a"\}\]\}"#,
            payload in r#"null|true|-?[0-9]{1,21}(\.[0-9]{1,4})?|"(AQ==|NaN|x|-Infinity)"|\[\]|\[1,300\]|\[\["a","AQ=="\],\[1,null\]\]|\[\[1\]\]|\{"a":(1|null|"b")\}|\{\}"#,
        ) {
            same_as_tree(&schema, &payload);
        }
    }

    #[test]
    fn struct_fields_in_any_order_repeated_missing_or_unknown() {
        let schema = r#"{"type":"struct","optional":false,"fields":[{"type":"int32","field":"a"},{"type":"string","optional":true,"field":"b"},{"type":"int64","optional":true,"default":7,"field":"c"}]}"#;
        for payload in [
            r#"{"a":1,"b":"x","c":2}"#,
            r#"{"c":2,"a":1,"b":"x"}"#,
            r#"{"a":1,"c":2,"b":"x"}"#,
            r#"{"a":1,"b":"x","a":3}"#,
            r#"{"a":1,"a":3,"b":"y","c":4}"#,
            r#"{"a":1}"#,
            r#"{"a":1,"c":2}"#,
            r#"{"b":"x","a":1}"#,
            r#"{"z":0,"a":1,"q":[1],"b":"x","c":2}"#,
            r#"{"b":"x"}"#,
            r#"{}"#,
        ] {
            same_as_tree(schema, payload);
        }
        // Spot checks of what the oracle agrees on.
        let read_struct = |payload: &str| match read(Some(&env(schema, payload)), true) {
            Ok((_, Value::Struct(s))) => format!("{:?}", s.values),
            other => format!("{other:?}"),
        };
        assert_eq!(
            read_struct(r#"{"c":2,"a":1,"b":"x"}"#),
            format!(
                "{:?}",
                [Value::Int32(1), Value::String("x".into()), Value::Int64(2)]
            )
        );
        assert_eq!(
            read_struct(r#"{"a":1,"b":"x","a":3}"#),
            format!(
                "{:?}",
                [Value::Int32(3), Value::String("x".into()), Value::Int64(7)]
            )
        );
    }

    #[test]
    fn repeated_schemas_are_shared() {
        let schema = r#"{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false}"#;
        let (a, _) = read(Some(&env(schema, r#"{"id":1}"#)), true).unwrap();
        let (b, v) = read(Some(&env(schema, r#"{"id":2}"#)), true).unwrap();
        assert!(Arc::ptr_eq(a.as_ref().unwrap(), b.as_ref().unwrap()));
        assert!(Arc::ptr_eq(
            b.as_ref().unwrap(),
            &v.as_struct().unwrap().schema
        ));
        assert_eq!(v.get("id"), Some(&Value::Int32(2)));
        // The compact fast path (schema already cached) agrees with the general one, also
        // on what is not an envelope.
        let extra = format!("{{\"schema\":{schema},\"payload\":{{\"id\":3}},\"x\":1}}");
        assert_eq!(
            read(Some(extra.as_bytes()), true).unwrap_err(),
            JsonError::MissingEnvelope
        );
        let spaced = format!("{{ \"schema\": {schema}, \"payload\": {{\"id\":2}} }}");
        assert_eq!(read(Some(spaced.as_bytes()), true).unwrap().1, v);
        let bad = env(schema, r#"{"id":"2"}"#);
        assert_eq!(
            read(Some(&bad), true).unwrap_err().to_string(),
            "payload.id: expected int32 (an integer in range), found a string"
        );
        // A duplicated member is not an envelope; broken JSON inside one is a syntax error.
        let dup = br#"{"schema":null,"payload":1,"payload":2}"#;
        assert_eq!(
            read(Some(dup), true).unwrap_err(),
            JsonError::MissingEnvelope
        );
        let broken = br#"{"schema":null,"payload":[1,}"#;
        assert!(matches!(
            read(Some(broken), true),
            Err(JsonError::Syntax(_))
        ));
        assert_eq!(
            read(Some(b"[1]"), true).unwrap_err(),
            JsonError::MissingEnvelope
        );
    }

    #[test]
    fn projected_envelopes_build_only_the_kept_fields() {
        let row = r#"{"type":"struct","optional":true,"fields":[{"type":"int32","optional":false,"field":"id"}]}"#;
        let source = r#"{"type":"struct","optional":false,"fields":[{"type":"string","optional":false,"field":"db"}]}"#;
        let schema = format!(
            r#"{{"type":"struct","optional":false,"fields":[{},{},{},{{"type":"string","optional":false,"field":"op"}}]}}"#,
            row.replacen("{", r#"{"field":"before","#, 1),
            row.replacen("{", r#"{"field":"after","#, 1),
            source.replacen("{", r#"{"field":"source","#, 1)
        );
        let keep: &[&str] = &["before", "after", "op"];
        let event = env(
            &schema,
            r#"{"before":null,"after":{"id":7},"source":{"db":"x"},"op":"c"}"#,
        );
        // Twice: the general path, then the compact one with the schema cached.
        for _ in 0..2 {
            let (s, v) = read_projected(Some(&event), true, Some(keep)).unwrap();
            let whole = read(Some(&event), true).unwrap().1;
            assert_eq!(s.unwrap().fields.len(), 4);
            assert_eq!(v.get("after"), whole.get("after"));
            assert_eq!(v.get("op"), Some(&Value::String("c".into())));
            assert_eq!(v.get("source"), Some(&Value::Null));
            assert!(matches!(whole.get("source"), Some(Value::Struct(_))));
        }
        // Left-out fields are parsed (bad JSON is still an error), not checked against schema.
        let odd = env(
            &schema,
            r#"{"before":null,"after":{"id":7},"source":42,"op":"c"}"#,
        );
        assert!(read_projected(Some(&odd), true, Some(keep)).is_ok());
        assert!(read(Some(&odd), true).is_err());
        let broken = env(
            &schema,
            r#"{"before":null,"after":{"id":7},"source":[1,,"op":"c"}"#,
        );
        assert!(read_projected(Some(&broken), true, Some(keep)).is_err());
        // A value that is not an envelope is read whole.
        let plain = r#"{"type":"struct","optional":false,"fields":[{"type":"int32","optional":false,"field":"source"}]}"#;
        let (_, v) =
            read_projected(Some(&env(plain, r#"{"source":3}"#)), true, Some(keep)).unwrap();
        assert_eq!(v.get("source"), Some(&Value::Int32(3)));
    }

    #[test]
    fn text_is_utf8() {
        let (_, v) = read(Some("{\"k\":\"é\\u00e9\"}".as_bytes()), false).unwrap();
        assert_eq!(v.get("k"), Some(&Value::String("éé".into())));
        // Bytes that are not UTF-8 in a string value are refused, as before.
        let e = read(Some(b"{\"k\":\"\xff\"}"), false).unwrap_err();
        assert!(matches!(e, JsonError::Syntax(_)), "{e:?}");
    }

    #[test]
    fn tombstones_and_empty() {
        assert_eq!(read(None, true).unwrap(), (None, Value::Null));
        assert_eq!(read(Some(b""), false).unwrap(), (None, Value::Null));
        assert_eq!(write(None, &Value::Null, true), None);
    }

    #[test]
    fn envelope_required_with_schemas() {
        let e = read(Some(br#"{"a":1}"#), true).unwrap_err();
        assert_eq!(e, JsonError::MissingEnvelope);
        assert!(e.to_string().contains("schemas.enable=false"));
        let e = read(Some(br#"{"schema":null,"payload":1,"x":2}"#), true).unwrap_err();
        assert_eq!(e, JsonError::MissingEnvelope);
        assert!(matches!(read(Some(b"{"), true), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn schemaless_values() {
        let (s, v) = read(Some(br#"{"b":1,"a":[1.5,"x",true,null]}"#), false).unwrap();
        assert!(s.is_none());
        assert_eq!(
            v,
            Value::Map(vec![
                (Value::String("b".into()), Value::Int64(1)),
                (
                    Value::String("a".into()),
                    Value::Array(vec![
                        Value::Float64(1.5),
                        Value::String("x".into()),
                        Value::Boolean(true),
                        Value::Null
                    ])
                ),
            ])
        );
        assert_eq!(
            write(None, &v, false).unwrap(),
            br#"{"b":1,"a":[1.5,"x",true,null]}"#.to_vec()
        );
        // A schema-less envelope writes `"schema":null`, as Connect does.
        assert_eq!(
            write(None, &Value::Int64(3), true).unwrap(),
            br#"{"schema":null,"payload":3}"#.to_vec()
        );
    }

    #[test]
    fn errors_name_the_path_not_the_value() {
        let bytes = env(
            r#"{"type":"struct","fields":[{"type":"struct","optional":true,"field":"after","fields":[{"type":"bytes","optional":true,"field":"price"}]}]}"#,
            r#"{"after":{"price":12345}}"#,
        );
        let e = read(Some(&bytes), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "payload.after.price: expected bytes (base64), found a number"
        );
        let bytes = env(r#"{"type":"int8"}"#, "300");
        assert_eq!(
            read(Some(&bytes), true).unwrap_err().to_string(),
            "payload: int8 value out of range"
        );
        let bytes = env(r#"{"type":"string"}"#, "null");
        assert_eq!(
            read(Some(&bytes), true).unwrap_err().to_string(),
            "payload: invalid null value for required string field"
        );
        let bytes = env(r#"{"type":"struct","fields":[{"type":"int32"}]}"#, "{}");
        assert_eq!(
            read(Some(&bytes), true).unwrap_err().to_string(),
            "schema.fields[0]: struct schema's field must have a \"field\" name"
        );
        let bytes = env(r#"{"type":"varchar"}"#, "1");
        assert!(read(Some(&bytes), true)
            .unwrap_err()
            .to_string()
            .starts_with("schema.type: unknown schema type"));
    }

    #[test]
    fn maps_both_forms() {
        let bytes = env(
            r#"{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"string","optional":true},"optional":false}"#,
            r#"[[1,"a"],[2,null]]"#,
        );
        let (s, v) = read(Some(&bytes), true).unwrap();
        assert_eq!(
            v,
            Value::Map(vec![
                (Value::Int32(1), Value::String("a".into())),
                (Value::Int32(2), Value::Null)
            ])
        );
        assert_eq!(write(s.as_deref(), &v, true).unwrap(), bytes);
        let bytes = env(
            r#"{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int64","optional":false},"optional":true}"#,
            r#"{"x":1,"y":2}"#,
        );
        let (s, v) = read(Some(&bytes), true).unwrap();
        assert_eq!(write(s.as_deref(), &v, true).unwrap(), bytes);
    }

    #[test]
    fn defaults_replace_nulls() {
        let bytes = env(
            r#"{"type":"struct","fields":[{"type":"string","optional":true,"default":"d","field":"s"}],"optional":false}"#,
            r#"{"s":null}"#,
        );
        let (s, v) = read(Some(&bytes), true).unwrap();
        assert_eq!(v.get("s"), Some(&Value::String("d".into())));
        assert_eq!(
            value_to_json(s.as_deref(), &v),
            serde_json::json!({"s": "d"})
        );
    }

    #[test]
    fn decimals_from_base64_and_numbers() {
        let schema = r#"{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}}"#;
        let (s, v) = read(Some(&env(schema, r#""B88=""#)), true).unwrap();
        assert_eq!(v, Value::Bytes(vec![0x07, 0xCF]));
        let (_, n) = read(Some(&env(schema, "19.99")), true).unwrap();
        assert_eq!(n, v);
        let (_, n) = read(Some(&env(schema, "-19.99")), true).unwrap();
        assert_eq!(n, Value::Bytes(vec![0xF8, 0x31]));
        let (_, n) = read(Some(&env(schema, "20")), true).unwrap();
        assert_eq!(
            logical::as_decimal_text(s.as_deref().unwrap(), &n).unwrap(),
            "20.00"
        );
        assert!(read(Some(&env(schema, "1.234")), true).is_err());
        assert_eq!(unscaled_bytes("0", 2), Some(vec![0]));
        assert_eq!(unscaled_bytes("-1.28", 2), Some(vec![0x80]));
        assert_eq!(unscaled_bytes("-2.56", 2), Some(vec![0xFF, 0x00]));
        assert_eq!(unscaled_bytes("1.28", 2), Some(vec![0x00, 0x80]));
        assert_eq!(unscaled_bytes("1200", -2), Some(vec![0x0C]));
        assert_eq!(unscaled_bytes("1250", -2), None);
    }

    #[test]
    fn floats_keep_their_short_form() {
        let bytes = env(r#"{"type":"float","optional":false}"#, "0.1");
        let (s, v) = read(Some(&bytes), true).unwrap();
        assert_eq!(v, Value::Float32(0.1));
        assert_eq!(write(s.as_deref(), &v, true).unwrap(), bytes);
        assert_eq!(
            value_to_json(None, &Value::Float64(f64::NAN)),
            Json::from("NaN")
        );
        let bytes = env(r#"{"type":"double","optional":false}"#, r#""-Infinity""#);
        assert_eq!(
            read(Some(&bytes), true).unwrap().1,
            Value::Float64(f64::NEG_INFINITY)
        );
    }
}
