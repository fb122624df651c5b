//! What a walcast connector or transform author needs, and nothing more (no HTTP server, no
//! Kafka client, no database driver), like Kafka Connect's `connect-api`:
//!
//! - [`ConnectorPlugin`] and [`TaskContext`]: the contract between the worker and a connector.
//! - Connect's data model ([`Schema`], [`Value`], [`Struct`], [`logical`] types), and
//!   [`ConnectRecord`], the record transforms and sinks work on.
//! - [`Transformation`] and [`Predicate`]: single message transforms.
//! - [`SinkWriter`]: a destination that stores records and Kafka positions atomically.
//! - Configuration: keys declared once ([`ConfigKeyDef`]), parsing ([`ConfigValues`],
//!   [`split_list`]), validation ([`validate`]), "did you mean" ([`did_you_mean`]), Markdown docs
//!   ([`docs_markdown`]); [`properties`]: Java `.properties` files.
//! - [`write_atomic`]: replacing a state file atomically and durably.

mod config;
mod data;
mod plugin;
pub mod properties;
mod record;
mod sink;
mod state;
mod transform;
mod values;

pub use config::{
    did_you_mean, docs_markdown, split_list, validate, ConfigIssue, ConfigKeyDef, ConfigValues,
    Importance,
};
pub use data::{logical, Field, Schema, SchemaRef, SchemaType, Struct, Value};
pub use plugin::{
    ConnectorConfig, ConnectorError, ConnectorKind, ConnectorPlugin, TaskContext, WorkerSettings,
};
pub use record::{ConnectRecord, Header};
pub use sink::{Position, SinkError, SinkErrorKind, SinkWriter, TopicPartition};
pub use state::write_atomic;
pub use transform::{Predicate, TransformError, TransformFactory, Transformation};
pub use values::convert_to_string;
