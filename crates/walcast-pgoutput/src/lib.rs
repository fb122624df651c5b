//! The sans-IO half of walcast's PostgreSQL side, the way `postgres-protocol` sits under
//! `tokio-postgres`: bytes in, typed values out, no sockets and no async runtime.
//!
//! - [`Lsn`]: WAL positions, parsed and printed as PostgreSQL does (`16/B374D848`).
//! - [`decode`] / [`Decoder`]: pgoutput messages (protocol versions 1 to 4) from the payload of
//!   an `XLogData` frame into [`Message`].
//! - [`TupleValue`]: one column of a row as pgoutput or `COPY ... TO STDOUT` delivers it.
//! - [`TableSchema`], [`ColumnSchema`], [`PgType`]: the catalog's description of a captured
//!   table, which `walcast-pgwire` loads and `walcast-debezium` encodes against.

mod catalog;
mod decode;
mod lsn;
mod message;
mod tuple;

pub use catalog::{ColumnSchema, PgType, PgTypeKind, ReplicaIdentity, TableId, TableSchema};
pub use decode::{decode, DecodeError, Decoder};
pub use lsn::{Lsn, ParseLsnError};
pub use message::{
    pg_micros_to_unix_millis, Begin, BeginPrepare, Commit, CommitPrepared, Delete, Insert,
    LogicalMessage, Message, OldTuple, Origin, Prepare, Relation, RelationColumn, RollbackPrepared,
    StreamAbort, StreamCommit, StreamStart, Truncate, TypeInfo, Update, PG_EPOCH_UNIX_MICROS,
};
pub use tuple::TupleValue;
