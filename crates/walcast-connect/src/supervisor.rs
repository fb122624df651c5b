//! Running connector tasks: what Connect's `Worker` does for one task.
//!
//! Each connector has one task (id 0): the future returned by [`ConnectorPlugin::run`], spawned
//! as its own tokio task with its own [`CancellationToken`] (a child of the worker's). A small
//! supervisor task awaits it and records how it ended: `Ok` after cancellation is a clean stop,
//! `Err` or a panic puts the task in FAILED with the message as its trace. Other connectors are
//! unaffected.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use walcast_connect_api::{ConnectorError, ConnectorPlugin, TaskContext, WorkerSettings};

use crate::config::parse_bool;
use crate::connector::{lock, RunningTask, Slot, State, Status};
use crate::metrics as m;
use crate::redact;
use crate::secrets;
use crate::state::{StateStore, StoredConnector};

/// Everything the worker shares between REST requests and task supervisors: the plugins, the
/// settings tasks get, the connectors and the state store.
pub(crate) struct Registry {
    pub(crate) plugins: Vec<Arc<dyn ConnectorPlugin>>,
    /// The config providers the worker properties declare; connector references use these.
    pub(crate) providers: secrets::Providers,
    pub(crate) settings: Arc<WorkerSettings>,
    /// Worker defaults for JsonConverter `schemas.enable`, overridable per connector.
    pub(crate) key_schemas_enable: bool,
    pub(crate) value_schemas_enable: bool,
    /// How long a stopping task may take before it is aborted.
    pub(crate) stop_timeout: Duration,
    /// Parent of every task token; cancelled on worker shutdown.
    pub(crate) token: CancellationToken,
    pub(crate) connectors: Mutex<BTreeMap<String, Arc<Slot>>>,
    pub(crate) store: StateStore,
}

impl Registry {
    /// Spawn the connector's task. Caller holds the lifecycle lock and has stopped any
    /// previous run.
    pub(crate) fn start_locked(
        self: &Arc<Self>,
        slot: &Arc<Slot>,
        running: &mut Option<RunningTask>,
    ) {
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
        if self.token.is_cancelled() {
            // The worker is shutting down; a task started now would be cancelled at once.
            slot.set(
                Status::of(State::Unassigned),
                Some(Status::of(State::Unassigned)),
            );
            return;
        }
        // References are resolved at each start, so a rotated secret is picked up on restart.
        let resolved = match secrets::resolve_config(
            &submitted,
            &self.providers,
            &secrets::process_env,
        ) {
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
            .unwrap_or(self.key_schemas_enable);
        let value_schemas_enable = resolved
            .get("value.converter.schemas.enable")
            .and_then(|v| parse_bool(v))
            .unwrap_or(self.value_schemas_enable);
        let token = self.token.child_token();
        let ctx = TaskContext {
            name: slot.name.clone(),
            config: resolved,
            worker: Arc::clone(&self.settings),
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
            Arc::clone(self),
            Arc::clone(slot),
            generation,
            token.clone(),
            task,
        ));
        metrics::counter!(m::TASK_STARTS, "worker" => self.settings.worker_id.clone()).increment(1);
        tracing::info!(connector = %slot.name, class = %plugin.class(), "connector task started");
        *running = Some(RunningTask {
            token,
            supervisor,
            abort,
        });
    }

    /// Cancel the task and wait for its clean stop, aborting it after the stop timeout.
    pub(crate) async fn stop_locked(&self, slot: &Slot, running: &mut Option<RunningTask>) {
        let Some(task) = running.take() else {
            return;
        };
        task.token.cancel();
        if tokio::time::timeout(self.stop_timeout, task.supervisor)
            .await
            .is_err()
        {
            tracing::error!(
                connector = %slot.name,
                timeout_ms = self.stop_timeout.as_millis() as u64,
                "connector task did not stop within task.shutdown.graceful.timeout.ms; aborting it"
            );
            task.abort.abort();
        }
    }

    /// Stop every task (the token is already cancelled), waiting for each clean stop.
    pub(crate) async fn shutdown(&self) {
        self.token.cancel();
        let slots: Vec<Arc<Slot>> = lock(&self.connectors).values().cloned().collect();
        futures::future::join_all(slots.iter().map(|slot| async move {
            let mut guard = slot.lifecycle.lock().await;
            self.stop_locked(slot, &mut guard).await;
        }))
        .await;
    }

    pub(crate) fn snapshot(&self) -> Vec<StoredConnector> {
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

    /// Set the per-state connector gauges from the registry.
    pub(crate) fn refresh_gauges(&self) {
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

/// Await a task and record how it ended.
async fn supervise(
    inner: Arc<Registry>,
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
