//! `org.apache.kafka.connect.transforms.ReplaceField$Value` / `$Key`: keep the `include`d
//! fields (all when empty), drop the `exclude`d ones, rename per `renames` (`old:new`).
//!
//! With a schema, the new struct schema keeps the name, version, doc and parameters and is
//! required, as Connect's `copySchemaBasics` makes it; field schemas are unchanged. Without a
//! schema, the map is filtered and renamed. A null key/value passes untouched. The pre-2.7
//! names `whitelist`/`blacklist` are read as `include`/`exclude` (Kafka 4 removed them; walcast
//! keeps accepting them so older connector configs keep working).

use std::collections::HashMap;
use std::sync::Arc;

use walcast_connect_api::{split_list, ConfigKeyDef};
use walcast_connect_api::{
    ConfigIssue, ConnectRecord, ConnectorConfig, TransformError, Transformation,
};
use walcast_connect_api::{Field, SchemaRef, Value};

use crate::read_config;
use crate::util::{require_map, require_struct, struct_basics, SchemaCache, Target};

const PURPOSE: &str = "field replacement";

pub(crate) const KEYS: &[ConfigKeyDef] = &[
    ConfigKeyDef {
        name: "exclude",
        kind: "LIST",
        default: Some(""),
        doc: "Fields to exclude. This takes precedence over the fields to include.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "include",
        kind: "LIST",
        default: Some(""),
        doc: "Fields to include. If specified, only these fields will be used.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "renames",
        kind: "LIST",
        default: Some(""),
        doc: "Field rename mappings, `foo:bar,abc:xyz`.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "blacklist",
        kind: "LIST",
        doc: "Deprecated name of `exclude`.",
        importance: walcast_connect_api::Importance::Low,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "whitelist",
        kind: "LIST",
        doc: "Deprecated name of `include`.",
        importance: walcast_connect_api::Importance::Low,
        ..ConfigKeyDef::BASE
    },
];

struct ReplaceField {
    target: Target,
    exclude: Vec<String>,
    include: Vec<String>,
    renames: HashMap<String, String>,
    /// The output schema per input schema, with the input position of each output field.
    cache: SchemaCache<(SchemaRef, Arc<[usize]>)>,
}

pub(crate) fn build(
    own: &ConnectorConfig,
    target: Target,
) -> Result<Box<dyn Transformation>, Vec<ConfigIssue>> {
    let (values, mut issues) = read_config(own, KEYS)?;
    let mut pick = |new: &str, old: &str| -> Vec<String> {
        match (own.contains_key(new), own.contains_key(old)) {
            (true, true) => {
                issues.push(ConfigIssue::new(
                    old,
                    format!("\"{old}\" is the deprecated name of \"{new}\"; set only \"{new}\"."),
                ));
                values.list(new)
            }
            (false, true) => values.list(old),
            _ => values.list(new),
        }
    };
    let exclude = pick("exclude", "blacklist");
    let include = pick("include", "whitelist");
    let mut renames = HashMap::new();
    for mapping in split_list(own.get("renames").map(String::as_str).unwrap_or("")) {
        match mapping.split(':').collect::<Vec<_>>()[..] {
            [from, to] => {
                renames.insert(from.to_string(), to.to_string());
            }
            _ => issues.push(ConfigIssue::new(
                "renames",
                format!("Invalid rename mapping: {mapping} (expected old:new)"),
            )),
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(Box::new(ReplaceField {
        target,
        exclude,
        include,
        renames,
        cache: SchemaCache::default(),
    }))
}

impl ReplaceField {
    fn keep(&self, name: &str) -> bool {
        !self.exclude.iter().any(|e| e == name)
            && (self.include.is_empty() || self.include.iter().any(|i| i == name))
    }

    fn renamed<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames.get(name).map(String::as_str).unwrap_or(name)
    }

    fn updated_schema(&mut self, schema: &SchemaRef) -> (SchemaRef, Arc<[usize]>) {
        if let Some(hit) = self.cache.get(&[schema]) {
            return hit;
        }
        let mut s = struct_basics(schema);
        let mut sources = Vec::new();
        for (i, f) in schema.fields.iter().enumerate() {
            if self.keep(&f.name) {
                s.fields.push(Field {
                    name: self.renamed(&f.name).to_string(),
                    schema: Arc::clone(&f.schema),
                });
                sources.push(i);
            }
        }
        let out = (Arc::new(s), Arc::from(sources));
        self.cache.put(&[schema], out.clone());
        out
    }
}

impl Transformation for ReplaceField {
    fn apply(
        &mut self,
        mut record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, TransformError> {
        let t = self.target;
        if t.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = t.take(&mut record);
        match schema {
            None => {
                let map = require_map(value, t, PURPOSE)?;
                let out = map
                    .into_iter()
                    .filter_map(|(k, v)| match k.as_str() {
                        Some(name) if !self.keep(name) => None,
                        Some(name) => Some((Value::String(self.renamed(name).to_string()), v)),
                        None => Some((k, v)),
                    })
                    .collect();
                t.put(&mut record, None, Value::Map(out));
            }
            Some(schema) => {
                let old = require_struct(value, t, PURPOSE)?;
                let (new_schema, sources) = self.updated_schema(&old.schema);
                let mut old_values = old.values;
                // Renames only: the values stay where they are.
                let same_places = sources.len() == old_values.len()
                    && sources.iter().enumerate().all(|(at, &from)| at == from);
                let values = if same_places {
                    old_values
                } else {
                    sources
                        .iter()
                        .map(|&i| {
                            old_values
                                .get_mut(i)
                                .map(|v| std::mem::replace(v, Value::Null))
                                .unwrap_or(Value::Null)
                        })
                        .collect()
                };
                drop(schema);
                t.put_struct(&mut record, new_schema, values);
            }
        }
        Ok(Some(record))
    }
}
