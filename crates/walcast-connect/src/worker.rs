//! The connector registry and supervisor: what Connect's `StandaloneHerder` + `Worker` do.
//!
//! Each connector has one task (id 0): the future returned by [`ConnectorPlugin::run`], spawned
//! as its own tokio task with its own [`CancellationToken`] (a child of the worker's). A small
//! supervisor task awaits it and records how it ended: `Ok` after cancellation is a clean stop,
//! `Err` or a panic puts the task in FAILED with the message as its trace. Other connectors are
//! unaffected.
//!
//! Locking: the registry map and each connector's view are `std::sync::Mutex`es held only for
//! short, non-awaiting sections (status reads never wait for a stopping task). Lifecycle changes
//! of one connector (pause, restart, update, delete) are serialised by that connector's
//! `tokio::sync::Mutex`, which may be held while a task is awaited. Order: lifecycle lock, then
//! map, then view; never the other way.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{json, Value};
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::classes;
use crate::config::{parse_bool, ConnectorDefinition, WorkerConfig};
use crate::error::{ApiError, WorkerError};
use crate::metrics as m;
use crate::redact;
use crate::secrets;
use crate::state::{StateStore, StoredConnector, TargetState};
use crate::validate;
use walcast_connect_api::{
    ConnectorConfig, ConnectorError, ConnectorPlugin, TaskContext, WorkerSettings,
};

/// Connect's instance states (connector or task).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Paused,
    Failed,
    Unassigned,
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Failed => "FAILED",
            State::Unassigned => "UNASSIGNED",
            State::Stopped => "STOPPED",
        }
    }
}

/// The state of a connector or its task, with Connect's optional `trace`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Status {
    state: State,
    trace: Option<String>,
}

impl Status {
    fn of(state: State) -> Self {
        Self { state, trace: None }
    }

    /// A failure; the trace is scrubbed of resolved provider values, since it is shown by the
    /// REST API and logged.
    fn failed(trace: String) -> Self {
        Self {
            state: State::Failed,
            trace: Some(redact::scrub(&trace)),
        }
    }
}

/// What REST reads about a connector; guarded by a short-held std mutex.
struct View {
    /// The config as submitted (with `name`, `${...}` unresolved): what GET .../config returns
    /// and what is persisted.
    submitted: ConnectorConfig,
    /// `None` when a persisted connector's class is no longer available in this build.
    plugin: Option<Arc<dyn ConnectorPlugin>>,
    target: TargetState,
    connector: Status,
    /// `None` when the connector has no task (stopped, or it failed before starting one).
    task: Option<Status>,
    /// Bumped at every task start, so a supervisor of an older run never overwrites the state
    /// of a newer one.
    generation: u64,
    /// Set under the lifecycle lock when deleted, for requests that still hold the slot.
    deleted: bool,
}

/// A task that has been spawned and not yet stopped by the worker.
struct RunningTask {
    token: CancellationToken,
    /// The supervisor: finishes after the task has ended and its outcome is recorded.
    supervisor: JoinHandle<()>,
    /// The task itself, aborted only when it ignores cancellation for too long.
    abort: AbortHandle,
}

/// One connector.
struct Slot {
    name: String,
    /// Serialises lifecycle changes; holds the running task, if any.
    lifecycle: Arc<tokio::sync::Mutex<Option<RunningTask>>>,
    view: Mutex<View>,
}

/// Lock a std mutex, ignoring poisoning: every critical section leaves consistent data.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Inner {
    plugins: Vec<Arc<dyn ConnectorPlugin>>,
    /// The config providers the worker properties declare; connector references use these.
    providers: secrets::Providers,
    settings: Arc<WorkerSettings>,
    /// Worker defaults for JsonConverter `schemas.enable`, overridable per connector.
    key_schemas_enable: bool,
    value_schemas_enable: bool,
    /// How long a stopping task may take before it is aborted.
    stop_timeout: Duration,
    /// Parent of every task token; cancelled on worker shutdown.
    token: CancellationToken,
    connectors: Mutex<BTreeMap<String, Arc<Slot>>>,
    store: StateStore,
}

