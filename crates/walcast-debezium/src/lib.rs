//! Debezium-compatible change events for walcast: the stage between the PostgreSQL source and
//! the Kafka producer.
//!
//! In: a table's catalog schema ([`walcast_pgoutput::TableSchema`]), the connector's Debezium
//! properties ([`EventConfig`]) and row changes whose values are in PostgreSQL's text format
//! ([`walcast_pgoutput::TupleValue`], from pgoutput or from the snapshot's `COPY ... TO STDOUT`).
//! Out: the Kafka records Debezium 3.6's PostgreSQL connector would produce through Kafka
//! Connect's `JsonConverter` — same topics, same key and value bytes — so that existing
//! consumers keep working.
//!
//! ```text
//! TableSchema + EventConfig --TableEncoder::new--> TableEncoder (pre-rendered topic & schemas)
//! RowChange + SourceInfo --TableEncoder::encode_change--> EncodedRecords (1-3 key/value pairs)
//! ```
//!
//! Text values must be in PostgreSQL's default output styles, which the source sets on its
//! sessions: `DateStyle=ISO`, `IntervalStyle=postgres`, `extra_float_digits>=1` (the default
//! since PostgreSQL 12), `bytea_output=hex` (the escape format is read too). `timestamptz` and
//! `timetz` carry their offset, so the session time zone does not matter.
//!
//! The fixtures under the workspace's `tests/fixtures/`, captured from the real Debezium 3.6.3,
//! and the record comparison against them live in the `walcast-tests` crate.

mod config;
mod envelope;
mod error;
mod event;
mod json;
mod message;
mod naming;
mod numeric;
mod schema;
mod temporal;
mod types;

pub use config::{
    schemas_enable_from_properties, BinaryMode, ColumnFilter, ConfigError, DecimalMode,
    EventConfig, HstoreMode, IntervalMode, KeyColumnsRule, NameAdjustmentMode, SkippedOperations,
    TimePrecisionMode, DEFAULT_SOURCE_VERSION,
};
pub use envelope::TableEncoder;
pub use error::{EncodeError, SchemaError, ValueError};
pub use event::{EncodedRecord, EncodedRecords, Op, RowChange, SnapshotMarker, SourceInfo};
pub use message::MessageEncoder;
pub use numeric::NumericError;
pub use temporal::TemporalError;
