//! `io.debezium.transforms.ExtractNewRecordState` ("unwrap"): a Debezium change event envelope
//! becomes the row it describes, as Debezium 3's class does.
//!
//! - `c`/`r`/`u`: the value is `after`, with a required struct schema named like `after`'s.
//! - `d`, per `delete.tombstone.handling.mode`: `drop` drops it; `tombstone` (the default) makes
//!   it a tombstone (null value and schema); `rewrite` and `rewrite-with-tombstone` make it the
//!   `before` row with `__deleted: "true"` (and every other row gets `"false"`).
//! - A tombstone (null value) is kept only by `rewrite-with-tombstone`; an event with neither
//!   `before` nor `after` (a truncate) is dropped.
//! - The deprecated `drop.tombstones` and `delete.handling.mode` (drop|rewrite|none) keep their
//!   Debezium 2 meaning when `delete.tombstone.handling.mode` is unset (Debezium 3 ignores them).
//! - `add.fields` / `add.headers`: envelope or `source` fields (`op`, `ts_ms`, `table`,
//!   `source.ts_ms`, `transaction.id`...), each `field[:newname]`, added as optional fields
//!   named `<prefix><newname or struct_field>` (prefix `add.fields.prefix`/`add.headers.prefix`,
//!   default `__`); a field the event does not have is left out.
//! - `route.by.field`: the record's topic becomes the value of that field of the row (`before`
//!   for a delete, also when it becomes a tombstone), unless that value is null or blank.
//!
//! Values that are not envelopes (schemaless records, heartbeats, logical messages) pass
//! unchanged.

use std::sync::Arc;

use walcast_connect_api::ConfigKeyDef;
use walcast_connect_api::{
    ConfigIssue, ConnectRecord, ConnectorConfig, Header, Importance, TransformError, Transformation,
};
use walcast_connect_api::{Field, Schema, SchemaRef, SchemaType, Struct, Value};

use crate::read_config;
use crate::util::{struct_basics, SchemaCache};

