//! The per-column mapping from a PostgreSQL type (plus type modifier, default expression and the
//! connector's handling modes) to a Connect schema and a converter that turns the column's text
//! value into the JSON Debezium's `JsonConverter` output carries.
//!
//! In: a catalog column ([`ColumnSchema`]) and the [`EventConfig`]. Out: a [`ColumnMapping`],
//! built once per column when a table's encoder is built; converting a value is then a `match`
//! on its [`Repr`] and a parse of the text straight into the output buffer.
//!
//! - `repr`: which representation (and Connect schema) a type gets.
//! - `write`: scalar values, TOAST placeholders and fallbacks for absent required values.
//! - `binary`, `array`, `hstore`, `geometry`: the value formats with their own parsers.
//! - `default`: column defaults in field schemas, as Debezium derives them.

mod array;
mod binary;
mod default;
mod geometry;
mod hstore;
mod repr;
#[cfg(test)]
mod testing;
mod write;

use walcast_pgoutput::ColumnSchema;

pub(crate) use repr::Repr;

use crate::config::EventConfig;
use crate::schema::ConnectSchema;

/// A column's mapping: its representation and whether it is optional.
#[derive(Debug, Clone)]
pub struct ColumnMapping {
    pub repr: Repr,
    pub optional: bool,
    /// The default value rendered as JSON, when Debezium would put one in the schema.
    pub default: Option<Vec<u8>>,
}

impl ColumnMapping {
    /// Maps a catalog column; `None` when the column is left out (unknown type).
    pub fn new(col: &ColumnSchema, cfg: &EventConfig) -> Option<Self> {
        let repr = repr::repr_of(&col.pg_type, col.type_modifier, cfg)?;
        let default = col
            .default_expr
            .as_deref()
            .and_then(|d| default::default_json(col, &repr, d));
        Some(ColumnMapping {
            repr,
            optional: col.nullable,
            default,
        })
    }

    /// The field schema.
    pub fn schema(&self) -> ConnectSchema {
        let mut s = self.repr.schema(self.optional);
        s.default = self.default.clone();
        s
    }
}
