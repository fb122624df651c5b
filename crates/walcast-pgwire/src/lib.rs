//! The I/O half of walcast's PostgreSQL side: connecting (authentication, TLS), the
//! streaming-replication protocol (spoken directly on top of `postgres-protocol`), catalog and
//! snapshot queries. The sans-IO types it produces (LSNs, pgoutput messages, tuple values,
//! table descriptions) live in `walcast-pgoutput`.

//!
//! Every public item is exported at the crate root; the modules are private.

mod client;
mod config;
mod conn;
mod error;
mod replication;
mod schema;
mod snapshot;
mod tls;
mod wire;

pub use client::connect_client;
pub use config::{PgConnectConfig, SslMode, DEFAULT_MAX_MESSAGE_SIZE, SESSION_SETTINGS};
pub use error::{lost_create_race, PgError, ServerError};
pub use replication::{
    pg_now_micros, CreatedSlot, IdentifySystem, ReplicationConnection, ReplicationMessage,
    ReplicationReader, ReplicationStream, ReplicationWriter, SnapshotAction, StandbyStatusUpdate,
};
pub use schema::{
    check_logical_replication, check_replication_role, create_publication_all_tables,
    create_publication_for_tables, drop_slot_if_exists, list_tables, load_table_schema,
    load_table_schema_by_name, load_table_schema_cached, publication_exists, publication_tables,
    quote_escaped_literal, quote_ident, quote_literal, quote_table, set_publication_tables,
    slot_info, slot_lag_bytes, table_oid, SlotInfo, TypeCache,
};
pub use snapshot::{
    begin_snapshot, end_snapshot, estimate_rows, lock_table, parse_copy_row, read_table,
    CopyParseError, SnapshotRows,
};
