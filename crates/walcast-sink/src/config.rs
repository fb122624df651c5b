//! The keys every sink connector shares (Connect's `SinkConnectorConfig` plus the consumer
//! settings walcast reads itself), their checks, and the settings a running task derives from
//! them and from the worker's `consumer.*` properties.

use std::time::Duration;

use regex::Regex;
use walcast_connect_api::split_list;
use walcast_connect_api::{ConfigIssue, ConfigKeyDef, ConfigValues, ConnectorConfig, Importance};

/// Keys every sink connector has; connector plugins append their own to these.
pub const SINK_KEYS: &[ConfigKeyDef] = &[
    ConfigKeyDef {
        name: "topics",
        kind: "LIST",
        doc: "Topics to consume (comma-separated). Exactly one of topics and topics.regex.",
        importance: Importance::High,
        group: "Common",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "topics.regex",
        doc: "Regular expression (matching the whole name) of the topics to consume; topics created later that match are picked up while running (see consumer.override.metadata.max.age.ms). Exactly one of topics and topics.regex.",
        importance: Importance::High,
        group: "Common",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.tolerance",
        default: Some("none"),
        valid: &["none", "all"],
        doc: "none: a record that cannot be converted, transformed or written fails the task (its trace names topic, partition and offset). all: such records are skipped, or sent to the dead letter queue when one is configured.",
        importance: Importance::Medium,
        group: "Error Handling",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.retry.timeout",
        kind: "LONG",
        default: Some("-1"),
        doc: "How long to keep retrying a write or lookup that failed for a transient reason (destination unreachable, serialization failure, Kafka leader change), in ms; -1 retries without limit. walcast's default is -1 (Connect's is 0) so that a results database or Redis restarting does not fail the connector; nothing is lost or duplicated while retrying.",
        importance: Importance::Medium,
        group: "Error Handling",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.retry.delay.max.ms",
        kind: "LONG",
        default: Some("60000"),
        doc: "Longest wait between two retries (the wait doubles from retry.backoff.ms, or 300 ms, up to this).",
        importance: Importance::Medium,
        group: "Error Handling",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.log.enable",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Log every failed record (topic, partition, offset, stage, cause) at WARN.",
        importance: Importance::Medium,
        group: "Error Handling",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.log.include.messages",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Also log the failed record's key, value and headers (may contain personal data).",
        importance: Importance::Low,
        group: "Error Handling",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.deadletterqueue.topic.name",
        default: Some(""),
        doc: "Topic for records that failed (with errors.tolerance=all): the original key, value and headers are produced there, and the position moves past a record only after the broker acknowledged it. Empty: no dead letter queue.",
        importance: Importance::Medium,
        group: "Error Handling",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.deadletterqueue.topic.replication.factor",
        kind: "SHORT",
        default: Some("3"),
        doc: "Replication factor of the dead letter queue topic when walcast creates it (1 partition).",
        importance: Importance::Medium,
        group: "Error Handling",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "errors.deadletterqueue.context.headers.enable",
        kind: "BOOLEAN",
        default: Some("false"),
        doc: "Add Connect's __connect.errors.* headers (topic, partition, offset, connector, task, stage, class, exception class, message and trace) to dead letter records.",
        importance: Importance::Medium,
        group: "Error Handling",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "consumer.override.auto.offset.reset",
        default: Some("earliest"),
        valid: &["earliest", "latest"],
        doc: "Where a partition without a stored position starts (and where a stored position that retention removed resumes): earliest or latest. Overrides the worker's consumer.auto.offset.reset.",
        importance: Importance::Medium,
        group: "Consumer",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "consumer.override.max.partition.fetch.bytes",
        kind: "INT",
        default: Some("2097152"),
        doc: "Most bytes of records one fetch brings from one partition, counted as the records decompressed (a larger record batch still comes whole). A partition holds at most three fetches' worth beyond what the task took. walcast's default is 2 MiB where Kafka's is 1 MiB: Kafka counts the compressed bytes the broker sends, and Debezium JSON compresses about ten times, so walcast's 2 MiB still holds a fraction of what the Java consumer's default does; 1 MiB made the results sink about 10 % slower (smaller fetches and transactions).",
        importance: Importance::Low,
        group: "Consumer",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "consumer.override.fetch.max.bytes",
        kind: "INT",
        default: Some("52428800"),
        doc: "Most fetched bytes the task holds at once across its partitions (fetched and not yet written); fetches wait when it is reached.",
        importance: Importance::Low,
        group: "Consumer",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "consumer.override.max.poll.records",
        kind: "INT",
        default: Some("500"),
        doc: "Most records taken from one partition in one turn while a batch is assembled, so that a busy partition does not starve the others. Batches themselves are bounded by the connector's batch.size.",
        importance: Importance::Low,
        group: "Consumer",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "consumer.override.fetch.max.wait.ms",
        kind: "INT",
        default: Some("500"),
        doc: "How long the broker holds a fetch open waiting for new records (new records end the wait at once).",
        importance: Importance::Low,
        group: "Consumer",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "consumer.override.metadata.max.age.ms",
        kind: "LONG",
        default: Some("5000"),
        doc: "How often topics.regex is matched against the cluster's topics again, and new partitions of the consumed topics discovered. walcast's default is 5000 (Kafka's 300000) so new topics are picked up quickly.",
        importance: Importance::Low,
        group: "Consumer",
        ..ConfigKeyDef::BASE
    },
];

