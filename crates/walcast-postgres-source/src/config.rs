//! The PostgreSQL source connector's configuration, read from Debezium's property names with
//! Debezium's defaults, except where walcast is deliberately different (documented on the field).
//! Every key is declared once in [`CONFIG_KEYS`] and read through `ConfigValues` (types,
//! defaults, allowed values); this module adds the checks a declaration cannot express (regexes,
//! ranges, combinations). Event-shaping keys (`*.handling.mode`, `message.key.columns`, column
//! lists, tombstones...) are declared here too but read by `walcast_debezium::EventConfig`; this
//! module owns connection, slot, publication, filtering, snapshot and delivery settings.

mod keys;

use std::collections::BTreeMap;
use std::time::Duration;

use regex::{Regex, RegexBuilder};
use walcast_connect_api::validate;
use walcast_connect_api::{ConfigIssue, ConfigValues};
use walcast_pgoutput::TableId;

pub use keys::CONFIG_KEYS;

/// `snapshot.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotMode {
    /// Snapshot when the connector has no recorded position, then stream (Debezium's default).
    Initial,
    /// Snapshot when the connector has no recorded position, then stop (no streaming).
    InitialOnly,
    /// Never snapshot; stream from the slot's position (`no_data`, formerly `never`).
    NoData,
    /// Snapshot at every start, then stream.
    Always,
    /// Snapshot when there is no recorded position or the slot is gone, then stream.
    WhenNeeded,
}

/// `publication.autocreate.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicationMode {
    /// `CREATE PUBLICATION ... FOR ALL TABLES` when missing.
    AllTables,
    /// Create or alter the publication to exactly the captured tables.
    Filtered,
    /// The publication must exist already.
    Disabled,
}

/// Regex include/exclude lists, matched like Debezium: comma-separated, whole-string,
/// case-insensitive.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl Selector {
    fn parse(
        v: &ConfigValues<'_>,
        include_key: &str,
        exclude_key: &str,
        issues: &mut Vec<ConfigIssue>,
    ) -> Self {
        let mut list = |key: &str| -> Vec<Regex> {
            v.list(key)
                .into_iter()
                .filter_map(|p| {
                    match RegexBuilder::new(&format!("^(?:{p})$"))
                        .case_insensitive(true)
                        .build()
                    {
                        Ok(r) => Some(r),
                        Err(e) => {
                            issues.push(ConfigIssue::new(
                                key,
                                format!("'{p}' is not a valid regular expression: {e}"),
                            ));
                            None
                        }
                    }
                })
                .collect()
        };
        let include = list(include_key);
        let exclude = list(exclude_key);
        if v.is_set(include_key) && v.is_set(exclude_key) {
            issues.push(ConfigIssue::new(
                exclude_key,
                format!("{include_key} and {exclude_key} cannot both be set"),
            ));
        }
        Self { include, exclude }
    }

    /// Whether `name` is selected.
    pub fn matches(&self, name: &str) -> bool {
        if !self.include.is_empty() {
            return self.include.iter().any(|r| r.is_match(name));
        }
        !self.exclude.iter().any(|r| r.is_match(name))
    }

    /// Whether an include list was given.
    pub fn has_include_list(&self) -> bool {
        !self.include.is_empty()
    }
}