/// The worker: a cheap handle shared by the REST handlers.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

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
        let worker = Worker {
            inner: Arc::new(Inner {
                plugins,
                providers: config.providers.clone(),
                settings,
                key_schemas_enable: config.key_schemas_enable,
                value_schemas_enable: config.value_schemas_enable,
                stop_timeout: config.task_shutdown_timeout,
                token: shutdown.clone(),
                connectors: Mutex::new(BTreeMap::new()),
                store,
            }),
        };
        worker.boot(stored, config.connectors).await?;
        tracing::info!(
            %addr,
            worker_id = %worker.inner.settings.worker_id,
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
        let router = crate::rest::router(worker.clone()).layer(
            axum::middleware::from_fn_with_state(auth, crate::auth::require_auth),
        );
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
                Some(tls) => match crate::auth::TlsListener::new(listener, tls) {
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

    pub(crate) fn plugins(&self) -> &[Arc<dyn ConnectorPlugin>] {
        &self.inner.plugins
    }

    pub(crate) fn providers(&self) -> &secrets::Providers {
        &self.inner.providers
    }

    pub(crate) fn env(&self) -> secrets::EnvLookup<'static> {
        &secrets::process_env
    }

    /// Register stored and command-line connectors and start those targeted STARTED.
    /// Command-line configs replace stored configs of the same name (the file is the source of
    /// truth for them) but keep the stored target state, so a paused connector stays paused.
    async fn boot(
        &self,
        stored: Vec<StoredConnector>,
        from_files: Vec<ConnectorDefinition>,
    ) -> Result<(), WorkerError> {
        let mut all: BTreeMap<String, (ConnectorConfig, TargetState)> = stored
            .into_iter()
            .map(|s| (s.name, (s.config, s.target_state)))
            .collect();
        for def in from_files {
            match all.get_mut(&def.name) {
                Some(entry) => {
                    if entry.0 != def.config {
                        tracing::info!(connector = %def.name, file = %def.path.display(), "using the config from the command-line file instead of the saved one");
                    }
                    entry.0 = def.config;
                }
                None => {
                    all.insert(def.name, (def.config, TargetState::Started));
                }
            }
        }
        for (name, (submitted, target)) in all {
            let checked = self.check(&submitted);
            let slot = Arc::new(Slot::new(
                name.clone(),
                submitted,
                checked.as_ref().ok().cloned(),
                target,
            ));
            let mut guard = slot.lifecycle.lock().await;
            lock(&self.inner.connectors).insert(name.clone(), Arc::clone(&slot));
            match checked {
                Err(e) => {
                    tracing::error!(connector = %name, error = %e.message, "saved connector is not valid any more; it is FAILED until its config is fixed");
                    let mut v = lock(&slot.view);
                    v.connector = Status::failed(e.message);
                    v.task = None;
                }
                Ok(_) if target == TargetState::Started => self.start_locked(&slot, &mut guard),
                Ok(_) => {}
            }
        }
        self.persist().await.map_err(|e| {
            WorkerError::State(crate::state::StateError::Write {
                path: self.inner.store.path(),
                source: std::io::Error::other(e.message),
            })
        })?;
        self.refresh_gauges();
        Ok(())
    }

    /// Check a submitted config: class, required keys, values, references. Returns the plugin.
    pub(crate) fn check(
        &self,
        submitted: &ConnectorConfig,
    ) -> Result<Arc<dyn ConnectorPlugin>, ApiError> {
        let plugin = self.check_quietly(submitted)?;
        let unknown = validate::unknown_keys(plugin.as_ref(), submitted);
        if !unknown.is_empty() {
            let known: Vec<&str> = validate::COMMON_KEYS
                .iter()
                .chain(plugin.config_keys())
                .map(|d| d.name)
                .collect();
            let unknown: Vec<String> = unknown
                .into_iter()
                .map(|k| {
                    match walcast_connect_api::config::did_you_mean(&k, known.iter().copied()) {
                        Some(s) => format!("{k} (did you mean {s}?)"),
                        None => k,
                    }
                })
                .collect();
            tracing::warn!(
                connector = %submitted.get("name").map(String::as_str).unwrap_or_default(),
                keys = %unknown.join(", "),
                "the connector config has keys the connector does not know; they are ignored"
            );
        }
        Ok(plugin)
    }

    /// [`Self::check`] without the unknown-keys warning, for re-checks of a config that was
    /// already accepted (restarts).
    fn check_quietly(
        &self,
        submitted: &ConnectorConfig,
    ) -> Result<Arc<dyn ConnectorPlugin>, ApiError> {
        let class = submitted
            .get("connector.class")
            .map(|c| c.trim())
            .filter(|c| !c.is_empty());
        let Some(class) = class else {
            let mut issues = vec![walcast_connect_api::ConfigIssue::new(
                "connector.class",
                validate::missing_message("connector.class"),
            )];
            if submitted.get("name").is_none_or(|n| n.trim().is_empty()) {
                issues.insert(
                    0,
                    walcast_connect_api::ConfigIssue::new(
                        "name",
                        validate::missing_message("name"),
                    ),
                );
            }
            return Err(ApiError::bad_request(validate::invalid_message(&issues)));
        };
        let plugin = classes::resolve(class, &self.inner.plugins)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let issues = validate::check(
            plugin.as_ref(),
            submitted,
            &self.inner.providers,
            self.env(),
        );
        if !issues.is_empty() {
            return Err(ApiError::bad_request(validate::invalid_message(&issues)));
        }
        Ok(plugin)
    }

    fn get(&self, name: &str) -> Result<Arc<Slot>, ApiError> {
        lock(&self.inner.connectors)
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::connector_not_found(name))
    }

    /// Take a connector's lifecycle lock, failing with 404 if it was deleted meanwhile.
    async fn lifecycle(
        &self,
        name: &str,
    ) -> Result<(Arc<Slot>, tokio::sync::OwnedMutexGuard<Option<RunningTask>>), ApiError> {
        let slot = self.get(name)?;
        let guard = slot.lifecycle_owned().await;
        if lock(&slot.view).deleted {
            return Err(ApiError::connector_not_found(name));
        }
        Ok((slot, guard))
    }

    pub(crate) fn names(&self) -> Vec<String> {
        lock(&self.inner.connectors).keys().cloned().collect()
    }

    pub(crate) fn config(&self, name: &str) -> Result<ConnectorConfig, ApiError> {
        Ok(lock(&self.get(name)?.view).submitted.clone())
    }

    pub(crate) fn info(&self, name: &str) -> Result<Value, ApiError> {
        Ok(info_of(&*self.get(name)?))
    }

    pub(crate) fn status(&self, name: &str) -> Result<Value, ApiError> {
        Ok(self.status_of(&*self.get(name)?))
    }

    pub(crate) fn task_status(&self, name: &str, task: &str) -> Result<Value, ApiError> {
        let slot = self.get(name)?;
        let v = lock(&slot.view);
        match (&v.task, task) {
            (Some(t), "0") => Ok(task_json(t, &self.inner.settings.worker_id)),
            _ => Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                format!("No status found for task {name}-{task}"),
            )),
        }
    }

    pub(crate) fn tasks(&self, name: &str) -> Result<Value, ApiError> {
        let slot = self.get(name)?;
        let v = lock(&slot.view);
        let tasks: Vec<Value> = v
            .task
            .iter()
            .map(|_| json!({"id": {"connector": name, "task": 0}, "config": v.submitted}))
            .collect();
        Ok(Value::Array(tasks))
    }

    /// `POST /connectors`: 409 if the name exists.
    pub(crate) async fn create(
        &self,
        name: &str,
        mut submitted: ConnectorConfig,
        target: TargetState,
    ) -> Result<Value, ApiError> {
        submitted.insert("name".into(), name.to_owned());
        // Cheap early answer for the common duplicate case; the insert below re-checks.
        if lock(&self.inner.connectors).contains_key(name) {
            return Err(ApiError::conflict(name));
        }
        let plugin = self.check(&submitted)?;
        let logged_config = redact::redact_config(&submitted, &password_keys(plugin.as_ref()));
        let class = plugin.class();
        let slot = Arc::new(Slot::new(name.to_owned(), submitted, Some(plugin), target));
        let mut guard = slot.lifecycle_owned().await;
        {
            let mut map = lock(&self.inner.connectors);
            if map.contains_key(name) {
                return Err(ApiError::conflict(name));
            }
            map.insert(name.to_owned(), Arc::clone(&slot));
        }
        tracing::info!(connector = %name, %class, config = %logged_config, "connector created");
        if target == TargetState::Started {
            self.start_locked(&slot, &mut guard);
        }
        drop(guard);
        self.refresh_gauges();
        self.persist().await?;
        Ok(info_of(&slot))
    }

    /// `PUT /connectors/{name}/config`: create (true) or replace the config and restart (false).
    pub(crate) async fn put_config(
        &self,
        name: &str,
        mut submitted: ConnectorConfig,
    ) -> Result<(bool, Value), ApiError> {
        submitted.insert("name".into(), name.to_owned());
        let plugin = self.check(&submitted)?;
        let (slot, mut guard) = match self.lifecycle(name).await {
            Ok(found) => found,
            Err(e) if e.status == axum::http::StatusCode::NOT_FOUND => {
                return Ok((
                    true,
                    self.create(name, submitted, TargetState::Started).await?,
                ));
            }
            Err(e) => return Err(e),
        };
        tracing::info!(
            connector = %name,
            config = %redact::redact_config(&submitted, &password_keys(plugin.as_ref())),
            "updating connector config"
        );
        self.stop_locked(&slot, &mut guard).await;
        let target = {
            let mut v = lock(&slot.view);
            v.submitted = submitted;
            v.plugin = Some(plugin);
            v.target
        };
        match target {
            TargetState::Started => self.start_locked(&slot, &mut guard),
            TargetState::Paused => {
                slot.set(Status::of(State::Paused), Some(Status::of(State::Paused)))
            }
            TargetState::Stopped => slot.set(Status::of(State::Stopped), None),
        }
        drop(guard);
        self.refresh_gauges();
        self.persist().await?;
        Ok((false, info_of(&slot)))
    }

    /// `PUT .../pause`: stop the task cleanly, keep the config, remember PAUSED.
    pub(crate) async fn pause(&self, name: &str) -> Result<(), ApiError> {
        let (slot, mut guard) = self.lifecycle(name).await?;
        lock(&slot.view).target = TargetState::Paused;
        self.stop_locked(&slot, &mut guard).await;
        {
            let mut v = lock(&slot.view);
            v.connector = Status::of(State::Paused);
            if v.task.is_some() || v.plugin.is_some() {
                v.task = Some(Status::of(State::Paused));
            }
        }
        drop(guard);
        tracing::info!(connector = %name, "connector paused");
        self.refresh_gauges();
        self.persist().await
    }

    /// `PUT .../resume`: start the task again if the connector was paused or stopped. Like
    /// Connect, resuming a running connector (even one with a failed task) changes nothing; use
    /// restart for that.
    pub(crate) async fn resume(&self, name: &str) -> Result<(), ApiError> {
        let (slot, mut guard) = self.lifecycle(name).await?;
        let previous = std::mem::replace(&mut lock(&slot.view).target, TargetState::Started);
        if previous != TargetState::Started {
            self.stop_locked(&slot, &mut guard).await;
            self.start_locked(&slot, &mut guard);
            tracing::info!(connector = %name, "connector resumed");
        }
        drop(guard);
        self.refresh_gauges();
        self.persist().await
    }

    /// `PUT .../stop` (Connect 3.5+): stop the task and keep the connector with no tasks.
    pub(crate) async fn stop(&self, name: &str) -> Result<(), ApiError> {
        let (slot, mut guard) = self.lifecycle(name).await?;
        lock(&slot.view).target = TargetState::Stopped;
        self.stop_locked(&slot, &mut guard).await;
        slot.set(Status::of(State::Stopped), None);
        drop(guard);
        tracing::info!(connector = %name, "connector stopped");
        self.refresh_gauges();
        self.persist().await
    }

    /// `POST .../restart`. walcast's connector and its task are one unit, so a restart always
    /// re-runs the task (Connect's plain restart only restarts the connector object, which
    /// would do nothing here). With `only_failed`, nothing happens unless something failed.
    /// A connector that is paused or stopped stays so. Returns the status when Connect would
    /// answer 202 (`include_tasks` or `only_failed`).
    pub(crate) async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<Option<Value>, ApiError> {
        let (slot, mut guard) = self.lifecycle(name).await?;
        let (target, failed) = {
            let v = lock(&slot.view);
            let failed = v.connector.state == State::Failed
                || v.task.as_ref().is_some_and(|t| t.state == State::Failed);
            (v.target, failed)
        };
        if target == TargetState::Started && (failed || !only_failed) {
            tracing::info!(connector = %name, "restarting connector");
            // A connector that failed at start (bad reference, missing class) may be fixable
            // now (the env var was set, the file appeared): check it again.
            let checked = self.check_quietly(&lock(&slot.view).submitted.clone());
            self.stop_locked(&slot, &mut guard).await;
            match checked {
                Ok(plugin) => {
                    lock(&slot.view).plugin = Some(plugin);
                    self.start_locked(&slot, &mut guard);
                }
                Err(e) => slot.set(Status::failed(e.message), None),
            }
        }
        drop(guard);
        self.refresh_gauges();
        Ok((include_tasks || only_failed).then(|| self.status_of(&slot)))
    }

    /// `POST .../tasks/{id}/restart`.
    pub(crate) async fn restart_task(&self, name: &str, task: &str) -> Result<(), ApiError> {
        {
            let slot = self.get(name)?;
            let v = lock(&slot.view);
            if task != "0" || v.task.is_none() {
                return Err(ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    format!("Task {name}-{task} not found"),
                ));
            }
        }
        self.restart(name, true, false).await.map(|_| ())
    }

    /// `DELETE /connectors/{name}`: stop the task (awaiting its clean stop) and forget it.
    pub(crate) async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let (slot, mut guard) = self.lifecycle(name).await?;
        self.stop_locked(&slot, &mut guard).await;
        lock(&slot.view).deleted = true;
        {
            let mut map = lock(&self.inner.connectors);
            if map.get(name).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                map.remove(name);
            }
        }
        drop(guard);
        tracing::info!(connector = %name, "connector deleted");
        self.refresh_gauges();
        self.persist().await
    }

    /// Stop every task (the token is already cancelled), waiting for each clean stop.
    async fn shutdown(&self) {
        self.inner.token.cancel();
        let slots: Vec<Arc<Slot>> = lock(&self.inner.connectors).values().cloned().collect();
        futures::future::join_all(slots.iter().map(|slot| async move {
            let mut guard = slot.lifecycle.lock().await;
            self.stop_locked(slot, &mut guard).await;
        }))
        .await;
    }

    /// Spawn the connector's task. Caller holds the lifecycle lock and has stopped any
    /// previous run.
    fn start_locked(&self, slot: &Arc<Slot>, running: &mut Option<RunningTask>) {
        let (plugin, submitted, generation) = {
            let mut v = lock(&slot.view);
            v.generation += 1;
            (v.plugin.clone(), v.submitted.clone(), v.generation)
        };
        let Some(plugin) = plugin else {
            slot.set(
                Status::failed("the connector class is not available in this walcast build".into()),
                None,
            );
            return;
        };
        if self.inner.token.is_cancelled() {
            // The worker is shutting down; a task started now would be cancelled at once.
            slot.set(
                Status::of(State::Unassigned),
                Some(Status::of(State::Unassigned)),
            );
            return;
        }
        // References are resolved at each start, so a rotated secret is picked up on restart.
        let resolved = match secrets::resolve_config(&submitted, &self.inner.providers, self.env())
        {
            Ok(r) => r,
            Err(e) => {
                let err = ConnectorError::from_error(&e);
                tracing::error!(connector = %slot.name, error = %redact::scrub(&err.message), "connector cannot start");
                slot.set(Status::failed(err.trace), None);
                return;
            }
        };
        let key_schemas_enable = resolved
            .get("key.converter.schemas.enable")
            .and_then(|v| parse_bool(v))
            .unwrap_or(self.inner.key_schemas_enable);
        let value_schemas_enable = resolved
            .get("value.converter.schemas.enable")
            .and_then(|v| parse_bool(v))
            .unwrap_or(self.inner.value_schemas_enable);
        let token = self.inner.token.child_token();
        let ctx = TaskContext {
            name: slot.name.clone(),
            config: resolved,
            worker: Arc::clone(&self.inner.settings),
            key_schemas_enable,
            value_schemas_enable,
            shutdown: token.clone(),
        };
        // Running before spawning: a task that fails at once must not be overwritten.
        slot.set(Status::of(State::Running), Some(Status::of(State::Running)));
        let future = match std::panic::catch_unwind(AssertUnwindSafe(|| plugin.run(ctx))) {
            Ok(f) => f,
            Err(panic) => {
                let message = format!("task panicked: {}", panic_message(&*panic));
                tracing::error!(connector = %slot.name, error = %message, "connector task failed");
                slot.set(Status::of(State::Running), Some(Status::failed(message)));
                return;
            }
        };
        let span = tracing::info_span!("connector", connector = %slot.name);
        let task = tokio::spawn(future.instrument(span));
        let abort = task.abort_handle();
        let supervisor = tokio::spawn(supervise(
            Arc::clone(&self.inner),
            Arc::clone(slot),
            generation,
            token.clone(),
            task,
        ));
        metrics::counter!(m::TASK_STARTS, "worker" => self.inner.settings.worker_id.clone())
            .increment(1);
        tracing::info!(connector = %slot.name, class = %plugin.class(), "connector task started");
        *running = Some(RunningTask {
            token,
            supervisor,
            abort,
        });
    }

    /// Cancel the task and wait for its clean stop, aborting it after the stop timeout.
    async fn stop_locked(&self, slot: &Slot, running: &mut Option<RunningTask>) {
        let Some(task) = running.take() else {
            return;
        };
        task.token.cancel();
        if tokio::time::timeout(self.inner.stop_timeout, task.supervisor)
            .await
            .is_err()
        {
            tracing::error!(
                connector = %slot.name,
                timeout_ms = self.inner.stop_timeout.as_millis() as u64,
                "connector task did not stop within task.shutdown.graceful.timeout.ms; aborting it"
            );
            task.abort.abort();
        }
    }

    /// Save every connector's submitted config and target state.
    async fn persist(&self) -> Result<(), ApiError> {
        let inner = Arc::clone(&self.inner);
        let saved =
            tokio::task::spawn_blocking(move || inner.store.save_with(|| inner.snapshot())).await;
        let err = match saved {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("state writer failed: {e}"),
        };
        tracing::error!(error = %err, "cannot save connector state; changes will not survive a restart");
        Err(ApiError::internal(format!(
            "the change was applied but could not be saved to walcast.state.dir: {err}"
        )))
    }

    fn status_of(&self, slot: &Slot) -> Value {
        let v = lock(&slot.view);
        let worker_id = &self.inner.settings.worker_id;
        let mut connector = json!({"state": v.connector.state.as_str(), "worker_id": worker_id});
        if let Some(trace) = &v.connector.trace {
            connector["trace"] = Value::from(trace.as_str());
        }
        let tasks: Vec<Value> = v.task.iter().map(|t| task_json(t, worker_id)).collect();
        json!({
            "name": slot.name,
            "connector": connector,
            "tasks": tasks,
            "type": kind_of(&v),
        })
    }

    /// Set the per-state connector gauges from the registry.
    fn refresh_gauges(&self) {
        self.inner.refresh_gauges();
    }
}

