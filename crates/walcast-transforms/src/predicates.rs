//! Connect's predicates (`predicates=p`, `predicates.p.type=...`): `TopicNameMatches`,
//! `RecordIsTombstone`, `HasHeaderKey`. A transform with `predicate=p` runs only on records the
//! predicate matches (or, with `negate=true`, does not match).

use std::sync::Arc;

use regex::Regex;
use walcast_connect_api::ConfigKeyDef;
use walcast_connect_api::{ConfigIssue, ConnectRecord, ConnectorConfig, Predicate};

use crate::{read_config, unknown_keys};

pub(crate) const TOPIC_NAME_MATCHES_KEYS: &[ConfigKeyDef] = &[ConfigKeyDef {
    name: "pattern",
    required: true,
    doc: "A Java regular expression the whole topic name must match.",
    ..ConfigKeyDef::BASE
}];

pub(crate) const HAS_HEADER_KEY_KEYS: &[ConfigKeyDef] = &[ConfigKeyDef {
    name: "name",
    required: true,
    doc: "The header name.",
    ..ConfigKeyDef::BASE
}];

/// A pattern that must match a whole string (Java's `Matcher.matches()`).
pub(crate) fn full_match_regex(key: &str, pattern: &str) -> Result<Regex, ConfigIssue> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| ConfigIssue::new(key, format!("Invalid regex: {e}")))
}

struct TopicNameMatches(Regex);

impl Predicate for TopicNameMatches {
    fn test(&self, record: &ConnectRecord) -> bool {
        self.0.is_match(&record.topic)
    }
}

pub(crate) fn topic_name_matches(
    own: &ConnectorConfig,
) -> Result<Arc<dyn Predicate>, Vec<ConfigIssue>> {
    let (values, mut issues) = read_config(own, TOPIC_NAME_MATCHES_KEYS)?;
    let pattern = values.get("pattern").unwrap_or_default();
    if pattern.is_empty() {
        issues.push(ConfigIssue::new(
            "pattern",
            "The pattern must not be empty.",
        ));
    }
    let re = full_match_regex("pattern", pattern).map_err(|i| vec![i])?;
    if issues.is_empty() {
        Ok(Arc::new(TopicNameMatches(re)))
    } else {
        Err(issues)
    }
}

struct RecordIsTombstone;

impl Predicate for RecordIsTombstone {
    fn test(&self, record: &ConnectRecord) -> bool {
        record.value.is_null()
    }
}

pub(crate) fn record_is_tombstone(
    own: &ConnectorConfig,
) -> Result<Arc<dyn Predicate>, Vec<ConfigIssue>> {
    let issues = unknown_keys(own, &[]);
    if issues.is_empty() {
        Ok(Arc::new(RecordIsTombstone))
    } else {
        Err(issues)
    }
}

struct HasHeaderKey(String);

impl Predicate for HasHeaderKey {
    fn test(&self, record: &ConnectRecord) -> bool {
        record.headers.iter().any(|h| h.key == self.0)
    }
}

pub(crate) fn has_header_key(
    own: &ConnectorConfig,
) -> Result<Arc<dyn Predicate>, Vec<ConfigIssue>> {
    let (values, issues) = read_config(own, HAS_HEADER_KEY_KEYS)?;
    if issues.is_empty() {
        Ok(Arc::new(HasHeaderKey(
            values.get("name").unwrap_or_default().to_string(),
        )))
    } else {
        Err(issues)
    }
}
