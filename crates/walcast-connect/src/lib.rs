//! The walcast worker: what `connect-standalone.sh` is to Kafka Connect.
//!
//! In: a [`WorkerConfig`] (worker properties + connector files) and the connector plugins
//! compiled into the binary. Out: a Kafka Connect-compatible REST API and one supervised task
//! per connector ([`Worker`]), whose configs and target states survive restarts in
//! `walcast.state.dir` ([`state`]).
//!
//! Modules, each depending only on those below it: `server` (listener, TLS, serve, shutdown)
//! → `rest` (Connect's REST API) → `worker` (the registry: every connector operation) →
//! `supervisor` (running and supervising tasks) → `connector` (one connector's state and
//! status); `config` builds on `auth`, `files` and `secrets`, which all report through `error`.
//!
//! ```text
//! worker.properties ──┐                         ┌─ GET/POST/PUT/DELETE :8083 (Connect REST)
//! connector files ────┼─> WorkerConfig ─> Worker┤
//! WALCAST_* env ──────┘        (bind)           └─ per connector: ConnectorPlugin::run(TaskContext)
//!                                                    └─ supervised: RUNNING/PAUSED/FAILED/...
//! ```
//!
//! Tests run the real worker in-process: put `listeners=http://127.0.0.1:0` in the config and
//! call [`Worker::bind`] to learn the port.

pub mod auth;
pub mod classes;
mod config;
mod connector;
mod error;
mod files;
pub mod metrics;
pub mod redact;
mod rest;
pub mod secrets;
mod server;
pub mod state;
mod supervisor;
pub mod validate;
mod worker;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use walcast_connect_api::ConnectorPlugin;

pub use config::{load_connector_file, ConnectorDefinition, ListenerAddr, WorkerConfig};
pub use error::{ApiError, ConfigError, WorkerError};
pub use server::WorkerFuture;
pub use worker::Worker;

/// Run the worker until `shutdown` fires, then stop every connector task (waiting for each
/// to flush, up to `task.shutdown.graceful.timeout.ms`) and return.
pub async fn run(
    config: WorkerConfig,
    plugins: Vec<Arc<dyn ConnectorPlugin>>,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    let (_addr, serve) = Worker::bind(config, plugins, shutdown).await?;
    serve.await
}