/// Everything the source task needs besides event shaping.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub hostname: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
    pub sslmode: String,
    /// `database.sslrootcert`, `database.sslcert`, `database.sslkey` (PEM paths) and
    /// `database.sslpassword`, Debezium's names for libpq's TLS files.
    pub sslrootcert: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
    pub sslpassword: Option<String>,
    /// `topic.prefix` (or the legacy `database.server.name`).
    pub topic_prefix: String,
    pub slot_name: String,
    pub slot_drop_on_stop: bool,
    pub publication_name: String,
    pub publication_mode: PublicationMode,
    pub schemas: Selector,
    pub tables: Selector,
    /// `message.prefix.include.list`/`message.prefix.exclude.list`: which logical decoding
    /// messages are emitted.
    pub message_prefixes: Selector,
    pub snapshot_mode: SnapshotMode,
    /// Rows read per snapshot batch (`snapshot.fetch.size`).
    pub snapshot_fetch_size: usize,
    /// Bytes of row text per snapshot batch (`walcast.snapshot.batch.max.bytes`), whichever of
    /// this and `snapshot.fetch.size` is reached first: row counts alone do not bound memory
    /// when rows are wide.
    pub snapshot_max_batch_bytes: usize,
    /// `snapshot.locking.mode=shared` (the default, as Debezium): lock each table
    /// `ACCESS SHARE` before reading its columns, so concurrent DDL waits for the snapshot
    /// instead of breaking it; `none` takes no lock beyond what the read itself takes.
    pub snapshot_locking_shared: bool,
    /// `snapshot.lock.timeout.ms`: how long a table lock is waited for (DDL in progress).
    pub snapshot_lock_timeout: Duration,
    /// `errors.retry.timeout`: how long transient failures (connection lost, server restart,
    /// serialization failure, lock timeout, broker unreachable) are retried before the task
    /// fails; `None` (-1, the default) retries until stopped, like Debezium's
    /// `errors.max.retries=-1`. 0 fails on the first error.
    pub errors_retry_timeout: Option<Duration>,
    /// `errors.retry.delay.max.ms`: the longest wait between retries (Connect's default 60 s).
    pub errors_retry_delay_max: Duration,
    /// `heartbeat.interval.ms`; zero disables heartbeats.
    pub heartbeat_interval: Duration,
    /// `topic.heartbeat.prefix`.
    pub heartbeat_topic_prefix: String,
    /// `heartbeat.action.query`, run on every heartbeat.
    pub heartbeat_action_query: Option<String>,
    /// How often the confirmed LSN is reported to PostgreSQL. walcast reports as soon as Kafka
    /// acknowledged, batched on this interval (default 100 ms, where Debezium waits for Connect's
    /// offset flush, 60 s by default).
    pub status_update_interval: Duration,
    /// Use pgoutput's streaming of in-progress transactions when the server supports it.
    pub stream_in_progress: bool,
    pub topic_partitions: i32,
    pub topic_replication_factor: i16,
    /// `compression.type` for produced batches (`producer.override.compression.type`). walcast
    /// defaults to zstd where Kafka's producer defaults to none: every Debezium JSON event
    /// repeats its ~2 KB schema, so batches shrink ~20x, and broker, network and disk load with
    /// them; every Kafka client since 2.1 reads zstd. `none` restores Connect's behaviour.
    pub compression: String,
    /// `linger.ms` (`producer.override.linger.ms`).
    pub linger: Duration,
    /// `batch.size` in bytes (`producer.override.batch.size`).
    pub batch_size: usize,
    /// Bytes produced but not yet acknowledged before reading the slot pauses.
    pub max_buffered_bytes: usize,
    /// `producer.override.max.in.flight.requests.per.connection`: produce requests per
    /// partition awaiting a response. 1 by default, as Connect forces for source tasks, because
    /// rskafka has no idempotent producer (see walcast-kafka's producer docs).
    pub max_in_flight: usize,
    /// `producer.override.request.timeout.ms`.
    pub request_timeout: Duration,
    /// `producer.override.delivery.timeout.ms`; `None` (Connect's `Integer.MAX_VALUE` for
    /// source producers) retries a batch until the task stops.
    pub delivery_timeout: Option<Duration>,
    /// `producer.override.retries`; `None` (Connect's `Integer.MAX_VALUE`) is unlimited.
    pub retries: Option<u32>,
    /// `producer.override.retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `errors.tolerance=all`: a record a transform fails on is skipped instead of failing the
    /// task (Connect's behaviour for source connectors, which have no dead letter queue).
    pub skip_failed_records: bool,
    /// `errors.log.enable`: skipped records are logged with topic, LSN and cause.
    pub log_failed_records: bool,
}

/// The config as the key declarations read it: a blank value counts as unset (so it means the
/// default, as in Debezium), and legacy spellings fill in for the keys they stand for when
/// those are not set: `database.server.name` for `topic.prefix`, and the connector-level
/// `compression.type`, `linger.ms`, `batch.size` for their `producer.override.` forms.
fn normalised(p: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut raw: BTreeMap<String, String> = p
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, legacy) in [
        ("topic.prefix", "database.server.name"),
        ("producer.override.compression.type", "compression.type"),
        ("producer.override.linger.ms", "linger.ms"),
        ("producer.override.batch.size", "batch.size"),
    ] {
        if !raw.contains_key(key) {
            if let Some(v) = raw.get(legacy).cloned() {
                raw.insert(key.to_string(), v);
            }
        }
    }
    raw
}

