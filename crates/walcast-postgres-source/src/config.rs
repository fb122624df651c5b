//! The PostgreSQL source connector's configuration, read from Debezium's property names with
//! Debezium's defaults, except where walcast is deliberately different (documented on the field).
//! Event-shaping keys (`*.handling.mode`, `message.key.columns`, column lists, tombstones...) are
//! read by `walcast_debezium::EventConfig`; this module owns connection, slot, publication,
//! filtering, snapshot and delivery settings.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::{Regex, RegexBuilder};
use walcast_connect_api::config::split_list;
use walcast_connect_api::{ConfigIssue, ConfigKeyDef};
use walcast_pgoutput::TableId;

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
        props: &BTreeMap<String, String>,
        include_key: &str,
        exclude_key: &str,
        issues: &mut Vec<ConfigIssue>,
    ) -> Self {
        let mut list = |key: &str| -> Vec<Regex> {
            let Some(v) = props.get(key) else {
                return Vec::new();
            };
            split_list(v)
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
        if get(props, include_key).is_some() && get(props, exclude_key).is_some() {
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
}

fn get<'a>(p: &'a BTreeMap<String, String>, k: &str) -> Option<&'a str> {
    p.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn parse_num<T: std::str::FromStr>(
    p: &BTreeMap<String, String>,
    key: &str,
    default: T,
    issues: &mut Vec<ConfigIssue>,
) -> T {
    match get(p, key) {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|_| {
            issues.push(ConfigIssue::new(
                key,
                format!("'{v}' is not a valid number"),
            ));
            default
        }),
    }
}

fn parse_bool(
    p: &BTreeMap<String, String>,
    key: &str,
    default: bool,
    issues: &mut Vec<ConfigIssue>,
) -> bool {
    match get(p, key).map(str::to_ascii_lowercase).as_deref() {
        None => default,
        Some("true") => true,
        Some("false") => false,
        Some(v) => {
            issues.push(ConfigIssue::new(key, format!("'{v}' is not true or false")));
            default
        }
    }
}

/// The first of `keys` that is set.
fn first<'a>(p: &'a BTreeMap<String, String>, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| get(p, k))
}

