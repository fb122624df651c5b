//! A Connect schema and value to bytes (`fromConnectData`), as JsonConverter writes them.

use base64::Engine;
use serde_json::{Map as JsonMap, Number, Value as Json};
use walcast_connect_api::{Schema, SchemaType, Value};

/// Write a key or value as Connect's JsonConverter does: `None` (null bytes) for a null value
/// without schema (a tombstone), else the envelope (`schemas_enable`) or the bare payload.
pub fn write(schema: Option<&Schema>, value: &Value, schemas_enable: bool) -> Option<Vec<u8>> {
    if schema.is_none() && value.is_null() {
        return None;
    }
    let payload = value_to_json(schema, value);
    let json = if schemas_enable {
        let mut envelope = JsonMap::with_capacity(2);
        envelope.insert(
            "schema".into(),
            schema.map(schema_to_json).unwrap_or(Json::Null),
        );
        envelope.insert("payload".into(), payload);
        Json::Object(envelope)
    } else {
        payload
    };
    // Serialising a `serde_json::Value` to a Vec cannot fail (string keys, finite numbers).
    Some(serde_json::to_vec(&json).unwrap_or_default())
}

/// A schema as JsonConverter writes it in the envelope's `"schema"` (`asJsonSchema`): type,
/// nested schemas, optional, name, version, doc, parameters, default, in that order; struct
/// fields carry their name as `"field"` last.
pub fn schema_to_json(schema: &Schema) -> Json {
    let mut o = JsonMap::new();
    o.insert("type".into(), Json::from(schema.kind.json_name()));
    match schema.kind {
        SchemaType::Struct => {
            let fields = schema
                .fields
                .iter()
                .map(|f| {
                    let mut j = schema_to_json(&f.schema);
                    if let Json::Object(m) = &mut j {
                        m.insert("field".into(), Json::from(f.name.as_str()));
                    }
                    j
                })
                .collect();
            o.insert("fields".into(), Json::Array(fields));
        }
        SchemaType::Array => {
            if let Some(items) = &schema.value_schema {
                o.insert("items".into(), schema_to_json(items));
            }
        }
        SchemaType::Map => {
            if let Some(keys) = &schema.key_schema {
                o.insert("keys".into(), schema_to_json(keys));
            }
            if let Some(values) = &schema.value_schema {
                o.insert("values".into(), schema_to_json(values));
            }
        }
        _ => {}
    }
    o.insert("optional".into(), Json::Bool(schema.optional));
    if let Some(name) = &schema.name {
        o.insert("name".into(), Json::from(name.as_str()));
    }
    if let Some(version) = schema.version {
        o.insert("version".into(), Json::from(version));
    }
    if let Some(doc) = &schema.doc {
        o.insert("doc".into(), Json::from(doc.as_str()));
    }
    if !schema.parameters.is_empty() {
        let params = schema
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), Json::from(v.as_str())))
            .collect();
        o.insert("parameters".into(), Json::Object(params));
    }
    if let Some(default) = &schema.default {
        o.insert("default".into(), value_to_json(Some(schema), default));
    }
    Json::Object(o)
}

/// A value as JsonConverter writes it in a payload (`convertToJson`). With a schema, a null is
/// written as the schema's default when it has one; bytes and `Decimal` are base64; maps with
/// string keys are objects, other maps arrays of `[key, value]` pairs.
pub fn value_to_json(schema: Option<&Schema>, value: &Value) -> Json {
    match value {
        Value::Null => match schema.and_then(|s| s.default.as_ref()) {
            Some(default) if !default.is_null() => value_to_json(schema, default),
            _ => Json::Null,
        },
        Value::Boolean(b) => Json::Bool(*b),
        Value::Int8(v) => Json::from(*v),
        Value::Int16(v) => Json::from(*v),
        Value::Int32(v) => Json::from(*v),
        Value::Int64(v) => Json::from(*v),
        // Via the shortest decimal text of the f32, so 0.1f32 writes `0.1` as Java does.
        Value::Float32(v) => float_json(v.to_string().parse::<f64>().unwrap_or(f64::from(*v))),
        Value::Float64(v) => float_json(*v),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.value_schema.as_deref());
            Json::Array(
                items
                    .iter()
                    .map(|v| value_to_json(item_schema, v))
                    .collect(),
            )
        }
        Value::Map(entries) => {
            let ks = schema.and_then(|s| s.key_schema.as_deref());
            let vs = schema.and_then(|s| s.value_schema.as_deref());
            let string_keys = match ks {
                Some(k) => k.kind == SchemaType::String,
                None => entries.iter().all(|(k, _)| matches!(k, Value::String(_))),
            };
            if string_keys {
                let mut o = JsonMap::with_capacity(entries.len());
                for (k, v) in entries {
                    if let Value::String(k) = k {
                        o.insert(k.clone(), value_to_json(vs, v));
                    }
                }
                Json::Object(o)
            } else {
                Json::Array(
                    entries
                        .iter()
                        .map(|(k, v)| Json::Array(vec![value_to_json(ks, k), value_to_json(vs, v)]))
                        .collect(),
                )
            }
        }
        Value::Struct(s) => {
            let mut o = JsonMap::with_capacity(s.values.len());
            for (f, v) in s.iter() {
                o.insert(f.name.clone(), value_to_json(Some(&f.schema), v));
            }
            Json::Object(o)
        }
    }
}

/// A finite float as a JSON number; NaN and infinities as the strings Jackson writes.
fn float_json(v: f64) -> Json {
    match Number::from_f64(v) {
        Some(n) => Json::Number(n),
        None if v.is_nan() => Json::from("NaN"),
        None if v > 0.0 => Json::from("Infinity"),
        None => Json::from("-Infinity"),
    }
}
