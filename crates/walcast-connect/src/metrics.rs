//! The Prometheus endpoint and the worker's own metrics. Metric names are defined here once;
//! connectors record theirs through the `metrics` facade and they appear on the same
//! `GET /metrics`.
//!
//! The recorder is process-global, so it is installed once per process (tests start several
//! workers in one process); each worker labels its gauges with its `worker_id`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Gauge: connectors on this worker by state (`running`, `paused`, `failed`, `stopped`,
/// `unassigned`; a connector whose task failed counts as `failed`).
pub const CONNECTORS: &str = "walcast_worker_connectors";
/// Counter: connector tasks that stopped with an error or a panic.
pub const TASK_FAILURES: &str = "walcast_worker_task_failures_total";
/// Counter: connector task starts (first start, resume, restart).
pub const TASK_STARTS: &str = "walcast_worker_task_starts_total";

/// Every label value [`CONNECTORS`] takes, so absent states are reported as 0, not missing.
pub const CONNECTOR_STATES: &[&str] = &["running", "paused", "failed", "stopped", "unassigned"];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus handle, installing the recorder on first use. `None` when some
/// other recorder was installed first (then `/metrics` says so instead of serving nothing).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe();
                    Some(handle)
                }
                Err(_) => {
                    tracing::warn!(
                        "another metrics recorder is installed; GET /metrics will be unavailable"
                    );
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_gauge!(CONNECTORS, "Connectors on this worker by state");
    metrics::describe_counter!(
        TASK_FAILURES,
        "Connector tasks that stopped with an error or a panic"
    );
    metrics::describe_counter!(
        TASK_STARTS,
        "Connector task starts (start, resume, restart)"
    );
}