/// A numeric value that must not be negative (a duration or a size).
fn non_negative(v: &ConfigValues<'_>, key: &str, issues: &mut Vec<ConfigIssue>) -> u64 {
    let n = v.i64(key);
    u64::try_from(n).unwrap_or_else(|_| {
        issues.push(ConfigIssue::new(
            key,
            format!("Invalid value {n} for configuration {key}: must not be negative"),
        ));
        0
    })
}

/// A size in bytes or records, at least 1.
fn size(v: &ConfigValues<'_>, key: &str, issues: &mut Vec<ConfigIssue>) -> usize {
    usize::try_from(non_negative(v, key, issues))
        .unwrap_or(usize::MAX)
        .max(1)
}

fn millis(v: &ConfigValues<'_>, key: &str, issues: &mut Vec<ConfigIssue>) -> Duration {
    Duration::from_millis(non_negative(v, key, issues))
}

impl SourceConfig {
    /// Reads and checks the connector properties; every problem is reported, each naming its key.
    pub fn parse(p: &BTreeMap<String, String>) -> Result<Self, Vec<ConfigIssue>> {
        let raw = normalised(p);
        // Type, required and allowed-value problems first; the checks below then run on the
        // rest, with a key that failed (or a missing required one) read as its default or
        // empty, so every problem is reported at once.
        let mut issues = validate(CONFIG_KEYS, &raw);
        let mut readable = raw.clone();
        for i in &issues {
            readable.remove(&i.key);
        }
        for d in CONFIG_KEYS.iter().filter(|d| d.required) {
            readable.entry(d.name.to_string()).or_default();
        }
        let v = match ConfigValues::parse(CONFIG_KEYS, &readable) {
            Ok(v) => v,
            Err(more) => {
                issues.extend(more);
                return Err(issues);
            }
        };
        let topic_prefix = v.string("topic.prefix");
        if topic_prefix.is_empty() {
            issues.push(ConfigIssue::new(
                "topic.prefix",
                "Missing required configuration \"topic.prefix\" which has no default value (or the legacy database.server.name).",
            ));
        } else if !topic_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            issues.push(ConfigIssue::new(
                "topic.prefix",
                format!("'{topic_prefix}' may only contain letters, digits, '.', '_' and '-'"),
            ));
        }
        match v.string("plugin.name").as_str() {
            "pgoutput" => {}
            other @ ("decoderbufs" | "wal2json" | "wal2json_streaming" | "wal2json_rds") => {
                issues.push(ConfigIssue::new(
                    "plugin.name",
                    format!(
                        "walcast decodes pgoutput only (built into PostgreSQL 10+); '{other}' is not supported, set plugin.name=pgoutput"
                    ),
                ))
            }
            other => issues.push(ConfigIssue::new(
                "plugin.name",
                format!("unknown logical decoding plugin '{other}'; set plugin.name=pgoutput"),
            )),
        }
        let snapshot_mode = match v.choice("snapshot.mode").as_str() {
            "initial_only" => SnapshotMode::InitialOnly,
            "no_data" | "never" => SnapshotMode::NoData,
            "always" => SnapshotMode::Always,
            "when_needed" => SnapshotMode::WhenNeeded,
            _ => SnapshotMode::Initial,
        };
        let publication_mode = match v.choice("publication.autocreate.mode").as_str() {
            "filtered" => PublicationMode::Filtered,
            "disabled" => PublicationMode::Disabled,
            _ => PublicationMode::AllTables,
        };
        let schemas = Selector::parse(
            &v,
            "schema.include.list",
            "schema.exclude.list",
            &mut issues,
        );
        let tables = Selector::parse(&v, "table.include.list", "table.exclude.list", &mut issues);
        let message_prefixes = Selector::parse(
            &v,
            "message.prefix.include.list",
            "message.prefix.exclude.list",
            &mut issues,
        );
        let port = u16::try_from(v.i64("database.port"))
            .ok()
            .filter(|p| *p > 0)
            .unwrap_or_else(|| {
                issues.push(ConfigIssue::new(
                    "database.port",
                    format!(
                        "Invalid value {} for configuration database.port: not a port number (1 to 65535)",
                        v.i64("database.port")
                    ),
                ));
                5432
            });
        let slot_name = v.string("slot.name");
        if !slot_name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || slot_name.len() > 63
        {
            issues.push(ConfigIssue::new(
                "slot.name",
                format!(
                    "'{slot_name}' is not a valid replication slot name: use at most 63 lower-case letters, digits and underscores"
                ),
            ));
        }
        // Producer delivery settings, from `producer.override.X` (the worker's `producer.X` is
        // copied there by the task when the connector does not set it).
        if let Some(acks) = v.opt_string("producer.override.acks") {
            if !matches!(acks.to_ascii_lowercase().as_str(), "all" | "-1") {
                issues.push(ConfigIssue::new(
                    "producer.override.acks",
                    format!("'{acks}' is not supported: walcast produces with acks=all, because it confirms the replication slot only once every in-sync replica has the records; remove the setting or use all"),
                ));
            }
        }
        let max_in_flight = match v.i64("producer.override.max.in.flight.requests.per.connection") {
            n if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
            n => {
                issues.push(ConfigIssue::new(
                    "producer.override.max.in.flight.requests.per.connection",
                    format!("{n} must be at least 1"),
                ));
                1
            }
        };
        let request_timeout_ms = v.i64("producer.override.request.timeout.ms");
        if request_timeout_ms <= 0 {
            issues.push(ConfigIssue::new(
                "producer.override.request.timeout.ms",
                "must be positive",
            ));
        }
        // Kafka's "no limit" for these is Integer.MAX_VALUE (Connect's source default).
        let limited = |n: i64| {
            (0..i64::from(i32::MAX))
                .contains(&n)
                .then(|| n.unsigned_abs())
        };
        let delivery_timeout =
            limited(v.i64("producer.override.delivery.timeout.ms")).map(Duration::from_millis);
        let retries =
            limited(v.i64("producer.override.retries")).and_then(|n| u32::try_from(n).ok());
        let replication_factor = v.i64("topic.creation.default.replication.factor");
        let topic_replication_factor = match i16::try_from(replication_factor) {
            Ok(-1) => 1,
            Ok(n) => n,
            Err(_) => {
                issues.push(ConfigIssue::new(
                    "topic.creation.default.replication.factor",
                    format!("Invalid value {replication_factor} for configuration topic.creation.default.replication.factor: not a short"),
                ));
                1
            }
        };
        let cfg = SourceConfig {
            hostname: v.string("database.hostname"),
            port,
            user: v.string("database.user"),
            password: v.opt_string("database.password"),
            dbname: v.string("database.dbname"),
            sslmode: v.choice("database.sslmode"),
            sslrootcert: v.opt_string("database.sslrootcert"),
            sslcert: v.opt_string("database.sslcert"),
            sslkey: v.opt_string("database.sslkey"),
            sslpassword: v.opt_string("database.sslpassword"),
            topic_prefix,
            slot_name,
            slot_drop_on_stop: v.bool("slot.drop.on.stop"),
            publication_name: v.string("publication.name"),
            publication_mode,
            schemas,
            tables,
            message_prefixes,
            snapshot_mode,
            snapshot_fetch_size: size(&v, "snapshot.fetch.size", &mut issues),
            snapshot_max_batch_bytes: size(&v, "walcast.snapshot.batch.max.bytes", &mut issues),
            snapshot_locking_shared: v.choice("snapshot.locking.mode") == "shared",
            snapshot_lock_timeout: millis(&v, "snapshot.lock.timeout.ms", &mut issues),
            errors_retry_timeout: u64::try_from(v.i64("errors.retry.timeout"))
                .ok()
                .map(Duration::from_millis),
            errors_retry_delay_max: millis(&v, "errors.retry.delay.max.ms", &mut issues)
                .max(Duration::from_millis(1)),
            heartbeat_interval: millis(&v, "heartbeat.interval.ms", &mut issues),
            heartbeat_topic_prefix: v.string("topic.heartbeat.prefix"),
            heartbeat_action_query: v.opt_string("heartbeat.action.query"),
            status_update_interval: millis(&v, "status.update.interval.ms", &mut issues)
                .max(Duration::from_millis(10)),
            stream_in_progress: v.bool("walcast.streaming.enable"),
            topic_partitions: i32::try_from(v.i64("topic.creation.default.partitions"))
                .unwrap_or(1)
                .max(1),
            topic_replication_factor,
            compression: v.choice("producer.override.compression.type"),
            linger: millis(&v, "producer.override.linger.ms", &mut issues),
            batch_size: size(&v, "producer.override.batch.size", &mut issues),
            max_buffered_bytes: size(&v, "walcast.max.buffered.bytes", &mut issues),
            max_in_flight,
            request_timeout: Duration::from_millis(request_timeout_ms.max(1).unsigned_abs()),
            delivery_timeout,
            retries,
            retry_backoff: millis(&v, "producer.override.retry.backoff.ms", &mut issues)
                .max(Duration::from_millis(1)),
            skip_failed_records: v.choice("errors.tolerance") == "all",
            log_failed_records: v.bool("errors.log.enable"),
        };
        if issues.is_empty() {
            Ok(cfg)
        } else {
            Err(issues)
        }
    }

    /// Whether a table is captured, by the schema and table lists.
    pub fn captures(&self, t: &TableId) -> bool {
        self.schemas.matches(&t.schema) && self.tables.matches(&format!("{}.{}", t.schema, t.table))
    }

    /// The heartbeat topic, `<topic.heartbeat.prefix>.<topic.prefix>` like Debezium.
    pub fn heartbeat_topic(&self) -> String {
        format!("{}.{}", self.heartbeat_topic_prefix, self.topic_prefix)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn props(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("database.hostname", "localhost"),
            ("database.user", "postgres"),
            ("database.dbname", "shop"),
            ("topic.prefix", "dbserver1"),
        ]
    }

    #[test]
    fn producer_delivery_settings_are_honoured_or_refused() {
        let c = SourceConfig::parse(&props(&base())).unwrap();
        assert_eq!(c.max_in_flight, 1);
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.delivery_timeout, None);
        assert_eq!(c.retries, None);
        assert_eq!(c.retry_backoff, Duration::from_millis(100));
        assert_eq!(c.errors_retry_timeout, None);
        assert_eq!(c.errors_retry_delay_max, Duration::from_secs(60));
        assert!(c.snapshot_locking_shared);
        let mut kv = base();
        kv.extend([
            (
                "producer.override.max.in.flight.requests.per.connection",
                "5",
            ),
            ("producer.override.request.timeout.ms", "5000"),
            ("producer.override.delivery.timeout.ms", "120000"),
            ("producer.override.retries", "3"),
            ("producer.override.retry.backoff.ms", "250"),
            ("producer.override.acks", "all"),
            ("errors.retry.timeout", "0"),
            ("snapshot.locking.mode", "none"),
        ]);
        let c = SourceConfig::parse(&props(&kv)).unwrap();
        assert_eq!(c.max_in_flight, 5);
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.delivery_timeout, Some(Duration::from_secs(120)));
        assert_eq!(c.retries, Some(3));
        assert_eq!(c.retry_backoff, Duration::from_millis(250));
        assert_eq!(c.errors_retry_timeout, Some(Duration::ZERO));
        assert!(!c.snapshot_locking_shared);
        for (k, v) in [
            ("producer.override.acks", "1"),
            (
                "producer.override.max.in.flight.requests.per.connection",
                "0",
            ),
            ("producer.override.request.timeout.ms", "0"),
            ("snapshot.locking.mode", "exclusive"),
        ] {
            let mut kv = base();
            kv.push((k, v));
            let issues = SourceConfig::parse(&props(&kv)).unwrap_err();
            assert!(issues.iter().any(|i| i.key == k), "{k}={v}: {issues:?}");
        }
    }

    #[test]
    fn defaults_follow_debezium() {
        let c = SourceConfig::parse(&props(&base())).unwrap();
        assert_eq!(c.port, 5432);
        assert_eq!(c.slot_name, "debezium");
        assert_eq!(c.publication_name, "dbz_publication");
        assert_eq!(c.publication_mode, PublicationMode::AllTables);
        assert_eq!(c.snapshot_mode, SnapshotMode::Initial);
        assert_eq!(c.heartbeat_topic(), "__debezium-heartbeat.dbserver1");
    }

    #[test]
    fn missing_keys_are_all_named() {
        let e = SourceConfig::parse(&props(&[("database.port", "x")])).unwrap_err();
        let keys: Vec<_> = e.iter().map(|i| i.key.as_str()).collect();
        for k in [
            "database.hostname",
            "database.user",
            "database.dbname",
            "topic.prefix",
            "database.port",
        ] {
            assert!(keys.contains(&k), "{k} not in {keys:?}");
        }
    }

    #[test]
    fn legacy_server_name_and_other_plugins() {
        let mut kv = base();
        kv.retain(|(k, _)| *k != "topic.prefix");
        kv.push(("database.server.name", "legacy"));
        assert_eq!(
            SourceConfig::parse(&props(&kv)).unwrap().topic_prefix,
            "legacy"
        );
        kv.push(("plugin.name", "decoderbufs"));
        let e = SourceConfig::parse(&props(&kv)).unwrap_err();
        assert_eq!(e[0].key, "plugin.name");
        assert!(e[0].message.contains("pgoutput"));
    }

    #[test]
    fn table_selection_is_whole_name_and_case_insensitive() {
        let mut kv = base();
        kv.push(("table.include.list", "public.orders, inventory\\..*"));
        let c = SourceConfig::parse(&props(&kv)).unwrap();
        assert!(c.captures(&TableId::new("public", "orders")));
        assert!(c.captures(&TableId::new("public", "ORDERS")));
        assert!(!c.captures(&TableId::new("public", "orders2")));
        assert!(c.captures(&TableId::new("inventory", "stock")));
        let mut kv = base();
        kv.push(("table.exclude.list", "public\\.audit_.*"));
        let c = SourceConfig::parse(&props(&kv)).unwrap();
        assert!(!c.captures(&TableId::new("public", "audit_log")));
        assert!(c.captures(&TableId::new("public", "orders")));
    }

    #[test]
    fn blank_values_mean_the_default_and_legacy_keys_fill_in() {
        let mut kv = base();
        kv.extend([
            ("slot.name", " "),
            ("database.port", ""),
            ("compression.type", "lz4"),
            ("linger.ms", "20"),
            ("producer.override.batch.size", "65536"),
            ("batch.size", "1"),
        ]);
        let c = SourceConfig::parse(&props(&kv)).unwrap();
        assert_eq!(c.slot_name, "debezium");
        assert_eq!(c.port, 5432);
        assert_eq!(c.compression, "lz4");
        assert_eq!(c.linger, Duration::from_millis(20));
        assert_eq!(c.batch_size, 65536);
    }

    #[test]
    fn values_are_checked_against_their_declarations() {
        for (k, v, says) in [
            ("snapshot.mode", "sometimes", "must be one of initial"),
            (
                "publication.autocreate.mode",
                "some",
                "must be one of all_tables",
            ),
            ("database.sslmode", "strict", "must be one of disable"),
            ("database.port", "70000", "1 to 65535"),
            ("heartbeat.interval.ms", "-5", "must not be negative"),
            ("slot.drop.on.stop", "yes", "Not a boolean"),
            (
                "producer.override.compression.type",
                "brotli",
                "must be one of none",
            ),
            ("errors.tolerance", "some", "must be one of none, all"),
        ] {
            let mut kv = base();
            kv.push((k, v));
            let issues = SourceConfig::parse(&props(&kv)).unwrap_err();
            assert_eq!(issues.len(), 1, "{k}={v}: {issues:?}");
            assert_eq!(issues[0].key, k);
            assert!(issues[0].message.contains(says), "{k}={v}: {issues:?}");
        }
        let mut kv = base();
        kv.extend([("snapshot.mode", "NEVER"), ("errors.tolerance", "all")]);
        let c = SourceConfig::parse(&props(&kv)).unwrap();
        assert_eq!(c.snapshot_mode, SnapshotMode::NoData);
        assert!(c.skip_failed_records);
    }

    #[test]
    fn bad_regex_and_both_lists_are_reported() {
        let mut kv = base();
        kv.push(("table.include.list", "public.(orders"));
        kv.push(("table.exclude.list", "x"));
        let e = SourceConfig::parse(&props(&kv)).unwrap_err();
        assert!(e.iter().any(|i| i.key == "table.include.list"));
        assert!(e.iter().any(|i| i.key == "table.exclude.list"));
    }
}
