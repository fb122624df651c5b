//! Errors of the encoding stage. They name the table and column and what was wrong with the
//! value, never the value itself: row data may be sensitive and must not reach logs.

use crate::numeric::NumericError;
use crate::temporal::TemporalError;

/// A row that cannot be turned into Debezium records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A column value could not be converted.
    #[error("table {table}, column {column}: {problem}")]
    Value {
        table: String,
        column: String,
        problem: ValueError,
    },
    /// The tuple does not have one value per column of the table schema (the schema is stale).
    #[error("table {table}: row has {got} values but the table schema has {expected} columns")]
    ColumnCount {
        table: String,
        expected: usize,
        got: usize,
    },
    /// The change lacks a row image its operation needs (e.g. a delete without the old row).
    #[error("table {table}: {op} change without the {image} row")]
    MissingRow {
        table: String,
        op: &'static str,
        image: &'static str,
    },
}

impl EncodeError {
    /// Whether retrying cannot help: all encoding errors are deterministic.
    pub fn is_fatal(&self) -> bool {
        true
    }
}

/// A table schema that cannot be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// `message.key.columns` names a column the table does not have.
    #[error("message.key.columns names column {column} which table {table} does not have")]
    UnknownKeyColumn { table: String, column: String },
    /// A key column is excluded by the column filter or has a type that is not captured.
    #[error(
        "key column {column} of table {table} is not captured (excluded or of an unknown type)"
    )]
    KeyColumnNotCaptured { table: String, column: String },
}

/// What was wrong with a column value. Deliberately says nothing about the value itself, which
/// may be sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    #[error("expected a boolean (t/f)")]
    Boolean,
    #[error("expected an integer")]
    Integer,
    #[error("expected a floating-point number")]
    Float,
    #[error("numeric value: {0}")]
    Numeric(#[from] NumericError),
    #[error("expected bytea in hex or escape format")]
    Bytea,
    #[error("expected a bit string")]
    Bits,
    #[error("temporal value: {0}")]
    Temporal(#[from] TemporalError),
    #[error("malformed array literal")]
    Array,
    #[error("malformed hstore literal")]
    Hstore,
    #[error("expected a point (x,y)")]
    Point,
    #[error("binary value where text was expected")]
    BinaryFormat,
}
