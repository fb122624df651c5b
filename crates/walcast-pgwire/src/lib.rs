//! PostgreSQL side of walcast's source: the streaming-replication protocol (spoken directly on
//! top of `postgres-protocol`), the sans-IO pgoutput decoder, and the catalog view of captured
//! tables.

pub mod catalog;
pub mod config;
mod conn;
pub mod error;
pub mod lsn;
pub mod pgoutput;
pub mod replication;
pub mod schema;
pub mod snapshot;
pub mod tls;
pub mod tuple;
mod wire;

pub use catalog::{ColumnSchema, PgType, PgTypeKind, ReplicaIdentity, TableId, TableSchema};
pub use config::{connect_client, PgConnectConfig, SslMode, SESSION_SETTINGS};
pub use error::{PgError, ServerError};
pub use lsn::{Lsn, ParseLsnError};
pub use pgoutput::{
    decode, pg_micros_to_unix_millis, Begin, BeginPrepare, Commit, CommitPrepared, DecodeError,
    Decoder, Delete, Insert, LogicalMessage, Message, OldTuple, Origin, Prepare, Relation,
    RelationCache, RelationColumn, RollbackPrepared, StreamAbort, StreamCommit, StreamStart,
    Truncate, TypeInfo, Update, PG_EPOCH_UNIX_MICROS,
};
pub use replication::{
    pg_now_micros, CreatedSlot, IdentifySystem, ReplicationConnection, ReplicationMessage,
    ReplicationReader, ReplicationStream, ReplicationWriter, SnapshotAction, StandbyStatusUpdate,
};
pub use schema::{
    check_logical_replication, check_replication_role, create_publication_all_tables,
    create_publication_for_tables, drop_slot_if_exists, list_tables, load_table_schema,
    load_table_schema_by_name, load_table_schema_cached, publication_exists, publication_tables,
    quote_ident, quote_literal, quote_table, set_publication_tables, slot_info, slot_lag_bytes,
    table_oid, SlotInfo, TypeCache,
};
pub use snapshot::{
    begin_snapshot, end_snapshot, estimate_rows, parse_copy_row, read_table, CopyParseError,
    SnapshotRows,
};
pub use tuple::TupleValue;
