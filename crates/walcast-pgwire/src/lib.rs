//! PostgreSQL side of walcast's source: the streaming-replication protocol (spoken directly on
//! top of `postgres-protocol`), the sans-IO pgoutput decoder, and the catalog view of captured
//! tables.

pub mod catalog;
pub mod tuple;

pub use catalog::{ColumnSchema, PgType, PgTypeKind, ReplicaIdentity, TableId, TableSchema};
pub use tuple::TupleValue;
