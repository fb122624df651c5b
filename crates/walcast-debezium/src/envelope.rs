//! The per-table encoder: built once from the catalog's [`TableSchema`] and the
//! [`EventConfig`] (and rebuilt when the table changes), it pre-renders the topic name, the key
//! schema, the `Envelope` value schema and the constant parts of `source`, so that encoding a row
//! change only converts the column values and splices bytes into reusable buffers.
//!
//! Output is exactly what Kafka Connect's `JsonConverter` writes for Debezium's records:
//! `{"schema":...,"payload":...}`, or the bare payload when the converter's `schemas.enable` is
//! off.

use walcast_pgoutput::{ReplicaIdentity, TableId, TableSchema, TupleValue};

use crate::config::{EventConfig, SkippedOperations};
use crate::error::{EncodeError, SchemaError, ValueError};
use crate::event::{EncodedRecords, Op, RowChange, SourceInfo};
use crate::json;
use crate::naming;
use crate::schema::{self, ConnectSchema};
use crate::types::{ColumnMapping, Repr};

/// One captured column.
#[derive(Debug, Clone)]
struct Column {
    /// Position of the column's value in tuples.
    index: usize,
    /// The catalog name, for error messages.
    name: String,
    /// `"field":` pre-rendered.
    key_json: Vec<u8>,
    repr: Repr,
    optional: bool,
    /// The default rendered as JSON; also replaces null values, as `JsonConverter` does.
    default: Option<Vec<u8>>,
}

/// Encodes the changes of one table into Debezium-compatible Kafka records.
#[derive(Debug, Clone)]
pub struct TableEncoder {
    table: TableId,
    topic: String,
    /// Number of values a tuple of this table has.
    width: usize,
    columns: Vec<Column>,
    /// Indexes into `columns` of the key fields, in key order; `None` for a keyless table.
    key: Option<Vec<usize>>,
    /// `{"schema":<key schema>,"payload":` or empty.
    key_prefix: Vec<u8>,
    /// `{"schema":<envelope schema>,"payload":` or empty.
    value_prefix: Vec<u8>,
    key_schemas: bool,
    value_schemas: bool,
    /// Writes the `source` block.
    source: SourceWriter,
    tombstones: bool,
    skipped: SkippedOperations,
    placeholder: String,
    replica_identity: ReplicaIdentity,
}