/// Checks of the shared keys beyond their types: exactly one of `topics`/`topics.regex`, the
/// regex compiles, the dead letter queue is not one of the consumed topics, and the transform
/// chain's own validation.
pub fn validate(config: &ConnectorConfig) -> Vec<ConfigIssue> {
    let mut issues = walcast_connect_api::validate(SINK_KEYS, config);
    let topics = config
        .get("topics")
        .map(|v| split_list(v))
        .unwrap_or_default();
    let regex = config
        .get("topics.regex")
        .map(|v| v.trim())
        .filter(|v| !v.is_empty());
    match (topics.is_empty(), regex) {
        (true, None) => issues.push(ConfigIssue::new(
            "topics",
            "Must configure one of topics or topics.regex",
        )),
        (false, Some(_)) => issues.push(ConfigIssue::new(
            "topics.regex",
            "topics and topics.regex are mutually exclusive options, but both are set.",
        )),
        _ => {}
    }
    let compiled = match regex.map(anchored) {
        Some(Err(e)) => {
            issues.push(ConfigIssue::new(
                "topics.regex",
                format!("Invalid regular expression: {e}"),
            ));
            None
        }
        Some(Ok(r)) => Some(r),
        None => None,
    };
    let dlq = config
        .get("errors.deadletterqueue.topic.name")
        .map(|v| v.trim())
        .unwrap_or("");
    if !dlq.is_empty() {
        if topics.iter().any(|t| t == dlq) {
            issues.push(ConfigIssue::new(
                "errors.deadletterqueue.topic.name",
                format!("The DLQ topic '{dlq}' may not be included in the list of topics ('topics={}') consumed by the connector", topics.join(",")),
            ));
        }
        if compiled.as_ref().is_some_and(|r| r.is_match(dlq)) {
            issues.push(ConfigIssue::new(
                "errors.deadletterqueue.topic.name",
                format!("The DLQ topic '{dlq}' may not be included in the regex matching the topics ('topics.regex') consumed by the connector"),
            ));
        }
    }
    if let Some(Ok(rf)) = config
        .get("errors.deadletterqueue.topic.replication.factor")
        .map(|v| v.trim().parse::<i16>())
    {
        if rf < 1 && rf != -1 {
            issues.push(ConfigIssue::new(
                "errors.deadletterqueue.topic.replication.factor",
                "must be at least 1 (or -1 for the broker default)",
            ));
        }
    }
    for key in [
        "max.partition.fetch.bytes",
        "fetch.max.bytes",
        "max.poll.records",
    ] {
        let name = format!("consumer.override.{key}");
        if let Some(Ok(v)) = config.get(&name).map(|v| v.trim().parse::<i64>()) {
            if v < 1 {
                issues.push(ConfigIssue::new(name, "must be at least 1"));
            }
        }
    }
    if let Err(chain_issues) = walcast_transforms::TransformChain::from_config(config) {
        issues.extend(chain_issues);
    }
    issues
}

