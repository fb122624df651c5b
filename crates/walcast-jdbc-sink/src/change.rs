//! Records to row changes: what a [`ConnectRecord`] asks of its table. A Debezium envelope
//! (`op`/`before`/`after`/`source`) is read natively — `c`/`r`/`u` write `after`, `d` deletes by
//! key, `t` truncates —, a flat record (after `ExtractNewRecordState`) writes its value, and a
//! tombstone deletes by key. Key columns follow `pk.mode`; columns holding Debezium's
//! unavailable-value placeholder (unchanged TOAST) are marked so the writer leaves them out.
//!
//! Changes borrow from the records: the write path copies no values.

use std::borrow::Cow;
use std::sync::LazyLock;

use walcast_connect_api::{ConnectRecord, Schema, SchemaType, SinkError, Value};

use crate::config::{list_matches, Dialect, JdbcSinkConfig, PkMode};

/// One column of a change.
#[derive(Debug, Clone)]
pub struct Column<'a> {
    pub name: Cow<'a, str>,
    /// The Connect schema of the value (none for schemaless records).
    pub schema: Option<&'a Schema>,
    /// `None`: the value is Debezium's unavailable placeholder; the stored value is kept.
    pub value: Option<Cow<'a, Value>>,
}

/// What a change does to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Insert, upsert or update (per `insert.mode`) the row.
    Write,
    /// Delete the row with this key.
    Delete,
    /// Empty the table.
    Truncate,
}

/// A table reference as named by `table.name.format`, parts already case-folded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub catalog: Option<String>,
    pub schema: Option<String>,
    pub name: String,
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in [&self.catalog, &self.schema].into_iter().flatten() {
            write!(f, "{p}.")?;
        }
        f.write_str(&self.name)
    }
}

/// One record's change to one row.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// Shared by the batch's changes to the same table (cloned per record otherwise).
    pub table: std::sync::Arc<TableName>,
    pub kind: ChangeKind,
    /// Key columns (empty for pk.mode none).
    pub key: Vec<Column<'a>>,
    /// Other columns (empty for deletes and truncates).
    pub values: Vec<Column<'a>>,
    /// The record, for error messages (topic, partition, offset) and for DDL (schemas).
    pub record: &'a ConnectRecord,
}

static TOPIC_SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema::primitive(SchemaType::String));
static PARTITION_SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema::primitive(SchemaType::Int32));
static OFFSET_SCHEMA: LazyLock<Schema> = LazyLock::new(|| Schema::primitive(SchemaType::Int64));

/// `topic`, `partition` and `offset` of a record, for messages.
pub fn coords(r: &ConnectRecord) -> String {
    format!(
        "topic {} partition {} offset {}",
        r.topic,
        r.partition.map_or("?".into(), |p| p.to_string()),
        r.offset.map_or("?".into(), |o| o.to_string())
    )
}

/// A topic and the table its records go to.
type LastTable = Option<(String, std::sync::Arc<TableName>)>;

/// Converts records of one connector into changes.
#[derive(Debug, Clone)]
pub struct ChangeBuilder {
    cfg: std::sync::Arc<JdbcSinkConfig>,
    /// The placeholder as its base64 and hex text, for columns of bytes shown as strings.
    placeholder_b64: String,
    placeholder_hex: String,
    /// The placeholder as a JSON string token (inside a JSON document).
    placeholder_json: String,
    /// The last topic's table, when the table name format depends on the topic alone.
    last_table: std::sync::Arc<std::sync::Mutex<LastTable>>,
    /// Whether the table name format takes `${source.*}` fields from each record.
    table_from_source: bool,
}

impl ChangeBuilder {
    pub fn new(cfg: std::sync::Arc<JdbcSinkConfig>) -> Self {
        use base64::Engine;
        let p = cfg.unavailable_placeholder.as_bytes();
        let placeholder_b64 = base64::engine::general_purpose::STANDARD.encode(p);
        let placeholder_hex = p.iter().map(|b| format!("{b:02x}")).collect();
        let placeholder_json = format!("\"{}\"", cfg.unavailable_placeholder);
        let table_from_source = cfg.table_format.contains("${source.");
        Self {
            cfg,
            placeholder_b64,
            placeholder_hex,
            placeholder_json,
            last_table: std::sync::Arc::new(std::sync::Mutex::new(None)),
            table_from_source,
        }
    }

