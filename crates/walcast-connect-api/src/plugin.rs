//! The contract between the worker and the connectors it runs. A connector class (Debezium's
//! PostgreSQL source, a JDBC sink...) is a [`ConnectorPlugin`]; the worker validates configs with
//! it, and runs one task per connector by calling [`ConnectorPlugin::run`], supervising the
//! returned future: `Ok(())` after the shutdown token fired is a clean stop, an `Err` puts the
//! connector in FAILED with the error as its trace.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigIssue, ConfigKeyDef};

/// A connector's configuration, with `${env:..}`/`${file:..}` references already resolved.
pub type ConnectorConfig = BTreeMap<String, String>;

/// Source connectors read from a system into Kafka; sinks write from Kafka into a system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorKind {
    Source,
    Sink,
}

impl ConnectorKind {
    /// The lower-case name Connect uses in REST bodies (`"source"`, `"sink"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Source => "source",
            ConnectorKind::Sink => "sink",
        }
    }
}

/// Worker-level settings a connector may need.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `bootstrap.servers`, as configured (comma-separated host:port list).
    pub bootstrap_servers: String,
    /// The worker id shown in status bodies (`host:port` of the REST listener).
    pub worker_id: String,
    /// `walcast.state.dir`.
    pub state_dir: PathBuf,
    /// Every worker property after environment overrides and secret resolution.
    pub properties: BTreeMap<String, String>,
}

/// Everything a running connector task gets from the worker.
#[derive(Clone)]
pub struct TaskContext {
    /// The connector's name.
    pub name: String,
    pub config: ConnectorConfig,
    pub worker: Arc<WorkerSettings>,
    /// JsonConverter `schemas.enable` for keys, after connector-level overrides
    /// (`key.converter.schemas.enable` in the connector config wins over the worker's).
    pub key_schemas_enable: bool,
    /// Same for values.
    pub value_schemas_enable: bool,
    /// Fired when the task must stop (pause, restart, delete, worker shutdown). The task then
    /// stops reading input, flushes what is in flight, records its position, and returns `Ok`.
    pub shutdown: CancellationToken,
}

/// Why a connector task stopped with an error.
#[derive(Debug, Clone)]
pub struct ConnectorError {
    /// One-line summary that says what is wrong and what to do.
    pub message: String,
    /// Longer detail (error chain), shown as the task's `trace` in the status body.
    pub trace: String,
}

impl ConnectorError {
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            trace: message.clone(),
            message,
        }
    }

    /// Build from any error, with its `source()` chain as the trace.
    pub fn from_error(e: &(dyn std::error::Error + 'static)) -> Self {
        let message = e.to_string();
        let mut trace = message.clone();
        let mut src = e.source();
        while let Some(s) = src {
            trace.push_str("\nCaused by: ");
            trace.push_str(&s.to_string());
            src = s.source();
        }
        Self { message, trace }
    }
}

impl std::fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectorError {}

/// A connector class the worker can run.
pub trait ConnectorPlugin: Send + Sync + 'static {
    /// The canonical `connector.class` (listed by `GET /connector-plugins`).
    fn class(&self) -> &'static str;
    /// Other `connector.class` values that select this plugin (short names, other vendors'
    /// class names for the same thing).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    fn kind(&self) -> ConnectorKind;
    fn version(&self) -> &'static str;
    /// The keys this connector understands; required ones missing from a config are reported
    /// by the worker, unknown ones are accepted with a warning.
    fn config_keys(&self) -> &'static [ConfigKeyDef];
    /// Checks beyond presence of required keys (values, combinations). Empty means valid.
    fn validate(&self, config: &ConnectorConfig) -> Vec<ConfigIssue>;
    /// Run the connector's task until `ctx.shutdown` fires (then return `Ok(())`) or a fatal
    /// error (then return `Err`). Transient errors are retried inside, with backoff.
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Result<(), ConnectorError>>;
}