/// A topic regex matches whole names, like Java's `Pattern.matcher(topic).matches()`.
fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

/// Which topics the task reads.
#[derive(Debug, Clone)]
pub(crate) enum TopicSelection {
    List(Vec<String>),
    Pattern(Regex),
}

impl TopicSelection {
    pub(crate) fn matches(&self, topic: &str) -> bool {
        match self {
            TopicSelection::List(l) => l.iter().any(|t| t == topic),
            TopicSelection::Pattern(r) => r.is_match(topic),
        }
    }
}

/// `errors.tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tolerance {
    None,
    All,
}

/// Everything the runtime reads from the connector config and the worker properties.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub topics: TopicSelection,
    pub tolerance: Tolerance,
    /// `None` retries without limit.
    pub retry_timeout: Option<Duration>,
    pub retry_delay_max: Duration,
    pub log_errors: bool,
    pub log_messages: bool,
    pub dlq_topic: Option<String>,
    pub dlq_replication_factor: i16,
    pub dlq_context_headers: bool,
    /// True for `auto.offset.reset=latest`.
    pub start_latest: bool,
    pub max_partition_fetch_bytes: usize,
    pub fetch_max_bytes: usize,
    pub max_poll_records: usize,
    pub fetch_max_wait: Duration,
    pub metadata_max_age: Duration,
}