    /// The change `r` asks for, or `None` when it asks for nothing (a tombstone or delete with
    /// `delete.enabled=false`, a truncate with `truncate.enabled=false`, a logical message).
    pub fn change<'a>(&self, r: &'a ConnectRecord) -> Result<Option<Change<'a>>, SinkError> {
        let cfg = &*self.cfg;
        let envelope = envelope_op(r);
        let (kind, payload, payload_schema) = match (&r.value, envelope) {
            (Value::Null, _) => {
                if !cfg.delete_enabled {
                    return Ok(None);
                }
                (ChangeKind::Delete, None, None)
            }
            (v, Some(op)) => match op {
                "c" | "r" | "u" => {
                    let after = v.get("after").filter(|a| !a.is_null()).ok_or_else(|| {
                        SinkError::data(format!(
                            "{}: Debezium event with op {op} has no after row",
                            coords(r)
                        ))
                    })?;
                    let schema = r
                        .value_schema
                        .as_deref()
                        .and_then(|s| s.field("after"))
                        .map(|(_, f)| &*f.schema);
                    (ChangeKind::Write, Some(after), schema)
                }
                "d" => {
                    if !cfg.delete_enabled {
                        return Ok(None);
                    }
                    (ChangeKind::Delete, None, None)
                }
                "t" => {
                    if !cfg.truncate_enabled {
                        return Ok(None);
                    }
                    (ChangeKind::Truncate, None, None)
                }
                other => {
                    tracing::debug!(op = other, record = %coords(r), "skipping event that changes no row");
                    return Ok(None);
                }
            },
            (v, None) => {
                if !matches!(v, Value::Struct(_) | Value::Map(_)) {
                    return Err(SinkError::data(format!(
                        "{}: the value is not a struct or map (a row); the JDBC sink writes rows",
                        coords(r)
                    )));
                }
                (ChangeKind::Write, Some(v), r.value_schema.as_deref())
            }
        };
        let Some(table) = self.table_of(r, envelope.is_some())? else {
            return Ok(None);
        };
        if kind == ChangeKind::Truncate {
            return Ok(Some(Change {
                table,
                kind,
                key: Vec::new(),
                values: Vec::new(),
                record: r,
            }));
        }
        let key = self.key_columns(r, payload, payload_schema)?;
        let mut values = match payload {
            Some(Value::Struct(st)) => Vec::with_capacity(st.values.len()),
            _ => Vec::new(),
        };
        if let Some(p) = payload {
            let mut column = |name: &'a str, schema: Option<&'a Schema>, v: &'a Value| {
                let folded = self.fold(name);
                if key.iter().any(|k| k.name == folded) {
                    return;
                }
                if !cfg.fields_include.is_empty()
                    && !list_matches(&cfg.fields_include, &r.topic, name)
                {
                    return;
                }
                if list_matches(&cfg.fields_exclude, &r.topic, name) {
                    return;
                }
                let value = if self.unavailable(v) {
                    None
                } else {
                    Some(Cow::Borrowed(v))
                };
                values.push(Column {
                    name: folded,
                    schema,
                    value,
                });
            };
            // The fields straight from the row (no list of them first).
            match p {
                Value::Struct(st) => {
                    for (f, v) in st.iter() {
                        column(f.name.as_str(), Some(&*f.schema), v);
                    }
                }
                _ => {
                    for (name, schema, v) in fields(p, payload_schema) {
                        column(name, schema, v);
                    }
                }
            }
        }
        Ok(Some(Change {
            table,
            kind,
            key,
            values,
            record: r,
        }))
    }

    /// Every field of a key or value as a key column (no `pk.fields` named).
    fn columns<'a>(&self, all: Vec<(&'a str, Option<&'a Schema>, &'a Value)>) -> Vec<Column<'a>> {
        all.into_iter()
            .map(|(n, s, v)| Column {
                name: self.fold(n),
                schema: s,
                value: Some(Cow::Borrowed(v)),
            })
            .collect()
    }

    /// A name as the table will know it: kept with quoting on, lower case with quoting off (as
    /// PostgreSQL folds unquoted names).
    pub fn fold<'a>(&self, name: &'a str) -> Cow<'a, str> {
        if self.cfg.quote_identifiers || !name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Borrowed(name)
        } else {
            Cow::Owned(name.to_ascii_lowercase())
        }
    }

    /// Whether `v` is Debezium's unavailable-value placeholder in one of the forms the source
    /// uses: the text; its bytes (bytea, and numeric arrays of its bytes for integer arrays);
    /// base64 or hex text of the bytes; an array or map holding it; a JSON document (hstore
    /// as JSON) holding it as a string.
    fn unavailable(&self, v: &Value) -> bool {
        let p = self.cfg.unavailable_placeholder.as_str();
        match v {
            Value::String(s) => {
                s == p
                    || *s == self.placeholder_b64
                    || *s == self.placeholder_hex
                    || (matches!(s.as_bytes().first(), Some(b'{' | b'['))
                        && s.contains(&self.placeholder_json))
            }
            Value::Bytes(b) => b == p.as_bytes(),
            Value::Array(items) => {
                items.iter().any(|i| self.unavailable(i))
                    || (items.len() == p.len()
                        && items
                            .iter()
                            .zip(p.bytes())
                            .all(|(i, b)| i.as_i64() == Some(i64::from(b))))
            }
            Value::Map(entries) => entries.iter().any(|(k, _)| self.unavailable(k)),
            _ => false,
        }
    }

    fn key_columns<'a>(
        &self,
        r: &'a ConnectRecord,
        payload: Option<&'a Value>,
        payload_schema: Option<&'a Schema>,
    ) -> Result<Vec<Column<'a>>, SinkError> {
        let cfg = &*self.cfg;
        let names = &cfg.pk_fields;
        match cfg.pk_mode {
            PkMode::None => Ok(Vec::new()),
            PkMode::Kafka => {
                let default = ["__connect_topic", "__connect_partition", "__connect_offset"];
                let name = |i: usize| -> Cow<'a, str> {
                    match names.get(i) {
                        Some(n) => Cow::Owned(self.fold(n).into_owned()),
                        None => Cow::Borrowed(default[i]),
                    }
                };
                let (Some(partition), Some(offset)) = (r.partition, r.offset) else {
                    return Err(SinkError::fatal(format!(
                        "{}: pk.mode=kafka needs the record's Kafka partition and offset",
                        coords(r)
                    )));
                };
                Ok(vec![
                    Column {
                        name: name(0),
                        schema: Some(&TOPIC_SCHEMA),
                        value: Some(Cow::Owned(Value::String(r.topic.clone()))),
                    },
                    Column {
                        name: name(1),
                        schema: Some(&PARTITION_SCHEMA),
                        value: Some(Cow::Owned(Value::Int32(partition))),
                    },
                    Column {
                        name: name(2),
                        schema: Some(&OFFSET_SCHEMA),
                        value: Some(Cow::Owned(Value::Int64(offset))),
                    },
                ])
            }
            PkMode::RecordKey => {
                if r.key.is_null() {
                    return Err(SinkError::data(format!(
                        "{}: the record has no key, and pk.mode=record_key takes the key columns from it",
                        coords(r)
                    )));
                }
                if matches!(r.key, Value::Struct(_) | Value::Map(_)) {
                    let all = fields(&r.key, r.key_schema.as_deref());
                    if names.is_empty() {
                        return Ok(self.columns(all));
                    }
                    names
                        .iter()
                        .map(|want| {
                            let (n, s, v) =
                                all.iter().find(|(n, _, _)| n == want).copied().ok_or_else(
                                    || {
                                        SinkError::data(format!(
                                        "{}: the record key has no field {want} named in pk.fields",
                                        coords(r)
                                    ))
                                    },
                                )?;
                            Ok(Column {
                                name: self.fold(n),
                                schema: s,
                                value: Some(Cow::Borrowed(v)),
                            })
                        })
                        .collect()
                } else {
                    match names.as_slice() {
                        [one] => Ok(vec![Column {
                            name: Cow::Owned(self.fold(one).into_owned()),
                            schema: r.key_schema.as_deref(),
                            value: Some(Cow::Borrowed(&r.key)),
                        }]),
                        _ => Err(SinkError::fatal(format!(
                            "{}: the record key is a primitive value; name its column with exactly one pk.fields (primary.key.fields) entry",
                            coords(r)
                        ))),
                    }
                }
            }
            PkMode::RecordValue => {
                let Some(p) = payload else {
                    return Err(SinkError::data(format!(
                        "{}: pk.mode=record_value takes the key from the value, and this record has none",
                        coords(r)
                    )));
                };
                let all = fields(p, payload_schema);
                if names.is_empty() {
                    return Ok(self.columns(all));
                }
                names
                    .iter()
                    .map(|want| {
                        let (n, s, v) = all
                            .iter()
                            .find(|(n, _, _)| n == want)
                            .copied()
                            .ok_or_else(|| {
                                SinkError::data(format!(
                                    "{}: the record value has no field {want} named in pk.fields",
                                    coords(r)
                                ))
                            })?;
                        if v.is_null() {
                            return Err(SinkError::data(format!(
                                "{}: key field {want} is null",
                                coords(r)
                            )));
                        }
                        Ok(Column {
                            name: self.fold(n),
                            schema: s,
                            value: Some(Cow::Borrowed(v)),
                        })
                    })
                    .collect()
            }
        }
    }

    /// The destination table of `r` per `table.name.format` / `collection.name.format`; `None`
    /// when a `${source.*}` placeholder cannot be resolved for a record that is not a Debezium
    /// event (Debezium skips those with a warning).
    /// [`Self::table_name`], remembered for the last topic when the format takes nothing from
    /// the record but its topic (records of a batch mostly come from one topic).
    fn table_of(
        &self,
        r: &ConnectRecord,
        is_envelope: bool,
    ) -> Result<Option<std::sync::Arc<TableName>>, SinkError> {
        if self.table_from_source {
            return Ok(self.table_name(r, is_envelope)?.map(std::sync::Arc::new));
        }
        let mut last = self
            .last_table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((topic, table)) = last.as_ref() {
            if *topic == r.topic {
                return Ok(Some(std::sync::Arc::clone(table)));
            }
        }
        let table = self.table_name(r, is_envelope)?.map(std::sync::Arc::new);
        if let Some(t) = &table {
            *last = Some((r.topic.clone(), std::sync::Arc::clone(t)));
        }
        Ok(table)
    }

    pub fn table_name(
        &self,
        r: &ConnectRecord,
        is_envelope: bool,
    ) -> Result<Option<TableName>, SinkError> {
        let cfg = &*self.cfg;
        let mut name = match cfg.dialect {
            Dialect::Confluent => cfg.table_format.replace("${topic}", &r.topic),
            Dialect::Debezium => cfg
                .table_format
                .replace("${topic}", &r.topic.replace('.', "_")),
        };
        while let Some(start) = name.find("${source.") {
            let Some(len) = name[start..].find('}') else {
                break;
            };
            let field = &name[start + "${source.".len()..start + len];
            let value = if is_envelope {
                r.value
                    .get("source")
                    .and_then(|s| s.get(field))
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => {
                            let mut t = String::new();
                            crate::types::render(None, other, &mut t);
                            t
                        }
                    })
            } else {
                None
            };
            let Some(value) = value else {
                tracing::warn!(record = %coords(r), format = %cfg.table_format, "skipping record: the table name format takes a field of a Debezium event's source block, and this record is not a Debezium event or lacks the field");
                return Ok(None);
            };
            name.replace_range(start..start + len + 1, &value);
        }
        parse_table_name(&name, cfg.quote_identifiers)
            .map(Some)
            .map_err(|m| SinkError::fatal(format!("{}: {m}", coords(r))))
    }
}

