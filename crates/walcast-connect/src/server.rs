//! The worker's front: binds the REST listener (plain or TLS, behind authentication), boots
//! the connectors, serves until shutdown and then stops every task.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use walcast_connect_api::{ConnectorPlugin, WorkerSettings};

use crate::auth;
use crate::config::WorkerConfig;
use crate::error::WorkerError;
use crate::metrics as m;
use crate::redact;
use crate::rest;
use crate::state::StateStore;
use crate::supervisor::Registry;
use crate::worker::{check_command_line_connectors, Worker};

/// The running worker's REST server and supervisor; resolves after shutdown completes.
pub type WorkerFuture = BoxFuture<'static, Result<(), WorkerError>>;

impl Worker {
    /// Start the worker: load the state dir, check the command-line connectors, bind the REST
    /// listener, start every connector whose target state is STARTED. Returns the bound address
    /// (useful with port 0) and the future that serves until `shutdown` fires and then stops
    /// every task (each may flush for `task.shutdown.graceful.timeout.ms`).
    pub async fn bind(
        config: WorkerConfig,
        plugins: Vec<Arc<dyn ConnectorPlugin>>,
        shutdown: CancellationToken,
    ) -> Result<(SocketAddr, WorkerFuture), WorkerError> {
        // Install the recorder before any gauge is touched.
        let _ = m::handle();
        let store = StateStore::open(&config.state_dir)?;
        let stored = store.load()?;
        check_command_line_connectors(&config.connectors, &plugins, &config.providers)?;

        let listener = bind_listener(&config).await?;
        let addr = listener.local_addr().map_err(|source| WorkerError::Bind {
            addr: config.listener.to_string(),
            source,
        })?;
        let worker_id = worker_id(&config, addr);
        let settings = Arc::new(WorkerSettings {
            bootstrap_servers: config.bootstrap_servers.clone(),
            worker_id,
            state_dir: config.state_dir.clone(),
            properties: config.properties.clone(),
        });
        let worker = Worker::new(Registry {
            plugins,
            providers: config.providers.clone(),
            settings,
            key_schemas_enable: config.key_schemas_enable,
            value_schemas_enable: config.value_schemas_enable,
            stop_timeout: config.task_shutdown_timeout,
            token: shutdown.clone(),
            connectors: Mutex::new(BTreeMap::new()),
            store,
        });
        worker.boot(stored, config.connectors).await?;
        tracing::info!(
            %addr,
            worker_id = %worker.worker_id(),
            bootstrap_servers = %redact::redact_credentials(&config.bootstrap_servers),
            state_dir = %config.state_dir.display(),
            "walcast worker started"
        );

        let auth = Arc::new(config.rest_auth.clone());
        if !auth.is_enabled() && !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "the REST API is reachable from the network without authentication: anyone who \
                 can connect can create, change and delete connectors and make the worker read \
                 the secrets its config providers allow; set rest.basic.auth.credentials.file or \
                 rest.auth.bearer.token, or listen on 127.0.0.1 (listeners=http://127.0.0.1:8083)"
            );
        }
        let router = rest::router(worker.clone()).layer(axum::middleware::from_fn_with_state(
            auth,
            auth::require_auth,
        ));
        let tls = match &config.rest_tls {
            Some(t) => Some(t.server_config()?),
            None => None,
        };
        let serve = async move {
            let stop = shutdown.clone().cancelled_owned();
            let served = match tls {
                None => {
                    axum::serve(listener, router)
                        .with_graceful_shutdown(stop)
                        .await
                }
                Some(tls) => match auth::TlsListener::new(listener, tls) {
                    Ok(l) => axum::serve(l, router).with_graceful_shutdown(stop).await,
                    Err(e) => Err(e),
                },
            };
            tracing::info!("shutting down: stopping connectors");
            worker.shutdown().await;
            tracing::info!("walcast worker stopped");
            served.map_err(WorkerError::Serve)
        };
        Ok((addr, Box::pin(serve)))
    }
}

/// Binds `listeners`, telling "address in use" (exit code 2) apart from other failures.
async fn bind_listener(config: &WorkerConfig) -> Result<tokio::net::TcpListener, WorkerError> {
    let l = &config.listener;
    match tokio::net::TcpListener::bind((l.host.as_str(), l.port)).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(WorkerError::AddrInUse {
            addr: l.to_string(),
            host: if l.host.contains(':') {
                format!("[{}]", l.host)
            } else {
                l.host.clone()
            },
        }),
        Err(source) => Err(WorkerError::Bind {
            addr: l.to_string(),
            source,
        }),
    }
}

/// Connect's `worker_id`: advertised `host:port` of the REST listener
/// (`rest.advertised.host.name`/`rest.advertised.port` when set).
fn worker_id(config: &WorkerConfig, addr: SocketAddr) -> String {
    let host = match &config.advertised_host {
        Some(h) => h.clone(),
        None if addr.ip().is_unspecified() => hostname(),
        None => config.listener.host.clone(),
    };
    let port = config
        .properties
        .get("rest.advertised.port")
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or(addr.port());
    format!("{host}:{port}")
}

/// This machine's host name, for a worker id when listening on every interface.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
