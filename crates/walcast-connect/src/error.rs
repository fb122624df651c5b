//! The worker's errors: [`ConfigError`] for its configuration files and keys, [`WorkerError`] for starting and running the worker (the binary turns it
//! into an exit code), [`ApiError`] for REST answers in Connect's `{"error_code", "message"}`
//! shape.

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::secrets::{ProviderConfigError, SecretError};
use crate::state::StateError;
use walcast_connect_api::properties::PropertiesError;

/// Problems with the worker properties or a connector file. Every variant names the file or
/// key involved; none carries a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error(
        "{} looks like a connector config ({why}), not worker properties: give the worker \
         properties first and connector files after them, e.g. `walcast standalone \
         worker.properties {}`, or POST it to /connectors",
        path.display(),
        path.display()
    )]
    ConnectorGivenAsWorker { path: PathBuf, why: &'static str },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Properties {
        path: PathBuf,
        #[source]
        source: PropertiesError,
    },
    #[error("{}: line {line}, column {column}: invalid JSON: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    ConnectorFile { path: PathBuf, message: String },
    #[error("connector {name} is defined twice on the command line: in {} and {}", first.display(), second.display())]
    DuplicateConnector {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error(
        "missing required worker property {key} (set it in the worker properties file or as {env})"
    )]
    MissingKey { key: String, env: String },
    #[error("invalid worker property {key}: {message}")]
    InvalidValue { key: String, message: String },
    #[error("{key}={value} is not supported: walcast only supports org.apache.kafka.connect.json.JsonConverter")]
    UnsupportedConverter { key: String, value: String },
    #[error("worker property {0}")]
    Secret(#[from] SecretError),
    #[error("worker property {0}")]
    Provider(#[from] ProviderConfigError),
}

/// Why the worker could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("address {addr} already in use; set listeners=http://{host}:<free port> (or WALCAST_LISTENERS) to use another port")]
    AddrInUse { addr: String, host: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connector {name} in {}: {message}", path.display())]
    Connector {
        name: String,
        path: PathBuf,
        message: String,
    },
    #[error("REST server failed: {0}")]
    Serve(#[source] std::io::Error),
}

impl WorkerError {
    /// The process exit code for this error: 2 when the REST port is taken (an operator picks
    /// another port), 1 for everything else (bad configuration, unreadable files).
    pub fn exit_code(&self) -> i32 {
        match self {
            WorkerError::AddrInUse { .. } => 2,
            _ => 1,
        }
    }
}

/// An error answer of the REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// Connect's 404 for an unknown connector.
    pub fn connector_not_found(name: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("Connector {name} not found"))
    }

    pub fn conflict(name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            format!("Connector {name} already exists"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error_code": self.status.as_u16(),
            // A plugin's message may quote a value resolved from a config provider.
            "message": crate::redact::scrub(&self.message),
        });
        (self.status, axum::Json(body)).into_response()
    }
}