/// Split `a.b.c` into catalog, schema and table, as Confluent's sink does (dots inside double
/// quotes belong to the name; quoted parts keep their case, unquoted ones fold to lower case
/// when quoting is off).
pub fn parse_table_name(s: &str, keep_case: bool) -> Result<TableName, String> {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut quoted_part = false;
    let mut in_quotes = false;
    let mut chars = s.chars().peekable();
    let finish = |cur: &mut String, quoted: bool, parts: &mut Vec<String>| {
        let p = std::mem::take(cur);
        parts.push(if quoted || keep_case {
            p
        } else {
            p.to_ascii_lowercase()
        });
    };
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => {
                in_quotes = !in_quotes;
                quoted_part = true;
            }
            '.' if !in_quotes => {
                finish(&mut cur, quoted_part, &mut parts);
                quoted_part = false;
            }
            c => cur.push(c),
        }
    }
    if in_quotes {
        return Err(format!("table name {s:?} has an unclosed double quote"));
    }
    finish(&mut cur, quoted_part, &mut parts);
    if parts.iter().any(String::is_empty) {
        return Err(format!("table name {s:?} has an empty part"));
    }
    let mut it = parts.into_iter();
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(name), None, None, None) => Ok(TableName {
            catalog: None,
            schema: None,
            name,
        }),
        (Some(schema), Some(name), None, None) => Ok(TableName {
            catalog: None,
            schema: Some(schema),
            name,
        }),
        (Some(catalog), Some(schema), Some(name), None) => Ok(TableName {
            catalog: Some(catalog),
            schema: Some(schema),
            name,
        }),
        _ => Err(format!(
            "table name {s:?} has more than three dot-separated parts; quote it (table.name.format=\"${{topic}}\") or route the topic with RegexRouter"
        )),
    }
}

