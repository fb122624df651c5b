//! `org.apache.kafka.connect.transforms.InsertField$Value` / `$Key`: add the record's topic,
//! partition, offset, timestamp and a static string as fields.
//!
//! A field spec is a name, optionally suffixed `!` (a required field in the new schema) or `?`
//! (optional, the default). With a schema the new struct schema keeps the name, version, doc and
//! parameters, is required (Connect builds it with `SchemaBuilder.struct()`), and gets the new
//! fields last: topic `string`, partition `int32`, offset `int64`, timestamp Connect
//! `Timestamp`, static `string`. A null key/value passes untouched.

use std::sync::Arc;

use walcast_connect_api::ConfigKeyDef;
use walcast_connect_api::{logical, Field, Schema, SchemaRef, SchemaType, Struct, Value};
use walcast_connect_api::{
    ConfigIssue, ConnectRecord, ConnectorConfig, TransformError, Transformation,
};

use crate::read_config;
use crate::util::{kind, map_put, require_map, struct_basics, SchemaCache, Target};

pub(crate) const KEYS: &[ConfigKeyDef] = &[
    ConfigKeyDef {
        name: "topic.field",
        doc: "Field name for Kafka topic. Suffix with `!` to make this a required field, or `?` to keep it optional (the default).",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "partition.field",
        doc: "Field name for Kafka partition. Suffix with `!` to make this a required field, or `?` to keep it optional (the default).",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "offset.field",
        doc: "Field name for Kafka offset - only applicable to sink connectors. Suffix with `!` to make this a required field, or `?` to keep it optional (the default).",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "timestamp.field",
        doc: "Field name for record timestamp. Suffix with `!` to make this a required field, or `?` to keep it optional (the default).",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "static.field",
        doc: "Field name for static data field. Suffix with `!` to make this a required field, or `?` to keep it optional (the default).",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "static.value",
        doc: "Static field value, if field name configured.",
        ..ConfigKeyDef::BASE
    },
];

/// A field to insert: its name and whether its schema is optional.
#[derive(Debug, Clone)]
struct Spec {
    name: String,
    optional: bool,
}

impl Spec {
    fn parse(v: Option<String>) -> Option<Spec> {
        let v = v?;
        Some(if let Some(n) = v.strip_suffix('?') {
            Spec {
                name: n.to_string(),
                optional: true,
            }
        } else if let Some(n) = v.strip_suffix('!') {
            Spec {
                name: n.to_string(),
                optional: false,
            }
        } else {
            Spec {
                name: v,
                optional: true,
            }
        })
    }
}

struct InsertField {
    target: Target,
    topic: Option<Spec>,
    partition: Option<Spec>,
    offset: Option<Spec>,
    timestamp: Option<Spec>,
    static_field: Option<Spec>,
    static_value: Option<String>,
    cache: SchemaCache,
}

pub(crate) fn build(
    own: &ConnectorConfig,
    target: Target,
) -> Result<Box<dyn Transformation>, Vec<ConfigIssue>> {
    let (values, mut issues) = read_config(own, KEYS)?;
    let spec = |k: &str| Spec::parse(values.opt_string(k));
    let t = InsertField {
        target,
        topic: spec("topic.field"),
        partition: spec("partition.field"),
        offset: spec("offset.field"),
        timestamp: spec("timestamp.field"),
        static_field: spec("static.field"),
        static_value: values.get("static.value").map(str::to_string),
        cache: SchemaCache::default(),
    };
    let names: Vec<&str> = [
        &t.topic,
        &t.partition,
        &t.offset,
        &t.timestamp,
        &t.static_field,
    ]
    .into_iter()
    .flatten()
    .map(|s| s.name.as_str())
    .collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            issues.push(ConfigIssue::new(
                "topic.field",
                format!("Field name {n} is configured for more than one inserted field."),
            ));
        }
    }
    if issues.is_empty() {
        Ok(Box::new(t))
    } else {
        Err(issues)
    }
}

