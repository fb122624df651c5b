//! Column values as they arrive from pgoutput (and from the snapshot, in the same form): text
//! representations borrowed from the received buffer, without copying.

use bytes::Bytes;

/// One column's value in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TupleValue {
    /// SQL NULL.
    Null,
    /// A TOASTed value the change did not touch; pgoutput does not send it again.
    UnchangedToast,
    /// The value in PostgreSQL's text output format (UTF-8).
    Text(Bytes),
    /// The value in binary format (only when binary transfer was requested; walcast asks for
    /// text).
    Binary(Bytes),
}

impl TupleValue {
    pub fn is_null(&self) -> bool {
        matches!(self, TupleValue::Null)
    }

    /// The text bytes, if this is a text value.
    pub fn as_text(&self) -> Option<&[u8]> {
        match self {
            TupleValue::Text(b) => Some(b),
            _ => None,
        }
    }
}
