//! The source's metric names, defined once (labels: `connector`, and `table`/`op` on events).

pub const EVENTS: &str = "walcast_source_events_total";
pub const BYTES: &str = "walcast_source_bytes_total";
pub const RECEIVED_LSN: &str = "walcast_source_received_lsn";
pub const CONFIRMED_LSN: &str = "walcast_source_confirmed_lsn";
pub const SLOT_LAG: &str = "walcast_source_slot_lag_bytes";
pub const SNAPSHOT_ROWS: &str = "walcast_source_snapshot_rows_total";
pub const SNAPSHOT_ESTIMATE: &str = "walcast_source_snapshot_rows_estimated";
pub const SNAPSHOT_RUNNING: &str = "walcast_source_snapshot_running";
/// 1 while the task streams from the slot (the snapshot, if any, is done and its records
/// acknowledged), 0 while it snapshots, connects or waits to retry. Wait for this, not for
/// the slot being active, before treating a connector as caught up: the slot is active
/// during the snapshot too.
pub const STREAMING: &str = "walcast_source_streaming";
pub const TRANSACTIONS: &str = "walcast_source_transactions_total";
pub const SPILLED: &str = "walcast_source_spilled_transactions";
/// Records a transform dropped (e.g. a tombstone `ExtractNewRecordState` drops).
pub const TRANSFORM_DROPPED: &str = "walcast_source_transform_dropped_total";
/// Records a transform failed on and `errors.tolerance=all` skipped.
pub const TRANSFORM_SKIPPED: &str = "walcast_source_transform_skipped_total";