fn field_schema(kind: SchemaType, optional: bool) -> Schema {
    Schema {
        optional,
        ..Schema::primitive(kind)
    }
}

impl InsertField {
    fn updated_schema(&mut self, schema: &SchemaRef) -> Result<SchemaRef, TransformError> {
        if let Some(hit) = self.cache.get(&[schema]) {
            return Ok(hit);
        }
        let mut s = struct_basics(schema);
        s.fields = schema.fields.clone();
        let mut add = |spec: &Option<Spec>, field: Schema| -> Result<(), TransformError> {
            if let Some(spec) = spec {
                if s.field(&spec.name).is_some() {
                    return Err(TransformError::new(format!(
                        "Cannot create field because of field name duplication {}",
                        spec.name
                    )));
                }
                let field = Schema {
                    optional: spec.optional,
                    ..field
                };
                s.fields.push(Field::new(spec.name.clone(), field));
            }
            Ok(())
        };
        add(&self.topic, field_schema(SchemaType::String, true))?;
        add(&self.partition, field_schema(SchemaType::Int32, true))?;
        add(&self.offset, field_schema(SchemaType::Int64, true))?;
        let mut ts = field_schema(SchemaType::Int64, true).named(logical::TIMESTAMP);
        ts.version = Some(1);
        add(&self.timestamp, ts)?;
        add(&self.static_field, field_schema(SchemaType::String, true))?;
        let s = Arc::new(s);
        self.cache.put(&[schema], Arc::clone(&s));
        Ok(s)
    }

    /// The (name, value) pairs to insert into this record.
    fn inserts(&self, record: &ConnectRecord) -> Result<Vec<(&str, Value)>, TransformError> {
        let mut out = Vec::new();
        if let Some(s) = &self.topic {
            out.push((s.name.as_str(), Value::String(record.topic.clone())));
        }
        if let (Some(s), Some(p)) = (&self.partition, record.partition) {
            out.push((s.name.as_str(), Value::Int32(p)));
        }
        if let Some(s) = &self.offset {
            let Some(o) = record.offset else {
                return Err(TransformError::new(
                    "Offset insertion is only supported for sink connectors (the record has no Kafka offset yet)",
                ));
            };
            out.push((s.name.as_str(), Value::Int64(o)));
        }
        if let (Some(s), Some(ts)) = (&self.timestamp, record.timestamp_ms) {
            out.push((s.name.as_str(), Value::Int64(ts)));
        }
        if let (Some(s), Some(v)) = (&self.static_field, &self.static_value) {
            out.push((s.name.as_str(), Value::String(v.clone())));
        }
        Ok(out)
    }
}

impl Transformation for InsertField {
    fn apply(
        &mut self,
        mut record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, TransformError> {
        let t = self.target;
        if t.value(&record).is_null() {
            return Ok(Some(record));
        }
        let inserts = self
            .inserts(&record)?
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect::<Vec<_>>();
        let (schema, value) = t.take(&mut record);
        match schema {
            None => {
                let mut map = require_map(value, t, "field insertion")?;
                for (n, v) in inserts {
                    map_put(&mut map, &n, v);
                }
                t.put(&mut record, None, Value::Map(map));
            }
            Some(schema) => {
                let Value::Struct(old) = value else {
                    return Err(TransformError::new(format!(
                        "Can only operate on Struct types: found {} {}",
                        kind(&value),
                        t.name()
                    )));
                };
                let new_schema = self.updated_schema(&old.schema)?;
                let mut st = Struct {
                    schema: Arc::clone(&new_schema),
                    values: old.values,
                };
                st.values.resize(new_schema.fields.len(), Value::Null);
                for (n, v) in inserts {
                    st.put(&n, v);
                }
                drop(schema);
                t.put(&mut record, Some(new_schema), Value::Struct(st));
            }
        }
        Ok(Some(record))
    }
}
