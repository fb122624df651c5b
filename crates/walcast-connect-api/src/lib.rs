//! What a walcast connector or transform author needs, and nothing more (no HTTP server, no
//! Kafka client, no database driver), like Kafka Connect's `connect-api`:
//!
//! - [`ConnectorPlugin`] and [`TaskContext`]: the contract between the worker and a connector.
//! - [`data`]: Connect's data model ([`Schema`], [`Value`], [`Struct`], logical types), and
//!   [`ConnectRecord`], the record transforms and sinks work on.
//! - [`Transformation`] and [`Predicate`]: single message transforms.
//! - [`SinkWriter`]: a destination that stores records and Kafka positions atomically.
//! - [`config`]: keys declared once ([`ConfigKeyDef`]), parsing, validation, "did you mean",
//!   Markdown docs; [`properties`]: Java `.properties` files.
//! - [`state`]: replacing a state file atomically and durably.

pub mod config;
pub mod data;
mod plugin;
pub mod properties;
mod record;
mod sink;
pub mod state;
mod transform;

pub use config::{ConfigIssue, ConfigKeyDef, ConfigValues, Importance};
pub use data::{Field, Schema, SchemaRef, SchemaType, Struct, Value};
pub use plugin::{
    ConnectorConfig, ConnectorError, ConnectorKind, ConnectorPlugin, TaskContext, WorkerSettings,
};
pub use record::{ConnectRecord, Header};
pub use sink::{Position, SinkError, SinkErrorKind, SinkWriter, TopicPartition};
pub use transform::{Predicate, TransformError, TransformFactory, Transformation};