impl SourceConfig {
    /// Reads and checks the connector properties; every problem is reported, each naming its key.
    pub fn parse(p: &BTreeMap<String, String>) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let required = |key: &str, issues: &mut Vec<ConfigIssue>| -> String {
            match get(p, key) {
                Some(v) => v.to_string(),
                None => {
                    issues.push(ConfigIssue::new(
                        key,
                        format!(
                            "Missing required configuration \"{key}\" which has no default value."
                        ),
                    ));
                    String::new()
                }
            }
        };
        let hostname = required("database.hostname", &mut issues);
        let user = required("database.user", &mut issues);
        let dbname = required("database.dbname", &mut issues);
        let topic_prefix = match first(p, &["topic.prefix", "database.server.name"]) {
            Some(v) => v.to_string(),
            None => {
                issues.push(ConfigIssue::new(
                    "topic.prefix",
                    "Missing required configuration \"topic.prefix\" which has no default value (or the legacy database.server.name).",
                ));
                String::new()
            }
        };
        if !topic_prefix.is_empty()
            && !topic_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            issues.push(ConfigIssue::new(
                "topic.prefix",
                format!("'{topic_prefix}' may only contain letters, digits, '.', '_' and '-'"),
            ));
        }
        match get(p, "plugin.name").unwrap_or("pgoutput") {
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
        let snapshot_mode = match get(p, "snapshot.mode").unwrap_or("initial") {
            "initial" => SnapshotMode::Initial,
            "initial_only" => SnapshotMode::InitialOnly,
            "no_data" | "never" => SnapshotMode::NoData,
            "always" => SnapshotMode::Always,
            "when_needed" => SnapshotMode::WhenNeeded,
            other => {
                issues.push(ConfigIssue::new(
                    "snapshot.mode",
                    format!(
                        "'{other}' is not supported; use one of initial, initial_only, no_data, never, always, when_needed"
                    ),
                ));
                SnapshotMode::Initial
            }
        };
        let publication_mode = match get(p, "publication.autocreate.mode").unwrap_or("all_tables") {
            "all_tables" => PublicationMode::AllTables,
            "filtered" => PublicationMode::Filtered,
            "disabled" => PublicationMode::Disabled,
            other => {
                issues.push(ConfigIssue::new(
                    "publication.autocreate.mode",
                    format!("'{other}' is not one of all_tables, filtered, disabled"),
                ));
                PublicationMode::AllTables
            }
        };
        let schemas = Selector::parse(p, "schema.include.list", "schema.exclude.list", &mut issues);
        let tables = Selector::parse(p, "table.include.list", "table.exclude.list", &mut issues);
        let message_prefixes = Selector::parse(
            p,
            "message.prefix.include.list",
            "message.prefix.exclude.list",
            &mut issues,
        );
        let port = parse_num(p, "database.port", 5432u16, &mut issues);
        let sslmode = get(p, "database.sslmode").unwrap_or("prefer").to_string();
        if !matches!(
            sslmode.as_str(),
            "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full"
        ) {
            issues.push(ConfigIssue::new(
                "database.sslmode",
                format!(
                    "'{sslmode}' is not one of disable, allow, prefer, require, verify-ca, verify-full"
                ),
            ));
        }
        let slot_name = get(p, "slot.name").unwrap_or("debezium").to_string();
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
        let heartbeat_ms = parse_num(p, "heartbeat.interval.ms", 0u64, &mut issues);
        let snapshot_locking_shared = match get(p, "snapshot.locking.mode")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("shared") => true,
            Some("none") => false,
            Some(other) => {
                issues.push(ConfigIssue::new(
                    "snapshot.locking.mode",
                    format!("'{other}' is not supported: use shared (lock each table while its columns are read, the default) or none"),
                ));
                true
            }
        };
        let status_ms = parse_num(p, "status.update.interval.ms", 100u64, &mut issues).max(10);
        // Producer delivery settings, from `producer.override.X` (the worker's `producer.X` is
        // copied there by the task when the connector does not set it).
        let producer_num = |k: &str, default: i64, issues: &mut Vec<ConfigIssue>| -> i64 {
            parse_num(p, &format!("producer.override.{k}"), default, issues)
        };
        // Kafka's "no limit" for these is Integer.MAX_VALUE (Connect's source default).
        let unlimited = |n: i64| n < 0 || n >= i64::from(i32::MAX);
        if let Some(acks) = get(p, "producer.override.acks") {
            if !matches!(acks.to_ascii_lowercase().as_str(), "all" | "-1") {
                issues.push(ConfigIssue::new(
                    "producer.override.acks",
                    format!("'{acks}' is not supported: walcast produces with acks=all, because it confirms the replication slot only once every in-sync replica has the records; remove the setting or use all"),
                ));
            }
        }
        let max_in_flight =
            match producer_num("max.in.flight.requests.per.connection", 1, &mut issues) {
                n if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
                n => {
                    issues.push(ConfigIssue::new(
                        "producer.override.max.in.flight.requests.per.connection",
                        format!("{n} must be at least 1"),
                    ));
                    1
                }
            };
        let request_timeout_ms = producer_num("request.timeout.ms", 30_000, &mut issues);
        if request_timeout_ms <= 0 {
            issues.push(ConfigIssue::new(
                "producer.override.request.timeout.ms",
                "must be positive",
            ));
        }
        let delivery_timeout =
            match producer_num("delivery.timeout.ms", i64::from(i32::MAX), &mut issues) {
                n if unlimited(n) => None,
                n => Some(Duration::from_millis(n.unsigned_abs())),
            };
        let retries = match producer_num("retries", i64::from(i32::MAX), &mut issues) {
            n if unlimited(n) => None,
            n => u32::try_from(n).ok(),
        };
        let retry_backoff = Duration::from_millis(
            producer_num("retry.backoff.ms", 100, &mut issues)
                .max(1)
                .unsigned_abs(),
        );
        let compression = first(
            p,
            &["producer.override.compression.type", "compression.type"],
        )
        .unwrap_or("zstd")
        .to_ascii_lowercase();
        if !matches!(
            compression.as_str(),
            "none" | "gzip" | "snappy" | "lz4" | "zstd"
        ) {
            issues.push(ConfigIssue::new(
                "producer.override.compression.type",
                format!("'{compression}' is not one of none, gzip, snappy, lz4, zstd"),
            ));
        }
        let linger_ms = match first(p, &["producer.override.linger.ms", "linger.ms"]) {
            None => 5,
            Some(v) => v.parse().unwrap_or_else(|_| {
                issues.push(ConfigIssue::new(
                    "producer.override.linger.ms",
                    format!("'{v}' is not a valid number"),
                ));
                5
            }),
        };
        let batch_size = match first(p, &["producer.override.batch.size", "batch.size"]) {
            None => 1 << 20,
            Some(v) => v.parse().unwrap_or_else(|_| {
                issues.push(ConfigIssue::new(
                    "producer.override.batch.size",
                    format!("'{v}' is not a valid number"),
                ));
                1 << 20
            }),
        };
        let cfg = SourceConfig {
            hostname,
            port,
            user,
            password: get(p, "database.password").map(str::to_string),
            dbname,
            sslmode,
            sslrootcert: get(p, "database.sslrootcert").map(str::to_string),
            sslcert: get(p, "database.sslcert").map(str::to_string),
            sslkey: get(p, "database.sslkey").map(str::to_string),
            sslpassword: get(p, "database.sslpassword").map(str::to_string),
            topic_prefix,
            slot_name,
            slot_drop_on_stop: parse_bool(p, "slot.drop.on.stop", false, &mut issues),
            publication_name: get(p, "publication.name")
                .unwrap_or("dbz_publication")
                .to_string(),
            publication_mode,
            schemas,
            tables,
            message_prefixes,
            snapshot_mode,
            snapshot_fetch_size: parse_num(p, "snapshot.fetch.size", 10_240usize, &mut issues)
                .max(1),
            snapshot_max_batch_bytes: parse_num(
                p,
                "walcast.snapshot.batch.max.bytes",
                4usize << 20,
                &mut issues,
            )
            .max(1),
            snapshot_locking_shared,
            snapshot_lock_timeout: Duration::from_millis(parse_num(
                p,
                "snapshot.lock.timeout.ms",
                10_000u64,
                &mut issues,
            )),
            errors_retry_timeout: match parse_num(p, "errors.retry.timeout", -1i64, &mut issues) {
                n if n < 0 => None,
                n => Some(Duration::from_millis(n.unsigned_abs())),
            },
            errors_retry_delay_max: Duration::from_millis(
                parse_num(p, "errors.retry.delay.max.ms", 60_000u64, &mut issues).max(1),
            ),
            heartbeat_interval: Duration::from_millis(heartbeat_ms),
            heartbeat_topic_prefix: get(p, "topic.heartbeat.prefix")
                .unwrap_or("__debezium-heartbeat")
                .to_string(),
            heartbeat_action_query: get(p, "heartbeat.action.query").map(str::to_string),
            status_update_interval: Duration::from_millis(status_ms),
            stream_in_progress: parse_bool(p, "walcast.streaming.enable", true, &mut issues),
            topic_partitions: parse_num(p, "topic.creation.default.partitions", 1i32, &mut issues)
                .max(1),
            topic_replication_factor: match parse_num(
                p,
                "topic.creation.default.replication.factor",
                1i16,
                &mut issues,
            ) {
                -1 => 1,
                n => n,
            },
            compression,
            linger: Duration::from_millis(linger_ms),
            batch_size,
            max_buffered_bytes: parse_num(
                p,
                "walcast.max.buffered.bytes",
                8usize << 20,
                &mut issues,
            ),
            max_in_flight,
            request_timeout: Duration::from_millis(request_timeout_ms.max(1).unsigned_abs()),
            delivery_timeout,
            retries,
            retry_backoff,
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

/// The keys listed by the validate endpoint (the ones walcast acts on).
pub static CONFIG_KEYS: &[ConfigKeyDef] = &[
    key(
        "database.hostname",
        "STRING",
        true,
        None,
        "PostgreSQL host name or address.",
    ),
    key(
        "database.port",
        "INT",
        false,
        Some("5432"),
        "PostgreSQL port.",
    ),
    key(
        "database.user",
        "STRING",
        true,
        None,
        "User with the REPLICATION attribute (or superuser).",
    ),
    key(
        "database.password",
        "PASSWORD",
        false,
        None,
        "The user's password.",
    ),
    key(
        "database.dbname",
        "STRING",
        true,
        None,
        "Database to capture.",
    ),
    key(
        "database.sslmode",
        "STRING",
        false,
        Some("prefer"),
        "disable, allow, prefer, require, verify-ca or verify-full.",
    ),
    key(
        "database.sslrootcert",
        "STRING",
        false,
        None,
        "PEM file of the CA certificate(s) the server's certificate must chain to (verify-ca, verify-full): a private CA or e.g. RDS's global-bundle.pem; `system` for the system roots.",
    ),
    key(
        "database.sslcert",
        "STRING",
        false,
        None,
        "PEM client certificate, for pg_hba.conf `cert` or `clientcert=verify-*`.",
    ),
    key(
        "database.sslkey",
        "STRING",
        false,
        None,
        "PEM private key of database.sslcert (unencrypted PKCS#8, PKCS#1 or SEC1).",
    ),
    key(
        "database.sslpassword",
        "PASSWORD",
        false,
        None,
        "Password of an encrypted database.sslkey. walcast cannot decrypt keys: it refuses an encrypted key with the openssl command that decrypts it.",
    ),
    // Not marked required: the legacy `database.server.name` stands in for it, and the
    // connector's own check reports a config with neither.
    key(
        "topic.prefix",
        "STRING",
        false,
        None,
        "Prefix of every topic name: <topic.prefix>.<schema>.<table>. Required unless the legacy database.server.name is given.",
    ),
    key(
        "plugin.name",
        "STRING",
        false,
        Some("pgoutput"),
        "Logical decoding plugin; walcast supports pgoutput only.",
    ),
    key(
        "slot.name",
        "STRING",
        false,
        Some("debezium"),
        "Replication slot name.",
    ),
    key(
        "slot.drop.on.stop",
        "BOOLEAN",
        false,
        Some("false"),
        "Drop the slot when the connector is stopped or deleted.",
    ),
    key(
        "publication.name",
        "STRING",
        false,
        Some("dbz_publication"),
        "Publication to stream.",
    ),
    key(
        "publication.autocreate.mode",
        "STRING",
        false,
        Some("all_tables"),
        "all_tables, filtered or disabled.",
    ),
    key(
        "schema.include.list",
        "LIST",
        false,
        None,
        "Regexes of schemas to capture.",
    ),
    key(
        "schema.exclude.list",
        "LIST",
        false,
        None,
        "Regexes of schemas not to capture.",
    ),
    key(
        "table.include.list",
        "LIST",
        false,
        None,
        "Regexes of schema.table to capture.",
    ),
    key(
        "table.exclude.list",
        "LIST",
        false,
        None,
        "Regexes of schema.table not to capture.",
    ),
    key(
        "column.include.list",
        "LIST",
        false,
        None,
        "Regexes of schema.table.column to include.",
    ),
    key(
        "column.exclude.list",
        "LIST",
        false,
        None,
        "Regexes of schema.table.column to exclude.",
    ),
    key(
        "message.key.columns",
        "STRING",
        false,
        None,
        "Key columns per table: schema.table:col1,col2;...",
    ),
    key(
        "message.prefix.include.list",
        "LIST",
        false,
        None,
        "Regexes of logical decoding message prefixes to emit.",
    ),
    key(
        "message.prefix.exclude.list",
        "LIST",
        false,
        None,
        "Regexes of logical decoding message prefixes not to emit.",
    ),
    key(
        "snapshot.mode",
        "STRING",
        false,
        Some("initial"),
        "initial, initial_only, no_data (never), always or when_needed.",
    ),
    key(
        "snapshot.fetch.size",
        "INT",
        false,
        Some("10240"),
        "Rows read per snapshot batch.",
    ),
    key(
        "walcast.snapshot.batch.max.bytes",
        "LONG",
        false,
        Some("4194304"),
        "Bytes of row text per snapshot batch; a batch ends at this or snapshot.fetch.size rows, whichever comes first.",
    ),
    key(
        "snapshot.locking.mode",
        "STRING",
        false,
        Some("shared"),
        "shared: lock each captured table (ACCESS SHARE) in the snapshot transaction before reading its columns, so concurrent DDL waits instead of breaking the snapshot; none: no extra lock.",
    ),
    key(
        "snapshot.lock.timeout.ms",
        "LONG",
        false,
        Some("10000"),
        "How long the snapshot waits for a table lock (DDL in progress) before it retries.",
    ),
    key(
        "errors.retry.timeout",
        "LONG",
        false,
        Some("-1"),
        "How long transient failures (connection lost, server restart, serialization failure, lock timeout, broker unreachable) are retried, in ms; -1 retries until stopped, 0 fails on the first one.",
    ),
    key(
        "errors.retry.delay.max.ms",
        "LONG",
        false,
        Some("60000"),
        "Longest wait between retries (the backoff doubles from 500 ms up to this).",
    ),
    key(
        "producer.override.acks",
        "STRING",
        false,
        Some("all"),
        "Only all (-1) is accepted: the slot is confirmed once every in-sync replica has the records.",
    ),
    key(
        "producer.override.max.in.flight.requests.per.connection",
        "INT",
        false,
        Some("1"),
        "Produce requests in flight per partition. 1 keeps every partition in order at all times (as Connect forces for source tasks); more is faster, and a retried batch is then followed by the later ones again, so consumers may briefly see an older version after a newer one.",
    ),
    key(
        "producer.override.request.timeout.ms",
        "INT",
        false,
        Some("30000"),
        "How long one produce request may take before it is retried.",
    ),
    key(
        "producer.override.delivery.timeout.ms",
        "INT",
        false,
        Some("2147483647"),
        "How long a batch is retried before the task restarts from its last confirmed position (2147483647: until it succeeds, Connect's source default).",
    ),
    key(
        "producer.override.retries",
        "INT",
        false,
        Some("2147483647"),
        "Failed attempts of a batch before the task restarts from its last confirmed position (2147483647: unlimited).",
    ),
    key(
        "producer.override.retry.backoff.ms",
        "LONG",
        false,
        Some("100"),
        "First wait before a failed produce request is retried (doubles up to 1 s).",
    ),
    key(
        "decimal.handling.mode",
        "STRING",
        false,
        Some("precise"),
        "precise, string or double.",
    ),
    key(
        "time.precision.mode",
        "STRING",
        false,
        Some("adaptive"),
        "adaptive, adaptive_time_microseconds or connect.",
    ),
    key(
        "binary.handling.mode",
        "STRING",
        false,
        Some("bytes"),
        "bytes, base64, base64-url-safe or hex.",
    ),
    key(
        "interval.handling.mode",
        "STRING",
        false,
        Some("numeric"),
        "numeric or string.",
    ),
    key(
        "hstore.handling.mode",
        "STRING",
        false,
        Some("json"),
        "json or map.",
    ),
    key(
        "include.unknown.datatypes",
        "BOOLEAN",
        false,
        Some("false"),
        "Emit columns of types walcast does not map.",
    ),
    key(
        "tombstones.on.delete",
        "BOOLEAN",
        false,
        Some("true"),
        "Follow each delete with a tombstone.",
    ),
    key(
        "skipped.operations",
        "LIST",
        false,
        Some("t"),
        "Operations not emitted: c, u, d, t, none.",
    ),
    key(
        "heartbeat.interval.ms",
        "INT",
        false,
        Some("0"),
        "Heartbeat interval; 0 disables heartbeats.",
    ),
    key(
        "topic.heartbeat.prefix",
        "STRING",
        false,
        Some("__debezium-heartbeat"),
        "Heartbeat topic prefix.",
    ),
    key(
        "heartbeat.action.query",
        "STRING",
        false,
        None,
        "SQL run on every heartbeat.",
    ),
    key(
        "status.update.interval.ms",
        "INT",
        false,
        Some("100"),
        "How often the acknowledged LSN is confirmed to PostgreSQL.",
    ),
    key(
        "max.batch.size",
        "INT",
        false,
        Some("2048"),
        "Accepted for compatibility; walcast batches by bytes.",
    ),
    key(
        "topic.creation.default.partitions",
        "INT",
        false,
        Some("1"),
        "Partitions of topics walcast creates.",
    ),
    key(
        "topic.creation.default.replication.factor",
        "INT",
        false,
        Some("1"),
        "Replication factor of topics walcast creates.",
    ),
    key(
        "producer.override.compression.type",
        "STRING",
        false,
        Some("zstd"),
        "none, gzip, snappy, lz4 or zstd.",
    ),
    key(
        "producer.override.linger.ms",
        "LONG",
        false,
        Some("5"),
        "How long a batch waits for more records.",
    ),
    key(
        "producer.override.batch.size",
        "INT",
        false,
        Some("1048576"),
        "Batch size in bytes.",
    ),
    key(
        "walcast.max.buffered.bytes",
        "LONG",
        false,
        Some("8388608"),
        "Bytes not yet acknowledged by Kafka before reading pauses.",
    ),
    key(
        "walcast.streaming.enable",
        "BOOLEAN",
        false,
        Some("true"),
        "Use pgoutput's streaming of large in-progress transactions (PostgreSQL 14+).",
    ),
];

const fn key(
    name: &'static str,
    kind: &'static str,
    required: bool,
    default: Option<&'static str>,
    doc: &'static str,
) -> ConfigKeyDef {
    ConfigKeyDef {
        name,
        kind,
        required,
        default,
        doc,
        ..ConfigKeyDef::BASE
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
    fn bad_regex_and_both_lists_are_reported() {
        let mut kv = base();
        kv.push(("table.include.list", "public.(orders"));
        kv.push(("table.exclude.list", "x"));
        let e = SourceConfig::parse(&props(&kv)).unwrap_err();
        assert!(e.iter().any(|i| i.key == "table.include.list"));
        assert!(e.iter().any(|i| i.key == "table.exclude.list"));
    }
}
