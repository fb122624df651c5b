//! The PostgreSQL source connector (`io.debezium.connector.postgresql.PostgresConnector`):
//! snapshot and streaming from a logical replication slot, Debezium-compatible events into Kafka,
//! and the slot's LSN confirmed only once Kafka has acknowledged everything before it.
//!
//! Stages: [`task`] (connect, publication, slot, snapshot decision, clean stop) →
//! [`snapshot`] (exported-snapshot reads) → [`engine`] (pgoutput → records → producer, and the
//! status task that confirms the acknowledged LSN). [`events`] is the single seam to the
//! Debezium encoder; [`spill`] keeps streamed in-progress transactions on disk; [`state`]
//! remembers whether the snapshot finished.

pub mod config;
pub mod engine;
pub mod error;
pub mod events;
pub mod snapshot;
pub mod spill;
pub mod state;
pub mod task;

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use walcast_connect_api::{
    ConfigIssue, ConfigKeyDef, ConnectorError, ConnectorKind, ConnectorPlugin, TaskContext,
};

pub use config::SourceConfig;
pub use error::SourceError;

/// Debezium's PostgreSQL connector class, the name users already have in their configs.
pub const CLASS: &str = "io.debezium.connector.postgresql.PostgresConnector";

/// The plugin the worker registers.
#[derive(Debug, Default, Clone, Copy)]
pub struct PostgresSourcePlugin;

impl ConnectorPlugin for PostgresSourcePlugin {
    fn class(&self) -> &'static str {
        CLASS
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["PostgresConnector", "postgres", "walcast.postgres.source"]
    }

    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Source
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn config_keys(&self) -> &'static [ConfigKeyDef] {
        config::CONFIG_KEYS
    }

    fn validate(&self, config: &BTreeMap<String, String>) -> Vec<ConfigIssue> {
        let mut issues = match SourceConfig::parse(config) {
            Ok(_) => Vec::new(),
            Err(issues) => issues,
        };
        // Silently skipping a transform would hand consumers differently shaped records than
        // Kafka Connect does; refuse instead, naming what is not supported.
        if let Some(t) = config.get("transforms").filter(|t| !t.trim().is_empty()) {
            let classes: Vec<String> = walcast_connect_api::config::split_list(t)
                .into_iter()
                .map(|alias| {
                    let class = config
                        .get(&format!("transforms.{alias}.type"))
                        .map_or("?", String::as_str);
                    format!("{alias} ({class})")
                })
                .collect();
            issues.push(ConfigIssue::new(
                "transforms",
                format!(
                    "walcast does not run Kafka Connect transforms (SMTs) yet: {}; remove 'transforms' (and its transforms.* keys) to capture with walcast",
                    classes.join(", ")
                ),
            ));
        }
        let schemas = walcast_debezium::schemas_enable_from_properties(config);
        let (k, v) = schemas.clone().unwrap_or((true, true));
        for e in [
            schemas.err(),
            walcast_debezium::EventConfig::from_properties(config, k, v).err(),
        ]
        .into_iter()
        .flatten()
        {
            let key = e.key().to_string();
            if !issues.iter().any(|i| i.key == key) {
                issues.push(ConfigIssue::new(key, e.to_string()));
            }
        }
        issues
    }

    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin(task::run(ctx))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transforms_are_refused_by_name() {
        let config: BTreeMap<String, String> = [
            ("database.hostname", "h"),
            ("database.user", "u"),
            ("database.dbname", "d"),
            ("topic.prefix", "p"),
            ("transforms", "unwrap"),
            (
                "transforms.unwrap.type",
                "io.debezium.transforms.ExtractNewRecordState",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let issues = PostgresSourcePlugin.validate(&config);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].key, "transforms");
        assert!(issues[0]
            .message
            .contains("unwrap (io.debezium.transforms.ExtractNewRecordState)"));
        let mut ok = config.clone();
        ok.insert("transforms".into(), " ".into());
        assert!(PostgresSourcePlugin.validate(&ok).is_empty());
    }
}