impl Inner {
    fn snapshot(&self) -> Vec<StoredConnector> {
        lock(&self.connectors)
            .values()
            .filter_map(|slot| {
                let v = lock(&slot.view);
                (!v.deleted).then(|| StoredConnector {
                    name: slot.name.clone(),
                    config: v.submitted.clone(),
                    target_state: v.target,
                })
            })
            .collect()
    }

    fn refresh_gauges(&self) {
        let mut counts: BTreeMap<&'static str, u32> =
            m::CONNECTOR_STATES.iter().map(|s| (*s, 0)).collect();
        for slot in lock(&self.connectors).values() {
            let v = lock(&slot.view);
            let failed = v.connector.state == State::Failed
                || v.task.as_ref().is_some_and(|t| t.state == State::Failed);
            let key = if failed {
                "failed"
            } else {
                match v.connector.state {
                    State::Running => "running",
                    State::Paused => "paused",
                    State::Stopped => "stopped",
                    State::Failed => "failed",
                    State::Unassigned => "unassigned",
                }
            };
            *counts.entry(key).or_insert(0) += 1;
        }
        for (state, n) in counts {
            metrics::gauge!(m::CONNECTORS, "state" => state, "worker" => self.settings.worker_id.clone())
                .set(f64::from(n));
        }
    }
}

