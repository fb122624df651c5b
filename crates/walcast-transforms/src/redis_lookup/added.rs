//! RedisLookup's added fields: looked-up values as Connect values, the check that a cached
//! output schema has exactly these added fields, and schemaless map updates.

use std::collections::HashMap;

use walcast_connect_api::{SchemaType, Value};

use super::lookup::{Added, LookupType};

/// The names and types of the fields one record gets added.
pub(super) type Signature = Vec<(String, SchemaType)>;

/// Connect value and schema type of an added value, for schema'd or schemaless rows. For
/// `type=json`, `json_types` remembers each field's last type, used while it is null.
pub(super) fn convert_added(
    kind: LookupType,
    json_types: &mut HashMap<String, SchemaType>,
    name: &str,
    added: Option<&Added>,
    schemaless: bool,
) -> (SchemaType, Value) {
    use serde_json::Value as J;
    let (t, v) = match added {
        None | Some(Added::Json(J::Null)) => {
            let t = if kind == LookupType::Json {
                json_types.get(name).copied().unwrap_or(SchemaType::String)
            } else {
                SchemaType::String
            };
            return (t, Value::Null);
        }
        Some(Added::Text(s)) => (SchemaType::String, Value::String(s.clone())),
        Some(Added::Json(j)) => match j {
            J::Bool(b) => (SchemaType::Boolean, Value::Boolean(*b)),
            J::Number(n) => match n.as_i64() {
                Some(i) => (SchemaType::Int64, Value::Int64(i)),
                None => (
                    SchemaType::Float64,
                    Value::Float64(n.as_f64().unwrap_or(f64::NAN)),
                ),
            },
            J::String(s) => (SchemaType::String, Value::String(s.clone())),
            other if schemaless => (SchemaType::String, json_to_value(other)),
            other => (SchemaType::String, Value::String(other.to_string())),
        },
    };
    if kind == LookupType::Json && json_types.get(name) != Some(&t) {
        json_types.insert(name.to_string(), t);
    }
    (t, v)
}

/// Whether a cached signature (prefixed names) is `prefix` + the names of `added`, same types.
pub(super) fn same_signature(
    sig: &Signature,
    prefix: &str,
    added: &[(&str, SchemaType, Value)],
) -> bool {
    sig.len() == added.len()
        && sig.iter().zip(added).all(|((full, t), (name, at, _))| {
            t == at
                && full.len() == prefix.len() + name.len()
                && full.starts_with(prefix)
                && full.ends_with(name)
        })
}

/// Put `key` in a schemaless map: replace in place, else append.
pub(super) fn map_put(map: &mut Vec<(Value, Value)>, key: &str, value: Value) {
    match map.iter().position(|(k, _)| k.as_str() == Some(key)) {
        Some(i) => map[i].1 = value,
        None => map.push((Value::String(key.to_string()), value)),
    }
}

/// A JSON value as a schemaless Connect value (JsonConverter's reading without schemas).
fn json_to_value(j: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => n.as_i64().map_or_else(
            || Value::Float64(n.as_f64().unwrap_or(f64::NAN)),
            Value::Int64,
        ),
        J::String(s) => Value::String(s.clone()),
        J::Array(a) => Value::Array(a.iter().map(json_to_value).collect()),
        J::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (Value::String(k.clone()), json_to_value(v)))
                .collect(),
        ),
    }
}
