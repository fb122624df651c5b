//! The connector registry: what Connect's `StandaloneHerder` does. Every REST operation on a
//! connector (create, update, pause, resume, stop, restart, delete, status) comes here; each
//! change is checked against the plugin's config definition first and saved to the state dir
//! after. Running the tasks is the supervisor's job; serving REST is the rest module's.
//!
//! Locking: the registry map and each connector's view are `std::sync::Mutex`es held only for
//! short, non-awaiting sections (status reads never wait for a stopping task). Lifecycle changes
//! of one connector (pause, restart, update, delete) are serialised by that connector's
//! `tokio::sync::Mutex`, which may be held while a task is awaited. Order: lifecycle lock, then
//! map, then view; never the other way.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};
use walcast_connect_api::{ConnectorConfig, ConnectorPlugin};

use crate::classes;
use crate::config::ConnectorDefinition;
use crate::connector::{info_of, lock, status_json, task_json, RunningTask, Slot, State, Status};
use crate::error::{ApiError, WorkerError};
use crate::redact;
use crate::secrets;
use crate::state::{StoredConnector, TargetState};
use crate::supervisor::Registry;
use crate::validate;

/// The worker: a cheap handle shared by the REST handlers.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Registry>,
}

impl Worker {
    pub(crate) fn new(registry: Registry) -> Self {
        Self {
            inner: Arc::new(registry),
        }
    }

    /// The worker id tasks and status answers carry.
    pub(crate) fn worker_id(&self) -> &str {
        &self.inner.settings.worker_id
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
    pub(crate) async fn boot(
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
                Ok(_) if target == TargetState::Started => {
                    self.inner.start_locked(&slot, &mut guard)
                }
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
                .map(
                    |k| match walcast_connect_api::did_you_mean(&k, known.iter().copied()) {
                        Some(s) => format!("{k} (did you mean {s}?)"),
                        None => k,
                    },
                )
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
            self.inner.start_locked(&slot, &mut guard);
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
        self.inner.stop_locked(&slot, &mut guard).await;
        let target = {
            let mut v = lock(&slot.view);
            v.submitted = submitted;
            v.plugin = Some(plugin);
            v.target
        };
        match target {
            TargetState::Started => self.inner.start_locked(&slot, &mut guard),
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
        self.inner.stop_locked(&slot, &mut guard).await;
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
            self.inner.stop_locked(&slot, &mut guard).await;
            self.inner.start_locked(&slot, &mut guard);
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
        self.inner.stop_locked(&slot, &mut guard).await;
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
            self.inner.stop_locked(&slot, &mut guard).await;
            match checked {
                Ok(plugin) => {
                    lock(&slot.view).plugin = Some(plugin);
                    self.inner.start_locked(&slot, &mut guard);
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
        self.inner.stop_locked(&slot, &mut guard).await;
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
        status_json(slot, &self.inner.settings.worker_id)
    }

    /// Set the per-state connector gauges from the registry.
    fn refresh_gauges(&self) {
        self.inner.refresh_gauges();
    }

    /// Stop every task (the token is already cancelled), waiting for each clean stop.
    pub(crate) async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
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
pub(crate) fn check_command_line_connectors(
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