/// The `op` of a Debezium change event, when `r`'s value is one.
pub fn envelope_op(r: &ConnectRecord) -> Option<&str> {
    match &r.value {
        Value::Struct(s) => {
            let named = s
                .schema
                .name
                .as_deref()
                .is_some_and(|n| n.ends_with(".Envelope"));
            let shaped = s.schema.field("after").is_some() && s.schema.field("before").is_some();
            if named || shaped {
                s.get("op")?.as_str()
            } else {
                None
            }
        }
        Value::Map(_) => {
            let v = &r.value;
            if v.get("after").is_some() && v.get("before").is_some() && v.get("source").is_some() {
                v.get("op")?.as_str()
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The named members of a struct or string-keyed map, with their schemas.
fn fields<'a>(
    v: &'a Value,
    schema: Option<&'a Schema>,
) -> Vec<(&'a str, Option<&'a Schema>, &'a Value)> {
    match v {
        Value::Struct(s) => s
            .iter()
            .map(|(f, v)| (f.name.as_str(), Some(&*f.schema), v))
            .collect(),
        Value::Map(entries) => {
            let vs = schema.and_then(|s| s.value_schema.as_deref());
            entries
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?, vs, v)))
                .collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table_names_like_confluent() {
        let t = parse_table_name("server.public.orders", true).unwrap();
        assert_eq!(t.catalog.as_deref(), Some("server"));
        assert_eq!(t.schema.as_deref(), Some("public"));
        assert_eq!(t.name, "orders");
        let t = parse_table_name("\"server.public.Orders\"", false).unwrap();
        assert_eq!((t.schema, t.name.as_str()), (None, "server.public.Orders"));
        let t = parse_table_name("App.Orders", false).unwrap();
        assert_eq!(
            (t.schema.as_deref(), t.name.as_str()),
            (Some("app"), "orders")
        );
        assert!(parse_table_name("a.b.c.d", true).is_err());
        assert!(parse_table_name("a..b", true).is_err());
        assert!(parse_table_name("\"a", true).is_err());
    }
}