impl Slot {
    fn new(
        name: String,
        submitted: ConnectorConfig,
        plugin: Option<Arc<dyn ConnectorPlugin>>,
        target: TargetState,
    ) -> Self {
        let (connector, task) = match target {
            TargetState::Started => (
                Status::of(State::Unassigned),
                Some(Status::of(State::Unassigned)),
            ),
            TargetState::Paused => (Status::of(State::Paused), Some(Status::of(State::Paused))),
            TargetState::Stopped => (Status::of(State::Stopped), None),
        };
        Self {
            name,
            lifecycle: Arc::new(tokio::sync::Mutex::new(None)),
            view: Mutex::new(View {
                submitted,
                plugin,
                target,
                connector,
                task,
                generation: 0,
                deleted: false,
            }),
        }
    }

    fn set(&self, connector: Status, task: Option<Status>) {
        let mut v = lock(&self.view);
        v.connector = connector;
        v.task = task;
    }

    /// The lifecycle lock as an owned guard, so it can be held across awaits without
    /// borrowing the slot.
    async fn lifecycle_owned(&self) -> tokio::sync::OwnedMutexGuard<Option<RunningTask>> {
        Arc::clone(&self.lifecycle).lock_owned().await
    }
}

/// Await a task and record how it ended.
async fn supervise(
    inner: Arc<Inner>,
    slot: Arc<Slot>,
    generation: u64,
    token: CancellationToken,
    task: JoinHandle<Result<(), ConnectorError>>,
) {
    let failure = match task.await {
        Ok(Ok(())) if token.is_cancelled() => None,
        Ok(Ok(())) => Some(
            "the task stopped on its own without being asked to and without an error; \
             restart the connector to run it again"
                .to_owned(),
        ),
        Ok(Err(e)) => Some(e.trace),
        Err(e) if e.is_panic() => Some(format!(
            "task panicked: {}",
            panic_message(&*e.into_panic())
        )),
        // Aborted after ignoring cancellation; the stopper logged it.
        Err(_) => None,
    };
    let Some(trace) = failure.map(|t| redact::scrub(&t)) else {
        return;
    };
    let first_line = trace.lines().next().unwrap_or_default().to_owned();
    tracing::error!(connector = %slot.name, error = %first_line, "connector task failed");
    metrics::counter!(m::TASK_FAILURES, "worker" => inner.settings.worker_id.clone()).increment(1);
    {
        let mut v = lock(&slot.view);
        if v.generation == generation && !v.deleted {
            v.task = Some(Status::failed(trace));
        }
    }
    inner.refresh_gauges();
}