impl Settings {
    /// Reads the settings; `worker` is the worker's properties, whose `consumer.<key>` values are
    /// defaults that the connector's `consumer.override.<key>` beats.
    pub(crate) fn new(
        config: &ConnectorConfig,
        worker: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, Vec<ConfigIssue>> {
        let issues = validate_without_transforms(config);
        if !issues.is_empty() {
            return Err(issues);
        }
        // Worker `consumer.*` values fill in what the connector does not override.
        let mut merged = config.clone();
        for (k, v) in worker {
            if let Some(rest) = k.strip_prefix("consumer.") {
                if rest.starts_with("override.") {
                    continue;
                }
                merged
                    .entry(format!("consumer.override.{rest}"))
                    .or_insert_with(|| v.clone());
            }
        }
        let worker_issues = walcast_connect_api::validate(SINK_KEYS, &merged);
        if !worker_issues.is_empty() {
            return Err(worker_issues);
        }
        let c = ConfigValues::parse(SINK_KEYS, &merged)?;
        let topics = match c.opt_string("topics.regex") {
            Some(p) => TopicSelection::Pattern(anchored(&p).map_err(|e| {
                vec![ConfigIssue::new(
                    "topics.regex",
                    format!("Invalid regular expression: {e}"),
                )]
            })?),
            None => TopicSelection::List(c.list("topics")),
        };
        let ms = |name: &str| Duration::from_millis(u64::try_from(c.i64(name)).unwrap_or(0));
        let size = |name: &str| usize::try_from(c.i64(name)).unwrap_or(1).max(1);
        let retry_timeout = c.i64("errors.retry.timeout");
        Ok(Self {
            topics,
            tolerance: if c.choice("errors.tolerance") == "all" {
                Tolerance::All
            } else {
                Tolerance::None
            },
            retry_timeout: (retry_timeout >= 0)
                .then(|| Duration::from_millis(u64::try_from(retry_timeout).unwrap_or(0))),
            retry_delay_max: ms("errors.retry.delay.max.ms").max(Duration::from_millis(1)),
            log_errors: c.bool("errors.log.enable"),
            log_messages: c.bool("errors.log.include.messages"),
            dlq_topic: c.opt_string("errors.deadletterqueue.topic.name"),
            dlq_replication_factor: i16::try_from(
                c.i64("errors.deadletterqueue.topic.replication.factor"),
            )
            .unwrap_or(3),
            dlq_context_headers: c.bool("errors.deadletterqueue.context.headers.enable"),
            start_latest: c.choice("consumer.override.auto.offset.reset") == "latest",
            max_partition_fetch_bytes: size("consumer.override.max.partition.fetch.bytes"),
            fetch_max_bytes: size("consumer.override.fetch.max.bytes"),
            max_poll_records: size("consumer.override.max.poll.records"),
            fetch_max_wait: ms("consumer.override.fetch.max.wait.ms"),
            metadata_max_age: ms("consumer.override.metadata.max.age.ms")
                .max(Duration::from_millis(100)),
        })
    }
}

/// [`validate`] minus the transform chain (the runtime builds the chain itself and reports its
/// issues with the chain's own wording).
fn validate_without_transforms(config: &ConnectorConfig) -> Vec<ConfigIssue> {
    let mut c = config.clone();
    c.retain(|k, _| !k.starts_with("transforms") && !k.starts_with("predicates"));
    validate(&c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cfg(pairs: &[(&str, &str)]) -> ConnectorConfig {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn keys(issues: &[ConfigIssue]) -> Vec<&str> {
        issues.iter().map(|i| i.key.as_str()).collect()
    }

    #[test]
    fn exactly_one_topic_selection() {
        assert_eq!(keys(&validate(&cfg(&[]))), ["topics"]);
        assert_eq!(
            keys(&validate(&cfg(&[("topics", "a"), ("topics.regex", "a.*")]))),
            ["topics.regex"]
        );
        assert!(validate(&cfg(&[("topics", "a,b")])).is_empty());
        assert_eq!(
            keys(&validate(&cfg(&[("topics.regex", "a(")]))),
            ["topics.regex"]
        );
    }

    #[test]
    fn dlq_may_not_be_consumed() {
        let issues = validate(&cfg(&[
            ("topics", "a,dlq"),
            ("errors.deadletterqueue.topic.name", "dlq"),
        ]));
        assert_eq!(keys(&issues), ["errors.deadletterqueue.topic.name"]);
        let issues = validate(&cfg(&[
            ("topics.regex", "d.*"),
            ("errors.deadletterqueue.topic.name", "dlq"),
        ]));
        assert_eq!(keys(&issues), ["errors.deadletterqueue.topic.name"]);
        assert_eq!(
            keys(&validate(&cfg(&[
                ("topics", "a"),
                ("errors.tolerance", "some")
            ]))),
            ["errors.tolerance"]
        );
    }

    #[test]
    fn regex_matches_whole_names() {
        let s = Settings::new(
            &cfg(&[("topics.regex", "db\\.public\\..*")]),
            &BTreeMap::new(),
        )
        .expect("valid");
        assert!(s.topics.matches("db.public.orders"));
        assert!(!s.topics.matches("x.db.public.orders"));
        assert!(!s.topics.matches("db.other.orders"));
    }

    #[test]
    fn override_beats_worker_consumer_keys() {
        let worker: BTreeMap<String, String> = [
            ("consumer.max.poll.records", "100"),
            ("consumer.fetch.max.bytes", "2000000"),
            ("consumer.auto.offset.reset", "latest"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = Settings::new(
            &cfg(&[("topics", "t"), ("consumer.override.max.poll.records", "7")]),
            &worker,
        )
        .expect("valid");
        assert_eq!(s.max_poll_records, 7);
        assert_eq!(s.fetch_max_bytes, 2_000_000);
        assert!(s.start_latest);
        assert_eq!(s.max_partition_fetch_bytes, 2_097_152);
        assert_eq!(s.retry_timeout, None);
        assert_eq!(s.tolerance, Tolerance::None);
    }

    #[test]
    fn bad_worker_consumer_value_is_reported() {
        let worker: BTreeMap<String, String> =
            [("consumer.max.poll.records".to_string(), "many".to_string())].into();
        let issues = Settings::new(&cfg(&[("topics", "t")]), &worker).expect_err("invalid");
        assert_eq!(keys(&issues), ["consumer.override.max.poll.records"]);
    }
}