pub(crate) const KEYS: &[ConfigKeyDef] = &[
    ConfigKeyDef {
        name: "delete.tombstone.handling.mode",
        valid: &["drop", "tombstone", "rewrite", "rewrite-with-tombstone"],
        doc: "What to do with delete events and tombstones: drop (both dropped), tombstone (a delete becomes a tombstone; tombstones dropped; the default), rewrite (a delete becomes the `before` row with `__deleted=true`; tombstones dropped), rewrite-with-tombstone (as rewrite, tombstones kept).",
        importance: Importance::Medium,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "drop.tombstones",
        kind: "BOOLEAN",
        doc: "Deprecated (use delete.tombstone.handling.mode): drop tombstones (default true).",
        importance: Importance::Low,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "delete.handling.mode",
        valid: &["drop", "rewrite", "none"],
        doc: "Deprecated (use delete.tombstone.handling.mode): drop, rewrite or pass (none) delete events (default drop).",
        importance: Importance::Low,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "add.fields",
        kind: "LIST",
        default: Some(""),
        doc: "Envelope or source fields to add to the row, `field[:newname]`, e.g. `op,source.ts_ms,table:tbl`.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "add.fields.prefix",
        default: Some("__"),
        doc: "Prefix of the added fields' names.",
        importance: Importance::Low,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "add.headers",
        kind: "LIST",
        default: Some(""),
        doc: "Envelope or source fields to add as headers, `field[:newname]`.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "add.headers.prefix",
        default: Some("__"),
        doc: "Prefix of the added headers' names.",
        importance: Importance::Low,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "route.by.field",
        default: Some(""),
        doc: "A field of the row whose value becomes the record's topic.",
        importance: Importance::Low,
        ..ConfigKeyDef::BASE
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deletes {
    Drop,
    ToTombstone,
    Rewrite,
}

/// One `add.fields`/`add.headers` entry: where the value is and what it is called.
#[derive(Debug, Clone)]
struct FieldRef {
    /// `None` for a field of the envelope itself (`op`, `ts_ms`), else `source`/`transaction`.
    structure: Option<String>,
    field: String,
    /// The output name, prefix included.
    name: String,
}

impl FieldRef {
    fn parse(spec: &str, prefix: &str) -> Result<FieldRef, String> {
        let (path, rename) = match spec.split(':').collect::<Vec<_>>()[..] {
            [p] => (p, None),
            [p, n] if !n.is_empty() => (p, Some(n)),
            _ => {
                return Err(format!(
                    "invalid entry {spec:?} (expected field or field:newname)"
                ))
            }
        };
        let (structure, field, default_name) = match path.split('.').collect::<Vec<_>>()[..] {
            [f] if !f.is_empty() => {
                let s = match f {
                    "op" | "ts_ms" | "ts_us" | "ts_ns" => None,
                    "id" | "total_order" | "data_collection_order" => Some("transaction"),
                    _ => Some("source"),
                };
                (s.map(str::to_string), f.to_string(), f.to_string())
            }
            [s, f] if !s.is_empty() && !f.is_empty() => {
                (Some(s.to_string()), f.to_string(), format!("{s}_{f}"))
            }
            _ => {
                return Err(format!(
                    "invalid field {path:?} (expected field or struct.field)"
                ))
            }
        };
        Ok(FieldRef {
            structure,
            field,
            name: format!("{prefix}{}", rename.unwrap_or(&default_name)),
        })
    }

    /// The field's optional schema and value in `envelope`, if the envelope has it.
    fn lookup(&self, envelope: &Struct) -> Option<(SchemaRef, Value)> {
        let holder = match &self.structure {
            None => envelope,
            Some(s) => envelope.get(s)?.as_struct()?,
        };
        let (i, f) = holder.schema.field(&self.field)?;
        let schema = if f.schema.optional {
            Arc::clone(&f.schema)
        } else {
            Arc::new(Schema {
                optional: true,
                ..(*f.schema).clone()
            })
        };
        Some((schema, holder.values.get(i).cloned().unwrap_or(Value::Null)))
    }
}

struct ExtractNewRecordState {
    keep_tombstones: bool,
    deletes: Deletes,
    add_fields: Vec<FieldRef>,
    add_headers: Vec<FieldRef>,
    route_by_field: Option<String>,
    /// The last (row schema, envelope schema) and the output schema made from them.
    cache: SchemaCache,
}

pub(crate) fn build(own: &ConnectorConfig) -> Result<Box<dyn Transformation>, Vec<ConfigIssue>> {
    let (values, mut issues) = read_config(own, KEYS)?;
    let (keep_tombstones, deletes) = if values.is_set("delete.tombstone.handling.mode") {
        match values.choice("delete.tombstone.handling.mode").as_str() {
            "drop" => (false, Deletes::Drop),
            "rewrite" => (false, Deletes::Rewrite),
            "rewrite-with-tombstone" => (true, Deletes::Rewrite),
            _ => (false, Deletes::ToTombstone),
        }
    } else if values.is_set("drop.tombstones") || values.is_set("delete.handling.mode") {
        let keep = values.is_set("drop.tombstones") && !values.bool("drop.tombstones");
        let deletes = match values.choice("delete.handling.mode").as_str() {
            "rewrite" => Deletes::Rewrite,
            "none" => Deletes::ToTombstone,
            _ => Deletes::Drop,
        };
        (keep, deletes)
    } else {
        (false, Deletes::ToTombstone)
    };
    let mut refs = |key: &str, prefix_key: &str| -> Vec<FieldRef> {
        let prefix = values.get(prefix_key).unwrap_or("__").to_string();
        values
            .list(key)
            .iter()
            .filter_map(|spec| {
                FieldRef::parse(spec, &prefix)
                    .map_err(|e| issues.push(ConfigIssue::new(key, e)))
                    .ok()
            })
            .collect()
    };
    let add_fields = refs("add.fields", "add.fields.prefix");
    let add_headers = refs("add.headers", "add.headers.prefix");
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(Box::new(ExtractNewRecordState {
        keep_tombstones,
        deletes,
        add_fields,
        add_headers,
        route_by_field: values.opt_string("route.by.field"),
        cache: SchemaCache::default(),
    }))
}

fn is_envelope(schema: Option<&SchemaRef>, value: &Value) -> bool {
    matches!(value, Value::Struct(_))
        && schema.is_some_and(|s| {
            s.kind == SchemaType::Struct
                && s.name.as_deref().is_some_and(|n| n.ends_with(".Envelope"))
        })
}

impl ExtractNewRecordState {
    /// The output schema for a row of `row_schema` from an envelope of `envelope_schema`.
    fn row_schema(
        &mut self,
        row_schema: &SchemaRef,
        envelope: &Struct,
    ) -> Result<SchemaRef, TransformError> {
        if let Some(hit) = self.cache.get(&[row_schema, &envelope.schema]) {
            return Ok(hit);
        }
        let mut s = struct_basics(row_schema);
        s.fields = row_schema.fields.clone();
        let mut push = |name: &str, schema: SchemaRef| -> Result<(), TransformError> {
            if s.field(name).is_some() {
                return Err(TransformError::new(format!(
                    "cannot add field {name}: the row already has a field of that name (change add.fields.prefix)"
                )));
            }
            s.fields.push(Field {
                name: name.to_string(),
                schema,
            });
            Ok(())
        };
        if self.deletes == Deletes::Rewrite {
            push("__deleted", Arc::new(Schema::optional(SchemaType::String)))?;
        }
        // A field the event does not have is left out, as Debezium does.
        for f in &self.add_fields {
            if let Some((schema, _)) = f.lookup(envelope) {
                push(&f.name, schema)?;
            }
        }
        let s = Arc::new(s);
        self.cache
            .put(&[row_schema, &envelope.schema], Arc::clone(&s));
        Ok(s)
    }
}

/// The topic `route.by.field` picks: the field's value when it is a non-blank string
/// (Debezium keeps the topic otherwise).
fn routed_topic(field_value: Option<&Value>) -> Option<&str> {
    match field_value? {
        Value::String(t) if !t.trim().is_empty() => Some(t),
        _ => None,
    }
}

impl Transformation for ExtractNewRecordState {
    fn apply(&mut self, record: ConnectRecord) -> Result<Option<ConnectRecord>, TransformError> {
        self.unwrap(record)
    }

    fn envelope_fields(&self) -> Option<&'static [&'static str]> {
        // `add.fields` / `add.headers` read `source`, `transaction` and the timestamps.
        (self.add_fields.is_empty() && self.add_headers.is_empty())
            .then_some(&["before", "after", "op"])
    }
}

impl ExtractNewRecordState {
    fn unwrap(
        &mut self,
        mut record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, TransformError> {
        if record.value.is_null() {
            if !self.keep_tombstones {
                return Ok(None);
            }
            // A kept tombstone has no envelope; Debezium still marks it with the `op` header
            // ("d") when `add.headers` asks for `op`, and adds no other header.
            for h in self
                .add_headers
                .iter()
                .filter(|h| h.structure.is_none() && h.field == "op")
            {
                record.headers.push(Header {
                    key: h.name.clone(),
                    schema: Some(Arc::new(Schema::optional(SchemaType::String))),
                    value: Value::String("d".to_string()),
                });
            }
            return Ok(Some(record));
        }
        if !is_envelope(record.value_schema.as_ref(), &record.value) {
            return Ok(Some(record));
        }
        let Value::Struct(mut envelope) = std::mem::replace(&mut record.value, Value::Null) else {
            return Ok(Some(record));
        };
        let op = envelope.get("op").and_then(Value::as_str).unwrap_or("");
        let has = |name: &str| envelope.get(name).is_some_and(|v| !v.is_null());
        if !has("after") && !has("before") {
            // A truncate (or any event without a row): Debezium drops it.
            return Ok(None);
        }
        for h in &self.add_headers {
            // A field the event does not have adds no header, as Debezium does.
            if let Some((schema, value)) = h.lookup(&envelope) {
                record.headers.push(Header {
                    key: h.name.clone(),
                    schema: Some(schema),
                    value,
                });
            }
        }
        let (row_field, deleted) = if op != "d" && has("after") {
            ("after", "false")
        } else {
            // A delete: routed by its `before` row in every mode that keeps it.
            if let Some(field) = &self.route_by_field {
                let before = envelope.get("before");
                if let Some(topic) = routed_topic(before.and_then(|b| b.get(field))) {
                    record.topic = topic.to_string();
                }
            }
            match self.deletes {
                Deletes::Drop => return Ok(None),
                Deletes::Rewrite if has("before") => ("before", "true"),
                Deletes::ToTombstone | Deletes::Rewrite => {
                    record.value_schema = None;
                    return Ok(Some(record));
                }
            }
        };
        let Some(Value::Struct(row)) = envelope.get(row_field) else {
            return Err(TransformError::new(format!(
                "the change event's {row_field} is not a struct"
            )));
        };
        let schema = self.row_schema(&row.schema, &envelope)?;
        // Exactly the fields `row_schema` added: those the event has.
        let extra: Vec<Value> = self
            .add_fields
            .iter()
            .filter_map(|f| f.lookup(&envelope).map(|(_, v)| v))
            .collect();
        // Move the row out of the envelope instead of copying its values.
        let mut values = match envelope.schema.field(row_field) {
            Some((i, _)) => match envelope
                .values
                .get_mut(i)
                .map(|v| std::mem::replace(v, Value::Null))
            {
                Some(Value::Struct(row)) => row.values,
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        let rewrite = self.deletes == Deletes::Rewrite;
        // Only when something is added: the row's values are sized exactly, and growing them
        // copies the row.
        if rewrite || !extra.is_empty() {
            values.reserve(extra.len() + usize::from(rewrite));
        }
        if rewrite {
            values.push(Value::String(deleted.to_string()));
        }
        values.extend(extra);
        let out = Struct {
            schema: Arc::clone(&schema),
            values,
        };
        if let Some(field) = &self.route_by_field {
            if deleted == "false" {
                if let Some(topic) = routed_topic(out.get(field)) {
                    record.topic = topic.to_string();
                }
            }
        }
        record.value_schema = Some(schema);
        record.value = Value::Struct(out);
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn field_refs() {
        let f = FieldRef::parse("source.ts_ms", "__").unwrap();
        assert_eq!(
            (f.structure.as_deref(), f.name.as_str()),
            (Some("source"), "__source_ts_ms")
        );
        let f = FieldRef::parse("op", "p_").unwrap();
        assert_eq!((f.structure.as_deref(), f.name.as_str()), (None, "p_op"));
        let f = FieldRef::parse("lsn:pos", "__").unwrap();
        assert_eq!(
            (f.structure.as_deref(), f.name.as_str()),
            (Some("source"), "__pos")
        );
        let f = FieldRef::parse("id", "__").unwrap();
        assert_eq!(f.structure.as_deref(), Some("transaction"));
        assert!(FieldRef::parse("a:b:c", "__").is_err());
        assert!(FieldRef::parse("a.b.c", "__").is_err());
    }
}
