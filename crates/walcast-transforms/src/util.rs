//! Pieces the transforms share: which half of a record they work on, and Connect's
//! `requireStruct`/`requireMap` and `SchemaUtil.copySchemaBasics`.

use std::sync::Arc;

use walcast_connect_api::{ConnectRecord, TransformError};
use walcast_connect_api::{Schema, SchemaRef, SchemaType, Struct, Value};

/// The `$Key` or `$Value` variant of a transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Key,
    Value,
}

impl Target {
    pub(crate) fn value(self, r: &ConnectRecord) -> &Value {
        match self {
            Target::Key => &r.key,
            Target::Value => &r.value,
        }
    }

    /// Take the schema and value out of the record (leaving nulls), to rebuild them.
    pub(crate) fn take(self, r: &mut ConnectRecord) -> (Option<SchemaRef>, Value) {
        match self {
            Target::Key => (
                r.key_schema.take(),
                std::mem::replace(&mut r.key, Value::Null),
            ),
            Target::Value => (
                r.value_schema.take(),
                std::mem::replace(&mut r.value, Value::Null),
            ),
        }
    }

    pub(crate) fn put(self, r: &mut ConnectRecord, schema: Option<SchemaRef>, value: Value) {
        match self {
            Target::Key => {
                r.key_schema = schema;
                r.key = value;
            }
            Target::Value => {
                r.value_schema = schema;
                r.value = value;
            }
        }
    }

    /// Put a rebuilt struct back: `schema` is both the half's schema and the struct's.
    pub(crate) fn put_struct(self, r: &mut ConnectRecord, schema: SchemaRef, values: Vec<Value>) {
        self.put(
            r,
            Some(Arc::clone(&schema)),
            Value::Struct(Struct { schema, values }),
        );
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::Key => "key",
            Target::Value => "value",
        }
    }
}

/// What kind of value something is, for errors (never its content).
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int8(_) => "int8",
        Value::Int16(_) => "int16",
        Value::Int32(_) => "int32",
        Value::Int64(_) => "int64",
        Value::Float32(_) => "float32",
        Value::Float64(_) => "float64",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Struct(_) => "struct",
    }
}

/// Connect's `requireStruct`: a schema'd record's key/value must be a struct.
pub(crate) fn require_struct(
    value: Value,
    target: Target,
    purpose: &str,
) -> Result<Struct, TransformError> {
    match value {
        Value::Struct(s) => Ok(s),
        other => Err(TransformError::new(format!(
            "Only Struct objects supported for [{purpose}], found: {} {}",
            kind(&other),
            target.name()
        ))),
    }
}

/// Connect's `requireMap`: a schemaless record's key/value must be a map.
pub(crate) fn require_map(
    value: Value,
    target: Target,
    purpose: &str,
) -> Result<Vec<(Value, Value)>, TransformError> {
    match value {
        Value::Map(m) => Ok(m),
        other => Err(TransformError::new(format!(
            "Only Map objects supported in absence of schema for [{purpose}], found: {} {}",
            kind(&other),
            target.name()
        ))),
    }
}

/// `SchemaUtil.copySchemaBasics(schema, SchemaBuilder.struct())`: a required struct schema with
/// the name, version, doc and parameters of `schema` and no fields yet.
pub(crate) fn struct_basics(schema: &Schema) -> Schema {
    Schema {
        name: schema.name.clone(),
        version: schema.version,
        doc: schema.doc.clone(),
        parameters: schema.parameters.clone(),
        ..Schema::primitive(SchemaType::Struct)
    }
}

/// Position of a string key in a schemaless map.
pub(crate) fn map_index(map: &[(Value, Value)], key: &str) -> Option<usize> {
    map.iter().position(|(k, _)| k.as_str() == Some(key))
}

/// Put `key` in a schemaless map: replace the value in place, else append (`HashMap.put`).
pub(crate) fn map_put(map: &mut Vec<(Value, Value)>, key: &str, value: Value) {
    match map_index(map, key) {
        Some(i) => map[i].1 = value,
        None => map.push((Value::String(key.to_string()), value)),
    }
}

/// How many input schemas a transform remembers the output schema of (Connect keeps an LRU of
/// 16 per transform). A multi-table topic or a regex-subscribed sink alternates between several.
const SCHEMA_CACHE_SIZE: usize = 16;

/// Output schemas by the input schema(s) they were made from, most recent last. Lookups compare
/// pointers first (records read by `walcast-json` share one `Arc` per schema) and fall back to
/// equality.
#[derive(Debug)]
pub(crate) struct SchemaCache<V = SchemaRef> {
    entries: Vec<(Vec<SchemaRef>, V)>,
}

impl<V> Default for SchemaCache<V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<V: Clone> SchemaCache<V> {
    pub(crate) fn get(&mut self, key: &[&SchemaRef]) -> Option<V> {
        let same = |a: &SchemaRef, b: &SchemaRef| Arc::ptr_eq(a, b) || **a == **b;
        let i = self.entries.iter().rposition(|(k, _)| {
            k.len() == key.len() && k.iter().zip(key).all(|(a, b)| same(a, b))
        })?;
        let hit = self.entries[i].1.clone();
        if i + 1 != self.entries.len() {
            let e = self.entries.remove(i);
            self.entries.push(e);
        }
        Some(hit)
    }

    pub(crate) fn put(&mut self, key: &[&SchemaRef], value: V) {
        if self.entries.len() >= SCHEMA_CACHE_SIZE {
            self.entries.remove(0);
        }
        self.entries
            .push((key.iter().map(|k| Arc::clone(k)).collect(), value));
    }
}
