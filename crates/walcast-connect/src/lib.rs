//! The walcast worker: what `connect-standalone.sh` is to Kafka Connect.

pub mod plugin;

pub use plugin::{
    ConfigIssue, ConfigKeyDef, ConnectorConfig, ConnectorError, ConnectorKind, ConnectorPlugin,
    TaskContext, WorkerSettings,
};
