//! One connector as the worker sees it: its submitted config, target state, Connect status
//! (connector and task) and running task, and the JSON bodies REST answers with about it.
//!
//! Locking: each connector's view is a `std::sync::Mutex` held only for short, non-awaiting
//! sections; its lifecycle lock is a `tokio::sync::Mutex`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{json, Value};
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;
use walcast_connect_api::{ConnectorConfig, ConnectorPlugin};

use crate::redact;
use crate::state::TargetState;

/// Connect's instance states (connector or task).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Running,
    Paused,
    Failed,
    Unassigned,
    Stopped,
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
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
pub(crate) struct Status {
    pub(crate) state: State,
    pub(crate) trace: Option<String>,
}

impl Status {
    pub(crate) fn of(state: State) -> Self {
        Self { state, trace: None }
    }

    /// A failure; the trace is scrubbed of resolved provider values, since it is shown by the
    /// REST API and logged.
    pub(crate) fn failed(trace: String) -> Self {
        Self {
            state: State::Failed,
            trace: Some(redact::scrub(&trace)),
        }
    }
}

/// What REST reads about a connector; guarded by a short-held std mutex.
pub(crate) struct View {
    /// The config as submitted (with `name`, `${...}` unresolved): what GET .../config returns
    /// and what is persisted.
    pub(crate) submitted: ConnectorConfig,
    /// `None` when a persisted connector's class is no longer available in this build.
    pub(crate) plugin: Option<Arc<dyn ConnectorPlugin>>,
    pub(crate) target: TargetState,
    pub(crate) connector: Status,
    /// `None` when the connector has no task (stopped, or it failed before starting one).
    pub(crate) task: Option<Status>,
    /// Bumped at every task start, so a supervisor of an older run never overwrites the state
    /// of a newer one.
    pub(crate) generation: u64,
    /// Set under the lifecycle lock when deleted, for requests that still hold the slot.
    pub(crate) deleted: bool,
}

/// A task that has been spawned and not yet stopped by the worker.
pub(crate) struct RunningTask {
    pub(crate) token: CancellationToken,
    /// The supervisor: finishes after the task has ended and its outcome is recorded.
    pub(crate) supervisor: JoinHandle<()>,
    /// The task itself, aborted only when it ignores cancellation for too long.
    pub(crate) abort: AbortHandle,
}

/// One connector.
pub(crate) struct Slot {
    pub(crate) name: String,
    /// Serialises lifecycle changes; holds the running task, if any.
    pub(crate) lifecycle: Arc<tokio::sync::Mutex<Option<RunningTask>>>,
    pub(crate) view: Mutex<View>,
}

/// Lock a std mutex, ignoring poisoning: every critical section leaves consistent data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Slot {
    pub(crate) fn new(
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

    pub(crate) fn set(&self, connector: Status, task: Option<Status>) {
        let mut v = lock(&self.view);
        v.connector = connector;
        v.task = task;
    }

    /// The lifecycle lock as an owned guard, so it can be held across awaits without
    /// borrowing the slot.
    pub(crate) async fn lifecycle_owned(
        &self,
    ) -> tokio::sync::OwnedMutexGuard<Option<RunningTask>> {
        Arc::clone(&self.lifecycle).lock_owned().await
    }
}

/// Connect's connector type: `source`, `sink`, or `unknown` when its class is missing.
fn kind_of(v: &View) -> &'static str {
    v.plugin.as_ref().map_or("unknown", |p| p.kind().as_str())
}

/// Connect's body about a connector: name, config, tasks, type.
pub(crate) fn info_of(slot: &Slot) -> Value {
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

/// Connect's status body of a task.
pub(crate) fn task_json(t: &Status, worker_id: &str) -> Value {
    let mut task = json!({"id": 0, "state": t.state.as_str(), "worker_id": worker_id});
    if let Some(trace) = &t.trace {
        task["trace"] = Value::from(trace.as_str());
    }
    task
}

/// Connect's status body of a connector and its task.
pub(crate) fn status_json(slot: &Slot, worker_id: &str) -> Value {
    let v = lock(&slot.view);
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