impl TableEncoder {
    /// Builds the encoder of a table. The key is `message.key.columns` when a rule matches the
    /// table, else the key columns of the catalog (the primary key or, for a table without one,
    /// its REPLICA IDENTITY index, as Debezium keys it), else none (records with a null key).
    pub fn new(table: &TableSchema, config: &EventConfig) -> Result<Self, SchemaError> {
        let mut columns = Vec::with_capacity(table.columns.len());
        for (index, col) in table.columns.iter().enumerate() {
            if !config.column_filter.captures(&table.id, &col.name) {
                continue;
            }
            let Some(m) = ColumnMapping::new(col, config) else {
                continue;
            };
            let field = naming::adjust_field_name(&col.name, config.field_name_adjustment);
            let mut key_json = Vec::with_capacity(field.len() + 3);
            json::write_key(&mut key_json, &field);
            columns.push((
                Column {
                    index,
                    name: col.name.clone(),
                    key_json,
                    repr: m.repr.clone(),
                    optional: m.optional,
                    default: m.default.clone(),
                },
                field,
                m,
            ));
        }

        // Key columns as indexes into table.columns.
        let key_table_cols: Vec<usize> = if let Some(names) = config.key_columns_for(&table.id) {
            names
                .iter()
                .map(|n| {
                    table
                        .column_index(n)
                        .or_else(|| {
                            table
                                .columns
                                .iter()
                                .position(|c| c.name.eq_ignore_ascii_case(n))
                        })
                        .ok_or_else(|| SchemaError::UnknownKeyColumn {
                            table: table.id.to_string(),
                            column: n.clone(),
                        })
                })
                .collect::<Result<_, _>>()?
        } else {
            table.primary_key()
        };
        let key = if key_table_cols.is_empty() {
            None
        } else {
            Some(
                key_table_cols
                    .iter()
                    .map(|&ti| {
                        columns
                            .iter()
                            .position(|(c, _, _)| c.index == ti)
                            .ok_or_else(|| SchemaError::KeyColumnNotCaptured {
                                table: table.id.to_string(),
                                column: table.columns[ti].name.clone(),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };

        let topic = naming::topic_name(
            &config.topic_prefix,
            &config.topic_delimiter,
            &table.id.schema,
            &table.id.table,
        );
        let schema_name = |suffix: &str| {
            naming::adjust_schema_name(&format!("{topic}.{suffix}"), config.schema_name_adjustment)
        };

        let field_schemas: Vec<(String, ConnectSchema)> = columns
            .iter()
            .map(|(_, field, m)| (field.clone(), m.schema()))
            .collect();

        let mut key_prefix = Vec::new();
        if let Some(k) = &key {
            if config.key_schemas_enable {
                let mut ks = ConnectSchema::structure(
                    k.iter().map(|&i| field_schemas[i].clone()).collect(),
                    false,
                );
                ks.name = Some(schema_name("Key"));
                key_prefix.extend_from_slice(b"{\"schema\":");
                ks.render(None, &mut key_prefix);
                key_prefix.extend_from_slice(b",\"payload\":");
            }
        }

        let mut value_prefix = Vec::new();
        if config.value_schemas_enable {
            let mut row = ConnectSchema::structure(field_schemas, true);
            row.name = Some(schema_name("Value"));
            let mut env = ConnectSchema::structure(
                vec![
                    ("before".into(), row.clone()),
                    ("after".into(), row),
                    ("source".into(), schema::source_schema()),
                    ("transaction".into(), schema::transaction_schema()),
                    ("op".into(), ConnectSchema::primitive("string", false)),
                    ("ts_ms".into(), ConnectSchema::primitive("int64", true)),
                    ("ts_us".into(), ConnectSchema::primitive("int64", true)),
                    ("ts_ns".into(), ConnectSchema::primitive("int64", true)),
                ],
                false,
            );
            env.name = Some(schema_name("Envelope"));
            env.version = Some(2);
            value_prefix.extend_from_slice(b"{\"schema\":");
            env.render(None, &mut value_prefix);
            value_prefix.extend_from_slice(b",\"payload\":");
        }

        let source = SourceWriter::new(config, &table.id.schema, &table.id.table);

        Ok(TableEncoder {
            table: table.id.clone(),
            topic,
            width: table.columns.len(),
            columns: columns.into_iter().map(|(c, _, _)| c).collect(),
            key,
            key_prefix,
            value_prefix,
            key_schemas: config.key_schemas_enable,
            value_schemas: config.value_schemas_enable,
            source,
            tombstones: config.tombstones_on_delete,
            skipped: config.skipped_operations,
            placeholder: config.unavailable_value_placeholder.clone(),
            replica_identity: table.replica_identity,
        })
    }

    /// The Kafka topic of this table's records.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The table.
    pub fn table(&self) -> &TableId {
        &self.table
    }

    /// Whether records of this table have a key.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The table's REPLICA IDENTITY when the encoder was built.
    pub fn replica_identity(&self) -> ReplicaIdentity {
        self.replica_identity
    }

    fn check_width(&self, row: &[TupleValue]) -> Result<(), EncodeError> {
        if row.len() != self.width {
            return Err(EncodeError::ColumnCount {
                table: self.table.to_string(),
                expected: self.width,
                got: row.len(),
            });
        }
        Ok(())
    }

    fn value_error(&self, col: &Column, problem: ValueError) -> EncodeError {
        EncodeError::Value {
            table: self.table.to_string(),
            column: col.name.clone(),
            problem,
        }
    }

    /// Writes one column value. `fallback_row` supplies unchanged TOAST values (the old row
    /// under REPLICA IDENTITY FULL).
    fn write_column(
        &self,
        col: &Column,
        row: &[TupleValue],
        fallback_row: Option<&[TupleValue]>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let mut v = &row[col.index];
        if matches!(v, TupleValue::UnchangedToast) {
            if let Some(TupleValue::Text(_)) = fallback_row.map(|r| &r[col.index]) {
                if let Some(f) = fallback_row {
                    v = &f[col.index];
                }
            }
        }
        match v {
            TupleValue::Text(t) => {
                let start = out.len();
                if let Err(e) = col.repr.write(t, out) {
                    out.truncate(start);
                    return Err(self.value_error(col, e));
                }
                // A value that converts to null (e.g. NaN in a Decimal) gets the default like
                // any null does.
                if col.default.is_some() && &out[start..] == b"null" {
                    out.truncate(start);
                    self.write_null(col, out);
                }
            }
            TupleValue::Null => self.write_null(col, out),
            TupleValue::UnchangedToast => col.repr.write_placeholder(&self.placeholder, out),
            TupleValue::Binary(_) => return Err(self.value_error(col, ValueError::BinaryFormat)),
        }
        Ok(())
    }

    fn write_null(&self, col: &Column, out: &mut Vec<u8>) {
        match &col.default {
            Some(d) => out.extend_from_slice(d),
            None if col.optional => out.extend_from_slice(b"null"),
            None => col.repr.write_fallback(out),
        }
    }

    /// Writes the row struct `{"col":value,...}`.
    fn write_row(
        &self,
        row: &[TupleValue],
        fallback_row: Option<&[TupleValue]>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.check_width(row)?;
        out.push(b'{');
        for (i, col) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&col.key_json);
            self.write_column(col, row, fallback_row, out)?;
        }
        out.push(b'}');
        Ok(())
    }

    /// Writes the key payload `{"k":value}` of a row (without schema wrapper).
    fn write_key_payload(&self, row: &[TupleValue], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.check_width(row)?;
        out.push(b'{');
        if let Some(key) = &self.key {
            for (n, &i) in key.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                let col = &self.columns[i];
                out.extend_from_slice(&col.key_json);
                self.write_column(col, row, None, out)?;
            }
        }
        out.push(b'}');
        Ok(())
    }

    /// Appends the full key record (`{"schema":..,"payload":{..}}` or the bare payload).
    pub fn encode_key(&self, row: &[TupleValue], out: &mut Vec<u8>) -> Result<bool, EncodeError> {
        if self.key.is_none() {
            return Ok(false);
        }
        out.extend_from_slice(&self.key_prefix);
        self.write_key_payload(row, out)?;
        if self.key_schemas {
            out.push(b'}');
        }
        Ok(true)
    }

    /// Appends a full value record for one event.
    #[allow(clippy::too_many_arguments)]
    fn write_value(
        &self,
        op: Op,
        before: Option<&[TupleValue]>,
        after: Option<&[TupleValue]>,
        toast_source: Option<&[TupleValue]>,
        source: &SourceInfo<'_>,
        emitted_at_ns: i64,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.value_prefix);
        out.extend_from_slice(b"{\"before\":");
        match before {
            Some(b) => self.write_row(b, None, out)?,
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"after\":");
        match after {
            Some(a) => self.write_row(a, toast_source, out)?,
            None => out.extend_from_slice(b"null"),
        }
        self.source.write(source, out);
        out.extend_from_slice(b",\"transaction\":null,\"op\":\"");
        out.extend_from_slice(op.code().as_bytes());
        out.extend_from_slice(b"\",\"ts_ms\":");
        json::write_i64(out, emitted_at_ns.div_euclid(1_000_000));
        out.extend_from_slice(b",\"ts_us\":");
        json::write_i64(out, emitted_at_ns.div_euclid(1000));
        out.extend_from_slice(b",\"ts_ns\":");
        json::write_i64(out, emitted_at_ns);
        out.push(b'}');
        if self.value_schemas {
            out.push(b'}');
        }
        Ok(())
    }

    /// Turns one row change into the records Debezium emits for it, written into `out` (cleared
    /// first): reads and inserts give one record; an update one, or delete + tombstone + create
    /// when the key changed; a delete the delete event and, with `tombstones.on.delete`, a
    /// tombstone; a truncate one keyless record. Skipped operations give none.
    /// `emitted_at_ns` is the envelope's `ts_ms`/`ts_us`/`ts_ns` (when the event was produced).
    pub fn encode_change(
        &self,
        change: &RowChange<'_>,
        source: &SourceInfo<'_>,
        emitted_at_ns: i64,
        out: &mut EncodedRecords,
    ) -> Result<(), EncodeError> {
        out.clear();
        let res = self.encode_change_inner(change, source, emitted_at_ns, out);
        if res.is_err() {
            out.clear();
        }
        res
    }

    fn missing(&self, op: &'static str, image: &'static str) -> EncodeError {
        EncodeError::MissingRow {
            table: self.table.to_string(),
            op,
            image,
        }
    }

    fn encode_change_inner(
        &self,
        change: &RowChange<'_>,
        source: &SourceInfo<'_>,
        ts: i64,
        out: &mut EncodedRecords,
    ) -> Result<(), EncodeError> {
        match change.op {
            Op::Read | Op::Create => {
                if change.op == Op::Create && self.skipped.create {
                    return Ok(());
                }
                let after = change
                    .after
                    .ok_or_else(|| self.missing(change.op.code(), "new"))?;
                let r = out.push();
                self.encode_key_into(after, r)?;
                self.write_value(
                    change.op,
                    None,
                    Some(after),
                    None,
                    source,
                    ts,
                    r.value_buf(),
                )
            }
            Op::Update => {
                if self.skipped.update {
                    return Ok(());
                }
                let after = change.after.ok_or_else(|| self.missing("u", "new"))?;
                if let (Some(before), Some(_)) = (change.before, &self.key) {
                    // Compare the old key with the new one: a changed key is a delete of the
                    // old key and a create of the new one, as Debezium emits it.
                    self.check_width(before)?;
                    let old_key_differs = {
                        let r0 = out.slot(0);
                        r0.reset();
                        self.write_key_payload(before, r0.key_buf())?;
                        let r1 = out.slot(1);
                        r1.reset();
                        self.write_key_payload(after, r1.key_buf())?;
                        out.keys_differ(0, 1)
                    };
                    if old_key_differs {
                        let r = out.push();
                        self.encode_key_into(before, r)?;
                        self.write_value(
                            Op::Delete,
                            Some(before),
                            None,
                            None,
                            source,
                            ts,
                            r.value_buf(),
                        )?;
                        if self.tombstones {
                            let t = out.push();
                            self.encode_key_into(before, t)?;
                        }
                        let c = out.push();
                        self.encode_key_into(after, c)?;
                        return self.write_value(
                            Op::Create,
                            None,
                            Some(after),
                            change.before,
                            source,
                            ts,
                            c.value_buf(),
                        );
                    }
                    out.clear();
                }
                let r = out.push();
                self.encode_key_into(after, r)?;
                self.write_value(
                    Op::Update,
                    change.before,
                    Some(after),
                    change.before,
                    source,
                    ts,
                    r.value_buf(),
                )
            }
            Op::Delete => {
                if self.skipped.delete {
                    return Ok(());
                }
                let before = change.before.ok_or_else(|| self.missing("d", "old"))?;
                let r = out.push();
                self.encode_key_into(before, r)?;
                self.write_value(
                    Op::Delete,
                    Some(before),
                    None,
                    None,
                    source,
                    ts,
                    r.value_buf(),
                )?;
                if self.tombstones {
                    let t = out.push();
                    self.encode_key_into(before, t)?;
                }
                Ok(())
            }
            Op::Truncate => {
                if self.skipped.truncate {
                    return Ok(());
                }
                let r = out.push();
                self.write_value(Op::Truncate, None, None, None, source, ts, r.value_buf())
            }
        }
    }

    fn encode_key_into(
        &self,
        row: &[TupleValue],
        r: &mut crate::event::EncodedRecord,
    ) -> Result<(), EncodeError> {
        if self.key.is_some() {
            self.encode_key(row, r.key_buf())?;
        } else {
            r.clear_key();
        }
        Ok(())
    }
}

fn write_opt_i64(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(v) => json::write_i64(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => json::write_u64(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

/// The `source` block of every event of one table (or of logical decoding messages, whose
/// schema and table are empty): the constant parts pre-rendered once.
#[derive(Debug, Clone)]
pub(crate) struct SourceWriter {
    /// `,"source":{"version":..,"connector":"postgresql","name":..,"ts_ms":`
    head: Vec<u8>,
    /// `,"db":..`
    db: Vec<u8>,
    /// `,"schema":..,"table":..`
    table: Vec<u8>,
}

impl SourceWriter {
    pub(crate) fn new(config: &EventConfig, schema: &str, table: &str) -> Self {
        let mut head = Vec::new();
        head.extend_from_slice(b",\"source\":{\"version\":");
        json::write_str(&mut head, &config.source_version);
        head.extend_from_slice(b",\"connector\":\"postgresql\",\"name\":");
        json::write_str(&mut head, &config.topic_prefix);
        head.extend_from_slice(b",\"ts_ms\":");
        let mut db = Vec::new();
        db.extend_from_slice(b",\"db\":");
        json::write_str(&mut db, &config.database);
        let mut t = Vec::new();
        t.extend_from_slice(b",\"schema\":");
        json::write_str(&mut t, schema);
        t.extend_from_slice(b",\"table\":");
        json::write_str(&mut t, table);
        Self { head, db, table: t }
    }

    /// Appends `,"source":{...}`.
    pub(crate) fn write(&self, s: &SourceInfo<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        json::write_i64(out, s.ts_us.div_euclid(1000));
        out.extend_from_slice(b",\"snapshot\":\"");
        out.extend_from_slice(s.snapshot.as_str().as_bytes());
        out.push(b'"');
        out.extend_from_slice(&self.db);
        out.extend_from_slice(b",\"sequence\":\"[");
        for (i, l) in s.sequence.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match l {
                Some(l) => {
                    out.extend_from_slice(b"\\\"");
                    json::write_u64(out, *l);
                    out.extend_from_slice(b"\\\"");
                }
                None => out.extend_from_slice(b"null"),
            }
        }
        out.extend_from_slice(b"]\",\"ts_us\":");
        json::write_i64(out, s.ts_us);
        out.extend_from_slice(b",\"ts_ns\":");
        json::write_i64(out, s.ts_us.saturating_mul(1000));
        out.extend_from_slice(&self.table);
        out.extend_from_slice(b",\"txId\":");
        write_opt_i64(out, s.tx_id);
        out.extend_from_slice(b",\"lsn\":");
        write_opt_u64(out, s.lsn);
        out.extend_from_slice(b",\"xmin\":");
        write_opt_i64(out, s.xmin);
        out.extend_from_slice(b",\"origin\":");
        match s.origin {
            Some(o) => json::write_str(out, o),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"origin_lsn\":");
        write_opt_u64(out, s.origin_lsn);
        out.push(b'}');
    }
}