/// The text of a panic payload (`&str` or `String`, as `panic!` produces).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

fn kind_of(v: &View) -> &'static str {
    v.plugin.as_ref().map_or("unknown", |p| p.kind().as_str())
}

fn info_of(slot: &Slot) -> Value {
    let v = lock(&slot.view);
    let tasks: Vec<Value> = v
        .task
        .iter()
        .map(|_| json!({"connector": slot.name, "task": 0}))
        .collect();
    json!({
        "name": slot.name,
        "config": v.submitted,
        "tasks": tasks,
        "type": kind_of(&v),
    })
}

fn task_json(t: &Status, worker_id: &str) -> Value {
    let mut task = json!({"id": 0, "state": t.state.as_str(), "worker_id": worker_id});
    if let Some(trace) = &t.trace {
        task["trace"] = Value::from(trace.as_str());
    }
    task
}

/// Keys a plugin declares as PASSWORD, hidden in logs even when their name does not say so.
fn password_keys(plugin: &dyn ConnectorPlugin) -> Vec<&'static str> {
    plugin
        .config_keys()
        .iter()
        .filter(|d| d.kind == "PASSWORD")
        .map(|d| d.name)
        .collect()
}

/// Command-line connectors must be valid before the worker starts: a typo in a file is a boot
/// error (exit 1), as with `connect-standalone.sh`.
fn check_command_line_connectors(
    defs: &[ConnectorDefinition],
    plugins: &[Arc<dyn ConnectorPlugin>],
    providers: &secrets::Providers,
) -> Result<(), WorkerError> {
    for def in defs {
        let fail = |message: String| WorkerError::Connector {
            name: def.name.clone(),
            path: def.path.clone(),
            message,
        };
        let class = def
            .config
            .get("connector.class")
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| fail(validate::missing_message("connector.class")))?;
        let plugin = classes::resolve(class, plugins).map_err(|e| fail(e.to_string()))?;
        let issues = validate::check(
            plugin.as_ref(),
            &def.config,
            providers,
            &secrets::process_env,
        );
        if !issues.is_empty() {
            let list: Vec<&str> = issues.iter().map(|i| i.message.as_str()).collect();
            return Err(fail(list.join(" ")));
        }
    }
    Ok(())
}

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

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
